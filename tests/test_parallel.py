"""Thread-pool maps, pipelines and the asyncio executor."""
import asyncio
import threading

import numpy as np
import pytest

from scipix.optimize import OptLevel, opt_level, set_thread_count
from scipix.optimize.config import kernel_threads
from scipix.optimize.parallel import (AsyncParallelExecutor, Pipeline, Pipeline3,
                                      PipelineError, PipelineExecutor, parallel_map_chunked,
                                      parallel_preprocess, parallel_preprocess_result)
from scipix.optimize.simd import simd_grayscale


@pytest.fixture(autouse=True)
def two_threads():
    set_thread_count(2)
    yield
    set_thread_count(None)


def fail_on(bad):
    def fn(x):
        if x in bad:
            raise ValueError(f"bad item {x}")
        return x * 10
    return fn


# ---------------------------------------------------------------- maps

@pytest.mark.parametrize("n", [0, 1, 7, 100])
@pytest.mark.parametrize("level", [OptLevel.SIMD, OptLevel.FULL])
def test_parallel_preprocess_keeps_order(n, level):
    with opt_level(level):
        assert parallel_preprocess(range(n), fail_on(()), max_workers=3) == \
            [x * 10 for x in range(n)]


def test_parallel_preprocess_uses_threads_and_serial_kernels():
    seen = set()
    kernel_counts = set()
    barrier = threading.Barrier(2, timeout=10)

    def fn(x):
        seen.add(threading.get_ident())
        kernel_counts.add(kernel_threads())
        if x < 2:
            barrier.wait()  # only passes if two items run at the same time
        return x

    assert parallel_preprocess(range(8), fn, max_workers=2) == list(range(8))
    assert len(seen) == 2 and threading.get_ident() not in seen
    assert kernel_counts == {1}


def test_below_parallel_level_runs_in_caller():
    callers = set()
    with opt_level(OptLevel.SIMD):
        parallel_preprocess(range(20), lambda x: callers.add(threading.get_ident()))
        parallel_map_chunked(range(20), 3, lambda x: callers.add(threading.get_ident()))
    assert callers == {threading.get_ident()}


def test_parallel_preprocess_raises_first_failure_in_order():
    with pytest.raises(ValueError, match="bad item 3"):
        parallel_preprocess(range(50), fail_on({3, 40}), max_workers=2)


def test_parallel_preprocess_result_returns_exceptions_in_place():
    results = parallel_preprocess_result(range(10), fail_on({2, 7}), max_workers=2)
    assert [r for i, r in enumerate(results) if i not in (2, 7)] == \
        [x * 10 for x in range(10) if x not in (2, 7)]
    assert isinstance(results[2], ValueError) and "bad item 2" in str(results[2])
    assert isinstance(results[7], ValueError)


def test_parallel_preprocess_with_kernels():
    images = [np.full((64, 64, 4), v, np.uint8) for v in range(0, 250, 10)]
    grays = parallel_preprocess(images, simd_grayscale)
    assert [int(g[0, 0]) for g in grays] == [int(simd_grayscale(im)[0, 0]) for im in images]


@pytest.mark.parametrize("chunk_size", [1, 3, 10, 1000])
def test_parallel_map_chunked(chunk_size):
    assert parallel_map_chunked(range(25), chunk_size, lambda x: -x) == [-x for x in range(25)]


def test_parallel_map_chunked_raises_first_failure():
    with pytest.raises(ValueError, match="bad item 4"):
        parallel_map_chunked(range(30), 4, fail_on({4, 29}))


@pytest.mark.parametrize("call, error, match", [
    (lambda: parallel_map_chunked(range(3), 0, abs), ValueError, "chunk_size must be positive"),
    (lambda: parallel_map_chunked(range(3), 1.5, abs), TypeError, "chunk_size must be an int"),
    (lambda: parallel_map_chunked(range(3), 2, None), TypeError, "fn must be callable"),
    (lambda: parallel_preprocess(range(3), abs, max_workers=0), ValueError, "max_workers must be"),
    (lambda: parallel_preprocess(5, abs), TypeError, "not iterable"),
    (lambda: parallel_preprocess_result(range(3), 7), TypeError, "fn must be callable"),
])
def test_map_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- pipelines

