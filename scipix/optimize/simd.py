"""SIMD image kernels: grayscale, threshold, normalization, resize and resampling.

Each function validates its arguments here and runs the compiled kernel of
the variant chosen for this CPU (``scipix.optimize.active_variant()``), or
the scalar reference at ``OptLevel.NONE``.  The kernels release the GIL and
run on ``get_thread_count()`` OpenMP threads at ``OptLevel.PARALLEL`` and
above; small images stay on one thread.

Arrays may be row-strided views (a crop of a larger image) as long as the
pixels within a row are packed; such views are used without a copy.  Any
other layout raises ``ValueError`` (``numpy.ascontiguousarray`` fixes it).
Like NumPy ufuncs, every function takes an optional ``out=`` array; when
``out`` overlaps the input, the input is copied first.

A plain call (ndarrays with packed rows, ``out`` absent or not overlapping
the input) is checked in C by the kernel's ``*_plain`` entry point and run
there; anything else, errors included, takes the general path written out
here.
"""
from __future__ import annotations

from typing import SupportsIndex

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._dispatch import current_kernels
from ._resampling import resample
from ._validate import (integer, output_array, pillow_order, positive_int, real_number,
                        uint8_array, unaliased)
from .config import kernel_threads

__all__ = ["simd_grayscale", "simd_threshold", "simd_normalize",
           "simd_resize_bilinear", "fast_area_resize", "resample", "argmax_last"]


# The resizes index a row's values with int32 (and refuse longer source rows).
_MAX_ROW_VALUES = 2**31 - 1


def _as_gray_2d(image: NDArray[np.uint8], name: str) -> NDArray[np.uint8]:
    """A (rows, cols) view of a 2-D image or a 1-D row, rows packed."""
    if image.ndim == 1:
        image = image[np.newaxis, :]
    elif image.ndim != 2:
        raise ValueError(f"{name} must be 2-D (height, width) or 1-D, got shape {image.shape}")
    if image.strides[1] != 1:
        raise ValueError(f"{name} must have contiguous rows (column stride 1), "
                         f"got strides {image.strides}")
    return image


def _output(out: NDArray[np.uint8], shape: tuple[int, ...],
            name: str = "out") -> NDArray[np.uint8]:
    """Validate a uint8 output of ``shape`` with contiguous rows."""
    output_array(out, shape, np.uint8, name)
    if out.ndim and out.strides[-1] != 1:
        raise ValueError(f"{name} must have contiguous rows, got strides {out.strides}")
    return out


def _order(order: str, image: object, name: str) -> bool:
    """True for BGR storage; a ValueError for an unknown order, or for "bgr"
    given with a Pillow image (stored RGB)."""
    if order not in ("rgb", "bgr"):
        raise ValueError(f"order must be 'rgb' or 'bgr', got {order!r}")
    stored = pillow_order(image, name)
    if stored is not None and stored != order:
        raise ValueError(f"{name} is a Pillow image, stored {stored.upper()}, "
                         f"but order is {order!r}")
    return order == "bgr"


