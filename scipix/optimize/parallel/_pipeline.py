"""Multi-stage pipelines: each stage on its own thread, bounded queues between.

Stage k works on item i while stage k - 1 works on item i + 1, so a
pipeline of stages that release the GIL (scipix kernels, NumPy, OpenCV,
model runtimes) runs them at the same time.  Each stage has one worker,
which keeps results in input order without a reordering buffer.
"""
from __future__ import annotations

import pickle
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Optional, Tuple

from .._validate import positive_int
from ..config import parallel_enabled, serial_kernels

__all__ = ["Pipeline", "PipelineExecutor", "Pipeline3", "PipelineError"]

_END = object()  # sent down the queues after a stage's last item
# Stages may change the item's type from one to the next.
Stage = Callable[[Any], Any]


class PipelineError(RuntimeError):
    """A stage raised; the stage's exception is ``__cause__`` and ``cause``.

    Attributes
    ----------
    stage : int
        1-based number of the stage that raised.
    index : int
        0-based position of the failing item in the input.
    cause : BaseException
        The stage's exception.  It survives pickling (``__cause__`` does
        not, so a pipeline failing in a worker process still names it);
        one that cannot be pickled travels as a ``RuntimeError`` with its
        ``repr``.
    """

    def __init__(self, stage: int, index: int, cause: BaseException) -> None:
        super().__init__(stage, index, cause)
        self.stage = stage
        self.index = index
        self.cause = cause

    def __str__(self) -> str:
        return f"pipeline stage {self.stage} failed on item {self.index}: {self.cause!r}"

    def __reduce__(self) -> tuple[Any, ...]:
        cause = self.cause
        try:
            pickle.dumps(cause)
        except Exception:
            cause = RuntimeError(f"{cause!r} (not picklable)")
        extra = {k: v for k, v in vars(self).items() if k not in ("stage", "index", "cause")}
        return type(self), (self.stage, self.index, cause), extra or None


class _Run:
    """State one threaded run shares between its workers."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: Optional[Tuple[int, int, BaseException]] = None  # (stage, index, exception); stage 0: the input iterator
        self._lock = threading.Lock()

    def fail(self, stage: int, index: int, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = (stage, index, exc)
        self.stop.set()

    def raise_error(self) -> None:
        if self.error is not None:
            stage, index, exc = self.error
            if stage == 0:
                raise exc
            raise PipelineError(stage, index, exc) from exc


def _source(run: _Run, iterator: Iterator[Any], fn: Stage, outbox: queue.Queue[Any]) -> None:
    """Stage 1: pull items from the input, process, pass on."""
    index = 0
    try:
        with serial_kernels():
            while not run.stop.is_set():
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                except BaseException as exc:  # reported to the caller, not lost in a thread
                    run.fail(0, index, exc)
                    break
                try:
                    result = fn(item)
                except BaseException as exc:
                    run.fail(1, index, exc)
                    break
                outbox.put((index, result))
                index += 1
    finally:
        outbox.put(_END)


def _stage(run: _Run, number: int, fn: Stage, inbox: queue.Queue[Any],
           outbox: queue.Queue[Any]) -> None:
    """Stages 2..n: process until the end marker; after a failure only drain."""
    try:
        with serial_kernels():
            while True:
                message = inbox.get()
                if message is _END:
                    break
                if run.stop.is_set():
                    continue
                index, item = message
                try:
                    outbox.put((index, fn(item)))
                except BaseException as exc:
                    run.fail(number, index, exc)
    finally:
        outbox.put(_END)


class Pipeline:
    """Run items through ``stages`` in order, the stages concurrently.

    Parameters
    ----------
    *stages : callables, one item -> the next stage's item
    queue_size : int >= 1, default 4
        Items that may wait between two stages; bounds memory when a stage
        is slower than the one before it.

    Notes
    -----
    The first exception of any stage stops the pipeline: the input is no
    longer read, items in flight are dropped, every worker thread is joined,
    and :class:`PipelineError` (with the stage and item index, the stage's
    exception as ``__cause__``) is raised to the caller.  An exception of
    the input iterator itself is raised as is.  Inside the stages scipix's
    kernels run on one OpenMP thread each.  Below ``OptLevel.PARALLEL``
    the stages run one after the other in the calling thread.
    """

    def __init__(self, *stages: Stage, queue_size: int = 4) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        for number, stage in enumerate(stages, 1):
            if not callable(stage):
                raise TypeError(f"stage{number} must be callable, got {type(stage).__name__}")
        self.stages = stages
        self.queue_size = positive_int(queue_size, "queue_size")

    def execute_batch(self, inputs: Iterable[Any]) -> list[Any]:
        """All results, in input order, as a list."""
        return list(self.stream(inputs))

    def stream(self, inputs: Iterable[Any]) -> Iterator[Any]:
        """Results as an iterator, in input order, reading ``inputs`` lazily.

        At most about ``queue_size * len(stages)`` items are in flight, so
        ``inputs`` may be longer than memory.  Close the iterator (or
        exhaust it) when stopping early: that stops and joins the workers.
        """
        try:
            iterator = iter(inputs)
        except TypeError:
            raise TypeError(f"inputs must be iterable, got {type(inputs).__name__}") from None
        if not parallel_enabled():
            return self._serial(iterator)
        return self._threaded(iterator)

    def _serial(self, iterator: Iterator[Any]) -> Iterator[Any]:
        for index, item in enumerate(iterator):
            for number, stage in enumerate(self.stages, 1):
                try:
                    item = stage(item)
                except Exception as exc:
                    raise PipelineError(number, index, exc) from exc
            yield item

    def _threaded(self, iterator: Iterator[Any]) -> Iterator[Any]:
        run = _Run()
        queues: list[queue.Queue[Any]] = [queue.Queue(self.queue_size) for _ in self.stages]
        workers = [threading.Thread(target=_source, name="scipix-stage1", daemon=True,
                                    args=(run, iterator, self.stages[0], queues[0]))]
        for number in range(2, len(self.stages) + 1):
            workers.append(threading.Thread(
                target=_stage, name=f"scipix-stage{number}", daemon=True,
                args=(run, number, self.stages[number - 1], queues[number - 2],
                      queues[number - 1])))
        for worker in workers:
            worker.start()
        results = queues[-1]
        finished = False
        try:
            while True:
                message = results.get()
                if message is _END:
                    finished = True
                    break
                if not run.stop.is_set():
                    yield message[1]
        finally:
            if not finished:  # closed early, or interrupted: stop, drain, join
                run.stop.set()
                while results.get() is not _END:
                    pass
            for worker in workers:
                worker.join()
        run.raise_error()

    def __repr__(self) -> str:
        names = ", ".join(getattr(s, "__name__", type(s).__name__) for s in self.stages)
        return f"{type(self).__name__}({names})"


class PipelineExecutor(Pipeline):
    """A two-stage :class:`Pipeline`: ``stage2(stage1(item))`` per item."""

    def __init__(self, stage1: Stage, stage2: Stage, *, queue_size: int = 4) -> None:
        super().__init__(stage1, stage2, queue_size=queue_size)


class Pipeline3(Pipeline):
    """A three-stage :class:`Pipeline`: ``stage3(stage2(stage1(item)))`` per item."""

    def __init__(self, stage1: Stage, stage2: Stage, stage3: Stage, *,
                 queue_size: int = 4) -> None:
        super().__init__(stage1, stage2, stage3, queue_size=queue_size)
