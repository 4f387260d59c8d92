"""DynamicBatcher and AdaptiveBatcher: results, errors, cancellation, shutdown.

No test depends on how fast the machine is: waits that matter are an hour
long (so only the size rules send a batch), and the adaptive batcher's
costs are told to it by an event loop whose clock the processor moves.
"""
import asyncio
import concurrent.futures
import functools
import pickle
import random
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from scipix.optimize.batch import (AdaptiveBatcher, BatchConfig, BatchError, BatcherClosed,
                                   DynamicBatcher, ProcessingFailed, QueueFull, Timeout)
from scipix.optimize.batch import _dynamic

FAST = BatchConfig(max_batch_size=64, max_wait_ms=2, max_queue_size=5000)
HOUR_MS = 3_600_000
# Nothing is sent before an hour unless the size rules say so.
PATIENT = BatchConfig(max_batch_size=8, max_wait_ms=HOUR_MS, preferred_batch_size=4)
# A guard against a hang, never a measure: with the fix the awaited thing is
# ready at once.
GUARD_S = 30


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
    (dict(max_wait_ms="50"), TypeError, "max_wait_ms must be a real number"),
    (dict(max_wait_ms=True), TypeError, "max_wait_ms must be a real number"),
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
    with pytest.raises(TypeError, match="target_latency must be a real number"):
        AdaptiveBatcher(config, "20 ms", echo)


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
        assert time.monotonic() - start >= 0.030 - 1e-3  # timers never fire early
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
        batcher = DynamicBatcher(BatchConfig(max_queue_size=3, max_wait_ms=HOUR_MS), echo)
        task = await running(batcher)
        waiting = [asyncio.create_task(batcher.add(i)) for i in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="3 items are waiting") as info:
            await batcher.add(99)
        assert isinstance(info.value, asyncio.QueueFull)
        assert (info.value.queue_size, info.value.max_queue_size) == (3, 3)
        assert batcher.queue_size() == 3
        await stop(batcher, task)  # drains the three
        assert [t.result() for t in waiting] == [0, 1, 2]

    run(main())


def test_timeout_before_and_during_the_batch():
    async def slow(items):
        await asyncio.sleep(0.3)
        return items

    async def main():
        batcher = DynamicBatcher(BatchConfig(max_wait_ms=HOUR_MS), slow)
        task = await running(batcher)
        with pytest.raises(Timeout) as info:
            await batcher.add(1, timeout=0.05)  # never dispatched: the timer fires
        assert info.value.timeout == 0.05 and batcher.queue_size() == 0
        others = [asyncio.create_task(batcher.add(i)) for i in range(16)]
        with pytest.raises(Timeout):
            await batcher.add(99, timeout=0.1)  # in the running batch
        assert [await t for t in others] == list(range(16))
        await stop(batcher, task)
        with pytest.raises(ValueError, match="timeout must be positive"):
            await batcher.add(1, timeout=0)
        with pytest.raises(TypeError, match="timeout must be a real number"):
            await batcher.add(1, timeout="1")

    run(main())


def test_cancelled_before_start_is_never_processed():
    seen = []

    def record(items):
        seen.extend(items)
        return items

    async def main():
        batcher = DynamicBatcher(PATIENT, record)
        task = await running(batcher)
        victim = asyncio.create_task(batcher.add("cancelled"))
        keeper = asyncio.create_task(batcher.add("kept"))
        await asyncio.sleep(0)
        victim.cancel()
        await asyncio.sleep(0)
        assert batcher.queue_size() == 1
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


@pytest.mark.parametrize("in_flight", [1, 3])
def test_clean_shutdown_leaves_no_processor_thread(in_flight):
    def alive():
        return [t for t in threading.enumerate() if t.name.startswith("scipix-batch-")]

    async def main():
        batcher = DynamicBatcher(FAST, echo, max_in_flight=in_flight)
        task = await running(batcher)
        assert len(alive()) == in_flight
        assert await asyncio.gather(*(batcher.add(i) for i in range(50))) == list(range(50))
        await batcher.shutdown()
        assert task.done() and alive() == []

    for _ in range(20):
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
    # What asyncio users catch: the builtin TimeoutError, asyncio's own
    # (a separate class before 3.11), asyncio.QueueFull.
    assert issubclass(Timeout, TimeoutError) and issubclass(Timeout, asyncio.TimeoutError)
    assert issubclass(QueueFull, asyncio.QueueFull)