def test_pipelines_keep_order():
    two = PipelineExecutor(lambda x: x + 1, lambda x: x * 2)
    three = Pipeline3(lambda x: x + 1, lambda x: x * 2, str)
    assert two.execute_batch(range(100)) == [(x + 1) * 2 for x in range(100)]
    assert three.execute_batch(range(100)) == [str((x + 1) * 2) for x in range(100)]
    assert two.execute_batch([]) == []


def test_stages_overlap():
    """Stage 2 of item i runs while stage 1 of item i + 1 does."""
    both_running = threading.Barrier(2, timeout=10)

    def stage1(x):
        if x == 1:
            both_running.wait()
        return x

    def stage2(x):
        if x == 0:
            both_running.wait()
        return x

    assert PipelineExecutor(stage1, stage2).execute_batch(range(4)) == [0, 1, 2, 3]


def test_stage_threads_are_separate():
    threads = [set(), set(), set()]

    def record(stage):
        def fn(x):
            threads[stage].add(threading.get_ident())
            return x
        return fn

    Pipeline3(record(0), record(1), record(2)).execute_batch(range(20))
    assert all(len(t) == 1 for t in threads)
    assert len(set.union(*threads)) == 3 and threading.get_ident() not in set.union(*threads)


@pytest.mark.parametrize("failing_stage", [1, 2, 3])
@pytest.mark.parametrize("level", [OptLevel.SIMD, OptLevel.FULL])
def test_stage_failure_raised_with_index_and_no_thread_left(failing_stage, level):
    before = threading.active_count()
    stages = [lambda x: x, lambda x: x, lambda x: x]
    stages[failing_stage - 1] = fail_on({17})
    with opt_level(level), pytest.raises(PipelineError) as info:
        Pipeline3(*stages).execute_batch(range(1000))
    assert info.value.stage == failing_stage and info.value.index == 17
    assert isinstance(info.value.__cause__, ValueError)
    assert threading.active_count() == before


def test_failure_stops_reading_input():
    consumed = []

    def inputs():
        for i in range(10_000):
            consumed.append(i)
            yield i

    with pytest.raises(PipelineError):
        PipelineExecutor(fail_on({5}), abs, queue_size=2).execute_batch(inputs())
    assert len(consumed) < 100


def test_input_iterator_error_is_raised_as_is():
    def inputs():
        yield 1
        raise KeyError("broken input")

    with pytest.raises(KeyError, match="broken input"):
        PipelineExecutor(abs, abs).execute_batch(inputs())


def test_stream_is_lazy_and_closing_stops_workers():
    before = threading.active_count()
    counter = iter(range(10**9))  # too long to materialize
    stream = PipelineExecutor(lambda x: x + 1, lambda x: x * 2).stream(counter)
    assert [next(stream) for _ in range(5)] == [2, 4, 6, 8, 10]
    stream.close()
    assert threading.active_count() == before
    assert next(counter) < 100  # only a few items were read ahead


def test_pipeline_with_kernels():
    images = [np.full((32, 32, 4), v, np.uint8) for v in range(20)]
    pipeline = PipelineExecutor(simd_grayscale, lambda g: int(g.sum()))
    assert pipeline.execute_batch(images) == [int(simd_grayscale(im).sum()) for im in images]


@pytest.mark.parametrize("call, error, match", [
    (lambda: PipelineExecutor(abs, 3), TypeError, "stage2 must be callable"),
    (lambda: Pipeline3(None, abs, abs), TypeError, "stage1 must be callable"),
    (lambda: Pipeline(), ValueError, "at least one stage"),
    (lambda: PipelineExecutor(abs, abs, queue_size=0), ValueError, "queue_size must be positive"),
    (lambda: PipelineExecutor(abs, abs).execute_batch(5), TypeError, "inputs must be iterable"),
])
def test_pipeline_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- asyncio

