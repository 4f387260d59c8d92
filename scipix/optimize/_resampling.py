"""Antialiased resampling with Pillow's (or torch's) exact arithmetic.

The public function is :func:`scipix.optimize.simd.resample`; this module
holds its argument rules and builds each pass's taps, which the compiled
``_resample`` family applies.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._dispatch import current_kernels
from ._opencv_taps import lanczos4_taps
from ._validate import (output_array, packed_pixels, positive_int, real_number, uint8_array,
                        unaliased)
from .config import kernel_threads

__all__ = ["FILTERS", "resample", "resample_window", "filter_name"]

# Filter names with the kernels' numbering (scipix_resample.h); nearest
# has a kernel of its own.
FILTERS = {"nearest": 0, "box": 1, "bilinear": 2, "hamming": 3, "bicubic": 4, "lanczos": 5,
           "mks2013": 6, "mks2021": 7}
# Pillow's Image.Resampling values, which Hugging Face configurations store.
_PILLOW_NUMBERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box",
                   5: "hamming", 6: "mks2013", 7: "mks2021"}
REFERENCES = ("pillow", "torch", "opencv")
# How the channels of a 1-4 channel image are resampled, by Pillow mode:
# the alpha modes are resampled premultiplied, as Pillow does.
_MODES = {1: ("L",), 2: ("LA", "La"), 3: ("RGB",), 4: ("RGBA", "RGBa", "RGBX")}
_ALPHA_MODES = ("LA", "RGBA")
# Pillow's coefficient tables and bounds are C ints.
_MAX_SIDE = 2**31 - 1
# Fractional bits of Pillow's weights (32 less 8 for the value, 2 for overflow).
_PILLOW_BITS = 22


def _pillow_horizontal_first(rows: int, cols: int, height: int, width: int) -> bool:
    """Pillow 13's pass order: the vertical pass first when the height loses
    more than twice as many pixels as the width."""
    shrink = rows - height
    return not (shrink > 0 and shrink > (cols - width) * 2)


def filter_name(value: Any, name: str = "filter") -> str:
    """A filter given by name or as Pillow's ``Image.Resampling`` number."""
    if isinstance(value, str):
        if value.lower() not in FILTERS:
            raise ValueError(f"{name} must be one of {sorted(FILTERS)}, got {value!r}")
        return value.lower()
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if int(value) not in _PILLOW_NUMBERS:
            raise ValueError(f"{name} {int(value)} is not a Pillow resampling filter "
                             f"(0 to 7)")
        return _PILLOW_NUMBERS[int(value)]
    raise TypeError(f"{name} must be a filter name or a PIL.Image.Resampling value, "
                    f"got {type(value).__name__}")


def _source(image: ArrayLike, mode: Optional[str]) -> tuple[NDArray[np.uint8], str]:
    """The image as (H, W, C) packed pixels and the Pillow mode it is resampled in."""
    pillow_mode = getattr(image, "mode", None) if type(image).__module__.startswith(
        "PIL.") else None
    if pillow_mode is not None:
        if pillow_mode not in sum(_MODES.values(), ()):
            raise ValueError(f"image is a Pillow image in mode {pillow_mode!r}; resample "
                             f"takes L, LA, La, RGB, RGBA, RGBa and RGBX (convert it first)")
        array = np.asarray(image)
    else:
        array = uint8_array(image, "image")
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise ValueError(f"image must have shape (H, W) or (H, W, C) with C in 1..4, "
                         f"got {array.shape}")
    channels = packed_pixels(array, "image").shape[2]
    if max(array.shape[:2]) > _MAX_SIDE:
        raise ValueError(f"image sides must be at most {_MAX_SIDE}, got {array.shape[:2]}")
    if mode is None:
        mode = pillow_mode or _MODES[channels][0]
    elif mode not in _MODES[channels]:
        raise ValueError(f"mode {mode!r} does not fit {channels} channels; expected one of "
                         f"{_MODES[channels]}")
    elif pillow_mode is not None and mode != pillow_mode:
        raise ValueError(f"image is a Pillow image in mode {pillow_mode!r}, but mode is "
                         f"{mode!r}")
    return array, mode


