"""Every ```python block of the README runs as written, each on its own in a
fresh interpreter and an empty folder (blocks may write files)."""
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text):
    """(first line number, source) of each ```python block of ``text``."""
    return [(text.count("\n", 0, match.start()) + 1, match.group(1))
            for match in BLOCK.finditer(text)]


BLOCKS = python_blocks(README.read_text())


def test_blocks_are_found():
    blocks = python_blocks("text\n```python\nx = 1\n```\n```bash\nls\n```\n"
                           "```python\ny = 2\nz = 3\n```\n")
    assert blocks == [(2, "x = 1\n"), (8, "y = 2\nz = 3\n")]
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("line, source", BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line, source, tmp_path):
    result = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"README.md block at line {line}:\n{result.stderr}"