def test_add_before_run_fails_instead_of_waiting():
    async def main():
        batcher = DynamicBatcher(FAST, echo)
        with pytest.raises(BatcherClosed, match=r"run\(\) was not started"):
            await asyncio.wait_for(batcher.add(1), GUARD_S)
        # The batching guide's order: run()'s task created, add() awaited at once.
        task = asyncio.create_task(batcher.run())
        assert await batcher.add(2) == 2
        await stop(batcher, task)

    run(main())


# ---------------------------------------------------------------- no caller left waiting

class Blocked:
    """Processors that start and then never return until released."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()

    def sync(self, items):
        self.started.set()
        self.release.wait(GUARD_S)
        return items

    async def coroutine(self, items):
        self.started.set()
        await asyncio.Event().wait()

    async def in_flight(self):
        while not self.started.is_set():
            await asyncio.sleep(0.001)


@pytest.mark.parametrize("kind", ["sync", "coroutine"])
def test_cancelling_run_fails_the_batch_in_flight(kind):
    """Issue 19.4: run()'s handler failed the queue, not the batch in flight."""
    blocked = Blocked()

    async def main():
        batcher = DynamicBatcher(PATIENT, getattr(blocked, kind))
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(4)]
        await blocked.in_flight()
        calls.append(asyncio.create_task(batcher.add("waiting")))
        await asyncio.sleep(0)
        task.cancel()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), GUARD_S)
        blocked.release.set()
        assert all(isinstance(r, BatcherClosed) for r in results), results
        assert all(isinstance(r.__cause__, asyncio.CancelledError) for r in results)
        assert task.cancelled()

    run(main())


@pytest.mark.parametrize("kind", ["sync", "coroutine"])
def test_processor_raising_cancelled_error_fails_only_its_batch(kind):
    """Issue 19.4: a CancelledError from the processor looked like run() cancelled."""
    def sync(items):
        if "give up" in items:
            raise asyncio.CancelledError("the model gave up")
        return items

    async def coroutine(items):
        return sync(items)

    async def main():
        batcher = DynamicBatcher(PATIENT, sync if kind == "sync" else coroutine)
        task = await running(batcher)
        results = await asyncio.wait_for(asyncio.gather(
            *(batcher.add(x) for x in ("give up", 1, 2, 3)), return_exceptions=True), GUARD_S)
        assert all(isinstance(r, ProcessingFailed) for r in results), results
        assert all(isinstance(r.__cause__, asyncio.CancelledError) for r in results)
        assert await asyncio.wait_for(asyncio.gather(*(batcher.add(x) for x in range(4))),
                                      GUARD_S) == [0, 1, 2, 3]  # the loop goes on
        await stop(batcher, task)

    run(main())


def test_processor_keyboard_interrupt_answers_every_caller_and_stops_run():
    """Issue 19.4: the batch's callers were left waiting."""
    def interrupted(items):
        if "stop" in items:
            raise KeyboardInterrupt
        return items

    loop = asyncio.new_event_loop()
    try:
        batcher = DynamicBatcher(BatchConfig(max_batch_size=4, max_wait_ms=HOUR_MS), interrupted)
        runner = loop.create_task(batcher.run())
        calls = [loop.create_task(batcher.add(x)) for x in ("stop", 1, 2, 3, "waiting")]
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(runner)
        _, pending = loop.run_until_complete(asyncio.wait(calls, timeout=GUARD_S))
        assert not pending
        assert all(isinstance(c.exception(), ProcessingFailed) for c in calls[:4])
        assert isinstance(calls[0].exception().__cause__, KeyboardInterrupt)
        assert isinstance(calls[4].exception(), BatcherClosed)
    finally:
        loop.close()


