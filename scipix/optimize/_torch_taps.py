"""The taps of torch's uint8 antialiased interpolation, exactly.

``torch.nn.functional.interpolate(x, size, mode="bilinear" | "bicubic",
antialias=True, align_corners=False)`` on uint8 (ATen's
``UpSampleKernel.cpp``, ``_compute_index_ranges_int16_weights``) weighs
input pixels as Pillow does, with its own arithmetic: weights computed in
double, normalized per output, then rounded to 16-bit integers with the
most fractional bits (at most 22) that keep the axis's largest weight
below 2**15.  Sums are taken in 32-bit integers, the horizontal pass first,
each pass rounded and clamped to 8 bits: the arithmetic of the resampling
kernels, given these taps.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["torch_taps"]

# Taps either side of the centre, before widening (ATen's interp_size / 2).
_HALF_WIDTH = {"bilinear": 1.0, "bicubic": 2.0}
# Keys' cubic with a = -0.5 (ATen uses -0.75 only without antialias).
_A = -0.5


def _filter(name: str, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """ATen's aa_filter, term for term (its own bracketing of the cubic)."""
    x = np.abs(x)
    if name == "bilinear":
        return np.where(x < 1.0, 1.0 - x, 0.0)
    near = ((_A + 2.0) * x - (_A + 3.0)) * x * x + 1.0
    far = ((_A * x - 5.0 * _A) * x + 8.0 * _A) * x - 4.0 * _A
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def torch_taps(in_size: int, out_size: int,
               name: str) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.int32], int]:
    """One pass's taps as torch computes them.

    Parameters
    ----------
    in_size, out_size : int
        Pixels along the axis before and after.
    name : {"bilinear", "bicubic"}

    Returns
    -------
    first, count : int32 ndarray, shape (out_size,)
    coeffs : int32 ndarray, shape (out_size, ksize)
        The 16-bit weights, zero past ``count``.
    shift : int
        Their fractional bits.
    """
    scale = float(in_size) / float(out_size)
    support = _HALF_WIDTH[name] * scale if scale >= 1.0 else _HALF_WIDTH[name]
    ksize = int(np.ceil(support)) * 2 + 1
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    center = scale * (np.arange(out_size, dtype=np.float64) + 0.5)
    first = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    last = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size)
    count = np.clip(last - first, 0, ksize)
    taps = np.arange(ksize)
    inside = taps[np.newaxis, :] < count[:, np.newaxis]
    position = ((taps[np.newaxis, :] + first[:, np.newaxis]) - center[:, np.newaxis] + 0.5)
    weights = np.where(inside, _filter(name, position * invscale), 0.0)
    # ATen sums the weights left to right; zeros past count add nothing.
    total = np.zeros(out_size)
    for tap in range(ksize):
        total = total + weights[:, tap]
    normalized = np.where(total[:, np.newaxis] != 0.0,
                          weights / np.where(total != 0.0, total, 1.0)[:, np.newaxis], weights)
    largest = float(normalized[total != 0.0].max(initial=0.0))
    shift = 0
    while shift < 22 and int(0.5 + largest * (1 << (shift + 1))) < 1 << 15:
        shift += 1
    scaled = normalized * float(1 << shift)
    rounded = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5))
    return (first.astype(np.int32), count.astype(np.int32), rounded.astype(np.int32),
            max(shift, 1))
