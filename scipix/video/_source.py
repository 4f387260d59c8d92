"""Frames of a video file, decoded by PyAV on their own thread."""
from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Iterator

import numpy as np
from numpy.typing import NDArray

from ._planes import frame_planes

__all__ = ["VideoSource", "Frame"]

# Frames decoded ahead of the reader: enough to hide one slow frame.
_AHEAD = 4
_END = object()


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise ImportError("scipix.video.VideoSource needs PyAV: pip install 'scipix[video]'"
                          ) from None
    return av


class Frame:
    """One decoded frame: its planes, seen in place (no copy), and where it is.

    Attributes
    ----------
    index : int
        The frame's number in the stream (0 for the first frame; from the
        timestamp after a seek).
    time : float or None
        Presentation time in seconds from the stream's start.
    y, u, v : uint8 ndarray views
        ``yuv_layout`` "i420": planes (H, W), (ceil(H / 2), ceil(W / 2)) x 2;
        "nv12": luma and the interleaved UV plane, ``v`` None.  Read-only
        views of the decoder's buffers, valid while the Frame lives.
    yuv_layout : str
    decoded : float
        ``time.monotonic()`` when the frame was decoded or, for a paced
        source, when it was due: what latencies are measured from.
    av_frame : av.VideoFrame
        The decoder's frame (it owns the buffers).
    """

    __slots__ = ("index", "time", "y", "u", "v", "yuv_layout", "decoded", "av_frame")

    def __init__(self, index: int, time_s: float | None, av_frame: Any, decoded: float,
                 name: str) -> None:
        planes, layout = frame_planes(av_frame, name)
        self.index = index
        self.time = time_s
        self.y: NDArray[np.uint8] = planes.y
        self.u: NDArray[np.uint8] = planes.u
        self.v: NDArray[np.uint8] | None = planes.v if layout == "i420" else None
        self.yuv_layout = layout
        self.decoded = decoded
        self.av_frame = av_frame

    @property
    def planes(self) -> tuple[Any, Any, Any]:
        """``(y, u, v)`` as :func:`~scipix.video.yuv_to_rgb` takes them."""
        return self.y, self.u, self.v

    def __repr__(self) -> str:
        return (f"Frame(index={self.index}, time={self.time}, "
                f"size={self.y.shape[1]}x{self.y.shape[0]}, {self.yuv_layout})")