def test_concurrent_shutdowns_drain_and_return():
    """Issue 19.5: the second call took "stopping" for "never started"."""
    async def slow(items):
        await asyncio.sleep(0.001)
        return items

    async def main():
        batcher = DynamicBatcher(FAST, slow)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(500)]
        await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(batcher.shutdown(), batcher.shutdown()), GUARD_S)
        assert task.done() and not task.cancelled() and task.exception() is None
        assert [c.result() for c in calls] == list(range(500))

    run(main())


def test_second_shutdown_without_drain_fails_what_is_left():
    blocked = Blocked()

    async def main():
        batcher = DynamicBatcher(PATIENT, blocked.sync)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(6)]
        await blocked.in_flight()
        draining = asyncio.create_task(batcher.shutdown())
        await asyncio.sleep(0)
        await asyncio.wait_for(batcher.shutdown(drain=False), GUARD_S)
        await asyncio.wait_for(draining, GUARD_S)
        blocked.release.set()
        await task
        for call in calls:
            with pytest.raises(BatcherClosed, match="drain=False"):
                await call

    run(main())


def test_cancelling_run_under_steady_arrivals_is_never_lost():
    """Issue 19.6: before Python 3.12, asyncio.wait_for around the wake-up
    dropped a cancellation arriving with an item; run() then went on."""
    async def trial(cancel_at):
        batcher = DynamicBatcher(BatchConfig(max_batch_size=64, preferred_batch_size=64,
                                             max_wait_ms=HOUR_MS), echo)
        task = await running(batcher)
        calls = []
        for i in range(cancel_at + 50):
            calls.append(asyncio.create_task(batcher.add(i)))
            if i == cancel_at:
                task.cancel()
            await asyncio.sleep(0)
        assert task.cancelled(), f"cancellation after {cancel_at} arrivals was lost"
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, BatcherClosed) for r in results)

    async def main():
        for cancel_at in range(1, 40):
            await trial(cancel_at)

    run(main())


def run_script(source):
    """Run ``source`` in a fresh interpreter; a hang fails the test."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True,
                          text=True, timeout=120)


def test_asyncio_run_returns_while_threads_keep_submitting():
    """Issue 19.6: asyncio.run()'s teardown cancels run(); a lost cancellation
    kept it dispatching the threads' items forever."""
    done = run_script("""
        import asyncio, threading, time
        from scipix.optimize.batch import BatchConfig, DynamicBatcher

        for trial in range(10):
            batcher = DynamicBatcher(BatchConfig(max_batch_size=64, preferred_batch_size=64,
                                                 max_wait_ms=3_600_000), lambda items: items)

            def flood():
                while True:
                    try:
                        batcher.submit(0)
                    except BatcherClosed:  # not running any more, or the loop is closed
                        return
                    time.sleep(0.0002)

            async def main():
                asyncio.create_task(batcher.run())
                await asyncio.sleep(0)
                for _ in range(2):
                    threading.Thread(target=flood, daemon=True).start()
                await asyncio.sleep(0.05)

            asyncio.run(main())
        print("returned")
    """)
    assert done.returncode == 0 and "returned" in done.stdout, done.stderr


def test_hung_processor_shutdown_without_drain_returns_and_the_process_exits():
    """Issue 19.7: shutdown(drain=False) waited for the processor, and the
    interpreter joined its (non-daemon) executor thread at exit."""
    done = run_script("""
        import asyncio, threading
        from scipix.optimize.batch import BatchConfig, BatcherClosed, DynamicBatcher

        started = threading.Event()

        def hang(items):
            started.set()
            threading.Event().wait()

        async def main():
            batcher = DynamicBatcher(BatchConfig(max_wait_ms=1), hang)
            task = asyncio.create_task(batcher.run())
            call = asyncio.create_task(batcher.add(1))
            while not started.is_set():
                await asyncio.sleep(0.001)
            await batcher.shutdown(drain=False)
            await task
            try:
                await call
            except BatcherClosed as exc:
                print("caller:", exc)

        asyncio.run(main())
        print("exiting")
    """)
    assert done.returncode == 0, done.stderr
    assert "caller: shut down with drain=False" in done.stdout and "exiting" in done.stdout


