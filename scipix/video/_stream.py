"""A video source through preprocessing and a model, with a bounded queue."""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..optimize._validate import positive_int
from ._convert import preprocess_yuv
from ._source import Frame

__all__ = ["stream", "Stream", "StreamResult", "StreamStats", "POLICIES"]

POLICIES = ("wait", "drop_oldest", "drop_latest", "latest_only")
_ON_ERROR = ("continue", "raise")


@dataclasses.dataclass(frozen=True)
class StreamResult:
    """One processed frame.

    Attributes
    ----------
    index : int
        The frame's number in the stream.
    time : float or None
        Its presentation time (seconds).
    latency : float
        Seconds from when the frame was decoded (or due, for a paced source)
        to its result.
    output : object
        The model's output for this frame (item ``i`` of each output for
        the batch's frame ``i``); None when the model raised.
    error : BaseException or None
        What the model raised on this frame.
    """

    index: int
    time: float | None
    latency: float
    output: Any
    error: BaseException | None


class StreamStats(NamedTuple):
    """Counts and timings of a stream so far.

    ``read``: frames the source gave; ``processed``: results given;
    ``dropped``: frames the policy dropped; ``discarded``: frames still
    queued when the stream was closed; ``errors``: results with an error;
    ``latency_p50`` / ``latency_p99`` / ``latency_max`` (seconds) over the
    results; ``throughput``: results per second since the first read.
    ``read == processed + dropped + discarded + queued`` always.
    """

    read: int
    processed: int
    dropped: int
    discarded: int
    errors: int
    latency_p50: float
    latency_p99: float
    latency_max: float
    throughput: float


class _FrameQueue:
    """The frames between the source and the model: at most ``capacity``,
    and what happens to a frame that finds it full (``policy``)."""

    def __init__(self, capacity: int, policy: str) -> None:
        self.capacity = 1 if policy == "latest_only" else capacity
        self.policy = policy
        self.frames: collections.deque[Frame] = collections.deque()
        self.dropped = 0
        self.ended = False
        self.failure: BaseException | None = None
        self.closed = False
        self.changed = threading.Condition()

    def put(self, frame: Frame) -> bool:
        """Queue ``frame`` by the policy; False once closed."""
        with self.changed:
            if self.policy == "wait":
                while len(self.frames) >= self.capacity and not self.closed:
                    self.changed.wait()
            if self.closed:
                return False
            if len(self.frames) >= self.capacity:
                if self.policy == "drop_latest":
                    self.dropped += 1
                    return True
                self.frames.popleft()  # drop_oldest, latest_only
                self.dropped += 1
            self.frames.append(frame)
            self.changed.notify_all()
            return True

    def end(self, failure: BaseException | None = None) -> None:
        with self.changed:
            self.ended = True
            self.failure = failure
            self.changed.notify_all()

    def take(self, most: int) -> list[Frame]:
        """Up to ``most`` frames, oldest first, waiting for one; [] at the end."""
        with self.changed:
            while not self.frames and not self.ended:
                self.changed.wait()
            batch = [self.frames.popleft() for _ in range(min(most, len(self.frames)))]
            self.changed.notify_all()
            return batch

    def close(self) -> int:
        """Stop taking frames; how many queued frames are discarded."""
        with self.changed:
            self.closed = True
            discarded = len(self.frames)
            self.frames.clear()
            self.changed.notify_all()
            return discarded


def _item(output: Any, i: int) -> Any:
    if isinstance(output, (list, tuple)):
        return type(output)(_item(o, i) for o in output)
    if isinstance(output, dict):
        return {key: _item(value, i) for key, value in output.items()}
    return output[i]


