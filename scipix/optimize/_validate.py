"""Argument checks shared by the public modules."""
import operator


def positive_int(value, name):
    """``value`` as an int >= 1, or a TypeError / ValueError naming ``name``."""
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")
    return value
