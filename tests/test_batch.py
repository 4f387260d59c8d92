"""DynamicBatcher and AdaptiveBatcher: results, errors, cancellation, shutdown."""
import asyncio
import threading
import time

import pytest

from scipix.optimize.batch import (AdaptiveBatcher, BatchConfig, BatchError, BatcherClosed,
                                   DynamicBatcher, ProcessingFailed, QueueFull, Timeout)

FAST = BatchConfig(max_batch_size=64, max_wait_ms=2, max_queue_size=5000)
# Nothing is sent before 10 s unless the size rules say so.
PATIENT = BatchConfig(max_batch_size=8, max_wait_ms=10_000, preferred_batch_size=4)


def echo(items):
    return list(items)


async def running(batcher):
    task = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)
    return task


async def stop(batcher, task):
    await batcher.shutdown()
    await asyncio.wait_for(task, 10)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


# ---------------------------------------------------------------- config

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(max_batch_size=0), ValueError, "max_batch_size must be positive"),
    (dict(max_queue_size=-1), ValueError, "max_queue_size must be positive"),
    (dict(max_wait_ms=0), ValueError, "max_wait_ms must be positive"),
    (dict(max_wait_ms=float("nan")), ValueError, "max_wait_ms"),
    (dict(max_batch_size=8, preferred_batch_size=9), ValueError, "preferred_batch_size"),
    (dict(max_batch_size=2.5), TypeError, "max_batch_size must be an int"),
    (dict(max_wait_ms="50"), TypeError, "max_wait_ms must be a number"),
])
def test_config_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchConfig(**kwargs)


def test_config_default_preferred_size_fits_a_small_max():
    # Found by test_properties: the spec's default 16 made max_batch_size < 16 invalid.
    assert BatchConfig(max_batch_size=8).preferred_batch_size == 8
    assert BatchConfig(max_batch_size=64).preferred_batch_size == 16


def test_config_frozen_and_constructor_checks():
    config = BatchConfig()
    with pytest.raises(AttributeError):
        config.max_batch_size = 3
    with pytest.raises(TypeError, match="config must be a BatchConfig"):
        DynamicBatcher({}, echo)
    with pytest.raises(TypeError, match="processor must be callable"):
        DynamicBatcher(config, None)
    with pytest.raises(ValueError, match="target_latency must be positive"):
        AdaptiveBatcher(config, 0, echo)


# ---------------------------------------------------------------- results under load

@pytest.mark.parametrize("processor", ["sync", "async"])
def test_100k_items_from_1000_callers_each_get_their_own(processor):
    async def async_echo(items):
        return list(items)

    async def main():
        batcher = DynamicBatcher(FAST, echo if processor == "sync" else async_echo)
        task = await running(batcher)
        results = {}

        async def caller(c):
            for j in range(100):
                results[(c, j)] = await batcher.add((c, j))

        await asyncio.gather(*(caller(c) for c in range(1000)))
        await stop(batcher, task)
        assert len(results) == 100_000 and all(k == v for k, v in results.items())
        stats = batcher.stats()
        assert stats.items == 100_000 and stats.batches >= 100_000 / 64
        assert stats.failed_items == 0 and stats.queue_size == 0

    run(main())


def test_every_7th_batch_fails_only_its_items():
    batches = []

    def flaky(items):
        batches.append(list(items))
        if len(batches) % 7 == 0:
            raise RuntimeError("model crashed")
        return list(items)

    async def main():
        batcher = DynamicBatcher(FAST, flaky)
        task = await running(batcher)
        outcome = {}

        async def caller(c):
            for j in range(50):
                try:
                    outcome[(c, j)] = await batcher.add((c, j)) == (c, j)
                except ProcessingFailed as exc:
                    assert isinstance(exc.__cause__, RuntimeError)
                    outcome[(c, j)] = "failed"
        await asyncio.gather(*(caller(c) for c in range(200)))
        await stop(batcher, task)
        failed = {item for i, batch in enumerate(batches, 1) if i % 7 == 0 for item in batch}
        assert {k for k, v in outcome.items() if v == "failed"} == failed
        assert all(v is True for k, v in outcome.items() if k not in failed)
        assert len(outcome) == 10_000

    run(main())