@pytest.mark.parametrize("kind", ["sync", "coroutine"])
def test_shutdown_timeout_fails_what_did_not_finish(kind):
    blocked = Blocked()

    async def main():
        batcher = DynamicBatcher(PATIENT, getattr(blocked, kind))
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(6)]
        await blocked.in_flight()
        await asyncio.wait_for(batcher.shutdown(timeout=0.05), GUARD_S)
        blocked.release.set()
        assert task.done() and task.exception() is None
        for call in calls:
            with pytest.raises(BatcherClosed, match="shutdown timeout"):
                await call
        with pytest.raises(ValueError, match="timeout must be positive"):
            await batcher.shutdown(timeout=-1)

    run(main())


def test_processor_changing_its_list_cannot_strand_callers():
    """Issue 19.8: results were counted against the list after the call."""
    def consume(items):  # empties its input as it goes: valid results
        results = []
        while items:
            results.append(items.pop(0) * 2)
        return results

    def drop_last(items):  # one result short, of a shortened list
        items.pop()
        return [x * 2 for x in items]

    async def main():
        for processor, outcome in ((consume, "results"), (drop_last, "failed")):
            batcher = DynamicBatcher(PATIENT, processor)
            task = await running(batcher)
            results = await asyncio.wait_for(asyncio.gather(
                *(batcher.add(x) for x in range(4)), return_exceptions=True), GUARD_S)
            if outcome == "results":
                assert results == [0, 2, 4, 6]
            else:
                assert all(isinstance(r, ProcessingFailed) for r in results), results
                assert "must return a list of 4 results, got 3" in str(results[0])
            await stop(batcher, task)

    run(main())


def test_withdrawing_a_cancelled_caller_compares_no_other_caller(monkeypatch):
    """Issue 19.10: `pending in queue` and `queue.remove` made cancelling n
    queued callers O(n^2) (40,000 blocked the loop for 33 s).  Counting the
    comparisons keeps the test free of timing."""
    compared = 0

    def counting_eq(self, other):
        nonlocal compared
        compared += 1
        return self is other

    monkeypatch.setattr(_dynamic._Pending, "__eq__", counting_eq)
    monkeypatch.setattr(_dynamic._Pending, "__hash__", object.__hash__)
    callers = 2000

    async def main():
        # One more than the callers: the batch never fills, all stay queued.
        batcher = DynamicBatcher(BatchConfig(max_batch_size=callers + 1,
                                             preferred_batch_size=callers + 1,
                                             max_queue_size=callers, max_wait_ms=HOUR_MS), echo)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(callers)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert batcher.queue_size() == callers
        for call in reversed(calls):  # the newest first: the far end of the queue
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        assert batcher.queue_size() == 0
        await stop(batcher, task)

    run(main())
    assert compared <= callers, compared


@pytest.mark.parametrize("shape", ["async __call__", "returns a coroutine", "partial"])
def test_async_processors_that_iscoroutinefunction_misses(shape):
    """Issue 19.12: they ran in a thread and every item failed with a
    coroutine that was never awaited."""
    class Model:
        async def __call__(self, items):
            await asyncio.sleep(0)
            return [x * 2 for x in items]

    async def scaled(factor, items):
        await asyncio.sleep(0)
        return [x * factor for x in items]

    processor = {"async __call__": Model(),
                 "returns a coroutine": lambda items: Model()(items),
                 "partial": functools.partial(scaled, 2)}[shape]

    async def main():
        batcher = DynamicBatcher(PATIENT, processor)
        task = await running(batcher)
        assert await asyncio.wait_for(asyncio.gather(*(batcher.add(x) for x in range(4))),
                                      GUARD_S) == [0, 2, 4, 6]
        await stop(batcher, task)

    run(main())


# ---------------------------------------------------------------- errors travel

def batch_errors():
    return [QueueFull("3 items are waiting", queue_size=3, max_queue_size=3),
            ProcessingFailed("the processor raised", batch_size=8),
            Timeout("no result within 0.5 s", timeout=0.5),
            BatcherClosed("the batcher is shut down"),
            BatchError("base")]


