"""``python -m scipix bench`` without its optional peers: the columns say
"not installed", never ``nan``, and no single-thread NumPy figure is given
where threadpoolctl cannot hold NumPy to one thread."""
import subprocess
import sys

import pytest

HIDE_PEERS = ("import sys; sys.modules.update(cv2=None, torch=None, threadpoolctl=None); "
              "from scipix.__main__ import main; main(sys.argv[1:])")


@pytest.fixture(scope="module")
def bench_without_peers():
    result = subprocess.run(
        [sys.executable, "-c", HIDE_PEERS, "bench", "--sizes", "32", "--repeat", "1",
         "--batch", "2", "--kernels", "grayscale", "batch", "scaling", "quantize"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_missing_peers_print_not_installed(bench_without_peers):
    assert "nan" not in bench_without_peers.lower().replace("dynamic", "")
    rows = bench_without_peers.splitlines()
    grayscale = next(row for row in rows if row.startswith("grayscale"))
    assert "not installed" in grayscale                     # OpenCV
    quantize = next(row for row in rows if row.startswith("quantize "))
    assert "not installed" in quantize                      # PyTorch


def test_no_single_thread_numpy_figure_without_threadpoolctl(bench_without_peers):
    rows = bench_without_peers.splitlines()
    header = next(i for i, row in enumerate(rows) if "numpy 1T" in row)
    assert "needs threadpoolctl" in rows[header]
    assert "not installed" in rows[header + 1]


def test_bench_extra_holds_numpy_to_one_thread():
    tomllib = pytest.importorskip("tomllib")
    import pathlib
    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    assert any(requirement.startswith("threadpoolctl") for requirement in extras["bench"])