def test_item_exception_and_bad_result_lists():
    def processor(items):
        if items[0] == "short":
            return items[:-1]
        if items[0] == "not a list":
            return 42
        return [ValueError(f"bad {x}") if x == 3 else x for x in items]

    async def main():
        config = BatchConfig(max_batch_size=4, max_wait_ms=5, preferred_batch_size=4)
        batcher = DynamicBatcher(config, processor)
        task = await running(batcher)
        results = await asyncio.gather(*(batcher.add(x) for x in range(4)),
                                       return_exceptions=True)
        assert results[:3] == [0, 1, 2] and isinstance(results[3], ProcessingFailed)
        assert isinstance(results[3].__cause__, ValueError)
        for first in ("short", "not a list"):
            results = await asyncio.gather(batcher.add(first), batcher.add(1),
                                           return_exceptions=True)
            assert all(isinstance(r, ProcessingFailed) for r in results)
            assert "must return a list of 2" in str(results[0])
        assert await batcher.add(7) == 7  # the loop survived
        await stop(batcher, task)

    run(main())


# ---------------------------------------------------------------- dispatch rule

def test_full_and_preferred_batches_go_at_once_and_waits_are_bounded():
    sizes = []

    def record(items):
        sizes.append(len(items))
        return items

    async def main():
        batcher = DynamicBatcher(PATIENT, record)
        task = await running(batcher)
        await asyncio.wait_for(asyncio.gather(*(batcher.add(i) for i in range(8))), 5)
        await asyncio.wait_for(asyncio.gather(*(batcher.add(i) for i in range(4))), 5)
        assert sizes == [8, 4]
        await stop(batcher, task)

        quick = DynamicBatcher(BatchConfig(max_wait_ms=30), record)
        task = await running(quick)
        start = time.monotonic()
        assert await quick.add("alone") == "alone"
        assert 0.025 <= time.monotonic() - start < 5
        await stop(quick, task)

    run(main())


def test_group_key_keeps_groups_apart():
    batches = []

    def record(items):
        batches.append(list(items))
        return items

    def key(item):
        if item == "boom":
            raise KeyError("no bucket")
        return item % 3

    async def main():
        batcher = DynamicBatcher(FAST, record, group_key=key)
        task = await running(batcher)
        assert await asyncio.gather(*(batcher.add(i) for i in range(300))) == list(range(300))
        with pytest.raises(ProcessingFailed, match="group_key failed"):
            await batcher.add("boom")
        await stop(batcher, task)
        assert all(len({x % 3 for x in batch}) == 1 for batch in batches)

    run(main())


# ---------------------------------------------------------------- back-pressure, timeouts, cancellation

def test_queue_full_is_immediate_and_enqueues_nothing():
    async def main():
        batcher = DynamicBatcher(BatchConfig(max_queue_size=3, max_wait_ms=10_000), echo)
        waiting = [asyncio.create_task(batcher.add(i)) for i in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="3 items are waiting"):
            await batcher.add(99)
        assert batcher.queue_size() == 3
        task = await running(batcher)
        await stop(batcher, task)  # drains the three
        assert [t.result() for t in waiting] == [0, 1, 2]

    run(main())


def test_timeout_before_and_during_the_batch():
    async def slow(items):
        await asyncio.sleep(0.3)
        return items

    async def main():
        batcher = DynamicBatcher(BatchConfig(max_wait_ms=10_000), slow)
        start = time.monotonic()
        with pytest.raises(Timeout):
            await batcher.add(1, timeout=0.05)  # never dispatched: the timer fires
        assert time.monotonic() - start < 1 and batcher.queue_size() == 0
        task = await running(batcher)
        others = [asyncio.create_task(batcher.add(i)) for i in range(16)]
        with pytest.raises(Timeout):
            await batcher.add(99, timeout=0.1)  # in the running batch
        assert [await t for t in others] == list(range(16))
        await stop(batcher, task)
        with pytest.raises(ValueError, match="timeout must be positive"):
            await batcher.add(1, timeout=0)

    run(main())


def test_cancelled_before_start_is_never_processed():
    seen = []

    def record(items):
        seen.extend(items)
        return items

    async def main():
        batcher = DynamicBatcher(PATIENT, record)
        victim = asyncio.create_task(batcher.add("cancelled"))
        keeper = asyncio.create_task(batcher.add("kept"))
        await asyncio.sleep(0)
        victim.cancel()
        await asyncio.sleep(0)
        assert batcher.queue_size() == 1
        task = await running(batcher)
        await stop(batcher, task)
        assert await keeper == "kept" and seen == ["kept"]

    run(main())


