"""Tables and charts from ``python -m scipix bench --json`` results files.

The documentation's benchmark pages (through ``docs/_ext/bench_figures.py``)
and the README's headline table are drawn from the committed files in
``docs/benchmarks/results/`` by this module, so that no figure is typed by
hand: re-run the command a file records, commit the file, and the pages
follow.  ``python -m scipix.tools.bench_pages readme`` prints the README's
table; a test checks that the README holds exactly that.

Charts need matplotlib (the ``docs`` extra); the tables need nothing.
"""
import datetime
import os
import sys

from .bench_record import load

# Relative to the repository's root, where the command runs.
RESULTS = os.path.join("docs", "benchmarks", "results")

# The libraries a machine line names (the others are in the results file).
_SHOWN_LIBRARIES = ("numpy", "opencv-python-headless", "torch", "onnxruntime", "Pillow")


def machine_line(data, table=None):
    """One sentence naming the machine, its load, the libraries and the day
    of a run (its command is ``data["command"]``)."""
    machine = data["machine"]
    libraries = ", ".join(f"{name} {version}" for name, version in machine["libraries"].items()
                          if name in _SHOWN_LIBRARIES)
    load_at_end = (table or {}).get("load_average") or data["load_average_end"]
    day = datetime.datetime.fromisoformat(data["started"]).date().isoformat()
    return (f"{machine['cpu']}, {machine['logical_cpus']} logical CPUs, variant "
            f"{machine['variant']}, {machine['threads']} threads; load average "
            f"{machine['load_average'][0]:.1f} at the start, {load_at_end[0]:.1f} at the end; "
            f"{libraries}; {day}")


def _unit(table):
    times = [row[name] for row in table["rows"] for name in table["times"]
             if row[name] is not None]
    largest = max(times, default=1.0)
    if largest < 1e-3:
        return "us", 1e6
    if largest < 1.0:
        return "ms", 1e3
    return "s", 1.0


