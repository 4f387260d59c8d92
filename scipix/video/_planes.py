"""YUV 4:2:0 frames as checked plane views, and the colour matrices."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ..optimize._validate import uint8_array

__all__ = ["Planes", "frame_planes", "yuv_planes", "yuv_matrix", "LAYOUTS", "MATRICES"]

LAYOUTS = ("i420", "nv12")
MATRICES = ("bt601", "bt709")
# (Kr, Kb) of each matrix: R = Y' + 2 (1 - Kr) V', B = Y' + 2 (1 - Kb) U'.
_LUMA_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
# cvtColor's BT.601 limited-range coefficients (1.164 Y', 1.596 V, 0.391 U,
# 0.813 V, 2.018 U): with them the conversion gives cvtColor's pixels.
_OPENCV_BT601 = (1.164, 1.596, -0.391, -0.813, 2.018)
_ONE = 1 << 20  # scipix_yuv.h's fixed point unit


class Planes(NamedTuple):
    """One frame's planes, ready for the kernels: chroma sample ``j`` of a
    chroma row at byte ``j * step`` of ``u`` and ``v``."""

    y: NDArray[np.uint8]
    u: NDArray[np.uint8]
    v: NDArray[np.uint8]
    step: int


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r}")
    return value


def yuv_matrix(matrix: Any, full_range: Any) -> NDArray[np.int32]:
    """The kernels' int32 (y_scale, y_offset, v_red, u_green, v_green,
    u_blue) for ``matrix`` in limited (16-235 luma, 16-240 chroma) or full range."""
    matrix = _choice(matrix, "matrix", MATRICES)
    if not isinstance(full_range, (bool, np.bool_)):
        raise TypeError(f"full_range must be a bool, got {full_range!r}")
    if matrix == "bt601" and not full_range:
        luma, v_red, u_green, v_green, u_blue = _OPENCV_BT601
    else:
        kr, kb = _LUMA_WEIGHTS[matrix]
        kg = 1.0 - kr - kb
        luma, chroma = (1.0, 1.0) if full_range else (255 / 219, 255 / 224)
        v_red = 2 * (1 - kr) * chroma
        u_blue = 2 * (1 - kb) * chroma
        u_green = -2 * kb * (1 - kb) / kg * chroma
        v_green = -2 * kr * (1 - kr) / kg * chroma
    scaled = [round(c * _ONE) for c in (luma, v_red, u_green, v_green, u_blue)]
    return np.array([scaled[0], 0 if full_range else 16, *scaled[1:]], np.int32)


def _plane(obj: Any, name: str) -> NDArray[np.uint8]:
    plane = uint8_array(obj, name)
    if plane.ndim != 2:
        raise ValueError(f"{name} must be a 2-D plane, got shape {plane.shape}")
    if plane.strides[1] != 1:
        raise ValueError(f"{name} must have contiguous rows (strides {plane.strides}); "
                         f"rows may be strided")
    return plane


def yuv_planes(y: Any, u: Any, v: Any, layout: Any, name: str = "") -> Planes:
    """``y``, ``u``, ``v`` checked against each other for ``layout``.

    I420: ``u`` and ``v`` are (ceil(H / 2), ceil(W / 2)) planes (larger
    ones, as decoders pad them, are cut); NV12: ``u`` is the interleaved
    (ceil(H / 2), 2 ceil(W / 2)) UV plane (or (ceil(H / 2), ceil(W / 2), 2))
    and ``v`` is None.  ``name`` prefixes the argument names in errors
    (``frames[3]``)."""
    layout = _choice(layout, "layout", LAYOUTS)
    prefix = f"{name}." if name else ""
    luma = _plane(y, f"{prefix}y")
    rows, cols = luma.shape
    chroma_rows, chroma_cols = (rows + 1) // 2, (cols + 1) // 2
    if layout == "nv12":
        if v is not None:
            raise ValueError(f"{prefix}v must be None for layout 'nv12' (u is the interleaved "
                             f"UV plane)")
        uv = uint8_array(u, f"{prefix}u")
        if uv.ndim == 3 and uv.shape[2] == 2 and uv.strides[1:] == (2, 1):
            # (rows, samples, 2) pairs: the same bytes as (rows, 2 samples).
            uv = np.lib.stride_tricks.as_strided(uv, (uv.shape[0], 2 * uv.shape[1]),
                                                 (uv.strides[0], 1), writeable=False)
        uv = _plane(uv, f"{prefix}u")
        if uv.shape[0] < chroma_rows or uv.shape[1] < 2 * chroma_cols:
            raise ValueError(f"{prefix}u must be the ({chroma_rows}, {2 * chroma_cols}) "
                             f"interleaved UV plane of a ({rows}, {cols}) frame, got shape "
                             f"{uv.shape}")
        uv = uv[:chroma_rows, :2 * chroma_cols]
        return Planes(luma, uv, uv[:, 1:], 2)
    if v is None:
        raise ValueError(f"{prefix}v is None: layout 'i420' needs the u and v planes "
                         f"(layout='nv12' takes one interleaved UV plane)")
    planes = []
    for plane_name, plane in ((f"{prefix}u", u), (f"{prefix}v", v)):
        chroma = _plane(plane, plane_name)
        if chroma.shape[0] < chroma_rows or chroma.shape[1] < chroma_cols:
            raise ValueError(f"{plane_name} must be a ({chroma_rows}, {chroma_cols}) plane for "
                             f"a ({rows}, {cols}) luma plane, got shape {chroma.shape}")
        planes.append(chroma[:chroma_rows, :chroma_cols])
    return Planes(luma, planes[0], planes[1], 1)


def _av_plane(plane: Any, rows: int, cols: int) -> NDArray[np.uint8]:
    """A decoded frame's plane as a (rows, cols) view of its buffer (no copy)."""
    flat = np.frombuffer(plane, np.uint8)
    stride = plane.line_size
    return np.lib.stride_tricks.as_strided(flat, (rows, cols), (stride, 1), writeable=False)


def frame_planes(frame: Any, name: str) -> tuple[Planes, str]:
    """The planes of an ``av.VideoFrame`` in yuv420p / yuvj420p or nv12, viewed
    in place, and its layout."""
    fmt = frame.format.name
    rows, cols = frame.height, frame.width
    chroma_rows, chroma_cols = (rows + 1) // 2, (cols + 1) // 2
    if fmt in ("yuv420p", "yuvj420p"):
        planes = frame.planes
        return (yuv_planes(_av_plane(planes[0], rows, cols),
                           _av_plane(planes[1], chroma_rows, chroma_cols),
                           _av_plane(planes[2], chroma_rows, chroma_cols), "i420", name),
                "i420")
    if fmt == "nv12":
        planes = frame.planes
        return (yuv_planes(_av_plane(planes[0], rows, cols),
                           _av_plane(planes[1], chroma_rows, 2 * chroma_cols), None, "nv12",
                           name), "nv12")
    raise ValueError(f"{name} is a {fmt} frame; scipix.video converts yuv420p, yuvj420p and "
                     f"nv12 (reformat it with frame.reformat(format='yuv420p'))")