def _box(box: Optional[Sequence[Any]], cols: int, rows: int) -> tuple[float, ...]:
    """``box`` as Pillow reads it (four float32 values), checked inside the image."""
    if box is None:
        return (0.0, 0.0, float(cols), float(rows))
    if isinstance(box, (str, bytes)) or not hasattr(box, "__len__") or len(box) != 4:
        raise ValueError(f"box must be 4 numbers (left, upper, right, lower), got {box!r}")
    values = [real_number(v, f"box[{i}]") for i, v in enumerate(box)]
    left, upper, right, lower = (float(np.float32(v)) for v in values)
    if not all(np.isfinite([left, upper, right, lower])):
        raise ValueError(f"box must be finite, got {tuple(box)}")
    if left < 0 or upper < 0 or right > cols or lower > rows:
        raise ValueError(f"box {tuple(box)} lies outside the {cols}x{rows} image")
    if right <= left or lower <= upper:
        raise ValueError(f"box {tuple(box)} is empty")
    return left, upper, right, lower


def resample(image: ArrayLike, width: int, height: int, filter: Any = "bilinear", *,
             reference: str = "pillow", box: Optional[Sequence[float]] = None,
             out: Optional[NDArray[np.uint8]] = None,
             mode: Optional[str] = None) -> NDArray[np.uint8]:
    """Resize with Pillow's antialiased filters, bit for bit (or torch's, or OpenCV's Lanczos).

    With ``reference="pillow"`` the result equals
    ``PIL.Image.resize((width, height), filter, box=box)`` exactly:
    Pillow's weights (widened by the scale factor when shrinking),
    normalized per output pixel and rounded to 22 fractional bits, two
    passes each rounded to 8 bits in Pillow 13's order (the vertical pass
    first when the height loses more than twice the width's pixels); RGBA
    and LA resampled premultiplied by alpha, as Pillow does.  With
    ``reference="torch"``, what ``torch.nn.functional.interpolate(x,
    (height, width), mode=filter, antialias=True, align_corners=False)``
    gives on a uint8 tensor ("bilinear" and "bicubic").  With
    ``reference="opencv"``, what ``cv2.resize(image, (width, height),
    interpolation=cv2.INTER_LANCZOS4)`` gives ("lanczos" only: OpenCV's
    8-tap window, not widened when shrinking, each channel on its own).

    Parameters
    ----------
    image : uint8 array, shape (H, W) or (H, W, C) with C in 1..4, or a Pillow image
        Pixels packed within each row; rows may be strided.  The channel
        order is kept (BGR stays BGR).
    width, height : int >= 1
        Output size.
    filter : {"nearest", "box", "bilinear", "hamming", "bicubic", "lanczos", "mks2013", \
"mks2021"} or int
        A name, or Pillow's ``Image.Resampling`` value.
    reference : {"pillow", "torch", "opencv"}
    box : 4 floats, optional
        The source region (left, upper, right, lower) to resize, as
        Pillow takes it (rounded to float32); default the whole image.
    out : uint8 array, shape (height, width[, C]), optional
        Rows packed; left untouched when an argument is refused.
    mode : str, optional
        How the channels are treated, as Pillow's mode: "L"; "LA" (default
        for 2 channels) or "La"; "RGB"; "RGBA" (default for 4 channels:
        resampled premultiplied by alpha), "RGBa" or "RGBX" (each channel
        on its own).  A Pillow image's own mode is used when not given.

    Returns
    -------
    out : uint8 array, shape (height, width) for a 2-D image, else (height, width, C)

    Notes
    -----
    Pillow accepts a zero-width box; scipix refuses it (there is nothing
    to resample).  The work is spread over ``get_thread_count()`` threads by
    output rows; every variant and thread count gives the same bytes.
    """
    name = filter_name(filter)
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    if reference == "torch" and name not in ("bilinear", "bicubic"):
        raise ValueError(f"reference='torch' has filters 'bilinear' and 'bicubic', "
                         f"got {name!r}")
    if reference == "opencv" and name != "lanczos":
        raise ValueError(f"reference='opencv' has filter 'lanczos' (INTER_LANCZOS4), got "
                         f"{name!r}; OpenCV's bilinear and area resizes are "
                         f"simd_resize_bilinear and fast_area_resize")
    if reference != "pillow" and box is not None:
        raise ValueError(f"box is Pillow's: reference={reference!r} resizes the whole image "
                         f"(crop the array first)")
    if reference == "opencv" and mode is not None:
        raise ValueError("mode is Pillow's: reference='opencv' resamples each channel on "
                         "its own")
    source, mode = _source(image, mode)
    width, height = positive_int(width, "width"), positive_int(height, "height")
    if width > _MAX_SIDE or height > _MAX_SIDE:
        raise ValueError(f"width and height must be at most {_MAX_SIDE}")
    rows, cols, channels = source.shape
    left, upper, right, lower = _box(box, cols, rows)
    shape = (height, width) + ((channels,) if np.ndim(image) != 2 else ())
    if out is None:
        result = np.empty(shape, np.uint8)
    else:
        result = output_array(out, shape, np.uint8)
        if channels > 1 and (result.strides[-1] != 1 or result.strides[-2] != channels) \
                or channels == 1 and result.strides[-1] != 1:
            raise ValueError(f"out must have packed rows, got strides {result.strides}")
        source = unaliased(source, result)
    target = result.reshape(height, width, channels)
    kernels = current_kernels().resample
    # Pillow's own test: a box given as a list is not "the whole image".
    whole = box is None or (isinstance(box, tuple) and box == (0, 0, cols, rows))
    if (width, height) == (cols, rows) and whole:
        np.copyto(target, source)
        return result
    if reference == "torch":
        resample_window(source, height, width, name, "torch", (0, height), (0, width), target)
        return result
    if reference == "opencv":
        kernels.resample_opencv(source, target, lanczos4_taps(cols, width),
                                lanczos4_taps(rows, height), kernel_threads())
        return result
    if name == "nearest":
        kernels.nearest(source, target, left, upper, right, lower)
        return result
    alpha = mode in _ALPHA_MODES
    f32 = np.float32
    if (left == int(left) and f32(right) - f32(left) == width
            and upper == int(upper) and f32(lower) - f32(upper) == height):
        # Pillow crops: the region as it is (premultiplied and back if alpha).
        region = source[int(upper):int(upper) + height, int(left):int(left) + width]
        kernels.resample(region, target, None, None, True, alpha, kernel_threads())
        return result
    number = FILTERS[name]
    horizontal = vertical = None
    if width != cols or left != 0 or right != width:
        horizontal = kernels.pillow_taps(cols, left, right, width, number) + (_PILLOW_BITS,)
    if height != rows or upper != 0 or lower != height:
        vertical = kernels.pillow_taps(rows, upper, lower, height, number) + (_PILLOW_BITS,)
    kernels.resample(source, target, horizontal, vertical,
                     _pillow_horizontal_first(rows, cols, height, width), alpha,
                     kernel_threads())
    return result