class Stream:
    """What :func:`stream` returns: iterate it for :class:`StreamResult` in
    frame order; :attr:`stats` at any time; :meth:`close` (or leaving a
    ``with`` block) stops it, discarding queued frames (counted in
    ``stats.discarded``)."""

    def __init__(self, source: Any, model: Callable[[Any], Any], batch_size: int,
                 queue_size: int, policy: str, on_error: str,
                 preprocess: dict[str, Any]) -> None:
        self._source = source
        self._model = model
        self._batch_size = batch_size
        self._on_error = on_error
        self._preprocess = preprocess
        self._queue = _FrameQueue(queue_size, policy)
        self._read = 0
        self._processed = 0
        self._errors = 0
        self._discarded = 0
        self._latencies: collections.deque[float] = collections.deque(maxlen=10000)
        self._started: float | None = None
        self._tensor: Any = None
        self._reader = threading.Thread(target=self._feed, name="scipix-video-feed",
                                        daemon=True)
        self._reader.start()

    def _feed(self) -> None:
        try:
            for frame in self._source:
                if self._started is None:
                    self._started = time.monotonic()
                self._read += 1
                if not self._queue.put(frame):
                    self._read -= 1  # closed: the frame never entered the stream
                    return
        except BaseException as error:  # handed to the reader's thread
            self._queue.end(error)
            return
        self._queue.end()

    def _run(self, frames: list[Frame]) -> list[tuple[Any, BaseException | None]]:
        """(output, error) per frame: the batch at once, frame by frame if
        the batch raises (so that each error is its own frame's)."""
        try:
            output = self._call(frames)
            return [(_item(output, i), None) for i in range(len(frames))]
        except Exception as error:
            if len(frames) == 1:
                return [(None, error)]
            return [pair for frame in frames for pair in self._run([frame])]

    def _call(self, frames: list[Frame]) -> Any:
        if self._tensor is not None and self._tensor.shape[0] != len(frames):
            self._tensor = None
        self._tensor = preprocess_yuv([f.av_frame for f in frames], out=self._tensor,
                                      **self._preprocess)
        return self._model(self._tensor)

    def __iter__(self) -> Iterator[StreamResult]:
        try:
            while True:
                frames = self._queue.take(self._batch_size)
                if not frames:
                    if self._queue.failure is not None:
                        raise self._queue.failure
                    return
                for frame, (output, error) in zip(frames, self._run(frames)):
                    latency = time.monotonic() - frame.decoded
                    self._latencies.append(latency)
                    self._processed += 1
                    if error is not None:
                        self._errors += 1
                        if self._on_error == "raise":
                            raise error
                    yield StreamResult(frame.index, frame.time, latency, output, error)
        finally:
            self.close()

    @property
    def stats(self) -> StreamStats:
        latencies = np.array(self._latencies, np.float64)
        quantiles = (np.quantile(latencies, [0.5, 0.99]) if latencies.size else [0.0, 0.0])
        elapsed = time.monotonic() - self._started if self._started is not None else 0.0
        return StreamStats(self._read, self._processed, self._queue.dropped, self._discarded,
                           self._errors, float(quantiles[0]), float(quantiles[1]),
                           float(latencies.max()) if latencies.size else 0.0,
                           self._processed / elapsed if elapsed > 0 else 0.0)

    def close(self) -> None:
        """Stop reading; frames still queued are discarded (and counted)."""
        self._discarded += self._queue.close()
        if hasattr(self._source, "close"):
            self._source.close()
        if self._reader is not threading.current_thread():
            self._reader.join()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream(source: Any, model: Callable[[Any], Any], *, shape: tuple[int, int],
           policy: str = "wait", batch_size: int = 1, queue_size: int | None = None,
           on_error: str = "continue", **preprocess: Any) -> Stream:
    """Run ``model`` on each frame of ``source`` as it comes, results in frame order.

    A thread reads ``source`` into a queue of at most ``queue_size`` frames;
    iterating the returned :class:`Stream` takes up to ``batch_size``
    queued frames at a time, makes them one tensor with
    :func:`~scipix.video.preprocess_yuv` (into the same buffer each time)
    and calls ``model`` on it.  When the model is slower than the source the
    queue fills, and ``policy`` says what happens to the next frame:

    - ``"wait"``: the reader waits (the source is held back; no frame is
      lost, a paced source's frames come later than due);
    - ``"drop_oldest"``: the oldest queued frame is dropped;
    - ``"drop_latest"``: the new frame is dropped;
    - ``"latest_only"``: the queue holds one frame, the newest: latency
      stays within about one model call plus one frame period.

    Parameters
    ----------
    source : VideoSource or iterable of Frame
        Closed when the stream closes.
    model : callable
        Takes the (N, C, H, W) (or as ``layout`` says) tensor, N <=
        ``batch_size``, and returns an array (or a list, tuple or dict of
        them) with N items along its first axis; item ``i`` is frame
        ``i``'s ``output``.  The tensor is reused by the next call: copy
        what the output keeps of it.
    shape : (height, width)
        The model's input size.
    policy : {"wait", "drop_oldest", "drop_latest", "latest_only"}
    batch_size : int
        Frames per model call at most (fewer when fewer are queued).
    queue_size : int, optional
        Frames the queue holds (default ``2 * batch_size``; 1 with
        ``"latest_only"``).
    on_error : {"continue", "raise"}
        When the model raises on a frame: report it in that frame's result
        (``error``) and go on, or raise it from the iteration (closing the
        stream).  A batch that raises is retried frame by frame, so that
        each error is its own frame's.
    **preprocess
        :func:`~scipix.video.preprocess_yuv`'s options (``color``, ``mean``,
        ``std``, ``resize``, ...).

    Returns
    -------
    Stream
        Iterable of :class:`StreamResult`; ``stats`` gives
        :class:`StreamStats`.

    Raises
    ------
    TypeError, ValueError
        Naming the argument, before any frame is read.  A source that fails
        while read (a corrupt file) raises from the iteration after the
        results of the frames before it.
    """
    if not callable(model):
        raise TypeError(f"model must be callable, got {type(model).__name__}")
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(map(repr, POLICIES))}, "
                         f"got {policy!r}")
    if not isinstance(on_error, str) or on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be 'continue' or 'raise', got {on_error!r}")
    batch_size = positive_int(batch_size, "batch_size")
    queue_size = 2 * batch_size if queue_size is None else positive_int(queue_size,
                                                                        "queue_size")
    if getattr(source, "closed", False):
        raise ValueError("source is closed")
    for name in ("frames", "out", "return_transforms"):
        if name in preprocess:
            raise TypeError(f"stream() got an unexpected keyword argument {name!r}")
    # Check the options once, on a tiny frame, before any thread starts.
    probe = (np.zeros((2, 2), np.uint8), np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8))
    preprocess_yuv([probe], shape, **preprocess)
    return Stream(source, model, batch_size, queue_size, policy, on_error,
                  {"shape": shape, **preprocess})
