"""Dynamic batching on asyncio: callers add single items, the processor sees batches."""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import copy
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Deque, Dict, Generic, List, Optional, Tuple, TypeVar, Union, cast

import numpy as np

from .._validate import positive_finite, positive_int
from ._config import BatchConfig
from ._errors import BatcherClosed, ProcessingFailed, QueueFull, Timeout
from ._policy import FixedPolicy
from ._worker import ProcessorThread

__all__ = ["DynamicBatcher", "BatchStats"]

T = TypeVar("T")
R = TypeVar("R")
# A processor maps a batch of items to their results, directly or awaited.
Processor = Callable[[List[T]], Union[Sequence[R], Awaitable[Sequence[R]]]]
# How a batch ended: the processor's return value, or what it raised.
Outcome = Tuple[Any, Optional[BaseException]]

# Latencies kept for the percentiles in stats().
LATENCY_WINDOW = 10_000
# A batch's outcome when shutdown or the loop's death failed it first.
_ABANDONED: Any = object()


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

    __slots__ = ("item", "future", "enqueued", "key", "timer")

    def __init__(self, item: Any, future: asyncio.Future[Any], enqueued: float,
                 key: Hashable) -> None:
        self.item = item
        self.future = future
        self.enqueued = enqueued
        self.key = key
        self.timer: Optional[asyncio.TimerHandle] = None



