import re
import subprocess
import sys

import scipix.optimize as optimize
from emulation import EMULATED


def _scipix(*args):
    return subprocess.run([sys.executable, "-m", "scipix", *args], capture_output=True,
                          text=True, timeout=600)


def test_detect_features():
    result = _scipix("detect-features")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^active_variant\s*: {optimize.active_variant()}$", result.stdout,
                     re.MULTILINE)
    assert "cpu_features" in result.stdout


def test_demo():
    result = _scipix("demo", "--pages", "2", "--size", "400")
    assert result.returncode == 0, result.stderr
    assert "demo OK" in result.stdout
    for level in ("NONE", "SIMD", "FULL"):
        assert level in result.stdout


def test_bench_prints_a_row_per_kernel():
    # Emulated, every table would outlast the subprocess timeout: there it runs
    # the tables of the rows checked, through the same command line.
    tables = ("--kernels", "grayscale", "threshold", "normalize", "bilinear",
              "area") if EMULATED else ()
    result = _scipix("bench", "--sizes", "32", "--repeat", "2", *tables)
    assert result.returncode == 0, result.stderr
    for kernel in ("grayscale", "threshold", "normalize", "bilinear 1/2", "area 3/4"):
        assert kernel in result.stdout
