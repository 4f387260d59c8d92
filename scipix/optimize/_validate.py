"""Argument checks shared by the public modules."""
import operator

import numpy as np


def positive_int(value, name):
    """``value`` as an int >= 1, or a TypeError / ValueError naming ``name``."""
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def uint8_array(obj, name):
    """``obj`` as a uint8 ndarray without copying, or a TypeError naming ``name``."""
    if not isinstance(obj, np.ndarray) and hasattr(obj, "__array_interface__"):
        obj = np.asarray(obj)  # an ImageView: a strided view, no copy
    if not isinstance(obj, np.ndarray):
        try:
            obj = np.asarray(memoryview(obj))
        except TypeError:
            raise TypeError(f"{name} must be a uint8 array or support the buffer protocol, "
                            f"got {type(obj).__name__}") from None
    if obj.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got {obj.dtype}")
    if obj.size == 0:
        raise ValueError(f"{name} is empty (shape {obj.shape})")
    return obj


def output_array(out, shape, dtype, name="out"):
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