def _copy_outcome(future: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    """``task``'s result, exception or cancellation into ``future``, unless
    the caller cancelled ``future`` meanwhile."""
    if not future.set_running_or_notify_cancel():
        return
    if task.cancelled():
        future.set_exception(BatcherClosed("the item's add() was cancelled"))
    elif task.exception() is not None:
        future.set_exception(task.exception())
    else:
        future.set_result(task.result())


def runs_on_loop(processor: Callable[..., Any]) -> bool:
    """Whether ``processor`` is a coroutine function, or an object whose
    ``__call__`` is one (``inspect.iscoroutinefunction`` misses those)."""
    return (inspect.iscoroutinefunction(processor)
            or inspect.iscoroutinefunction(getattr(processor, "__call__", None)))


class DynamicBatcher(Generic[T, R]):
    """Collect items from many callers into batches for one processor.

    Dispatch rule, evaluated whenever an item arrives, a batch finishes or a
    deadline passes (no polling), up to ``max_in_flight`` batches in flight
    at a time:

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
        A coroutine function (or an object whose ``__call__`` is one) runs
        on the loop.  Any other callable runs in a worker thread (the event
        loop stays responsive; scipix kernels release the GIL); if it
        returns an awaitable, such as a coroutine, that is awaited on the
        loop.  A result that is an exception fails only its item.
    group_key : callable, item -> hashable, optional
        Only items with equal keys share a batch (e.g. image size buckets).
    max_in_flight : int >= 1
        Batches processed at once (Triton's instance count), e.g. one per
        model session of a pool.  A plain processor then runs in that many
        worker threads, each batch on one of them; a "free processor" in
        the dispatch rule is a free one of these.

    Notes
    -----
    Start :meth:`run` as a task on the event loop, ``await add(item)`` from
    any number of coroutines (or :meth:`submit` from other threads), and
    ``await shutdown()`` to stop.  A caller cancelled before its batch
    starts is removed and its item never processed.  Every error a caller
    sees is a :class:`BatchError`; no caller is left waiting, whatever the
    processor does (raise, hang, cancel itself) and whatever happens to
    ``run()``.
    """

    def __init__(self, config: BatchConfig, processor: Processor[T, R], *,
                 group_key: Callable[[T], Hashable] | None = None,
                 max_in_flight: int = 1) -> None:
        if not isinstance(config, BatchConfig):
            raise TypeError(f"config must be a BatchConfig, got {type(config).__name__}")
        if not callable(processor):
            raise TypeError(f"processor must be callable, got {type(processor).__name__}")
        if group_key is not None and not callable(group_key):
            raise TypeError(f"group_key must be callable, got {type(group_key).__name__}")
        self.config = config
        self.max_in_flight = positive_int(max_in_flight, "max_in_flight")
        self._policy = FixedPolicy(config)
        self._processor = processor
        self._on_loop = runs_on_loop(processor)
        self._group_key = group_key
        # key -> the group's items, oldest first; a dict, so that a cancelled
        # caller leaves it in O(1).
        self._groups: Dict[Hashable, collections.OrderedDict[_Pending, None]] = {}
        self._waiting = 0
        self._state = "idle"  # -> running -> stopping -> stopped; or dead
        self._death: Optional[BaseException] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._wakeup: Optional[asyncio.Event] = None
        self._stopped: Optional[asyncio.Event] = None
        self._start_checked = False  # a check that run() starts is scheduled
        # Items submit() took before the batcher knew its loop (run()'s task
        # created, not yet started): the loop's first use hands them to add().
        self._early: List[Tuple[Any, Optional[float], concurrent.futures.Future[Any]]] = []
        self._early_lock = threading.Lock()  # submit() runs on other threads
        # Per dispatch lane (one per batch in flight): its batch, the future
        # its outcome arrives in, the task awaiting an awaitable processor.
        self._in_flight: Dict[int, List[_Pending]] = {}
        self._batch_done: Dict[int, asyncio.Future[Outcome]] = {}
        self._processor_task: Dict[int, asyncio.Future[Any]] = {}
        self._batches = self._items = self._failed = 0
        self._batch_seconds = 0.0
        self._latencies: Deque[float] = collections.deque(maxlen=LATENCY_WINDOW)

    # ------------------------------------------------------------ callers

    async def add(self, item: T, *, timeout: float | None = None) -> R:
        """Enqueue ``item`` and wait for its own result.

        Start :meth:`run` first (creating its task just before is enough):
        an item added while ``run()`` has not started by the loop's next
        iteration fails with :class:`BatcherClosed`, rather than wait for
        a dispatcher that may never come.

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
        if timeout is not None:
            timeout = positive_finite(timeout, "timeout")
        self._check_open()
        if self._waiting >= self.config.max_queue_size:
            raise QueueFull(f"{self._waiting} items are waiting (max_queue_size "
                            f"{self.config.max_queue_size})", queue_size=self._waiting,
                            max_queue_size=self.config.max_queue_size)
        key: Hashable = None
        if self._group_key is not None:
            try:
                key = self._group_key(item)
                hash(key)
            except Exception as exc:
                raise ProcessingFailed(f"group_key failed on the item: {exc!r}") from exc
        loop = asyncio.get_running_loop()
        wakeup = self._bind(loop)
        if self._state == "idle" and not self._start_checked:
            self._start_checked = True
            loop.call_soon(self._check_started)
        pending = _Pending(item, loop.create_future(), loop.time(), key)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = collections.OrderedDict()
        group[pending] = None
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

        The future fails as ``add`` would, with the same :class:`BatchError`
        subclasses, and ``submit`` accepts items when ``add`` does: as soon
        as ``run()``'s task is created (an item submitted before the loop
        has started ``run()`` waits for it, or fails with
        :class:`BatcherClosed` at ``shutdown()``).  After ``shutdown()``,
        or once the dispatch loop died, ``submit`` itself raises
        :class:`BatcherClosed`.  Never block on the future from the event
        loop's own thread.

        Parameters
        ----------
        item : any
        timeout : float seconds, optional
            As for :meth:`add`.

        Notes
        -----
        On Python 3.11 and later ``concurrent.futures.TimeoutError`` is the
        builtin ``TimeoutError``, and :class:`Timeout` is one too: an
        ``except concurrent.futures.TimeoutError`` around
        ``future.result(timeout=...)`` also catches the item's own
        ``Timeout`` (its ``timeout`` ran out in the batcher).  Put
        ``except Timeout`` first to tell the two apart.
        """
        if timeout is not None:
            timeout = positive_finite(timeout, "timeout")
        with self._early_lock:
            self._check_open()
            loop = self._loop
            if loop is None:
                early: concurrent.futures.Future[R] = concurrent.futures.Future()
                self._early.append((item, timeout, early))
                return early
        adding = self.add(item, timeout=timeout)
        try:
            return asyncio.run_coroutine_threadsafe(adding, loop)
        except RuntimeError:  # the loop is closed
            adding.close()
            raise BatcherClosed("the batcher's event loop is closed") from None

    def queue_size(self) -> int:
        """Items waiting for a batch."""
        return self._waiting

    def current_config(self) -> BatchConfig:
        """The :class:`BatchConfig` the dispatcher uses now.

        ``config`` itself for a :class:`DynamicBatcher`; the adapted rule
        for an :class:`AdaptiveBatcher`.
        """
        return self._policy.current_config()

    def stats(self) -> BatchStats:
        """A :class:`BatchStats` snapshot."""
        oldest = min((next(iter(group)).enqueued for group in self._groups.values()),
                     default=None)
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
        """Dispatch batches until :meth:`shutdown`; then return.

        If ``run()`` is cancelled, or the processor raises an exception that
        is not an ``Exception`` (``KeyboardInterrupt``, ``SystemExit``), every
        accepted item fails with :class:`BatcherClosed` (``__cause__`` says
        why) and ``run()`` raises it on.
        """
        if self._state in ("running", "stopping"):
            raise RuntimeError("run() is already running")
        if self._state != "idle":
            raise BatcherClosed("this batcher was shut down; make a new one")
        loop = asyncio.get_running_loop()
        self._bind(loop)
        self._state = "running"
        stopped = self._stopped = asyncio.Event()
        threads: List[Optional[ProcessorThread]] = [None] * self.max_in_flight
        lanes: List[asyncio.Task[Optional[BaseException]]] = []
        try:
            if not self._on_loop:
                threads = [ProcessorThread(self._processor, f"scipix-batch-{lane}")
                           for lane in range(self.max_in_flight)]
            if self.max_in_flight == 1:
                stop = await self._lane(0, loop, threads[0])
            else:
                lanes = [loop.create_task(self._lane(lane, loop, thread))
                         for lane, thread in enumerate(threads)]
                stop = await self._first_stop(lanes)
            if stop is not None:
                raise stop
            for thread in threads:  # a clean stop leaves no thread behind
                if thread is not None:
                    await thread.retire(loop)
            self._state = "stopped"
        except BaseException as exc:  # our own bug, or run() cancelled: fail, never hang
            self._state = "dead"
            self._death = exc
            self._abandon(BatcherClosed(f"the dispatch loop stopped: {exc!r}"), exc)
            for task in lanes:
                task.cancel()
            raise
        finally:
            for thread in threads:
                if thread is not None:
                    thread.close()
            stopped.set()

    @staticmethod
    async def _first_stop(lanes: List[asyncio.Task[Optional[BaseException]]]
                          ) -> Optional[BaseException]:
        """Wait for every lane to end; the first one's ``KeyboardInterrupt`` or
        ``SystemExit`` as soon as one returns it, or None."""
        running = set(lanes)
        while running:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                stop = task.result()
                if stop is not None:
                    return stop
        return None

    async def _lane(self, lane: int, loop: asyncio.AbstractEventLoop,
                    thread: ProcessorThread | None) -> Optional[BaseException]:
        """Dispatch batches one after another until shutdown; the
        ``KeyboardInterrupt`` or ``SystemExit`` a processor raised, returned
        rather than raised (raised in a task of its own it would bypass
        ``run()``'s handler), or None."""
        while True:
            batch = await self._next_batch(loop)
            if batch is None:
                return None
            stop = await self._execute(lane, batch, loop, thread)
            if stop is not None:
                return stop

    async def shutdown(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop intake; finish every accepted item, then ``run()`` returns.

        Returns when ``run()`` has; concurrent calls all wait for that.

        Parameters
        ----------
        drain : bool
            False: fail every accepted item with :class:`BatcherClosed` now,
            the batch in flight included, without waiting for the processor.
        timeout : float seconds, optional
            Drain for at most this long, then as ``drain=False``.

        Notes
        -----
        A processor abandoned in flight is not interrupted: a coroutine's
        task is cancelled, a plain function finishes in its daemon thread
        (which never keeps the interpreter from exiting) and its results
        are dropped.
        """
        if timeout is not None:
            timeout = positive_finite(timeout, "timeout")
        if self._state == "idle":
            closed = BatcherClosed("shut down before run() was started")
            with self._early_lock:
                self._state = "stopped"
                early, self._early = self._early, []
            for _, _, future in early:
                if future.set_running_or_notify_cancel():
                    future.set_exception(closed)
            self._fail_waiting(closed)
            return
        if self._state in ("stopped", "dead"):
            return
        assert self._loop is not None and self._wakeup is not None and self._stopped is not None
        self._state = "stopping"
        if not drain:
            self._abandon(BatcherClosed("shut down with drain=False before the item was "
                                        "processed"))
        self._wakeup.set()
        timer = None if timeout is None else self._loop.call_later(
            timeout, self._abandon,
            BatcherClosed(f"shut down: not processed within the shutdown timeout ({timeout} s)"))
        try:
            await self._stopped.wait()
        finally:
            if timer is not None:
                timer.cancel()

    # ------------------------------------------------------------ dispatch

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> List[_Pending] | None:
        """The next batch to run, waiting as the policy says; None to stop."""
        wakeup = self._bind(loop)
        while True:
            now = loop.time()
            stopping = self._state == "stopping"
            chosen: Hashable = None
            oldest: float | None = None
            wake_at: float | None = None  # keys may be None: test oldest
            for key, group in self._groups.items():
                first = next(iter(group)).enqueued
                ready_at = now if stopping else self._policy.ready_at(len(group), first, now)
                if ready_at <= now:
                    if oldest is None or first < oldest:
                        chosen, oldest = key, first
                elif wake_at is None or ready_at < wake_at:
                    wake_at = ready_at
            if oldest is not None:
                batch = self._take(chosen)
                if batch:
                    return batch
                continue
            if stopping and self._waiting == 0:
                return None
            # A plain wait and a timer, not asyncio.wait_for: before Python
            # 3.12 wait_for drops a cancellation that arrives with a wake-up.
            wakeup.clear()
            timer = None if wake_at is None else loop.call_at(wake_at, wakeup.set)
            try:
                await wakeup.wait()
            finally:
                if timer is not None:
                    timer.cancel()

    def _take(self, key: Hashable) -> List[_Pending]:
        """Up to the policy's limit of live items of group ``key``, oldest first."""
        group = self._groups[key]
        batch: List[_Pending] = []
        limit = self._policy.limit()
        while group and len(batch) < limit:
            pending, _ = group.popitem(last=False)
            self._waiting -= 1
            if not pending.future.done():  # cancelled, not yet withdrawn: dropped
                batch.append(pending)
        if not group:
            del self._groups[key]
        return batch

    async def _execute(self, lane: int, batch: List[_Pending], loop: asyncio.AbstractEventLoop,
                       thread: ProcessorThread | None) -> Optional[BaseException]:
        """Run ``batch`` on ``lane`` and answer its callers; the processor's
        ``KeyboardInterrupt`` or ``SystemExit``, if it raised one."""
        # Callers are answered from `batch`, never from the list the
        # processor was given: it may change that list.
        items = [pending.item for pending in batch]
        self._in_flight[lane] = batch
        done = self._batch_done[lane] = loop.create_future()
        start = loop.time()
        if thread is None:
            try:
                result = self._processor(items)
            except BaseException as exc:
                self._follow(lane, done, None, exc)
            else:
                self._follow(lane, done, result, None)
        else:
            thread.call(items, loop, functools.partial(self._follow, lane, done))
        outcome = await done  # run() cancelled here: its handler fails the batch
        elapsed = loop.time() - start
        for lanes in (self._in_flight, self._batch_done, self._processor_task):
            lanes.pop(lane, None)
        if outcome is _ABANDONED:
            return None
        results, error = outcome
        error = cast(Optional[BaseException], error)
        self._settle(batch, results, error)
        self._batches += 1
        self._items += len(batch)
        self._batch_seconds += elapsed
        if error is None:
            self._policy.observe(len(batch), elapsed)
        elif not isinstance(error, (Exception, asyncio.CancelledError)):
            return error  # KeyboardInterrupt, SystemExit: the loop stops with it
        return None

    def _follow(self, lane: int, done: asyncio.Future[Outcome], result: Any,
                error: BaseException | None) -> None:
        """Resolve ``done`` with the processor's outcome, awaiting it on the
        loop first if the processor returned an awaitable."""
        if done.done():  # abandoned meanwhile
            if inspect.iscoroutine(result):
                result.close()
            return
        if error is None and inspect.isawaitable(result):
            task = self._processor_task[lane] = asyncio.ensure_future(result)
            task.add_done_callback(functools.partial(_resolve_from_task, done))
        else:
            done.set_result((result, error))

    def _settle(self, batch: List[_Pending], results: Any, error: BaseException | None) -> None:
        """Answer every caller of ``batch`` from the processor's outcome."""
        size = len(batch)
        if error is not None:
            failure = ProcessingFailed(f"the processor raised on a batch of {size}: {error!r}",
                                       batch_size=size)
            for pending in batch:
                self._fail(pending, failure, error)
        elif not isinstance(results, (list, tuple)) or len(results) != size:
            got = (f"{len(results)} results" if isinstance(results, (list, tuple))
                   else type(results).__name__)
            failure = ProcessingFailed(f"the processor must return a list of {size} results, "
                                       f"got {got}", batch_size=size)
            for pending in batch:
                self._fail(pending, failure, None)
        else:
            for pending, result in zip(batch, results):
                if isinstance(result, BaseException):
                    self._fail(pending, ProcessingFailed(
                        f"the processor's result for this item is {result!r}",
                        batch_size=size), result)
                else:
                    self._finish(pending, result)

    # ------------------------------------------------------------ futures

    def _bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        """Tie the batcher to ``loop`` on first use; its wake-up event."""
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            with self._early_lock:
                self._loop = loop
                early, self._early = self._early, []
            for item, timeout, future in early:
                self._adopt(loop, item, timeout, future)
        elif self._loop is not loop:
            raise RuntimeError("a batcher belongs to one event loop")
        return self._wakeup

    def _adopt(self, loop: asyncio.AbstractEventLoop, item: Any, timeout: Optional[float],
               future: concurrent.futures.Future[Any]) -> None:
        """An item submitted before the loop was known: ``add`` it now, its
        outcome into ``future`` (a cancelled ``future`` cancels the add)."""
        if future.cancelled():
            return
        task = loop.create_task(self.add(item, timeout=timeout))
        task.add_done_callback(functools.partial(_copy_outcome, future))
        future.add_done_callback(
            lambda done: done.cancelled() and loop.call_soon_threadsafe(task.cancel))

    def _check_open(self) -> None:
        if self._state == "dead":
            raise BatcherClosed("the batcher's dispatch loop died") from self._death
        if self._state in ("stopping", "stopped"):
            raise BatcherClosed("the batcher is shut down")

    def _check_started(self) -> None:
        """One loop iteration after an ``add`` before ``run()``: it must run by now."""
        self._start_checked = False
        if self._state == "idle":
            self._fail_waiting(BatcherClosed(
                "run() was not started: start it before add(), e.g. "
                "asyncio.create_task(batcher.run())"))

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
        failure = copy.copy(error)
        failure.__cause__ = cause
        pending.future.set_exception(failure)
        self._failed += 1

    def _fail_waiting(self, error: BaseException, cause: BaseException | None = None) -> None:
        groups = self._groups
        self._groups, self._waiting = {}, 0
        for group in groups.values():
            for pending in group:
                self._fail(pending, error, cause)

    def _abandon(self, error: BaseException, cause: BaseException | None = None) -> None:
        """Fail every accepted item now, the batch in flight included, and
        stop waiting for the processor."""
        for batch in self._in_flight.values():
            for pending in batch:
                self._fail(pending, error, cause)
        for done in self._batch_done.values():
            if not done.done():
                done.set_result(_ABANDONED)
        for task in self._processor_task.values():
            task.cancel()
        self._fail_waiting(error, cause)

    def _withdraw(self, pending: _Pending) -> None:
        """Take a cancelled caller's item out of its group if not yet started."""
        if pending.timer is not None:
            pending.timer.cancel()
        group = self._groups.get(pending.key)
        if group is not None and pending in group:
            del group[pending]
            self._waiting -= 1
            if not group:
                del self._groups[pending.key]

    def _expire(self, pending: _Pending, timeout: float) -> None:
        if pending.future.done():
            return
        self._withdraw(pending)
        pending.future.set_exception(Timeout(f"no result within {timeout} s", timeout=timeout))
        self._failed += 1


def _resolve_from_task(done: asyncio.Future[Outcome], task: asyncio.Future[Any]) -> None:
    """Resolve ``done`` with how the processor's task ended (its exception
    is read even when nobody waits any more, so that asyncio logs nothing)."""
    outcome: Outcome
    if task.cancelled():  # by the processor itself: run() cancels it only after `done`
        outcome = (None, asyncio.CancelledError("the processor's task was cancelled"))
    else:
        error = task.exception()
        outcome = (None, error) if error is not None else (task.result(), None)
    if not done.done():
        done.set_result(outcome)