class VideoSource:
    """A video file's frames, decoded on a thread of their own (PyAV, the
    ``video`` extra), handed out in order as :class:`Frame` plane views.

    Parameters
    ----------
    path_or_container : str, os.PathLike or av.container.InputContainer
        A file (or URL FFmpeg opens), or an open PyAV container (the source
        closes it when it closes).
    paced : bool
        Hand frame ``i`` out no earlier than its presentation time after the
        first (a file read as a live camera would deliver it); its
        ``decoded`` time is then when it was due.
    threads : bool
        Let FFmpeg decode on several threads (its ``thread_type="AUTO"``);
        False decodes on the source's one thread.

    Raises
    ------
    ValueError
        The file cannot be opened or has no video stream (naming it).

    Notes
    -----
    Iterating gives the frames until the end of the stream, then stops.  A
    corrupt or truncated file raises ValueError naming the file and the last
    frame decoded, after the frames before it.  FFmpeg decodes with the GIL
    released; up to 4 frames are decoded ahead of the reader.  The source is
    a context manager; a closed source raises ValueError when read.
    """

    def __init__(self, path_or_container: Any, *, paced: bool = False,
                 threads: bool = True) -> None:
        av = _av()
        if isinstance(path_or_container, (str, bytes, os.PathLike)):
            self.name = os.fsdecode(path_or_container)
            try:
                self._container = av.open(self.name)
            except (av.FFmpegError, OSError) as error:
                raise ValueError(f"path_or_container: cannot open {self.name!r} as a video: "
                                 f"{error}") from error
        elif isinstance(path_or_container, av.container.InputContainer):
            self.name = str(path_or_container.name)
            self._container = path_or_container
        else:
            raise TypeError(f"path_or_container must be a path or an av InputContainer, "
                            f"got {type(path_or_container).__name__}")
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"path_or_container: {self.name!r} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO" if threads else "SLICE"
        if not threads:
            self._stream.codec_context.thread_count = 1
        self.paced = bool(paced)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps: float = float(rate) if rate else 0.0
        self.width: int = self._stream.codec_context.width
        self.height: int = self._stream.codec_context.height
        self._time_base = self._stream.time_base
        self._start_pts = self._stream.start_time or 0
        self._queue: queue.Queue[Any] = queue.Queue(_AHEAD)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seek_to: float | None = None
        self._closed = False
        self._clock_origin: tuple[float, float] | None = None

    # -- decoding thread ---------------------------------------------------

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless the source stops first."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _frame_index(self, av_frame: Any, counted: int) -> tuple[int, float | None]:
        if av_frame.pts is None or not self.fps:
            return counted, None
        seconds = float((av_frame.pts - self._start_pts) * self._time_base)
        return round(seconds * self.fps), seconds

    def _decode(self, seek_to: float | None) -> None:
        av = _av()
        counted = 0
        last = -1
        try:
            if seek_to is not None:
                target = int(seek_to / self._time_base) + self._start_pts
                self._container.seek(target, stream=self._stream, backward=True)
            for av_frame in self._container.decode(self._stream):
                index, seconds = self._frame_index(av_frame, counted)
                counted += 1
                if seek_to is not None and seconds is not None and seconds < seek_to - 1e-6:
                    continue
                decoded = time.monotonic()
                if self.paced and seconds is not None:
                    due = self._wait_until_due(seconds)
                    if due is None:
                        return
                    decoded = due
                item = Frame(index, seconds, av_frame, decoded, f"frame {index} of {self.name}")
                if not self._put(item):
                    return
                last = index
        except (av.FFmpegError, ValueError) as error:
            self._put(ValueError(f"{self.name!r} is corrupt or truncated: decoding stopped "
                                 f"after frame {last}: {error}"))
            return
        self._put(_END)

    def _wait_until_due(self, seconds: float) -> float | None:
        """Sleep until the frame at ``seconds`` is due; its due time, or None
        if the source stopped meanwhile."""
        if self._clock_origin is None:
            self._clock_origin = (time.monotonic(), seconds)
        start, first = self._clock_origin
        due = start + (seconds - first)
        delay = due - time.monotonic()
        if delay > 0 and self._stop.wait(delay):
            return None
        return due

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._decode, args=(self._seek_to,),
                                            name="scipix-video-decode", daemon=True)
            self._seek_to = None
            self._thread.start()

    def _halt(self) -> None:
        """Stop the decoding thread and drop what it queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        while not self._queue.empty():
            self._queue.get_nowait()
        self._stop.clear()

    # -- the reader's side -------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"VideoSource of {self.name!r} is closed")

    def read(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""
        self._check_open()
        self._start()
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # later reads see the end too
            return None
        if isinstance(item, Exception):
            self._queue.put(_END)
            raise item
        frame: Frame = item
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def seek(self, seconds: float) -> None:
        """Go to the first frame at or after ``seconds`` (presentation time
        from the start); the next read gives it.  A paced source's clock
        restarts there."""
        self._check_open()
        if not isinstance(seconds, (int, float)) or not np.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be a finite time >= 0, got {seconds!r}")
        self._halt()
        self._seek_to = float(seconds)
        self._clock_origin = None

    def close(self) -> None:
        """Stop decoding and close the file; idempotent."""
        if self._closed:
            return
        self._halt()
        self._closed = True
        self._container.close()
        # A reader waiting in another thread sees the end.
        self._queue.put_nowait(_END)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"VideoSource({self.name!r}, {self.width}x{self.height}, {self.fps:g} fps, "
                f"paced={self.paced}{', closed' if self._closed else ''})")