def resample_window(source: NDArray[np.uint8], height: int, width: int, name: str,
                    reference: str, rows: tuple[int, int], cols: tuple[int, int],
                    out: NDArray[np.uint8]) -> None:
    """Rows ``rows`` and columns ``cols`` of ``source`` resized to (height, width).

    The window's pixels equal those of the whole resize (each output pixel
    has its own taps; the pass order is the whole resize's), computed alone:
    what a resize followed by a crop needs.  ``source`` is (H, W, C) packed
    pixels without alpha; ``out`` is (rows, cols, C).
    """
    kernels = current_kernels().resample
    (r0, r1), (c0, c1) = rows, cols
    source_rows, source_cols = source.shape[:2]
    if name == "nearest":
        whole = np.empty((height, width, source.shape[2]), np.uint8)
        kernels.nearest(source, whole, 0.0, 0.0, float(source_cols), float(source_rows))
        np.copyto(out, whole[r0:r1, c0:c1])
        return
    if reference == "torch":
        def taps(size: int, length: int, lo: int, hi: int) -> Any:
            from ._torch_taps import torch_taps  # noqa: PLC0415 (NumPy work on first use)
            first, count, coeffs, shift = torch_taps(size, length, name)
            return first[lo:hi], count[lo:hi], coeffs[lo:hi], shift
        horizontal_first = True
    else:
        def taps(size: int, length: int, lo: int, hi: int) -> Any:
            first, count, coeffs = kernels.pillow_taps(size, 0.0, float(size), length,
                                                       FILTERS[name])
            return first[lo:hi], count[lo:hi], coeffs[lo:hi], _PILLOW_BITS
        horizontal_first = _pillow_horizontal_first(source_rows, source_cols, height, width)
    horizontal = taps(source_cols, width, c0, c1) if width != source_cols else None
    vertical = taps(source_rows, height, r0, r1) if height != source_rows else None
    window = source[r0:r1] if vertical is None else source
    window = window[:, c0:c1] if horizontal is None else window
    kernels.resample(window, out, horizontal, vertical, horizontal_first, False,
                     kernel_threads())