def _number(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def row_label(table, row):
    """The row's key cells joined, e.g. ``"grayscale 1024"``."""
    return " ".join(str(row[key]) for key in table["keys"])


def peers(table):
    """The contenders other than ``ours``, each with a time in some row."""
    return [name for name in table["times"] if name != table["ours"]
            and any(row[name] is not None for row in table["rows"])]


def ratio(row, ours, other):
    """How many times faster ``ours`` was than ``other`` in ``row``, or None."""
    if row[ours] is None or row[other] is None:
        return None
    return row[other] / row[ours]


def table_rows(table):
    """(header, rows) of cell strings: keys, times in one unit, ratios of
    ``ours`` against each peer, other values."""
    unit, scale = _unit(table)
    timed = [name for name in table["times"]
             if any(row[name] is not None for row in table["rows"])]
    others = peers(table) if table["ours"] else []
    header = (table["keys"] + [f"{name} ({unit})" for name in timed]
              + [f"vs {name}" for name in others] + table["values"])
    rows = []
    for row in table["rows"]:
        cells = [str(row[key]) for key in table["keys"]]
        cells += [_number(None if row[name] is None else row[name] * scale) for name in timed]
        for other in others:
            speedup = ratio(row, table["ours"], other)
            cells.append("-" if speedup is None else f"{speedup:.2f}x")
        cells += [_number(row[name]) for name in table["values"]]
        rows.append(cells)
    return header, rows


def chart_peers(table):
    """The contenders a speed-up chart compares ``ours`` with: every peer but
    scipix's own other settings (more threads, draft decoding), which the
    table shows."""
    return [name for name in peers(table) if not name.startswith(("simd", "scipix"))]


def _by_size(table):
    """Whether rows are (name, size) pairs with several sizes per name."""
    if len(table["keys"]) != 2:
        return False
    name, size = table["keys"]
    sizes = {}
    for row in table["rows"]:
        if not isinstance(row[size], int):
            return False
        sizes.setdefault(row[name], set()).add(row[size])
    return all(len(values) > 1 for values in sizes.values())


def _speedup_lines(pyplot, table):
    """One panel per peer: speed-up against size, a line per name."""
    name, size = table["keys"]
    others = [other for other in chart_peers(table)]
    figure, panels = pyplot.subplots(1, len(others), figsize=(3.6 * len(others), 4.2),
                                     squeeze=False)
    for axes, other in zip(panels[0], others):
        for label in dict.fromkeys(row[name] for row in table["rows"]):
            points = [(row[size], ratio(row, table["ours"], other)) for row in table["rows"]
                      if row[name] == label and ratio(row, table["ours"], other) is not None]
            if points:
                axes.plot(*zip(*points), marker="o", label=label)
        axes.axhline(1.0, color="black", linewidth=0.8)
        axes.set_xscale("log", base=2)
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(_times)
        axes.yaxis.set_minor_formatter(_times)
        axes.tick_params(axis="y", which="both", labelsize=7)
        axes.set_xlabel(size)
        axes.set_title(f"{table['ours']} vs {other}", fontsize=9)
    panels[0][0].set_ylabel("speed-up (times faster; 1 = even)")
    handles = {}
    for axes in panels[0]:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    figure.legend(handles.values(), handles.keys(), loc="upper center", fontsize=7,
                  ncol=min(len(handles), 5))
    figure.subplots_adjust(top=0.8)
    return figure


def _times(value, position=None):
    """A speed-up axis label: "2x", "0.5x"."""
    return f"{value:g}x"


def chart(data, table, path):
    """Draw ``table``'s chart (its ``chart`` kind) into the PNG ``path``,
    with the machine line under it."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot

    kind = table["chart"]
    labels = [row_label(table, row) for row in table["rows"]]
    if kind == "scaling":
        figure, axes = pyplot.subplots(figsize=(7, 4.2))
        threads = [row["threads"] for row in table["rows"]]
        for name in table["times"]:
            times = [row[name] for row in table["rows"]]
            if None in times:
                continue
            axes.plot(threads, [times[0] / t for t in times], marker="o", label=name)
        axes.plot(threads, threads, linestyle=":", color="gray", label="linear")
        axes.set_xlabel("threads")
        axes.set_ylabel("gain over 1 thread")
        axes.set_xticks(threads)
    elif kind == "speedup" and _by_size(table):
        figure = _speedup_lines(pyplot, table)
        axes = None
    elif kind == "speedup":
        others = chart_peers(table)
        figure, axes = pyplot.subplots(figsize=(7, 1.2 + 0.3 * len(labels) * len(others)))
        height = 0.8 / len(others)
        for index, other in enumerate(others):
            values = [ratio(row, table["ours"], other) or 0.0 for row in table["rows"]]
            positions = [k + index * height for k in range(len(labels))]
            axes.barh(positions, values, height, label=f"vs {other}")
        axes.set_yticks([k + height * (len(others) - 1) / 2 for k in range(len(labels))])
        axes.set_yticklabels(labels, fontsize=8)
        axes.invert_yaxis()
        axes.axvline(1.0, color="black", linewidth=0.8)
        axes.set_xscale("log")
        axes.set_xlabel(f"{table['ours']}: times faster (1 = even)")
    elif kind == "stages":
        unit, scale = _unit(table)
        figure, axes = pyplot.subplots(figsize=(7, 1.2 + 0.5 * len(labels)))
        height = 0.8 / len(table["times"])
        for index, name in enumerate(table["times"]):
            positions = [k + index * height for k in range(len(labels))]
            axes.barh(positions, [(row[name] or 0.0) * scale for row in table["rows"]], height,
                      label=name)
        axes.set_yticks([k + height * (len(table["times"]) - 1) / 2 for k in range(len(labels))])
        axes.set_yticklabels(labels, fontsize=8)
        axes.invert_yaxis()
        axes.set_xscale("log")
        axes.set_xlabel(f"{unit} per page")
    else:
        raise ValueError(f"table {table['name']!r} has no chart")
    if axes is not None:
        axes.legend(fontsize=8)
        axes.set_title(table["name"])
    machine = data["machine"]
    figure.text(0.01, 0.005, f"{machine['cpu']}, variant {machine['variant']}, "
                f"{machine['threads']} threads, load average {machine['load_average'][0]:.1f}"
                f" at the start; {data['started'][:10]}", fontsize=7, color="dimgray")
    figure.tight_layout(rect=(0, 0.04, 1, 1 if axes is not None else 0.88))
    figure.savefig(path, dpi=100)
    pyplot.close(figure)


# The README's headline figures: (results file, table, row keys, peer, what,
# the benchmark page that shows the file).
HEADLINES = [
    ("kernels", "kernels", {"kernel": "grayscale", "size": 1024}, "cv2",
     "RGBA -> gray, 1024x1024, 1 thread", "kernels"),
    ("kernels", "kernels", {"kernel": "area 1/4", "size": 1024}, "cv2",
     "area resize 1024 -> 256, 1 thread", "kernels"),
    ("preprocess", "batch", {}, "cv2 1T",
     "`preprocess_batch`, 32 pages -> 384x384 float32, 1 thread", "preprocess"),
    ("model", "model", {"against": "rapidocr stock"}, "peer",
     "PP-OCR detector input of an A4 page, 1 thread", "model"),
    ("resample", "resample", {"case": "1080x1440 -> 224x298 bicubic"}, "Pillow",
     "Pillow-exact bicubic resize, 1 thread", "resample"),
    ("resample", "recipes", {"case": "decoded images"}, "transformers Pil 1T",
     "CLIP input from 32 photographs, 1 thread", "resample"),
    ("gemm", "gemm", {"batch x in -> out": "64 x 1024 -> 1024", "threads": 1}, "onnxruntime",
     "INT8 linear layer 64 x 1024 -> 1024, 1 thread", "quantize"),
    ("ocr", "ocr batch", {"page": 0}, "RapidOCR", "OCR recognizer batch of a page, 1 thread",
     "ocr"),
]


def find_table(data, name):
    return next((table for table in data["tables"] if table["name"] == name), None)


def readme_table(results=RESULTS, docs_url="docs/benchmarks"):
    """The README's headline table (Markdown), from the results files."""
    lines = ["| what | scipix | against | speed-up | machine |", "|---|---|---|---|---|"]
    for stem, name, keys, peer, what, page in HEADLINES:
        path = os.path.join(results, stem + ".json")
        if not os.path.exists(path):
            continue
        data = load(path)
        table = find_table(data, name)
        row = table and next((row for row in table["rows"]
                              if all(row[k] == v for k, v in keys.items())), None)
        if row is None or ratio(row, table["ours"], peer) is None:
            continue
        unit, scale = _unit({"times": [table["ours"], peer], "rows": [row]})
        against = row.get("against", peer)
        machine = data["machine"]
        lines.append(f"| {what} | {row[table['ours']] * scale:.3g} {unit} | {against} "
                     f"{row[peer] * scale:.3g} {unit} | "
                     f"[{ratio(row, table['ours'], peer):.2f}x]({docs_url}/{page}.rst) | "
                     f"{machine['cpu']}, {machine['variant']}, load "
                     f"{machine['load_average'][0]:.1f} |")
    return "\n".join(lines)


README_START = "<!-- headline figures: python -m scipix.tools.bench_pages readme -->"
README_END = "<!-- end of headline figures -->"


def readme_with_table(text, table):
    """The README ``text`` with ``table`` between its headline markers."""
    start = text.index(README_START) + len(README_START)
    return text[:start] + "\n" + table + "\n" + text[text.index(README_END):]


def main(argv=None):
    """``python -m scipix.tools.bench_pages readme [--write README.md]``:
    print the README's headline table, or write it into the README."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["readme"] or len(argv) not in (1, 3) or argv[1:2] not in ([], ["--write"]):
        raise SystemExit("usage: python -m scipix.tools.bench_pages readme [--write README.md]")
    if len(argv) == 1:
        print(readme_table())
        return
    with open(argv[2]) as file:
        text = file.read()
    with open(argv[2], "w") as file:
        file.write(readme_with_table(text, readme_table()))


if __name__ == "__main__":
    main()