def test_cancelled_after_start_does_not_break_the_batch():
    async def main():
        in_batch = asyncio.Event()

        async def slow(items):
            in_batch.set()
            await asyncio.sleep(0.1)
            return items

        batcher = DynamicBatcher(PATIENT, slow)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(4)]
        await in_batch.wait()
        calls[1].cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert results[0] == 0 and results[2:] == [2, 3]
        assert isinstance(results[1], asyncio.CancelledError)
        await stop(batcher, task)

    run(main())


# ---------------------------------------------------------------- shutdown and loop death

def test_shutdown_drains_under_load_then_refuses():
    async def main():
        batcher = DynamicBatcher(FAST, echo)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(3000)]
        await asyncio.sleep(0)
        await batcher.shutdown()
        assert task.done()
        assert [c.result() for c in calls] == list(range(3000))
        with pytest.raises(BatcherClosed, match="shut down"):
            await batcher.add(1)

    run(main())


def test_shutdown_without_drain_fails_waiting_items():
    async def main():
        batcher = DynamicBatcher(BatchConfig(max_wait_ms=10_000), echo)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.shutdown(drain=False)
        await task
        for call in calls:
            with pytest.raises(BatcherClosed, match="drain=False"):
                await call

    run(main())


def test_shutdown_before_run_fails_waiting_items():
    async def main():
        batcher = DynamicBatcher(FAST, echo)
        call = asyncio.create_task(batcher.add(1))
        await asyncio.sleep(0)
        await batcher.shutdown()
        with pytest.raises(BatcherClosed, match=r"before run\(\) was started"):
            await call

    run(main())


def test_dead_loop_fails_items_and_refuses_new_ones(monkeypatch):
    async def main():
        batcher = DynamicBatcher(FAST, echo)

        def broken(key):
            raise RuntimeError("dispatcher bug")

        monkeypatch.setattr(batcher, "_take", broken)
        task = await running(batcher)
        with pytest.raises(BatcherClosed) as info:
            await batcher.add(1)
        assert isinstance(info.value.__cause__, RuntimeError)
        with pytest.raises(RuntimeError, match="dispatcher bug"):
            await task
        with pytest.raises(BatcherClosed, match="died"):
            await batcher.add(2)

    run(main())


def test_every_error_is_a_batch_error():
    for error in (QueueFull, ProcessingFailed, Timeout, BatcherClosed):
        assert issubclass(error, BatchError)


# ---------------------------------------------------------------- stats, threads

def test_stats_and_submit_from_threads():
    async def main():
        batcher = DynamicBatcher(FAST, echo)
        task = await running(batcher)
        loop_results = []

        def from_thread():
            futures = [batcher.submit(i) for i in range(100)]
            loop_results.extend(f.result(timeout=10) for f in futures)

        thread = threading.Thread(target=from_thread)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.005)
        assert loop_results == list(range(100))
        stats = batcher.stats()
        assert stats.items == 100 and stats.batches >= 2 and stats.mean_batch_size > 0
        assert 0 < stats.p50_latency_ms <= stats.p95_latency_ms <= stats.p99_latency_ms
        await stop(batcher, task)
        with pytest.raises(RuntimeError, match="running batcher"):
            batcher.submit(1)

    run(main())


# ---------------------------------------------------------------- adaptive

def test_adaptive_size_reaches_the_dispatcher():
    """Cost 2 ms + 1 ms/item, target 20 ms: t(n) <= 10 ms gives n = 8."""
    sizes = []

    def costly(items):
        time.sleep(0.002 + 0.001 * len(items))
        sizes.append(len(items))
        return items

    async def main():
        config = BatchConfig(max_batch_size=64, max_wait_ms=5, preferred_batch_size=16)
        batcher = AdaptiveBatcher(config, 0.020, costly)
        task = await running(batcher)
        assert batcher.current_config().max_batch_size == 64

        async def caller(c):
            for j in range(20):
                await batcher.add((c, j))

        await asyncio.gather(*(caller(c) for c in range(100)))
        adapted = batcher.current_config().max_batch_size
        per_item, per_batch = batcher.cost_model()
        assert 0.0005 < per_item < 0.003
        assert 4 <= adapted <= 12, adapted
        learned = len(sizes)
        await asyncio.gather(*(caller(c) for c in range(100)))
        assert max(sizes[learned:]) <= max(adapted, batcher.current_config().max_batch_size)
        await stop(batcher, task)

    run(main())
