"""Zero-copy views of packed 8-bit image bytes."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .._validate import integer, positive_int

__all__ = ["ImageView"]


def _coordinate(value: int, name: str, limit: int) -> int:
    value = integer(value, name)
    if not 0 <= value < limit:
        raise ValueError(f"{name}={value} is outside [0, {limit})")
    return value


def _check_shape(shape: tuple[int, ...], width: int, height: int, channels: int) -> None:
    """An ndarray's shape against the sizes given (a flat array has none to check)."""
    if len(shape) <= 1:
        return
    described = [(height, width, channels), (height, width * channels)]
    if shape not in described:
        hint = "; width and height look swapped" if shape[:2] == (width, height) else ""
        raise ValueError(f"data has shape {shape}, but width={width}, height={height}, "
                         f"channels={channels} describe {described[0]} (or "
                         f"{described[1]} as rows of bytes){hint}")


class ImageView:
    """An image over existing bytes, without copying them.

    Parameters
    ----------
    data : bytes-like or uint8 ndarray, contiguous
        ``width * height * channels`` bytes, row-major, channels packed.
        An ndarray of more than one dimension must have the shape the
        arguments describe: ``(height, width, channels)``, or
        ``(height, width * channels)`` (``(height, width)`` for one
        channel), so swapped sizes raise instead of reading the rows
        crosswise.  Writable data gives a writable view (``view.data``).
    width, height, channels : int >= 1

    Notes
    -----
    :meth:`subview` is a strided window of the same memory, and every scipix
    kernel takes a view or subview directly (through
    ``__array_interface__``).  ``data`` is ``(height, width)`` for one
    channel and ``(height, width, channels)`` otherwise.
    """

    __slots__ = ("_pixels",)

    def __init__(self, data: Any, width: int, height: int, channels: int) -> None:
        width = positive_int(width, "width")
        height = positive_int(height, "height")
        channels = positive_int(channels, "channels")
        if isinstance(data, np.ndarray):
            if data.dtype != np.uint8:
                raise TypeError(f"data must have dtype uint8, got {data.dtype}")
            if not data.flags.c_contiguous:
                raise ValueError("data must be C-contiguous")
            _check_shape(data.shape, width, height, channels)
            flat: NDArray[np.uint8] = data.reshape(-1)
        else:
            try:
                flat = np.frombuffer(data, dtype=np.uint8)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"data must be a contiguous bytes-like object or uint8 array, "
                                f"got {type(data).__name__} ({exc})") from None
        expected = width * height * channels
        if flat.size != expected:
            raise ValueError(f"data has {flat.size} bytes; width * height * channels = "
                             f"{width} * {height} * {channels} = {expected}")
        self._pixels = flat.reshape(height, width, channels)

    @classmethod
    def _of(cls, pixels: NDArray[np.uint8]) -> ImageView:
        view = cls.__new__(cls)
        view._pixels = pixels
        return view

    @property
    def dimensions(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self._pixels.shape[1], self._pixels.shape[0]

    @property
    def channels(self) -> int:
        return self._pixels.shape[2]

    @property
    def data(self) -> NDArray[np.uint8]:
        """The pixels as an ndarray view (no copy), see the class notes."""
        return self._pixels[:, :, 0] if self._pixels.shape[2] == 1 else self._pixels

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self.data.__array_interface__

    def __array__(self, dtype: DTypeLike | None = None,
                  copy: bool | None = None) -> NDArray[Any]:
        if copy:
            return np.array(self.data, dtype=dtype)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        """The channel values at column ``x``, row ``y``, as a tuple of ints."""
        width, height = self.dimensions
        x = _coordinate(x, "x", width)
        y = _coordinate(y, "y", height)
        return tuple(int(v) for v in self._pixels[y, x])

    def subview(self, x: int, y: int, width: int, height: int) -> ImageView:
        """The ``width`` x ``height`` window at ``(x, y)``, sharing memory.

        Raises
        ------
        ValueError
            The window does not lie inside the image.
        """
        full_width, full_height = self.dimensions
        x = _coordinate(x, "x", full_width)
        y = _coordinate(y, "y", full_height)
        width = positive_int(width, "width")
        height = positive_int(height, "height")
        if x + width > full_width or y + height > full_height:
            raise ValueError(f"subview ({x}, {y}, {width}, {height}) runs outside the "
                             f"{full_width}x{full_height} image")
        return ImageView._of(self._pixels[y:y + height, x:x + width])

    def __repr__(self) -> str:
        width, height = self.dimensions
        return f"ImageView({width}x{height}, channels={self.channels})"
