"""Dynamic batching on asyncio: callers add single items, the processor sees batches."""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Deque, Dict, Generic, List, Optional, TypeVar, Union

import numpy as np

from ..config import follow_process_thread_count
from ._config import BatchConfig
from ._errors import BatcherClosed, ProcessingFailed, QueueFull, Timeout

__all__ = ["DynamicBatcher", "BatchStats"]

T = TypeVar("T")
R = TypeVar("R")
# A processor maps a batch of items to their results, directly or awaited.
Processor = Callable[[List[T]], Union[Sequence[R], Awaitable[Sequence[R]]]]

# Latencies kept for the percentiles in stats().
LATENCY_WINDOW = 10_000


@dataclass(frozen=True)
class BatchStats:
    """A batcher's figures (those Ray Serve exports); times in milliseconds."""

    queue_size: int
    oldest_wait_ms: float
    batches: int
    items: int
    failed_items: int
    mean_batch_size: float
    mean_batch_ms: float
    p50_latency_ms: float
    p95_latency_ms: float
    p99_latency_ms: float


class _Pending:
    """One caller's item on its way through the batcher."""

    __slots__ = ("item", "future", "enqueued", "key", "timer", "started")

    def __init__(self, item: Any, future: asyncio.Future[Any], enqueued: float,
                 key: Hashable) -> None:
        self.item = item
        self.future = future
        self.enqueued = enqueued
        self.key = key
        self.timer: Optional[asyncio.TimerHandle] = None
        self.started = False


