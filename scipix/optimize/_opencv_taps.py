"""The taps of OpenCV's Lanczos-4 resize of uint8 images, exactly.

``cv2.resize(image, (width, height), interpolation=cv2.INTER_LANCZOS4)``
(``imgproc/src/resize.cpp``: ``interpolateLanczos4`` and the coefficient
tables of ``cv::resize``) maps output pixel ``d`` to the float32 position
``(d + 0.5) * scale - 0.5``, weighs the 8 input pixels around it with a
Lanczos window (``a = 4``) evaluated in double from one sine and cosine,
normalized in float32, and rounds each weight to 11 fractional bits on its
own.  Input pixels past the border repeat the border pixel; here their
weights are merged into the border pixel's tap, which changes no integer
sum.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

__all__ = ["OPENCV_BITS", "lanczos4_taps"]

# INTER_RESIZE_COEF_BITS: the weights' fractional bits.
OPENCV_BITS = 11
_SQRT_HALF = 0.70710678118654752440084436210485
# The sine and cosine factors of each of the 8 taps (OpenCV's cs table).
_CS = np.array([(1, 0), (-_SQRT_HALF, -_SQRT_HALF), (0, 1), (_SQRT_HALF, -_SQRT_HALF),
                (-1, 0), (_SQRT_HALF, _SQRT_HALF), (0, -1), (-_SQRT_HALF, _SQRT_HALF)])


def _lanczos4_weights(fraction: NDArray[np.float32]) -> NDArray[np.float32]:
    """interpolateLanczos4 for each float32 fraction in [0, 1): shape (n, 8)."""
    f32 = np.float32
    shifted = fraction + f32(3)
    # std::sin and std::cos of a double: the C library's, as math's are.
    angle = -shifted.astype(np.float64) * math.pi * 0.25
    sine = np.array([math.sin(a) for a in angle])
    cosine = np.array([math.cos(a) for a in angle])
    weights = np.empty((fraction.size, 8), np.float32)
    total = np.zeros(fraction.size, np.float32)
    for i in range(8):
        distance = shifted - f32(i)
        y = -distance.astype(np.float64) * math.pi * 0.25
        with np.errstate(divide="ignore", invalid="ignore"):
            value = ((_CS[i, 0] * sine + _CS[i, 1] * cosine) / (y * y)).astype(np.float32)
        # OpenCV's special case: a tap on the sample point takes all the weight.
        value[np.abs(distance) < f32(1e-6)] = f32(1e30)
        weights[:, i] = value
        total += value
    return weights * (f32(1) / total)[:, np.newaxis]


@lru_cache(maxsize=64)
def lanczos4_taps(in_size: int, out_size: int) -> tuple[NDArray[np.int32], NDArray[np.int32],
                                                         NDArray[np.int32]]:
    """One pass's taps as ``cv2.resize(..., INTER_LANCZOS4)`` weighs them.

    Parameters
    ----------
    in_size, out_size : int
        Pixels along the axis before and after, at least 1.

    Returns
    -------
    first, count : int32 ndarray, shape (out_size,)
        Each output's first input pixel and number of taps (1 to 8).
    coeffs : int32 ndarray, shape (out_size, 8)
        The weights with 11 fractional bits, zero past ``count``.

    Notes
    -----
    The arrays are cached by size and must not be written to.
    """
    scale = 1.0 / (out_size / in_size)
    position = ((np.arange(out_size) + 0.5) * scale - 0.5).astype(np.float32)
    start = np.floor(position)
    fraction = (position - start.astype(np.float32)).astype(np.float32)
    weights = _lanczos4_weights(fraction)
    # saturate_cast<short>(float): round half to even, then clamp.
    fixed = np.clip(np.rint(weights * np.float32(1 << OPENCV_BITS)), -32768, 32767)
    first = start.astype(np.int32) - 3
    count = np.full(out_size, 8, np.int32)
    coeffs = fixed.astype(np.int32)
    # Near a border several taps read the same (replicated) pixel.
    for d in np.flatnonzero((first < 0) | (first + 8 > in_size)):
        pixels = np.clip(np.arange(first[d], first[d] + 8), 0, in_size - 1)
        first[d], count[d] = pixels[0], pixels[-1] - pixels[0] + 1
        coeffs[d] = 0
        coeffs[d, :count[d]] = np.bincount(pixels - pixels[0], weights=fixed[d])
    for array in (first, count, coeffs):
        array.flags.writeable = False
    return first, count, coeffs
