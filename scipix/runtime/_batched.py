"""Shape-bucketed dynamic batching of one model's requests."""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..optimize.batch import AdaptiveBatcher, BatchConfig, BatchStats, DynamicBatcher
from ..optimize.batch._dynamic import _copy_outcome
from ..optimize.config import serial_kernels
from ._errors import InputError, ModelError, RuntimeClosed
from ._model import Model, _Slot

__all__ = ["BatchedModel", "RuntimeStats"]

Shape = Tuple[int, ...]
# Batch buffers a session keeps (per padded shape; the oldest is dropped).
SHAPES_KEPT = 32


@dataclass(frozen=True)
class RuntimeStats:
    """A :class:`BatchedModel`'s figures.

    Attributes
    ----------
    batching : BatchStats
        The batcher's: queue, batches, items, failures, mean batch size,
        p50 / p95 / p99 latency from request to result (ms).
    batch_sizes : dict of int to int
        How many batches of each size ran.
    padding_share : float
        Share of the batch input elements that were padding (NaN before
        the first batch, or when ``unpadded_shape`` is not known).
    """

    batching: BatchStats
    batch_sizes: Dict[int, int]
    padding_share: float


def _round_up(shape: Shape, multiples: Shape) -> Shape:
    return tuple(-(-n // m) * m for n, m in zip(shape, multiples))


class BatchedModel:
    """Requests from many callers, batched by padded shape, run on a
    :class:`Model`'s sessions (one batch per session at once).

    Each request is one item; items whose padded input shapes are equal
    share a batch (``DynamicBatcher(group_key=...)``), by the dispatch rule
    of the batcher (size, preferred size, wait; or, with
    ``target_latency``, :class:`~scipix.optimize.batch.AdaptiveBatcher`'s
    latency rule).  Up to ``model.concurrency`` batches run at once, each
    written into a batch buffer its session keeps for that padded shape,
    outputs into buffers it keeps too: no tensor is allocated per batch.

    Parameters
    ----------
    model : Model
        A model with one input whose first axis is the batch, as is the
        first axis of each output.
    config : BatchConfig, optional
        Default: ``BatchConfig(max_batch_size=16, max_wait_ms=2)``.
    target_latency : float seconds, optional
        Use the adaptive rule for this latency target.
    pad_to : int or sequence of int
        Default items only: each axis of an item's shape is rounded up to
        a multiple of this (one value, or one per axis) to find its batch.
    prepare : callable (items, out) -> None, optional
        Writes the batch input ``out`` (``(len(items), *shape)``, the
        model's dtype, C-contiguous, contents undefined) from ``items``,
        e.g. with scipix kernels (``crop_quads(..., out=out)``).  Needs
        ``shape_of``.  Default: items are arrays of the input's shape
        without the batch axis, copied in and padded with zeros.
    shape_of : callable item -> tuple of int, optional
        With ``prepare``: the padded per-item input shape (the batch key).
    unpadded_shape : callable item -> tuple of int, optional
        With ``prepare``: the item's shape before padding, for the
        padding share in :meth:`stats`.
    finish : callable (outputs, items) -> list, optional
        Turns the batch outputs (views of the session's buffers, valid
        during the call) into one result per item.  Default: each item's
        rows of the outputs, copied (one array, or a list for a model with
        several outputs).

    Notes
    -----
    Call :meth:`infer` from coroutines (any event loop) or
    :meth:`submit` / :meth:`__call__` from threads; the batcher runs on an
    event loop in a thread of its own.  A request whose caller cancels
    before its batch starts is dropped.  A batch that fails fails its
    requests only (:class:`~scipix.optimize.batch.ProcessingFailed`, the
    model's error as ``__cause__``).  :meth:`close` answers every request
    and stops the thread; the model stays open (it is the caller's).
    """

    def __init__(self, model: Model, *, config: Optional[BatchConfig] = None,
                 target_latency: Optional[float] = None,
                 pad_to: Union[int, Sequence[int]] = 1,
                 prepare: Optional[Callable[[List[Any], np.ndarray], None]] = None,
                 shape_of: Optional[Callable[[Any], Shape]] = None,
                 unpadded_shape: Optional[Callable[[Any], Shape]] = None,
                 finish: Optional[Callable[[List[np.ndarray], List[Any]], List[Any]]] = None
                 ) -> None:
        if not isinstance(model, Model):
            raise TypeError(f"model must be a scipix.runtime.Model, got {type(model).__name__}")
        if len(model.inputs) != 1:
            raise ValueError(f"model {model.name!r} has {len(model.inputs)} inputs; "
                             f"BatchedModel batches one-input models")
        if (prepare is None) != (shape_of is None):
            raise ValueError("prepare and shape_of go together: shape_of says which batch "
                             "an item joins, prepare writes it")
        self.model = model
        self.input = model.inputs[0]
        self.config = config or BatchConfig(max_batch_size=16, max_wait_ms=2)
        rank = len(self.input.shape) - 1
        multiples = (pad_to,) * rank if isinstance(pad_to, int) else tuple(pad_to)
        if len(multiples) != rank or not all(isinstance(m, int) and m >= 1 for m in multiples):
            raise ValueError(f"pad_to must be an int >= 1 or {rank} of them (model "
                             f"{model.name!r} input {self.input.name!r} items have {rank} "
                             f"axes), got {pad_to!r}")
        self._multiples = multiples
        self._default_items = prepare is None
        self._prepare = prepare or self._copy_in
        self._shape_of = shape_of or self._padded_shape
        self._unpadded = unpadded_shape if prepare is not None else np.shape
        self._finish = finish or self._rows
        processor, key = self._process, self._shape_of
        if target_latency is None:
            self._batcher: DynamicBatcher[Any, Any] = DynamicBatcher(
                self.config, processor, group_key=key, max_in_flight=model.concurrency)
        else:
            self._batcher = AdaptiveBatcher(self.config, target_latency, processor,
                                            group_key=key, max_in_flight=model.concurrency)
        self._lock = threading.Lock()  # the figures below: lanes update them at once
        self._sizes: collections.Counter[int] = collections.Counter()
        self._elements = self._padding = 0
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._runner = self._loop.create_task(self._batcher.run())
        self._thread = threading.Thread(target=self._serve, name=f"scipix-runtime-{model.name}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ callers

    def submit(self, item: Any, *, timeout: Optional[float] = None
               ) -> concurrent.futures.Future[Any]:
        """Queue one request from any thread; its result as a future.

        Raises
        ------
        InputError
            A default item (an array) the model input refuses.
        RuntimeClosed
            After :meth:`close`.
        """
        if self._closed:
            raise RuntimeClosed(f"the batcher of model {self.model.name!r} is closed")
        if self._default_items:
            self._check_item(item)
        return self._batcher.submit(item, timeout=timeout)

    async def infer(self, item: Any, *, timeout: Optional[float] = None) -> Any:
        """One request from a coroutine; cancelling it withdraws the request
        if its batch has not started."""
        return await asyncio.wrap_future(self.submit(item, timeout=timeout))

    def __call__(self, items: Sequence[Any], *, timeout: Optional[float] = None) -> List[Any]:
        """Several requests from a thread, their results in order (the
        first failure raised once all are answered).  They are queued
        together, so that they can share their first batch too."""
        if self._closed:
            raise RuntimeClosed(f"the batcher of model {self.model.name!r} is closed")
        if self._default_items:
            for item in items:
                self._check_item(item)
        futures: List[concurrent.futures.Future[Any]] = [concurrent.futures.Future()
                                                         for _ in items]

        def enqueue() -> None:
            for item, future in zip(items, futures):
                task = self._loop.create_task(self._batcher.add(item, timeout=timeout))
                task.add_done_callback(functools.partial(_copy_outcome, future))

        try:
            self._loop.call_soon_threadsafe(enqueue)
        except RuntimeError:  # the loop closed since the check above
            raise RuntimeClosed(f"the batcher of model {self.model.name!r} is closed") from None
        concurrent.futures.wait(futures)
        return [future.result() for future in futures]

    def stats(self) -> RuntimeStats:
        """A :class:`RuntimeStats` snapshot."""
        if self._closed:
            batching = self._batcher.stats()
        else:
            batching = asyncio.run_coroutine_threadsafe(self._batching_stats(),
                                                        self._loop).result()
        with self._lock:
            share = self._padding / self._elements if self._elements else math.nan
            return RuntimeStats(batching, dict(sorted(self._sizes.items())), share)

    async def _batching_stats(self) -> BatchStats:
        return self._batcher.stats()

    # ------------------------------------------------------------ lifecycle

    def close(self, drain: bool = True, timeout: Optional[float] = None) -> None:
        """Stop taking requests, answer every accepted one (run it, or with
        ``drain=False`` / after ``timeout`` seconds fail it with
        ``BatcherClosed``), stop the thread.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        shutdown = self._batcher.shutdown(drain=drain, timeout=timeout)
        asyncio.run_coroutine_threadsafe(shutdown, self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> "BatchedModel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> "BatchedModel":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        with contextlib.suppress(BaseException):  # its outcome reached every caller
            self._loop.run_until_complete(self._runner)

    # ------------------------------------------------------------ batches

    def _process(self, items: List[Any]) -> List[Any]:
        """One batch on one free session (runs on one of the batcher's
        lanes: one per session)."""
        shape = tuple(self._shape_of(items[0]))
        slot = self.model._acquire()
        try:
            batch, outputs = self._buffers(slot, shape, len(items))
            # A lane has one core in a pool: its kernels run on one thread.
            with serial_kernels() if self.model.concurrency > 1 else contextlib.nullcontext():
                self._prepare(items, batch)
            self.model.run_on(slot, [batch], outputs)
            results = self._finish(list(outputs), items)
        finally:
            self.model._release(slot)
        self._count(items, shape)
        return results

    def _buffers(self, slot: _Slot, shape: Shape, count: int
                 ) -> Tuple[np.ndarray, List[np.ndarray]]:
        """The session's batch input and output buffers for ``shape``, cut
        to ``count`` rows (made on the first batch of that shape)."""
        largest = self.config.max_batch_size
        key = (largest, shape)  # batchers of one model may differ in batch size
        buffers = slot.scratch.get(key)
        if buffers is None:
            batch = np.zeros((largest, *shape), self.input.dtype)
            # One row tells the outputs' shapes past the batch axis.
            first = self.model.run_on(slot, [batch[:1]], None)
            for spec, output in zip(self.model.outputs, first):
                if not output.ndim or output.shape[0] != 1:
                    raise ModelError(f"model {self.model.name!r}: output {spec.name!r} has "
                                     f"shape {output.shape} for a batch of 1; batching needs "
                                     f"the batch as every output's first axis")
            outputs = [np.empty((largest, *output.shape[1:]), output.dtype) for output in first]
            slot.outputs.pop(((1, *shape),), None)
            if len(slot.scratch) >= SHAPES_KEPT:
                del slot.scratch[next(iter(slot.scratch))]
            buffers = slot.scratch[key] = (batch, outputs)
        batch, outputs = buffers
        return batch[:count], [output[:count] for output in outputs]

    def _count(self, items: List[Any], shape: Shape) -> None:
        padded = math.prod(shape) * len(items)
        try:
            used = sum(math.prod(self._unpadded(item)) for item in items) \
                if self._unpadded is not None else None
        except Exception:  # the figure is informative; the batch succeeded
            used = None
        with self._lock:
            self._sizes[len(items)] += 1
            if used is not None:
                self._elements += padded
                self._padding += padded - used

    # ------------------------------------------------------------ default items

    def _check_item(self, item: Any) -> None:
        spec = self.input
        expected = spec.shape[1:]
        if not isinstance(item, np.ndarray):
            raise TypeError(f"model {self.model.name!r}: an item for input {spec.name!r} "
                            f"must be an ndarray, got {type(item).__name__}")
        if (item.dtype != spec.dtype or item.ndim != len(expected)
                or any(d is not None and d != n for d, n in zip(expected, item.shape))):
            dims = ", ".join("?" if d is None else str(d) for d in expected)
            raise InputError(f"model {self.model.name!r}: an item for input {spec.name!r} "
                             f"must be {spec.dtype} ({dims}) (the input without its batch "
                             f"axis), got {item.dtype} {item.shape}")

    def _padded_shape(self, item: np.ndarray) -> Shape:
        return _round_up(item.shape, self._multiples)

    @staticmethod
    def _copy_in(items: List[np.ndarray], out: np.ndarray) -> None:
        for row, item in zip(out, items):
            if item.shape == row.shape:
                row[...] = item
            else:
                row.fill(0)
                row[tuple(slice(0, n) for n in item.shape)] = item

    @staticmethod
    def _rows(outputs: List[np.ndarray], items: List[Any]) -> List[Any]:
        if len(outputs) == 1:
            return [row.copy() for row in outputs[0]]
        return [[output[i].copy() for output in outputs] for i in range(len(items))]

    def __repr__(self) -> str:
        return f"BatchedModel({self.model!r}, config={self.config!r})"
