"""Sphinx directive ``bench-results``: the tables and charts of one
``python -m scipix bench --json`` results file, each with its machine.

Usage, in a page beside its results file::

    .. bench-results:: results/kernels.json
       :tables: kernels

Each table (all of the file's when ``:tables:`` is absent) becomes a
paragraph with its title and machine, a table of times, speed-ups and
values, and, where the table names a chart kind, a matplotlib chart drawn
at build time into ``_charts/`` beside the page (not committed).  The
figures come from the file alone (:mod:`scipix.tools.bench_pages`).
"""
import os

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from scipix.tools.bench_pages import chart, machine_line, table_rows
from scipix.tools.bench_record import load


def _text(text):
    """``text`` with reStructuredText's markup characters escaped."""
    for char in "\\*`|_":
        text = text.replace(char, "\\" + char)
    return text


def _list_table(header, rows):
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [header] + rows:
        lines.append("   * - " + _text(cells[0]))
        lines.extend("     - " + _text(cell) for cell in cells[1:])
    return lines


class BenchResults(SphinxDirective):
    required_arguments = 1
    option_spec = {"tables": directives.unchanged}

    def run(self):
        relative, path = self.env.relfn2path(self.arguments[0])
        self.env.note_dependency(relative)
        try:
            data = load(path)
        except (OSError, ValueError) as error:
            raise self.error(f"bench-results: {error}")
        wanted = self.options.get("tables", "").split(",")
        wanted = [name.strip() for name in wanted if name.strip()]
        tables = [table for table in data["tables"] if not wanted or table["name"] in wanted]
        missing = set(wanted) - {table["name"] for table in tables}
        if missing:
            raise self.error(f"bench-results: {path} has no table {sorted(missing)}")
        page_folder = os.path.dirname(self.env.doc2path(self.env.docname))
        stem = os.path.splitext(os.path.basename(path))[0]
        lines = []
        for table in tables:
            lines += [f"**{_text(table['name'])}**: {_text(table['title'])}.", "",
                      f"*Machine:* {_text(machine_line(data, table))}; "
                      f"``{data['command']}``.", ""]
            lines += _list_table(*table_rows(table)) + [""]
            if table["chart"]:
                slug = table["name"].replace(" ", "-").replace("_", "-")
                image = os.path.join("_charts", f"{stem}-{slug}.png")
                os.makedirs(os.path.join(page_folder, "_charts"), exist_ok=True)
                chart(data, table, os.path.join(page_folder, image))
                lines += [f".. image:: {image}", f"   :alt: {table['name']} chart", ""]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=path), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("bench-results", BenchResults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