class DynamicBatcher(Generic[T, R]):
    """Collect items from many callers into batches for one processor.

    Dispatch rule, evaluated whenever an item arrives, a batch finishes or a
    deadline passes (no polling), one batch in flight at a time:

    1. a group with ``max_batch_size`` items waiting is sent at once;
    2. a group with ``preferred_batch_size`` or more is sent as soon as the
       processor is free;
    3. otherwise a group is sent when its oldest item has waited
       ``max_wait_ms`` (or at once while shutting down);
    4. among ready groups the one with the oldest item goes first.

    Parameters
    ----------
    config : BatchConfig
    processor : callable, list -> list of the same length
        A plain function runs in a worker thread (the event loop stays
        responsive; scipix kernels release the GIL), a coroutine function
        on the loop.  A result that is an exception fails only its item.
    group_key : callable, item -> hashable, optional
        Only items with equal keys share a batch (e.g. image size buckets).

    Notes
    -----
    Start :meth:`run` as a task on the event loop, ``await add(item)`` from
    any number of coroutines (or :meth:`submit` from other threads), and
    ``await shutdown()`` to stop.  A caller cancelled before its batch
    starts is removed and its item never processed.  Every error a caller
    sees is a :class:`BatchError`.
    """

    def __init__(self, config: BatchConfig, processor: Processor[T, R], *,
                 group_key: Callable[[T], Hashable] | None = None) -> None:
        if not isinstance(config, BatchConfig):
            raise TypeError(f"config must be a BatchConfig, got {type(config).__name__}")
        if not callable(processor):
            raise TypeError(f"processor must be callable, got {type(processor).__name__}")
        if group_key is not None and not callable(group_key):
            raise TypeError(f"group_key must be callable, got {type(group_key).__name__}")
        self.config = config
        self._processor = processor
        self._is_coroutine = inspect.iscoroutinefunction(processor)
        self._group_key = group_key
        self._groups: Dict[Hashable, Deque[_Pending]] = {}  # key -> deque of _Pending, oldest first
        self._waiting = 0
        self._state = "idle"  # -> running -> stopping -> stopped; or dead
        self._death: Optional[BaseException] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._wakeup: Optional[asyncio.Event] = None
        self._stopped: Optional[asyncio.Event] = None
        self._in_flight: List[_Pending] = []
        self._batches = self._items = self._failed = 0
        self._batch_seconds = 0.0
        self._latencies: Deque[float] = collections.deque(maxlen=LATENCY_WINDOW)

    # ------------------------------------------------------------ callers

    async def add(self, item: T, *, timeout: float | None = None) -> R:
        """Enqueue ``item`` and wait for its own result.

        Parameters
        ----------
        item : any
        timeout : float seconds, optional
            Raise :class:`Timeout` if the result has not arrived by then
            (enforced by a timer, whether or not the batch has started).

        Raises
        ------
        QueueFull
            ``max_queue_size`` items are waiting; nothing was enqueued.
        ProcessingFailed, Timeout, BatcherClosed
        """
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        self._check_open()
        if self._waiting >= self.config.max_queue_size:
            raise QueueFull(f"{self._waiting} items are waiting (max_queue_size "
                            f"{self.config.max_queue_size})")
        key: Hashable = None
        if self._group_key is not None:
            try:
                key = self._group_key(item)
                hash(key)
            except Exception as exc:
                raise ProcessingFailed(f"group_key failed on the item: {exc!r}") from exc
        loop = asyncio.get_running_loop()
        wakeup = self._bind(loop)
        pending = _Pending(item, loop.create_future(), loop.time(), key)
        queue = self._groups.get(key)
        if queue is None:
            queue = self._groups[key] = collections.deque()
        queue.append(pending)
        self._waiting += 1
        if timeout is not None:
            pending.timer = loop.call_later(timeout, self._expire, pending, timeout)
        wakeup.set()
        try:
            result: R = await pending.future
            return result
        except asyncio.CancelledError:
            self._withdraw(pending)
            raise

    def submit(self, item: T, *, timeout: float | None = None) -> concurrent.futures.Future[R]:
        """:meth:`add` from another thread: a ``concurrent.futures.Future``.

        Call it only after :meth:`run` has started, and never block on the
        future from the event loop's own thread.
        """
        if self._loop is None or self._state != "running":
            raise RuntimeError("submit() needs a running batcher: start run() first")
        return asyncio.run_coroutine_threadsafe(self.add(item, timeout=timeout), self._loop)

    def queue_size(self) -> int:
        """Items waiting for a batch."""
        return self._waiting

    def stats(self) -> BatchStats:
        """A :class:`BatchStats` snapshot."""
        oldest = min((q[0].enqueued for q in self._groups.values()), default=None)
        now = self._loop.time() if self._loop is not None else 0.0
        latencies = np.asarray(self._latencies) * 1e3
        p50, p95, p99 = (np.percentile(latencies, [50, 95, 99]) if latencies.size
                         else (float("nan"),) * 3)
        return BatchStats(
            queue_size=self._waiting,
            oldest_wait_ms=0.0 if oldest is None else (now - oldest) * 1e3,
            batches=self._batches, items=self._items, failed_items=self._failed,
            mean_batch_size=self._items / self._batches if self._batches else 0.0,
            mean_batch_ms=self._batch_seconds / self._batches * 1e3 if self._batches else 0.0,
            p50_latency_ms=float(p50), p95_latency_ms=float(p95), p99_latency_ms=float(p99))

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        """Dispatch batches until :meth:`shutdown`; then return."""
        if self._state in ("running", "stopping"):
            raise RuntimeError("run() is already running")
        if self._state != "idle":
            raise BatcherClosed("this batcher was shut down; make a new one")
        loop = asyncio.get_running_loop()
        self._bind(loop)
        self._state = "running"
        stopped = self._stopped = asyncio.Event()
        # The one worker thread has the cores to itself while a batch runs:
        # its kernels use the process-wide count (other threads use one).
        executor = None if self._is_coroutine else concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="scipix-batch",
            initializer=follow_process_thread_count)
        try:
            while True:
                batch = await self._next_batch(loop)
                if batch is None:
                    break
                await self._execute(batch, loop, executor)
            self._state = "stopped"
        except BaseException as exc:  # our own bug, or run() cancelled: fail, never hang
            self._state = "dead"
            self._death = exc
            error = BatcherClosed(f"the dispatch loop stopped: {exc!r}")
            for pending in self._in_flight:
                self._fail(pending, error, exc)
            self._fail_waiting(error, exc)
            raise
        finally:
            if executor is not None:
                executor.shutdown(wait=False)
            stopped.set()

    async def shutdown(self, drain: bool = True) -> None:
        """Stop intake; finish every accepted item, then ``run()`` returns.

        With ``drain=False`` the items not yet in a batch fail with
        :class:`BatcherClosed` instead.  Returns when ``run()`` has.
        """
        if self._state in ("stopped", "dead"):
            return
        was_running = self._state == "running"
        self._state = "stopping"
        if not drain or not was_running:
            reason = ("shut down before run() was started" if not was_running
                      else "shut down with drain=False before the item was processed")
            self._fail_waiting(BatcherClosed(reason))
        if not was_running:
            self._state = "stopped"
            return
        if self._wakeup is not None and self._stopped is not None:  # set by run()
            self._wakeup.set()
            await self._stopped.wait()

    # ------------------------------------------------------------ dispatch

    def _limit(self) -> int:
        """Largest batch to send now."""
        return self.config.max_batch_size

    def _ready_at(self, queue: Deque[_Pending], now: float) -> float:
        """When the group in ``queue`` must be sent (<= now: send it)."""
        size = len(queue)
        if size >= min(self.config.preferred_batch_size, self._limit()):
            return now
        return queue[0].enqueued + self.config.max_wait_ms / 1e3

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> List[_Pending] | None:
        """The next batch to run, waiting as the rule says; None to stop."""
        wakeup = self._bind(loop)
        while True:
            now = loop.time()
            chosen: Hashable = None
            oldest: float | None = None
            wake_at: float | None = None  # keys may be None: test oldest
            for key, queue in self._groups.items():
                ready_at = now if self._state == "stopping" else self._ready_at(queue, now)
                if ready_at <= now:
                    if oldest is None or queue[0].enqueued < oldest:
                        chosen, oldest = key, queue[0].enqueued
                elif wake_at is None or ready_at < wake_at:
                    wake_at = ready_at
            if oldest is not None:
                batch = self._take(chosen)
                if batch:
                    return batch
                continue
            if self._state == "stopping" and self._waiting == 0:
                return None
            wakeup.clear()
            try:
                timeout = None if wake_at is None else max(wake_at - loop.time(), 0.0)
                await asyncio.wait_for(wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _take(self, key: Hashable) -> List[_Pending]:
        """Up to ``_limit()`` live items of group ``key``, oldest first."""
        queue = self._groups[key]
        batch: List[_Pending] = []
        limit = self._limit()
        while queue and len(batch) < limit:
            pending = queue.popleft()
            self._waiting -= 1
            if not pending.future.done():  # cancelled or timed out: dropped
                pending.started = True
                batch.append(pending)
        if not queue:
            del self._groups[key]
        return batch

    async def _execute(self, batch: List[_Pending], loop: asyncio.AbstractEventLoop,
                       executor: concurrent.futures.Executor | None) -> None:
        items = [pending.item for pending in batch]
        self._in_flight = batch
        start = loop.time()
        try:
            if self._is_coroutine:
                results: Any = await self._processor(items)  # type: ignore[misc]
            else:
                results = await loop.run_in_executor(executor, self._processor, items)
        except Exception as exc:
            error = ProcessingFailed(f"the processor raised on a batch of {len(items)}: {exc!r}")
            for pending in batch:
                self._fail(pending, error, exc)
        else:
            if not isinstance(results, (list, tuple)) or len(results) != len(items):
                got = (f"{len(results)} results" if isinstance(results, (list, tuple))
                       else type(results).__name__)
                error = ProcessingFailed(f"the processor must return a list of {len(items)} "
                                         f"results, got {got}")
                for pending in batch:
                    self._fail(pending, error, None)
            else:
                for pending, result in zip(batch, results):
                    if isinstance(result, BaseException):
                        self._fail(pending, ProcessingFailed(
                            f"the processor's result for this item is {result!r}"), result)
                    else:
                        self._finish(pending, result)
        finally:
            self._in_flight = []
        elapsed = loop.time() - start
        self._batches += 1
        self._items += len(batch)
        self._batch_seconds += elapsed
        self._observe(len(batch), elapsed)

    def _observe(self, size: int, seconds: float) -> None:
        """A batch of ``size`` took ``seconds`` (AdaptiveBatcher learns from it)."""

    # ------------------------------------------------------------ futures

    def _bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """Tie the batcher to ``loop`` on first use; its wake-up event."""
        if self._wakeup is None:
            self._loop = loop
            self._wakeup = asyncio.Event()
        elif self._loop is not loop:
            raise RuntimeError("a batcher belongs to one event loop")
        return self._wakeup

    def _check_open(self) -> None:
        if self._state == "dead":
            raise BatcherClosed("the batcher's dispatch loop died") from self._death
        if self._state in ("stopping", "stopped"):
            raise BatcherClosed("the batcher is shut down")

    def _finish(self, pending: _Pending, result: Any) -> None:
        if pending.future.done():  # cancelled or timed out meanwhile
            return
        if pending.timer is not None:
            pending.timer.cancel()
        pending.future.set_result(result)
        self._latencies.append(pending.future.get_loop().time() - pending.enqueued)

    def _fail(self, pending: _Pending, error: BaseException, cause: BaseException | None) -> None:
        if pending.future.done():
            return
        if pending.timer is not None:
            pending.timer.cancel()
        # One exception object per caller: tracebacks must not pile up.
        failure = type(error)(*error.args)
        failure.__cause__ = cause
        pending.future.set_exception(failure)
        self._failed += 1

    def _fail_waiting(self, error: BaseException, cause: BaseException | None = None) -> None:
        groups = self._groups
        self._groups, self._waiting = {}, 0
        for queue in groups.values():
            for pending in queue:
                self._fail(pending, error, cause)

    def _withdraw(self, pending: _Pending) -> None:
        """Take a cancelled caller's item out of its queue if not yet started."""
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.started:
            return
        queue = self._groups.get(pending.key)
        if queue is not None and pending in queue:
            queue.remove(pending)
            self._waiting -= 1
            if not queue:
                del self._groups[pending.key]

    def _expire(self, pending: _Pending, timeout: float) -> None:
        if pending.future.done():
            return
        self._withdraw(pending)
        pending.future.set_exception(Timeout(f"no result within {timeout} s"))
        self._failed += 1
