"""YUV 4:2:0 frames to RGB, and straight to a model's input tensor."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ..optimize._dispatch import current_kernels
from ..optimize._validate import output_array, unaliased
from ..optimize.config import kernel_threads
from ..optimize.parallel._batch import (BatchOptions, BatchResult, batch_options, fill_tensor,
                                        output_tensor, placements, transforms)
from ._planes import Planes, frame_planes, yuv_matrix, yuv_planes

__all__ = ["yuv_to_rgb", "preprocess_yuv"]

_ORDERS = ("rgb", "bgr")
_CONVERTERS = ("scipix", "opencv", "ffmpeg")
_FFMPEG_MATRICES = {"bt601": "ITU601", "bt709": "ITU709"}


def _converter(value: Any) -> str:
    if not isinstance(value, str) or value not in _CONVERTERS:
        raise ValueError(f"converter must be 'scipix', 'opencv' or 'ffmpeg', got {value!r}")
    return value


def _ffmpeg_rgb(planes: Planes, matrix: str, full_range: bool) -> NDArray[np.uint8]:
    """The planes converted by FFmpeg's swscale, as PyAV's
    ``to_ndarray(format="rgb24")`` converts a decoded frame."""
    try:
        import av
    except ImportError:
        raise ImportError("converter='ffmpeg' needs PyAV: pip install 'scipix[video]'"
                          ) from None
    rows, cols = planes.y.shape
    interleaved = planes.step == 2
    frame = av.VideoFrame(cols, rows, "nv12" if interleaved else "yuv420p")
    pieces = (planes.y, planes.u) if interleaved else (planes.y, planes.u, planes.v)
    for plane, values in zip(frame.planes, pieces):
        stored = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        stored[:values.shape[0], :values.shape[1]] = values
    converted = frame.reformat(format="rgb24", src_colorspace=_FFMPEG_MATRICES[matrix],
                               src_color_range="JPEG" if full_range else "MPEG")
    return np.asarray(converted.to_ndarray(), np.uint8)


def yuv_to_rgb(y: Any, u: Any, v: Any = None, *, layout: str = "i420",
               matrix: str = "bt601", full_range: bool = False, order: str = "rgb",
               converter: str = "scipix",
               out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """Convert one YUV 4:2:0 frame to packed RGB pixels.

    Each chroma sample covers a 2x2 block of luma (replicated, as OpenCV's
    ``cvtColor`` and libyuv do).  The default arithmetic is libyuv's kind
    of 16-bit fixed point (coefficients with 13 fractional bits): within
    one level of ``cv2.cvtColor(..., COLOR_YUV2RGB_I420)``'s (or
    ``COLOR_YUV2RGB_NV12``'s) pixels for every (Y, U, V), and about 1.5x
    its speed.  ``converter="opencv"`` gives cvtColor's pixels exactly (its
    32-bit arithmetic, 20 fractional bits rounded once), at its speed.
    FFmpeg's swscale (PyAV's ``frame.to_ndarray(format="rgb24")``) differs
    by a few levels: see the video guide.

    Parameters
    ----------
    y : uint8 array, shape (H, W)
        Luma; rows may be strided (as decoders hand planes out), bytes
        within a row contiguous.  H and W may be odd.
    u : uint8 array
        I420: the U plane, shape (ceil(H / 2), ceil(W / 2)) or larger (cut).
        NV12: the interleaved UV plane, shape (ceil(H / 2), 2 ceil(W / 2))
        or (ceil(H / 2), ceil(W / 2), 2).
    v : uint8 array or None
        I420: the V plane, as ``u``.  NV12: None.
    layout : {"i420", "nv12"}
    matrix : {"bt601", "bt709"}
    full_range : bool
        Luma and chroma in [0, 255] (JPEG / ``yuvj420p``) instead of
        [16, 235] and [16, 240].
    order : {"rgb", "bgr"}
        Channel order of the output.
    converter : {"scipix", "opencv", "ffmpeg"}
        ``"scipix"``: the fast 16-bit arithmetic.  ``"opencv"``:
        cvtColor's arithmetic, its pixels exactly for BT.601 limited range
        (its formula with the other matrices' coefficients otherwise).
        ``"ffmpeg"``: FFmpeg's swscale through PyAV (the ``video`` extra),
        for the pixels of a pipeline that used
        ``frame.to_ndarray(format="rgb24")`` (at swscale's speed, through
        a copy of the planes).  Every converter but ``"ffmpeg"`` gives the
        same bytes on every instruction set and thread count.
    out : uint8 ndarray, shape (H, W, 3), optional
        Packed pixels (rows may be strided); written and returned.

    Returns
    -------
    out : uint8 ndarray, shape (H, W, 3)

    Raises
    ------
    TypeError, ValueError
        Naming the argument: a plane that is not uint8 and 2-D, rows not
        contiguous, chroma planes smaller than the luma plane needs, ``v``
        given for NV12 (or missing for I420), an unknown ``layout``,
        ``matrix`` or ``order``, a bad ``out``.

    Notes
    -----
    Rows are split into bands over ``get_thread_count()`` OpenMP threads,
    with the GIL released; every thread count gives the same bytes.
    """
    planes = yuv_planes(y, u, v, layout)
    coefficients = yuv_matrix(matrix, full_range)
    if not isinstance(order, str) or order not in _ORDERS:
        raise ValueError(f"order must be 'rgb' or 'bgr', got {order!r}")
    converter = _converter(converter)
    shape = planes.y.shape + (3,)
    if out is None:
        out = np.empty(shape, np.uint8)
    else:
        output_array(out, shape, np.uint8)
        if out.strides[1:] != (3, 1):
            raise ValueError(f"out must hold packed pixels (strides (any, 3, 1)), "
                             f"got strides {out.strides}")
        planes = Planes(unaliased(planes.y, out), unaliased(planes.u, out),
                        unaliased(planes.v, out), planes.step)
    if converter == "ffmpeg":
        rgb = _ffmpeg_rgb(planes, matrix, bool(full_range))
        out[...] = rgb[:, :, ::-1] if order == "bgr" else rgb
        return out
    current_kernels().yuv.yuv_to_rgb(planes.y, planes.u, planes.v, planes.step, coefficients,
                                     converter == "opencv", out, order == "bgr",
                                     kernel_threads())
    return out


# Checked options of recent calls: a stream calls preprocess_yuv with the
# same options for every batch, and checking them costs as much as a small
# frame's conversion.
_CHECKED: dict[Any, BatchOptions] = {}
_CHECKED_MAX = 32


def _key(value: Any) -> Any:
    """``value`` as a dict key that tells apart what the checks tell apart
    (``1``, ``1.0`` and ``True`` included), or None when it has none."""
    if value is None or type(value) in (str, int, float, bool):
        return (type(value), value)
    if type(value) is tuple:
        inner = tuple(_key(item) for item in value)
        return None if any(item is None for item in inner) else (tuple, inner)
    if isinstance(value, type):
        return (type, value)
    return None


def _checked_options(shape: Any, **options: Any) -> BatchOptions:
    """batch_options for preprocess_yuv, remembered for hashable options."""
    key = _key((shape, *sorted(options.items())))
    checked = _CHECKED.get(key) if key is not None else None
    if checked is None:
        checked = batch_options(shape, **options)
        if key is not None:
            if len(_CHECKED) >= _CHECKED_MAX:
                _CHECKED.clear()
            _CHECKED[key] = checked
    return checked


def _frames(frames: Iterable[Any], layout: str) -> list[Planes]:
    if isinstance(frames, (tuple, np.ndarray)) and len(frames) == 3 and not isinstance(
            frames[0], tuple):
        raise ValueError("frames is one (y, u, v) tuple, not a list of frames: wrap one frame "
                         "as [(y, u, v)]")
    try:
        frames = list(frames)
    except TypeError:
        raise TypeError(f"frames must be a sequence of (y, u, v) tuples or av.VideoFrames, "
                        f"got {type(frames).__name__}") from None
    if not frames:
        raise ValueError("frames is empty")
    planes = []
    for i, frame in enumerate(frames):
        name = f"frames[{i}]"
        if hasattr(frame, "planes") and hasattr(frame, "format"):
            planes.append(frame_planes(frame, name)[0])
            continue
        try:
            y, u, v = frame
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a (y, u, v) tuple (v None for NV12) or an "
                            f"av.VideoFrame, got {type(frame).__name__}") from None
        planes.append(yuv_planes(y, u, v, layout, name))
    return planes


def preprocess_yuv(frames: Iterable[Any], shape: tuple[int, int], *,
                   yuv_layout: str = "i420", matrix: str = "bt601", full_range: bool = False,
                   converter: str = "scipix", color: str = "rgb", mean: Any = None,
                   std: Any = None, scale: Any = None,
                   normalize: str | None = None, resize: str = "stretch",
                   anchor: str = "center", pad_value: Any = 0, interpolation: str = "auto",
                   layout: str = "nchw", dtype: DTypeLike = np.float32,
                   out: NDArray[Any] | None = None, return_transforms: bool = False,
                   edge: Any = None) -> NDArray[Any] | BatchResult:
    """Decoded YUV frames into one model input tensor, without full-size RGB.

    The tensor is what :func:`~scipix.optimize.parallel.preprocess_batch`
    gives for the frames converted by :func:`yuv_to_rgb` (with the same
    ``converter``), bit for bit, for
    every option it shares (``shape``, ``color``, ``mean``, ``std``,
    ``scale``, ``normalize``, ``resize``, ``anchor``, ``pad_value``,
    ``interpolation``, ``layout``, ``dtype``, ``out``,
    ``return_transforms``, ``edge``; OpenCV's resize arithmetic): the
    resize reads RGB rows that are made from the planes as it needs them,
    two at a time per thread, so the frame is never stored in RGB at full
    size, only the resized part that lands in the output.

    Parameters
    ----------
    frames : sequence of N (y, u, v) tuples or ``av.VideoFrame`` objects
        Planes as :func:`yuv_to_rgb` takes them (``yuv_layout`` says which);
        a VideoFrame in yuv420p, yuvj420p or nv12 is read in place.  Sizes
        may differ.
    shape : (height, width)
    yuv_layout : {"i420", "nv12"}
        Of the tuples.
    matrix : {"bt601", "bt709"}
    full_range : bool
        As :func:`yuv_to_rgb`; apply to every frame.
    converter : {"scipix", "opencv", "ffmpeg"}
        As :func:`yuv_to_rgb`: the fast arithmetic (the default) or
        cvtColor's, fused with the resize either way.
        ``"ffmpeg"``: each frame converted at full size by FFmpeg's swscale
        (as :func:`yuv_to_rgb` with it), then resized and normalized as
        preprocess_batch does: the tensor a pipeline of
        ``to_ndarray(format="rgb24")`` and preprocess_batch (or OpenCV's
        resize) gives, at that pipeline's speed.
    color : {"rgb", "bgr", "gray"}
        Output channels (gray: BT.601 luma of the RGB pixels, as
        preprocess_batch computes it).
    mean, std, scale, normalize, resize, anchor, pad_value, edge
        As :func:`~scipix.optimize.parallel.preprocess_batch`.
    interpolation, layout, dtype, out, return_transforms
        As :func:`~scipix.optimize.parallel.preprocess_batch`;
        ``interpolation`` is ``"auto"`` or ``"bilinear"``.

    Returns
    -------
    out : ndarray, shape (N, C, height, width) or (N, height, width, C)
        Or a :class:`~scipix.optimize.parallel.BatchResult` with
        ``return_transforms=True``.

    Raises
    ------
    TypeError, ValueError
        Naming the argument (``frames[i].u``, ``mean``, ...).
    """
    options = _checked_options(shape, color=color, mean=mean, std=std, scale=scale,
                               normalize=normalize, resize=resize, anchor=anchor,
                               pad_value=pad_value, interpolation=interpolation,
                               layout=layout, dtype=dtype, reference="opencv", edge=edge)
    coefficients = yuv_matrix(matrix, full_range)
    converter = _converter(converter)
    planes = _frames(frames, yuv_layout)
    sizes = [p.y.shape for p in planes]
    placement = placements(sizes, options)
    out = output_tensor(out, len(planes), options)
    bilinear = options.interpolation == "bilinear"
    if converter == "ffmpeg":
        rgb = [_ffmpeg_rgb(p, matrix, bool(full_range)) for p in planes]
        fill_tensor(rgb, out, placement, options, False, bilinear)
        return BatchResult(out, transforms(placement, sizes)) if return_transforms else out
    kernels = current_kernels().yuv
    n_threads = kernel_threads()
    windows = []
    window_placement = np.empty_like(placement)
    for i, (p, (rows, cols, top, left)) in enumerate(zip(planes, placement)):
        # The part of the resized frame that lands in the output.
        y0, x0 = max(0, top), max(0, left)
        y1, x1 = min(options.height, top + rows), min(options.width, left + cols)
        window = np.empty((y1 - y0, x1 - x0, options.channels), np.uint8)
        kernels.resize_window(p.y, p.u, p.v, p.step, coefficients, converter == "opencv",
                              window, int(rows), int(cols), int(y0 - top), int(x0 - left),
                              bilinear, n_threads)
        windows.append(window)
        window_placement[i] = (y1 - y0, x1 - x0, y0, x0)
    fill_tensor(windows, out, window_placement, options, False, False)
    if not return_transforms:
        return out
    return BatchResult(out, transforms(placement, sizes))