def attributes(error):
    return type(error), error.args, vars(error)


def test_batch_errors_pickle_with_their_attributes():
    """Issue 21: every scipix exception pickles and unpickles whole."""
    for error in batch_errors():
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            assert attributes(pickle.loads(pickle.dumps(error, protocol))) == attributes(error)


def test_batch_errors_cross_a_process_pool():
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        for error in batch_errors():
            arguments = "".join(f", {k}={v!r}" for k, v in vars(error).items())
            source = (f"from scipix.optimize.batch import {type(error).__name__} as E\n"
                      f"raise E({error.args[0]!r}{arguments})")
            with pytest.raises(type(error)) as info:
                pool.submit(exec, source).result(timeout=120)
            assert attributes(info.value) == attributes(error)


# ---------------------------------------------------------------- stats, threads

def test_stats_and_submit_from_threads():
    async def main():
        batcher = DynamicBatcher(FAST, echo)
        task = await running(batcher)
        loop_results = []

        def from_thread():
            futures = [batcher.submit(i) for i in range(100)]
            loop_results.extend(f.result(timeout=GUARD_S) for f in futures)

        thread = threading.Thread(target=from_thread)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.005)
        assert loop_results == list(range(100))
        stats = batcher.stats()
        assert stats.items == 100 and stats.batches >= 2 and stats.mean_batch_size > 0
        assert 0 < stats.p50_latency_ms <= stats.p95_latency_ms <= stats.p99_latency_ms
        await stop(batcher, task)
        with pytest.raises(BatcherClosed, match="shut down"):
            batcher.submit(1)

    run(main())


def in_thread(function, *args):
    """``function(*args)`` in a thread the caller waits for: the event loop
    runs nothing meanwhile.  What it raises is raised here."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result(GUARD_S)


@pytest.mark.parametrize("kind", ["dynamic", "adaptive"])
def test_submit_just_after_runs_task_was_created_is_processed(kind):
    """Issue 27.9: submit() raised RuntimeError while run()'s task had not
    started yet, where add() already works."""
    async def main():
        batcher = (DynamicBatcher(FAST, echo) if kind == "dynamic"
                   else AdaptiveBatcher(FAST, 0.05, echo))
        task = asyncio.create_task(batcher.run())
        futures = [in_thread(batcher.submit, i) for i in range(3)]
        timed = in_thread(functools.partial(batcher.submit, 3, timeout=GUARD_S))
        assert not task.done() and batcher.stats().items == 0  # run() has not started
        assert await asyncio.gather(*map(asyncio.wrap_future, futures + [timed])) == [0, 1, 2, 3]
        assert await asyncio.wrap_future(in_thread(batcher.submit, 4)) == 4  # running now
        await stop(batcher, task)

    run(main())


def test_submit_after_shutdown_raises_batcher_closed():
    """Issue 27.9: submit() after shutdown() raised a plain RuntimeError
    where add() raises BatcherClosed."""
    async def main():
        never_run = DynamicBatcher(FAST, echo)
        await never_run.shutdown()
        stopped = DynamicBatcher(FAST, echo)
        await stop(stopped, await running(stopped))
        for batcher in (never_run, stopped):
            with pytest.raises(BatcherClosed, match="shut down"):
                await batcher.add(1)
            with pytest.raises(BatcherClosed, match="shut down"):
                in_thread(batcher.submit, 1)

    run(main())


def test_submitted_before_run_starts_fails_at_shutdown_or_when_run_never_starts():
    """What add() does for an item whose run() never comes, submit() does
    too: BatcherClosed, never a future left pending."""
    async def main():
        shut = DynamicBatcher(FAST, echo)
        early = in_thread(shut.submit, 1)
        await shut.shutdown()
        with pytest.raises(BatcherClosed, match="before run"):
            await asyncio.wrap_future(early)
        forgotten = DynamicBatcher(FAST, echo)
        early = in_thread(forgotten.submit, 1)
        with pytest.raises(BatcherClosed, match="run\\(\\) was not started"):
            await forgotten.add(2)  # the loop's first use of the batcher
        with pytest.raises(BatcherClosed, match="run\\(\\) was not started"):
            await asyncio.wrap_future(early)

    run(main())


def test_cancelling_an_early_submit_withdraws_its_item():
    seen = []

    def record(items):
        seen.extend(items)
        return items

    async def main():
        batcher = DynamicBatcher(FAST, record)
        task = asyncio.create_task(batcher.run())
        cancelled, kept = in_thread(batcher.submit, 1), in_thread(batcher.submit, 2)
        assert cancelled.cancel()
        assert await asyncio.wrap_future(kept) == 2
        await stop(batcher, task)
        assert seen == [2]

    run(main())


# ---------------------------------------------------------------- batching policy

@pytest.mark.parametrize("kind", ["dynamic", "adaptive"])
def test_both_batchers_honour_and_report_the_preferred_size(kind):
    """Issue 17: with max 32, preferred 4 the adaptive batcher ignored the
    preferred size (it waited out its latency budget) while reporting it,
    and the dynamic one had no current_config()."""
    sizes = []

    def record(items):
        sizes.append(len(items))
        return items

    async def main():
        config = BatchConfig(max_batch_size=32, preferred_batch_size=4, max_wait_ms=HOUR_MS)
        batcher = (DynamicBatcher(config, record) if kind == "dynamic"
                   else AdaptiveBatcher(config, 7200.0, record))
        task = await running(batcher)
        for _ in range(3):
            await asyncio.wait_for(asyncio.gather(*(batcher.add(i) for i in range(4))), GUARD_S)
            reported = batcher.current_config()
            assert reported.preferred_batch_size == 4 and reported.max_batch_size >= 4
        assert sizes == [4, 4, 4]
        await stop(batcher, task)

    run(main())


class SteppedClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock a processor moves forward by the cost it
    declares, so the batcher measures that cost (plus the real time taken,
    micro- to milliseconds against costs of seconds) however busy the
    machine is."""

    def __init__(self):
        super().__init__()
        self.offset = 0.0

    def time(self):
        return super().time() + self.offset

    def spend(self, seconds):  # from the processor's thread: only it writes
        self.offset += seconds


