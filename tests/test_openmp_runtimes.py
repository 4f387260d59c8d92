"""scipix's own OpenMP runtime among others in the process (PyTorch's wheel
vendors its own libgomp, so does scipix's repaired wheel)."""
import json
import os
import subprocess
import sys

import pytest

import scipix
from scipix.optimize import _openmp_helpers, _wait_policy

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="needs /proc/self/maps")
needs_openmp = pytest.mark.skipif(not _openmp_helpers.openmp_enabled(),
                                  reason="scipix was built without OpenMP")


def _runtime_info_in_child(prelude):
    """runtime_info() and libgomp's OMP_DISPLAY_ENV report of each runtime
    loaded after ``prelude`` ran, in a fresh interpreter."""
    code = (prelude + "; import sys, json; print('AFTER PRELUDE', file=sys.stderr, flush=True); "
            "import scipix; print(json.dumps(scipix.runtime_info()))")
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environ["OMP_DISPLAY_ENV"] = "VERBOSE"
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                            text=True, check=True, timeout=300)
    return json.loads(result.stdout), result.stderr.split("AFTER PRELUDE", 1)[1]


@linux_only
@needs_openmp
def test_scipix_runtime_is_the_one_its_kernels_call():
    runtime = _wait_policy.openmp_runtime()
    assert runtime in _wait_policy.openmp_runtimes_loaded()
    info = scipix.runtime_info()
    assert info["openmp_runtime"] == runtime
    assert runtime not in info["other_openmp"]


@linux_only
@needs_openmp
def test_passive_policy_reaches_scipix_runtime_loaded_after_torch():
    pytest.importorskip("torch")
    info, display_after_torch = _runtime_info_in_child("import torch")
    if "OPENMP DISPLAY ENVIRONMENT" not in display_after_torch:
        # No runtime loaded after torch: this torch shares scipix's runtime.
        assert info["omp_wait_policy"] == "runtime default (OpenMP was loaded before scipix)"
        return
    # Two runtimes: scipix's loaded after torch's and read the passive policy
    # (libgomp displays OMP_WAIT_POLICY as PASSIVE when unset too; its spin
    # count, 0 only when passive, tells them apart).
    assert info["other_openmp"], info
    assert info["omp_wait_policy"] == "passive (scipix default)"
    assert "GOMP_SPINCOUNT = '0'" in display_after_torch


def test_runtime_info_says_when_built_without_openmp(monkeypatch):
    monkeypatch.setattr(_openmp_helpers, "openmp_enabled", lambda: False)
    info = scipix.runtime_info()
    assert info["openmp"] is False
    assert info["openmp_runtime"] == "none (built without OpenMP: every kernel runs on one thread)"
