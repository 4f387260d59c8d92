"""preprocess_batch with Pillow's or torch's filters: each image is
resampled (exactly, :func:`~scipix.optimize.simd.resample`'s arithmetic) to
the part of its placed size that lands in the output, and handed on to the
fused kernel at that size, which then only converts, normalizes, pads and
lays out."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._resampling import FILTERS, resample_window

__all__ = ["REFERENCES", "check_interpolation", "shortest_edge_size", "hf_crop_offset",
           "shortest_edge_placement", "resampled"]

REFERENCES = ("opencv", "pillow", "torch")
_OPENCV = ("auto", "bilinear")


def check_interpolation(interpolation: Any, reference: Any) -> str:
    """``interpolation`` checked against what ``reference`` offers."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    allowed = {"opencv": _OPENCV, "pillow": tuple(FILTERS),
               "torch": ("bilinear", "bicubic")}[reference]
    if interpolation not in allowed:
        raise ValueError(f"interpolation must be one of {allowed} with reference="
                         f"{reference!r}, got {interpolation!r}")
    return str(interpolation)


def shortest_edge_size(rows: int, cols: int, edge: int) -> tuple[int, int]:
    """Hugging Face's ``get_resize_output_image_size(default_to_square=False)``:
    the short side resized to ``edge``, the long side ``int(edge * long / short)``."""
    short, long = (cols, rows) if cols <= rows else (rows, cols)
    new_long = int(edge * long / short)
    return (new_long, edge) if cols <= rows else (edge, new_long)


def hf_crop_offset(side: int, crop: int) -> int:
    """Hugging Face's ``center_crop``: where a ``crop`` window starts in a
    ``side``: floor offsets, so that a larger crop starts ceil((crop - side) / 2)
    before the image (padded)."""
    return (side - crop) // 2


def shortest_edge_placement(rows: int, cols: int, height: int, width: int,
                            edge: int) -> tuple[int, int, int, int]:
    """(resized rows, resized cols, top, left): :func:`shortest_edge_size`,
    then centre-cropped to (height, width) by :func:`hf_crop_offset`."""
    resized = shortest_edge_size(rows, cols, edge)
    return (resized[0], resized[1], -hf_crop_offset(resized[0], height),
            -hf_crop_offset(resized[1], width))


def resampled(pixels: list[NDArray[np.uint8]], placement: NDArray[np.int64], height: int,
              width: int, interpolation: str,
              reference: str) -> tuple[list[NDArray[np.uint8]], NDArray[np.int64]]:
    """Each image resampled to the part of its placement inside the output,
    and the placements of those parts (their own size: no further resize)."""
    parts, placed = [], placement.copy()
    for i, (image, (rows, cols, top, left)) in enumerate(zip(pixels, placement)):
        r0, r1 = max(0, -top), min(rows, height - top)
        c0, c1 = max(0, -left), min(cols, width - left)
        part = np.empty((max(r1 - r0, 1), max(c1 - c0, 1), image.shape[2]), np.uint8)
        if r1 > r0 and c1 > c0:
            resample_window(np.ascontiguousarray(image), int(rows), int(cols), interpolation,
                            reference, (r0, r1), (c0, c1), part)
        parts.append(part)
        placed[i] = (part.shape[0], part.shape[1], top + r0, left + c0)
    return parts, placed