def simd_grayscale(rgba: ArrayLike, out: NDArray[np.uint8] | None = None, *,
                   order: str = "rgb") -> NDArray[np.uint8]:
    """Convert RGB(A) or BGR(A) pixels to 8-bit gray, ``(77 R + 150 G + 29 B) >> 8``.

    BT.601 luma in the fixed point of the spec's scalar code; alpha is ignored.

    Parameters
    ----------
    rgba : uint8 array, shape (H, W, 4), (H, W, 3) or flat (4 * N,)
        Pixels packed within each row; rows may be strided.
    out : uint8 array, shape (H, W) (or (N,) for flat input), optional
    order : {"rgb", "bgr"}
        How the channels are stored: ``cv2.imread`` gives ``"bgr"`` (then
        the result equals ``cv2.cvtColor(..., COLOR_BGR2GRAY)`` within 1),
        Pillow ``"rgb"``.

    Returns
    -------
    out : uint8 array, shape (H, W) or (N,)
    """
    if order in ("rgb", "bgr"):  # the plain path takes ndarrays only, never Pillow images
        plain = current_kernels().image.grayscale_plain(rgba, out, order == "bgr",
                                                        kernel_threads())
        if plain is not None:
            return plain
    bgr = _order(order, rgba, "rgba")
    src = uint8_array(rgba, "rgba")
    if src.ndim == 1:
        if src.shape[0] % 4:
            raise ValueError(f"flat rgba length must be a multiple of 4, got {src.shape[0]}")
        if src.strides[0] != 1:
            raise ValueError("flat rgba must be contiguous")
        shape = (src.shape[0] // 4,)
        pixels = src.reshape(1, -1, 4)
    elif src.ndim == 3 and src.shape[2] in (3, 4):
        shape = src.shape[:2]
        pixels = src
        if src.strides[2] != 1 or src.strides[1] != src.shape[2]:
            raise ValueError(f"rgba must have packed pixels (strides (any, {src.shape[2]}, 1)), "
                             f"got strides {src.strides}")
    else:
        raise ValueError(f"rgba must have shape (H, W, 4), (H, W, 3) or (4 * N,), "
                         f"got {src.shape}")
    if out is None:
        out = np.empty(shape, dtype=np.uint8)
    else:
        pixels = unaliased(pixels, _output(out, shape))
    current_kernels().image.grayscale(
        pixels, out if out.ndim == 2 else out.reshape(pixels.shape[:2]), bgr, kernel_threads())
    return out


def simd_threshold(gray: ArrayLike, thresh: SupportsIndex | float,
                   out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """Binary threshold: 255 where ``gray > thresh`` (strict), else 0.

    On float32 input (a detector's probability map) the comparison is in
    float32 (``thresh`` rounded to float32 first) and NaN gives 0: the
    semantics of ``cv2.threshold(map, thresh, 255, THRESH_BINARY)``, with
    a uint8 bitmap as the result instead of float32.

    Parameters
    ----------
    gray : uint8 or float32 (native byte order) array or buffer, shape (H, W) or (N,)
        Rows contiguous, may be strided.
    thresh : int in [0, 255] for uint8; a real number, not NaN, for float32
    out : uint8 array, same shape as ``gray``, optional
        May be ``gray`` itself (in place) for uint8 input.

    Returns
    -------
    out : uint8 array
    """
    if isinstance(gray, np.ndarray) and gray.dtype == np.float32:
        return _threshold_scores(gray, thresh, out)
    plain = current_kernels().image.threshold_plain(gray, thresh, out, kernel_threads())
    if plain is not None:
        return plain
    scores = _float32_buffer(gray)
    if scores is not None:
        return _threshold_scores(scores, thresh, out)
    src = uint8_array(gray, "gray")
    thresh = integer(thresh, "thresh", 0, 255)
    rows = _as_gray_2d(src, "gray")
    if out is None:
        out = np.empty(src.shape, dtype=np.uint8)
    else:
        rows = _as_gray_2d(unaliased(src, _output(out, src.shape)), "gray")
    current_kernels().image.threshold(
        rows, out if out.ndim == 2 else out.reshape(rows.shape), thresh, kernel_threads())
    return out


def _float32_buffer(gray: object) -> NDArray[np.float32] | None:
    """``gray`` as a native float32 ndarray when it is one or a buffer of
    such values; None when it holds uint8 or is neither an ndarray nor a
    buffer (uint8_array then checks it); a TypeError naming the supported
    dtypes for any other dtype."""
    if isinstance(gray, np.ndarray):
        array = gray
    elif hasattr(gray, "__array_interface__"):  # Pillow images, ImageView: uint8_array checks
        return None
    else:
        try:
            array = np.asarray(memoryview(gray))  # type: ignore[arg-type]
        except TypeError:
            return None
    if array.dtype == np.uint8:
        return None
    if array.dtype == np.float32:  # native byte order only: "=f4" != ">f4"
        return array
    raise TypeError(f"gray must have dtype uint8 or float32 (native byte order), "
                    f"got {array.dtype.str if array.dtype.byteorder == '>' else array.dtype}")


def _threshold_scores(scores: NDArray[np.float32], thresh: SupportsIndex | float,
                      out: NDArray[np.uint8] | None) -> NDArray[np.uint8]:
    thresh = real_number(thresh, "thresh")
    if np.isnan(thresh):
        raise ValueError("thresh must not be NaN")
    if scores.ndim == 1:
        rows = scores[np.newaxis, :]
    elif scores.ndim == 2:
        rows = scores
    else:
        raise ValueError(f"gray must be 2-D (height, width) or 1-D, got shape {scores.shape}")
    if rows.strides[1] != 4:
        raise ValueError(f"gray must have contiguous rows, got strides {scores.strides}")
    if out is None:
        out = np.empty(scores.shape, dtype=np.uint8)
    else:
        _output(out, scores.shape)
        if np.may_share_memory(rows, out):
            rows = rows.copy()
    with np.errstate(over="ignore"):
        level = np.float32(thresh)
    current_kernels().image.threshold_f32(rows, out if out.ndim == 2 else out[np.newaxis, :],
                                          float(level), kernel_threads())
    return out


def argmax_last(scores: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Index and value of the largest score along the last axis, in one pass.

    What CTC decoding needs from a recognizer's (B, T, classes) output:
    ``scores.argmax(-1)`` and ``scores.max(-1)`` together, reading the
    scores once.  Ties give the first index, and a NaN counts as the
    largest (the first NaN wins), as :func:`numpy.argmax`.

    Parameters
    ----------
    scores : float32 array, shape (..., n), n >= 1
        Rows with a contiguous last axis are read in place; other layouts
        are copied first.

    Returns
    -------
    index : int64 array, shape (...)
    value : float32 array, shape (...)
        ``value == take_along_axis(scores, index[..., None], -1)[..., 0]``.
    """
    array = np.asarray(scores)
    if array.dtype != np.float32:
        raise TypeError(f"scores must have dtype float32, got {array.dtype}")
    if array.ndim == 0 or array.shape[-1] == 0:
        raise ValueError(f"scores must have a non-empty last axis, got shape {array.shape}")
    rows = array.reshape(-1, array.shape[-1])
    if rows.strides[1] != 4:
        rows = np.ascontiguousarray(rows)
    index = np.empty(rows.shape[0], np.int64)
    value = np.empty(rows.shape[0], np.float32)
    if rows.shape[0]:
        current_kernels().image.argmax_rows(rows, index, value, kernel_threads())
    return index.reshape(array.shape[:-1]), value.reshape(array.shape[:-1])


def simd_normalize(data: NDArray[np.float32]) -> None:
    """Normalize in place to zero mean and unit variance.

    ``data = (data - mean) / (std + 1e-8)`` with the population ``std``.  The
    statistics are accumulated in float32 blocks merged in float64 (accurate
    to about 1e-7 relative at 16M elements); the division is a multiplication
    by the float32 reciprocal.

    Parameters
    ----------
    data : float32 ndarray, any shape, C- or Fortran-contiguous, writable

    Raises
    ------
    ValueError
        ``data`` is empty, non-contiguous, read-only, or holds NaN or
        infinity (it is then left unchanged).
    """
    if not isinstance(data, np.ndarray):
        raise TypeError(f"data must be a float32 numpy.ndarray (normalized in place), "
                        f"got {type(data).__name__}")
    if data.dtype != np.float32:
        raise TypeError(f"data must have dtype float32, got {data.dtype}")
    if data.size == 0:
        raise ValueError("data is empty")
    if not data.flags.writeable:
        raise ValueError("data is read-only")
    if not (data.flags.c_contiguous or data.flags.f_contiguous):
        raise ValueError(f"data must be contiguous, got strides {data.strides}")
    flat = data.reshape(-1, order="F" if not data.flags.c_contiguous else "C")
    current_kernels().image.normalize(flat, kernel_threads())


def simd_resize_bilinear(src: ArrayLike, width: int, height: int,
                         out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """Bilinear resize of an 8-bit image, as OpenCV's ``INTER_LINEAR``.

    Pixel-centre convention (source ``x = (dx + 0.5) * src_w / width - 0.5``)
    with OpenCV's 11-bit fixed-point weights; results are within 1 of
    ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``.  Packed colour
    pixels are resized channel by channel in one pass, keeping their order
    (RGB, BGR or with alpha alike), each channel exactly as a gray image.

    Parameters
    ----------
    src : uint8 array, shape (H, W) or (H, W, C) with C in 3, 4
        Rows contiguous (pixels packed), may be strided.
    width, height : int >= 1
        Output size.
    out : uint8 array, shape (height, width) or (height, width, C), optional

    Returns
    -------
    out : uint8 array, shape (height, width) or (height, width, C)

    Raises
    ------
    ValueError
        Also for sizes the int32 tap indices cannot reach: a source or
        output row of more than ``2**31 - 1`` values, or a source of more
        than ``2**31 - 1`` rows.
    """
    plain = current_kernels().image.resize_bilinear_plain(src, width, height, out,
                                                          kernel_threads())
    if plain is not None:
        return plain
    image = _as_image(src)
    width, height = positive_int(width, "width"), positive_int(height, "height")
    image, out = _resize_output(image, out, width, height)
    if image.ndim == 3:
        current_kernels().image.resize_packed(image, out, True, kernel_threads())
    else:
        current_kernels().image.resize_bilinear(image, out, kernel_threads())
    return out


def fast_area_resize(src: ArrayLike, width: int, height: int,
                     out: NDArray[np.uint8] | None = None) -> NDArray[np.uint8]:
    """Area (pixel coverage) downscale of an 8-bit image, as ``INTER_AREA``.

    Within 1 of ``cv2.resize(..., interpolation=cv2.INTER_AREA)``.  With
    whole-number factors ``W / width`` and ``H / height`` the two differ
    only where a pixel's area mean is exactly n + 0.5: scipix rounds it
    half to even (half up for 2x2 blocks, as OpenCV), OpenCV's float32
    ``sum * (1 / area)`` lands on either side of it.  It only shrinks: use
    :func:`simd_resize_bilinear` to grow.
    Packed colour pixels are resized channel by channel in one pass,
    keeping their order, each channel exactly as a gray image.

    Parameters
    ----------
    src : uint8 array, shape (H, W) or (H, W, C) with C in 3, 4
        Rows contiguous (pixels packed), may be strided.
    width : int in [1, W]
    height : int in [1, H]
    out : uint8 array, shape (height, width) or (height, width, C), optional

    Returns
    -------
    out : uint8 array, shape (height, width) or (height, width, C)

    Raises
    ------
    ValueError
        Also for sizes the int32 tap indices cannot reach: a source or
        output row of more than ``2**31 - 1`` values, or a source of more
        than ``2**31 - 1`` rows.
    """
    plain = current_kernels().image.resize_area_plain(src, width, height, out, kernel_threads())
    if plain is not None:
        return plain
    image = _as_image(src)
    width, height = positive_int(width, "width"), positive_int(height, "height")
    if width > image.shape[1] or height > image.shape[0]:
        raise ValueError(f"fast_area_resize only shrinks: ({height}, {width}) exceeds "
                         f"src shape {image.shape}; use simd_resize_bilinear to grow")
    image, out = _resize_output(image, out, width, height)
    if image.ndim == 3:
        current_kernels().image.resize_packed(image, out, False, kernel_threads())
    elif image.shape[0] % height == 0 and image.shape[1] % width == 0:
        current_kernels().image.resize_area_integer(image, out, kernel_threads())
    else:
        current_kernels().image.resize_area(image, out, kernel_threads())
    return out


def _resize_output(image: NDArray[np.uint8], out: NDArray[np.uint8] | None, width: int,
                   height: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """(image, out): ``out`` validated or allocated, ``image`` unaliased from it."""
    shape = (height, width) + image.shape[2:]
    values = width * (image.shape[2] if image.ndim == 3 else 1)
    if values > _MAX_ROW_VALUES:
        raise ValueError(f"width {width} gives output rows of {values} values; the kernels' "
                         f"int32 indices reach at most {_MAX_ROW_VALUES}")
    if out is None:
        return image, np.empty(shape, dtype=np.uint8)
    return unaliased(image, _output(out, shape)), out


def _as_image(src: ArrayLike) -> NDArray[np.uint8]:
    """A gray (H, W) image, or packed (H, W, 3 or 4) pixels."""
    image = uint8_array(src, "src")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.strides[2] != 1 or image.strides[1] != image.shape[2]:
            raise ValueError(f"src must have packed pixels (strides (any, {image.shape[2]}, 1)), "
                             f"got strides {image.strides}")
        return image
    if image.ndim != 2:
        raise ValueError(f"src must be a gray image (H, W) or packed pixels (H, W, 3 or 4), "
                         f"got shape {image.shape}")
    return _as_gray_2d(image, "src")