class Gauge:
    """Counts coroutines in flight; records the peak."""

    def __init__(self):
        self.now = self.peak = 0

    async def work(self, x, delay=0.001):
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(delay * (x % 3))
            if x == "boom" or (isinstance(x, int) and x < 0):
                raise ValueError(f"bad task {x}")
            return x * 2
        finally:
            self.now -= 1


@pytest.mark.parametrize("limit", [1, 3, 8])
def test_async_limit_and_order(limit):
    gauge = Gauge()
    executor = AsyncParallelExecutor(limit)
    results = asyncio.run(executor.execute(range(40), gauge.work))
    assert results == [x * 2 for x in range(40)]
    assert gauge.peak == limit


def test_async_sequential_below_parallel_level():
    gauge = Gauge()
    with opt_level(OptLevel.SIMD):
        asyncio.run(AsyncParallelExecutor(8).execute(range(10), gauge.work))
    assert gauge.peak == 1


def test_async_execute_cancels_rest_on_failure():
    started, cancelled = [], []

    async def fn(x):
        started.append(x)
        try:
            if x == 2:
                raise ValueError("task 2 failed")
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    async def main():
        with pytest.raises(ValueError, match="task 2 failed"):
            await AsyncParallelExecutor(4).execute(range(100), fn)
        assert len(asyncio.all_tasks()) == 1  # only main: no worker left

    asyncio.run(main())
    assert sorted(cancelled) == [0, 1, 3] and sorted(started) == [0, 1, 2, 3]


def test_async_execute_result_keeps_slots():
    gauge = Gauge()
    tasks = [0, 1, -2, 3, -4, 5]
    results = asyncio.run(AsyncParallelExecutor(2).execute_result(tasks, gauge.work))
    assert results[0] == 0 and results[1] == 2 and results[3] == 6 and results[5] == 10
    assert isinstance(results[2], ValueError) and "bad task -2" in str(results[2])
    assert isinstance(results[4], ValueError)


@pytest.mark.parametrize("limit", [1, 3])
def test_async_fn_cancelling_itself_is_that_task_s_failure(limit):
    """Issue 19.9: the worker ended as cancelled, which asyncio.wait does not
    count as a failure: None in the slot, the worker's later tasks skipped."""
    async def fn(x):
        await asyncio.sleep(0)
        if x == 2:
            raise asyncio.CancelledError("task 2 gave up")
        return x * 10

    executor = AsyncParallelExecutor(limit)
    results = asyncio.run(executor.execute_result(range(8), fn))
    assert isinstance(results[2], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i != 2] == [x * 10 for x in range(8) if x != 2]

    async def main():
        with pytest.raises(asyncio.CancelledError, match="task 2 gave up"):
            await executor.execute(range(8), fn)
        assert len(asyncio.all_tasks()) == 1  # the other workers were stopped

    asyncio.run(main())


def test_async_caller_cancellation_stops_workers():
    async def main():
        running = []

        async def fn(x):
            running.append(x)
            await asyncio.sleep(10)

        outer = asyncio.ensure_future(AsyncParallelExecutor(3).execute(range(10), fn))
        while len(running) < 3:
            await asyncio.sleep(0.001)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        assert len(asyncio.all_tasks()) == 1

    asyncio.run(main())


def test_async_empty_and_bad_input():
    executor = AsyncParallelExecutor(2)
    assert asyncio.run(executor.execute([], abs)) == []
    with pytest.raises(ValueError, match="max_concurrent must be positive"):
        AsyncParallelExecutor(0)
    with pytest.raises(TypeError, match="max_concurrent must be an int"):
        AsyncParallelExecutor("4")
    with pytest.raises(TypeError, match="fn must be callable"):
        asyncio.run(executor.execute([1], None))
    with pytest.raises(TypeError, match="fn must return an awaitable"):
        asyncio.run(executor.execute([1], abs))
