import asyncio
import concurrent.futures
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import warnings
from dataclasses import replace

import numpy as np
import pytest

from scipix.optimize import (OptLevel, _dispatch, _wait_policy, get_opt_level, get_thread_count,
                             local_thread_count, max_thread_count, memory_opt_enabled, opt_level,
                             parallel_enabled, serial_kernels, set_opt_level, set_thread_count,
                             simd, simd_enabled)
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


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-2, ValueError), (2.0, TypeError), ("2", TypeError),
    (True, TypeError), (np.True_, TypeError), (100_000, ValueError), (2**31, ValueError),
    (max_thread_count() + 1, ValueError)])
def test_bad_thread_count(bad, error):
    set_thread_count(1)
    with pytest.raises(error, match="n must"):
        set_thread_count(bad)
    with pytest.raises(error, match="n must"):
        with local_thread_count(bad):
            pass
    assert get_thread_count() == 1 and kernel_threads() == 1


def test_thread_count_bounds_and_numpy_integers():
    assert max_thread_count() == 4 * os.cpu_count()
    set_thread_count(np.int64(3))
    assert get_thread_count() == 3 and type(get_thread_count()) is int
    set_thread_count(np.uint8(max_thread_count()))
    assert kernel_threads() == max_thread_count()


def _run_python(code, **env):
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    environ.update(env)
    return subprocess.run([sys.executable, "-W", "default", "-c", code], env=environ,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", ["1000000", "50000"])
def test_huge_omp_num_threads_is_lowered_with_a_warning(value):
    # Both crashed the process in the first large kernel (a segfault, or
    # libgomp exiting), before any thread count was refused.
    result = _run_python("import numpy as np, scipix.optimize as o; "
                         "o.simd.simd_threshold(np.zeros((1024, 1024), np.uint8), 9); "
                         "print(o.get_thread_count(), o.max_thread_count())",
                         OMP_NUM_THREADS=value)
    assert result.returncode == 0, result.stderr
    count, maximum = result.stdout.split()
    assert count == maximum
    assert f"RuntimeWarning: OMP_NUM_THREADS='{value}' is more than max_thread_count()" \
        in result.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_invalid_omp_num_threads_is_ignored_with_a_warning(value):
    result = _run_python("import os, scipix.optimize as o; "
                         "print(o.get_thread_count() == len(os.sched_getaffinity(0)))",
                         OMP_NUM_THREADS=value)
    assert result.stdout.strip() == "True", result.stderr
    assert f"RuntimeWarning: OMP_NUM_THREADS='{value}' is not a positive integer" \
        in result.stderr


def test_empty_omp_num_threads_is_unset():
    result = _run_python("import os, scipix.optimize as o; "
                         "print(o.get_thread_count() == len(os.sched_getaffinity(0)))",
                         OMP_NUM_THREADS=" ")
    assert result.stdout.strip() == "True" and "Warning" not in result.stderr


def test_thread_count_follows_new_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert kernel_threads() == 3 and get_thread_count() == 3
    set_thread_count(2)  # an explicit count wins until the variable changes again
    assert kernel_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the same value: no change
    assert kernel_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert kernel_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert get_thread_count() == len(os.sched_getaffinity(0))


def recorded_image_kernels(monkeypatch):
    recorder = Recorder(_dispatch.KERNELS.image)
    monkeypatch.setattr(_dispatch, "KERNELS", replace(_dispatch.KERNELS, image=recorder))
    return recorder


def test_omp_num_threads_change_reaches_the_kernel(monkeypatch):
    recorder = recorded_image_kernels(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    simd.simd_threshold(np.zeros((8, 8), np.uint8), 1)
    assert recorder.calls == [("threshold_plain", 3)]


def _in_thread(fn):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_other_threads_run_kernels_on_one_thread_by_default():
    set_thread_count(3)

    def counts():
        before = kernel_threads()
        with local_thread_count(None):
            following = kernel_threads()
            with local_thread_count(2):
                own = kernel_threads()
        return before, following, own, kernel_threads()

    assert _in_thread(counts) == (1, 3, 2, 1)
    assert kernel_threads() == 3
    results = []
    thread = threading.Thread(target=lambda: results.append(kernel_threads()))
    thread.start()
    thread.join()
    assert results == [1]


def test_local_count_stays_in_its_thread():
    set_thread_count(3)
    entered, release = threading.Event(), threading.Event()
    seen = []

    def hold_two():
        with local_thread_count(2):
            entered.set()
            release.wait(30)
            seen.append(kernel_threads())

    worker = threading.Thread(target=hold_two)
    worker.start()
    entered.wait(30)
    try:
        assert kernel_threads() == 3
    finally:
        release.set()
        worker.join()
    assert seen == [2]


def test_batcher_processor_thread_follows_the_process_count():
    from scipix.optimize.batch import BatchConfig, DynamicBatcher
    set_thread_count(3)
    seen = []

    def processor(items):
        seen.append((threading.current_thread() is threading.main_thread(), kernel_threads()))
        return items

    async def one_item():
        batcher = DynamicBatcher(BatchConfig(max_batch_size=1), processor)
        runner = asyncio.create_task(batcher.run())
        await batcher.add(1, timeout=30)
        await batcher.shutdown()
        await runner

    asyncio.run(one_item())
    assert seen == [(False, 3)]


def test_serial_kernels_in_the_main_thread():
    set_thread_count(3)
    with serial_kernels():
        assert kernel_threads() == 1
    assert kernel_threads() == 3


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


def _scipix_infos(threadpoolctl):
    return [info for info in threadpoolctl.threadpool_info()
            if info["internal_api"] == "scipix"]


def test_threadpoolctl_reports_scipix():
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.3")
    set_thread_count(3)
    infos = _scipix_infos(threadpoolctl)
    assert len(infos) == 1
    assert infos[0]["user_api"] == "openmp" and infos[0]["num_threads"] == 3
    assert "_openmp_helpers" in os.path.basename(infos[0]["filepath"])


@pytest.mark.parametrize("user_api", [None, "openmp"])
def test_threadpool_limits_limits_and_restores(monkeypatch, user_api):
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.3")
    recorder = recorded_image_kernels(monkeypatch)
    set_thread_count(3)
    with threadpoolctl.threadpool_limits(1, user_api=user_api):
        assert _scipix_infos(threadpoolctl)[0]["num_threads"] == 1
        simd.simd_threshold(np.zeros((8, 8), np.uint8), 1)
    simd.simd_threshold(np.zeros((8, 8), np.uint8), 1)
    assert recorder.calls == [("threshold_plain", 1), ("threshold_plain", 3)]
    assert get_thread_count() == 3


def test_threadpool_limits_in_another_thread_sets_that_thread_only():
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.3")
    set_thread_count(3)

    def in_pool():
        with threadpoolctl.threadpool_limits(2):
            inside = (kernel_threads(), _scipix_infos(threadpoolctl)[0]["num_threads"],
                      get_thread_count())
        return inside, kernel_threads()

    assert _in_thread(in_pool) == ((2, 2, 3), 1)
    assert kernel_threads() == 3


def test_threadpoolctl_versions_with_third_party_controllers():
    from scipix.optimize import _threadpoolctl
    # 3.2 has register() but takes every module named _openmp_helpers for scipix's.
    assert [_threadpoolctl._supported(v) for v in ("3.1.0", "3.2.0", "3.3.0", "3.10.1", "4.0")] \
        == [False, False, True, True, True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs dlopen of a .so")
def test_threadpoolctl_ignores_other_packages_openmp_helpers(tmp_path):
    # scikit-learn also has a module named _openmp_helpers: only scipix's
    # (which exports scipix_thread_control) may be taken for scipix.
    pytest.importorskip("threadpoolctl", minversion="3.3")
    source = tmp_path / "other.c"
    source.write_text("int other_openmp_helpers(void) { return 0; }\n")
    library = tmp_path / "_openmp_helpers.cpython-311-x86_64-linux-gnu.so"
    if shutil.which("cc") is None:
        pytest.skip("no C compiler (a wheel tested where none is installed)")
    compiled = subprocess.run(["cc", "-shared", "-fPIC", str(source), "-o", str(library)],
                              capture_output=True)
    if compiled.returncode != 0:
        pytest.skip("no C compiler")
    code = ("import ctypes, sys, threadpoolctl, scipix.optimize; ctypes.CDLL(sys.argv[1]); "
            "print(sorted(i['filepath'] for i in threadpoolctl.threadpool_info() "
            "if i['internal_api'] == 'scipix'))")
    result = subprocess.run([sys.executable, "-c", code, str(library)], capture_output=True,
                            text=True, check=True)
    paths = eval(result.stdout)
    assert len(paths) == 1 and str(tmp_path) not in paths[0]


def _child_grayscale(queue):
    image = np.full((1024, 1024, 4), 200, np.uint8)
    queue.put(int(simd.simd_grayscale(image)[0, 0]))


def _child_asks_for_threads(queue):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        set_thread_count(2)  # hung in the next large kernel before
        with local_thread_count(2):
            local = kernel_threads()
    image = np.full((1024, 1024, 4), 200, np.uint8)
    queue.put((get_thread_count(), local, int(simd.simd_grayscale(image)[0, 0]),
               [str(w.message) for w in caught if w.category is RuntimeWarning]))


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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_asking_for_threads_stays_serial_with_a_warning():
    set_thread_count(2)
    simd.simd_grayscale(np.zeros((1024, 1024, 4), np.uint8))  # starts the OpenMP team
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_asks_for_threads, args=(queue,))
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
        pytest.fail("child hung in an OpenMP region after fork")
    count, local, pixel, messages = queue.get(timeout=5)
    assert child.exitcode == 0 and (count, local, pixel) == (1, 1, 200)
    assert len(messages) == 2 and all("made with fork" in m for m in messages)


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
    # scipix's own runtime (the system libgomp, or the copy a repaired wheel
    # vendors) loaded before scipix: its wait policy is someone else's choice.
    prelude = f"import ctypes; ctypes.CDLL({_wait_policy.openmp_runtime()!r}); "
    assert _wait_policy_in_child(prelude) == \
        ["runtime default (OpenMP was loaded before scipix)", "None"]


def test_threadpool_limits_above_the_maximum_clamp_and_restore_every_library():
    """Issue 27.6: a limit above max_thread_count() raised ValueError from
    scipix's controller part-way through threadpoolctl's set-up, and the
    libraries already changed (OpenBLAS, libgomp) kept the new limit."""
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.3")
    set_thread_count(2)
    before = [(info["filepath"], info["num_threads"])
              for info in threadpoolctl.threadpool_info()]
    with pytest.warns(RuntimeWarning, match="max_thread_count"):
        with threadpoolctl.threadpool_limits(max_thread_count() + 7):
            assert _scipix_infos(threadpoolctl)[0]["num_threads"] == max_thread_count()
    after = [(info["filepath"], info["num_threads"])
             for info in threadpoolctl.threadpool_info()]
    assert after == before
    assert get_thread_count() == 2
