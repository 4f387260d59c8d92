import multiprocessing
import os
from dataclasses import replace
import subprocess
import sys

import numpy as np
import pytest

from scipix.optimize import (OptLevel, _dispatch, get_opt_level, get_thread_count,
                             memory_opt_enabled, opt_level, parallel_enabled, set_opt_level,
                             set_thread_count, simd, simd_enabled)
from scipix.optimize.config import kernel_threads
from scipix.optimize._openmp_helpers import openmp_enabled

# A compiler without OpenMP builds scipix on one thread, with no runtime.
needs_openmp = pytest.mark.skipif(not openmp_enabled(), reason="built without OpenMP")


@pytest.fixture(autouse=True)
def restore_state():
    level, threads = get_opt_level(), get_thread_count()
    yield
    set_opt_level(level)
    set_thread_count(threads)


def test_default_level_is_full():
    result = subprocess.run([sys.executable, "-c",
                             "import scipix.optimize as o; print(o.get_opt_level().name)"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "FULL"


@pytest.mark.parametrize("level, simd_on, parallel_on, memory_on", [
    (OptLevel.NONE, False, False, False), (OptLevel.SIMD, True, False, False),
    (OptLevel.PARALLEL, True, True, False), (OptLevel.FULL, True, True, True)])
def test_level_switches(level, simd_on, parallel_on, memory_on):
    set_opt_level(level)
    assert (simd_enabled(), parallel_enabled(), memory_opt_enabled()) == \
        (simd_on, parallel_on, memory_on)


def test_levels_from_names_and_ints():
    set_opt_level("simd")
    assert get_opt_level() is OptLevel.SIMD
    set_opt_level(2)
    assert get_opt_level() is OptLevel.PARALLEL


@pytest.mark.parametrize("bad, error", [(7, ValueError), ("fastest", ValueError),
                                        (1.5, TypeError), (None, TypeError)])
def test_bad_level(bad, error):
    with pytest.raises(error, match="level"):
        set_opt_level(bad)


def test_context_manager_restores_even_on_error():
    set_opt_level(OptLevel.PARALLEL)
    with pytest.raises(RuntimeError):
        with opt_level(OptLevel.NONE) as level:
            assert level is OptLevel.NONE and get_opt_level() is OptLevel.NONE
            raise RuntimeError
    assert get_opt_level() is OptLevel.PARALLEL


class Recorder:
    """Wraps a kernel module and records which kernels ran with how many threads."""

    def __init__(self, module):
        self.module, self.calls = module, []

    def __getattr__(self, name):
        def call(*args):
            self.calls.append((name, args[-1]))
            return getattr(self.module, name)(*args)
        return call


@pytest.mark.parametrize("level, uses_reference, threads", [
    (OptLevel.NONE, True, 1), (OptLevel.SIMD, False, 1), (OptLevel.FULL, False, 3)])
@pytest.mark.parametrize("plain", [True, False])
def test_levels_route_to_kernels(monkeypatch, level, uses_reference, threads, plain):
    chosen = Recorder(_dispatch.KERNELS.image)
    reference = Recorder(_dispatch.REFERENCE_KERNELS.image)
    monkeypatch.setattr(_dispatch, "KERNELS", replace(_dispatch.KERNELS, image=chosen))
    monkeypatch.setattr(_dispatch, "REFERENCE_KERNELS",
                        replace(_dispatch.REFERENCE_KERNELS, image=reference))
    set_thread_count(3)
    pixels = np.zeros((4, 4, 4), np.uint8)
    with opt_level(level):
        # A memoryview is not a plain call: the plain entry point declines
        # and the general path runs the memoryview kernel.
        simd.simd_grayscale(pixels if plain else memoryview(pixels))
    used, unused = (reference, chosen) if uses_reference else (chosen, reference)
    expected = [("grayscale_plain", threads)] + ([] if plain else [("grayscale", threads)])
    assert used.calls == expected and unused.calls == []


def test_thread_count():
    set_thread_count(5)
    assert get_thread_count() == 5 and kernel_threads() == 5
    with opt_level(OptLevel.SIMD):
        assert kernel_threads() == 1
    set_thread_count(None)
    assert get_thread_count() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError)])
def test_bad_thread_count(bad, error):
    with pytest.raises(error, match="n must"):
        set_thread_count(bad)


def test_default_threads_respect_omp_num_threads():
    env = dict(os.environ, OMP_NUM_THREADS="3,1")
    result = subprocess.run([sys.executable, "-c",
                             "import scipix.optimize as o; print(o.get_thread_count())"],
                            capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "3"


@needs_openmp
def test_threadpoolctl_sees_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    simd.simd_grayscale(np.zeros((512, 512, 4), np.uint8))
    apis = {info["user_api"] for info in threadpoolctl.threadpool_info()}
    assert "openmp" in apis


def _child_grayscale(queue):
    image = np.full((1024, 1024, 4), 200, np.uint8)
    queue.put(int(simd.simd_grayscale(image)[0, 0]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_after_parallel_region_does_not_hang():
    set_thread_count(2)
    simd.simd_grayscale(np.zeros((1024, 1024, 4), np.uint8))  # starts the OpenMP team
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_grayscale, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("child hung in an OpenMP region after fork")
    assert child.exitcode == 0 and queue.get(timeout=5) == 200


def _wait_policy_in_child(prelude="", env=None):
    code = (prelude + "import os, scipix.optimize as o; "
            "print(o.wait_policy()); print(os.environ.get('OMP_WAIT_POLICY'))")
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    environ.update(env or {})
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                            text=True, check=True)
    return result.stdout.split("\n")[:2]


@needs_openmp
def test_wait_policy_passive_by_default_and_environment_restored():
    assert _wait_policy_in_child() == ["passive (scipix default)", "None"]


def test_wait_policy_user_choice_kept():
    assert _wait_policy_in_child(env={"OMP_WAIT_POLICY": "active"}) == \
        ["active (OMP_WAIT_POLICY)", "active"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/maps")
@needs_openmp
def test_wait_policy_untouched_when_openmp_loaded_first():
    prelude = "import ctypes, ctypes.util; ctypes.CDLL(ctypes.util.find_library('gomp')); "
    assert _wait_policy_in_child(prelude) == \
        ["runtime default (OpenMP was loaded before scipix)", "None"]
