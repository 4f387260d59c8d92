"""Argument checks shared by the public modules."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1, or a TypeError / ValueError naming ``name``."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < 1:
        raise ValueError(f"{name} must be positive, got {number}")
    return number


# Pillow modes whose values are gray or RGB(A) pixels, with their channel
# order; the others (palette indices "P", bilevel "1", 16-bit "I;16", CMYK,
# YCbCr, ...) would be read as pixels silently and are refused.
_PILLOW_PIXEL_MODES = {"L": None, "RGB": "rgb", "RGBA": "rgb", "RGBX": "rgb"}


def pillow_order(obj: Any, name: str) -> str | None:
    """The channel order ("rgb") of a Pillow image in a colour mode; None for
    mode L and for anything not a Pillow image; a ValueError naming ``name``
    for a mode whose values are not pixels."""
    mode = getattr(obj, "mode", None)
    if not isinstance(mode, str) or not type(obj).__module__.startswith("PIL."):
        return None
    if mode not in _PILLOW_PIXEL_MODES:
        raise ValueError(f"{name} is a Pillow image in mode {mode!r}, whose values are not "
                         f"gray or RGB pixels; convert it first, e.g. "
                         f"image.convert('RGB') or image.convert('L')")
    return _PILLOW_PIXEL_MODES[mode]


def uint8_array(obj: Any, name: str) -> NDArray[np.uint8]:
    """``obj`` as a uint8 ndarray without copying, or a TypeError naming ``name``."""
    if isinstance(obj, np.ndarray):
        array: NDArray[Any] = obj
    elif hasattr(obj, "__array_interface__"):
        pillow_order(obj, name)
        array = np.asarray(obj)  # an ImageView: a strided view, no copy
    else:
        try:
            array = np.asarray(memoryview(obj))
        except TypeError:
            raise TypeError(f"{name} must be a uint8 array or support the buffer protocol, "
                            f"got {type(obj).__name__}") from None
    if array.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    return array


def output_array(out: Any, shape: tuple[int, ...], dtype: DTypeLike,
                 name: str = "out") -> NDArray[Any]:
    """``out`` if it is a writeable ndarray of ``dtype`` and ``shape``, else a
    TypeError / ValueError naming ``name``; callers check the layout they need."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out