def run_on_stepped_clock(make_main):
    loop = SteppedClockLoop()
    try:
        main = loop.create_task(make_main(loop))
        guard = threading.Timer(120, loop.call_soon_threadsafe, (main.cancel,))
        guard.start()
        try:
            return loop.run_until_complete(main)
        finally:
            guard.cancel()
    finally:
        loop.close()


def costly(loop, per_batch, per_item, delay=lambda: 0.0):
    """A processor costing ``per_batch + per_item * n + delay()`` seconds on
    ``loop``'s clock; the sizes it was given."""
    sizes = []

    def processor(items):
        loop.spend(per_batch + per_item * len(items) + delay())
        sizes.append(len(items))
        return items

    return processor, sizes


async def callers(batcher, count, items_each):
    async def caller(c):
        for j in range(items_each):
            await batcher.add((c, j))

    await asyncio.gather(*(caller(c) for c in range(count)))


ADAPTIVE = BatchConfig(max_batch_size=64, max_wait_ms=5000, preferred_batch_size=16)


def test_adaptive_size_reaches_the_dispatcher():
    """Cost 2 s + 1 s/item, target 21 s: t(n) <= 10.5 s gives n = 8."""
    async def main(loop):
        processor, sizes = costly(loop, 2.0, 1.0)
        batcher = AdaptiveBatcher(ADAPTIVE, 21.0, processor)
        task = await running(batcher)
        assert batcher.current_config() == ADAPTIVE and batcher.cost_model() is None
        await callers(batcher, 100, 20)
        adapted = batcher.current_config()
        per_item, per_batch = batcher.cost_model()
        assert 0.5 < per_item < 3 and per_item * 8 + per_batch == pytest.approx(10, abs=0.1)
        assert adapted.max_batch_size == 8 and adapted.preferred_batch_size == 8
        learned = len(sizes)
        await callers(batcher, 100, 20)
        assert max(sizes[learned:]) == 8
        await stop(batcher, task)

    run_on_stepped_clock(main)


