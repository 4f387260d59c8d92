"""Every ``.. code-block:: python`` of the documentation (docs/**/*.rst) runs
as written, each on its own in a fresh interpreter and an empty folder, as
the README's blocks do (tests/test_readme.py).  Excerpts of files that other
tests run (examples/) are marked ``.. code-block:: py`` and not run here;
``>>>`` examples are run by Sphinx's doctest builder (.ci/run)."""
import ast
import importlib.util
import pathlib
import subprocess
import sys
import textwrap

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def python_blocks(text):
    """(first line number, source) of each ``.. code-block:: python`` of ``text``."""
    lines = text.split("\n")
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != ".. code-block:: python":
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for following in lines[number + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        blocks.append((number + 1, textwrap.dedent("\n".join(body)).strip("\n") + "\n"))
    return blocks


BLOCKS = [(f"{path.relative_to(DOCS)}:{line}", source)
          for path in sorted(DOCS.rglob("*.rst")) if "_build" not in path.parts
          for line, source in python_blocks(path.read_text())]


def test_blocks_are_found():
    text = ("Text\n\n.. code-block:: python\n\n   x = 1\n\n   y = 2\n\nAfter.\n\n"
            ".. code-block:: py\n\n   skipped()\n\n- item\n\n  .. code-block:: python\n\n"
            "     z = 3\n")
    assert python_blocks(text) == [(3, "x = 1\n\ny = 2\n"), (17, "z = 3\n")]
    assert len(BLOCKS) >= 8


def missing_modules(source):
    """The top-level modules ``source`` imports that are not installed (an
    optional extra's: the block is skipped where they are missing)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return sorted(name for name in names if importlib.util.find_spec(name) is None)


def test_missing_modules_are_found():
    assert missing_modules("import os\nimport no_such_module.sub\n") == ["no_such_module"]
    assert missing_modules("from numpy import zeros\n") == []


@pytest.mark.parametrize("where, source", BLOCKS, ids=[where for where, _ in BLOCKS])
def test_docs_block_runs(where, source, tmp_path):
    missing = missing_modules(source)
    if missing:
        pytest.skip(f"docs/{where} needs {', '.join(missing)} (an optional extra)")
    result = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"docs/{where}:\n{result.stderr}"
