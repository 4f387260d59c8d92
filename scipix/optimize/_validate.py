"""Argument checks shared by the public modules: one rule per kind of argument.

- An int is a Python ``int`` or a NumPy integer scalar (anything with
  ``__index__``), never a ``bool`` or ``numpy.bool_``: ``True`` as a width
  or a threshold is a bug in the caller, as NumPy's own index checks hold.
- A real number is an int as above or a Python / NumPy float, never a bool
  or a string.
- A shape is a sequence of such ints >= 0; its element count is their
  product.

The compiled ``*_plain`` entry points take a fast path only for values these
rules accept, and leave everything else to them.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Optional

import numpy as np
from numpy.typing import DTypeLike, NDArray

_BOOLS = (bool, np.bool_)


def integer(value: Any, name: str, low: Optional[int] = None,
            high: Optional[int] = None) -> int:
    """``value`` as an int in ``[low, high]`` (a bound of None is open).

    Raises
    ------
    TypeError
        ``value`` is a bool or has no ``__index__`` (a float, a string).
    ValueError
        ``value`` lies outside the bounds.
    """
    if isinstance(value, _BOOLS):
        raise TypeError(f"{name} must be an int, not a bool ({value!r})")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            rule = "positive" if low == 1 else f">= {low}"
        elif low is None:
            rule = f"<= {high}"
        else:
            rule = f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {rule}, got {number}")
    return number


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1, by the rule of :func:`integer`."""
    return integer(value, name, low=1)


def real_number(value: Any, name: str) -> float:
    """``value`` (an int, a float or a NumPy real scalar, not a bool) as a float.

    Range checks (finite, positive) are the caller's: their messages say why.
    """
    if isinstance(value, _BOOLS) or not isinstance(value, (int, float, np.integer,
                                                           np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def positive_finite(value: Any, name: str) -> float:
    """``value`` (as :func:`real_number` takes it) as a positive finite float."""
    number = real_number(value, name)
    if not 0 < number < math.inf:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return number


def shape_tuple(value: Any, name: str = "shape") -> tuple[int, ...]:
    """``value`` (an int, or a sequence of ints >= 0) as a tuple of ints."""
    entries = (value,) if not hasattr(value, "__len__") else value
    try:
        items = list(entries)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {value!r}") from None
    return tuple(integer(n, f"{name}[{i}]", low=0) for i, n in enumerate(items))


def element_count(shape: Any, name: str = "shape") -> int:
    """The number of elements of ``shape`` (checked by :func:`shape_tuple`)."""
    return math.prod(shape_tuple(shape, name))


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
    return _packed_length_one_axes(array)


def _packed_length_one_axes(array: NDArray[Any]) -> NDArray[Any]:
    """``array`` with each length-1 axis given the stride it would have if
    packed (its next axis's stride times that axis's length).

    Nothing is read through such a stride, but the kernels check strides:
    a one-pixel RGB view of an RGBA image has strides (4, 4, 1), which
    NumPy calls C-contiguous and ``numpy.ascontiguousarray`` returns
    unchanged.
    """
    if 1 not in array.shape:
        return array
    strides = list(array.strides)
    packed = array.itemsize
    for axis in reversed(range(array.ndim)):
        if array.shape[axis] == 1:
            strides[axis] = packed
        packed = strides[axis] * array.shape[axis]
    if tuple(strides) == array.strides:
        return array
    return np.lib.stride_tricks.as_strided(array, strides=strides,
                                           writeable=array.flags.writeable)


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


def unaliased(source: NDArray[Any], out: NDArray[Any]) -> NDArray[Any]:
    """``source``, copied when it overlaps ``out`` other than element for element
    (a kernel reading and writing the same element at once is safe in place;
    any other overlap would read values already written)."""
    if not np.may_share_memory(source, out):
        return source
    same_elements = (source.shape == out.shape and source.strides == out.strides
                     and source.dtype.itemsize == out.dtype.itemsize
                     and source.__array_interface__["data"][0]
                     == out.__array_interface__["data"][0])
    return source if same_elements else source.copy()


def packed_pixels(pixels: NDArray[np.uint8], name: str) -> NDArray[np.uint8]:
    """``pixels`` (H, W, C) if its pixels are packed within each row (strides
    (any, C, 1)), else a ValueError naming ``name``."""
    channels = pixels.shape[2]
    if pixels.strides[1] != channels or (channels > 1 and pixels.strides[2] != 1):
        raise ValueError(f"{name} must have packed pixels (strides (any, {channels}, 1)), "
                         f"got strides {pixels.strides}; use numpy.ascontiguousarray")
    return pixels
