"""Input sizes for text detectors (DBNet / PP-OCR): side limits and multiples."""
from __future__ import annotations

from typing import Any

from .._validate import positive_int

__all__ = ["detector_size"]


def detector_size(height: Any, width: Any, *, limit_side: Any = 960, limit_type: str = "max",
                  multiple: Any = 32) -> tuple[int, int]:
    """The (height, width) a DBNet-style detector takes for an image of ``height`` x ``width``.

    The image is scaled, keeping its aspect ratio, so that its long side is
    at most ``limit_side`` (``limit_type="max"``; smaller images keep their
    size) or its short side at least ``limit_side`` (``"min"``; larger
    images keep their size); each scaled side is truncated to an int, then
    rounded to the nearest multiple of ``multiple`` (halves to even, as
    Python's ``round``) and kept at least ``multiple``.  This is the rule
    of PaddleOCR's ``DetResizeForTest`` and RapidOCR's ``DetPreProcess``
    (which rounds the same way but can give 0 for a side below
    ``multiple / 2``).  Feed the result to
    ``preprocess_batch(..., shape=detector_size(h, w))``.

    Parameters
    ----------
    height, width : int >= 1
        The image's size.
    limit_side : int >= 1
    limit_type : {"max", "min"}
    multiple : int >= 1

    Returns
    -------
    (height, width) : tuple of int, each a positive multiple of ``multiple``
    """
    rows, cols = positive_int(height, "height"), positive_int(width, "width")
    limit = positive_int(limit_side, "limit_side")
    step = positive_int(multiple, "multiple")
    if limit_type == "max":
        ratio = limit / max(rows, cols) if max(rows, cols) > limit else 1.0
    elif limit_type == "min":
        ratio = limit / min(rows, cols) if min(rows, cols) < limit else 1.0
    else:
        raise ValueError(f"limit_type must be 'max' or 'min', got {limit_type!r}")

    def fitted(side: int) -> int:
        return max(step, round(int(side * ratio) / step) * step)

    return fitted(rows), fitted(cols)