@pytest.mark.parametrize("seed", range(3))
def test_adaptive_size_holds_on_a_busy_machine(seed):
    """Issue 19.11: delays unrelated to the batch (30 % of batches held up
    15 s, as by a busy core) over nearly constant sizes made the
    least-squares slope ~0 and the size jump to the maximum."""
    async def main(loop):
        rng = random.Random(seed)
        processor, sizes = costly(loop, 2.0, 1.0, lambda: 15.0 if rng.random() < 0.3
                                  else rng.uniform(0, 1))
        batcher = AdaptiveBatcher(ADAPTIVE, 21.0, processor)
        task = await running(batcher)
        await callers(batcher, 100, 30)
        await stop(batcher, task)
        assert max(sizes[1:]) <= 16, sizes

    run_on_stepped_clock(main)


# ---------------------------------------------------------- max_in_flight

@pytest.mark.parametrize("value, error", [(0, ValueError), (1.5, TypeError)])
def test_max_in_flight_is_checked(value, error):
    with pytest.raises(error, match="max_in_flight"):
        DynamicBatcher(FAST, echo, max_in_flight=value)


def test_max_in_flight_runs_that_many_batches_at_once():
    """Two lanes: the second batch starts while the first is still running
    (each batch waits at a two-party barrier, which only two concurrent
    batches pass)."""
    barrier = threading.Barrier(2, timeout=GUARD_S)
    threads = set()

    def meet(items):
        threads.add(threading.current_thread().name)
        barrier.wait()
        return items

    async def main():
        batcher = DynamicBatcher(BatchConfig(max_batch_size=2, max_wait_ms=HOUR_MS,
                                             preferred_batch_size=2), meet, max_in_flight=2)
        task = await running(batcher)
        results = await asyncio.wait_for(asyncio.gather(*(batcher.add(i) for i in range(4))),
                                         GUARD_S)
        assert results == [0, 1, 2, 3]
        assert batcher.stats().batches == 2
        await stop(batcher, task)

    run(main())
    assert len(threads) == 2


def test_max_in_flight_adaptive_batcher_observes_each_batch():
    async def main():
        batcher = AdaptiveBatcher(FAST, 10.0, echo, max_in_flight=3)
        task = await running(batcher)
        assert await asyncio.gather(*(batcher.add(i) for i in range(50))) == list(range(50))
        assert batcher.stats().items == 50
        await stop(batcher, task)

    run(main())


@pytest.mark.parametrize("kind", ["sync", "coroutine"])
def test_cancelling_run_fails_every_batch_in_flight(kind):
    blocked = Blocked()

    async def main():
        batcher = DynamicBatcher(PATIENT, getattr(blocked, kind), max_in_flight=2)
        task = await running(batcher)
        calls = [asyncio.create_task(batcher.add(i)) for i in range(8)]
        await blocked.in_flight()
        for _ in range(3):
            await asyncio.sleep(0)
        task.cancel()
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), GUARD_S)
        blocked.release.set()
        assert all(isinstance(r, BatcherClosed) for r in results), results
        assert task.cancelled()

    run(main())


def test_keyboard_interrupt_in_one_lane_answers_every_caller():
    release = threading.Event()

    def interrupted(items):
        if "stop" in items:
            raise KeyboardInterrupt
        release.wait(GUARD_S)
        return items

    loop = asyncio.new_event_loop()
    try:
        batcher = DynamicBatcher(BatchConfig(max_batch_size=2, max_wait_ms=HOUR_MS),
                                 interrupted, max_in_flight=2)
        runner = loop.create_task(batcher.run())
        calls = [loop.create_task(batcher.add(x)) for x in (1, 2, "stop", 3, "waiting")]
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(runner)
        release.set()
        _, pending = loop.run_until_complete(asyncio.wait(calls, timeout=GUARD_S))
        assert not pending
        assert isinstance(calls[2].exception(), ProcessingFailed)
        assert all(isinstance(c.exception(), BatchError) for c in calls)
    finally:
        loop.close()
