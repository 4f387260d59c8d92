"""Recipes of timm's evaluation transforms.

What ``timm.data.create_transform(**resolve_data_config(...))`` does to a
Pillow RGB image (``transforms_factory.transforms_imagenet_eval``): the
size ``floor(input_size / crop_pct)``, torchvision's ``Resize`` (the short
side, the long side truncated) or timm's ``ResizeKeepRatio``, torchvision's
``CenterCrop`` (offsets rounded half to even, padding floor before), then
``ToTensor`` (``u / 255`` in float32) and ``Normalize`` (``(x - mean) / std``
in float32).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

from ._hf import _normalize, fixed, shortest_edge
from ._recipe import Recipe, Resize, Window, torchvision_crop_offset, value_table

__all__ = ["from_timm"]

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
_DEFAULT_MEAN = (0.485, 0.456, 0.406)
_DEFAULT_STD = (0.229, 0.224, 0.225)


def _keep_ratio(height: int, width: int, longest: float) -> Callable[[int, int], tuple[int, int]]:
    """timm's ``ResizeKeepRatio.get_params``: sides divided by a blend of
    the two ratios, rounded half to even."""
    def rule(rows: int, cols: int) -> tuple[int, int]:
        ratios = (rows / height, cols / width)
        ratio = max(ratios) * longest + min(ratios) * (1.0 - longest)
        return round(rows / ratio), round(cols / ratio)
    return rule


def _to_tensor(values: Any) -> Any:
    # torchvision's to_tensor: float32 division by 255.
    return values.astype(np.float32) / np.float32(255)


def from_timm(data_config: Mapping[str, Any]) -> Recipe:
    """The recipe of timm's eval transform for ``data_config``.

    Parameters
    ----------
    data_config : mapping
        ``timm.data.resolve_data_config(...)``'s dict: ``input_size``
        (3, H, W), ``interpolation``, ``mean``, ``std``, ``crop_pct``,
        ``crop_mode`` ("center", "squash" or "border").

    Returns
    -------
    Recipe

    Raises
    ------
    ValueError
        An option the recipe does not reproduce (e.g. ``crop_border_pixels``,
        an interpolation name it does not know).
    """
    config = dict(data_config)
    unknown = set(config) - {"input_size", "interpolation", "mean", "std", "crop_pct",
                             "crop_mode"}
    if unknown:
        raise ValueError(f"data_config keys {sorted(unknown)} are not reproduced")
    channels, height, width = config.get("input_size", (3, 224, 224))
    if channels != 3:
        raise ValueError(f"input_size must have 3 channels, got {channels}")
    interpolation = config.get("interpolation", "bicubic")
    if interpolation == "nearest-exact":
        interpolation = "nearest"
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation {interpolation!r} is not one of {_INTERPOLATIONS}")
    crop_pct = config.get("crop_pct") or 0.875
    mode = config.get("crop_mode", "center")
    scale_h, scale_w = math.floor(height / crop_pct), math.floor(width / crop_pct)
    mean = config.get("mean", _DEFAULT_MEAN)
    fill = (0, 0, 0)
    if mode == "squash":
        resize = Resize(fixed(scale_h, scale_w), interpolation)
    elif mode == "border":
        resize = Resize(_keep_ratio(scale_h, scale_w, 1.0), interpolation)
        fill = tuple(round(255 * m) for m in mean)
    elif mode == "center":
        # timm's own quirk: a non-square size goes through ResizeKeepRatio, bilinear.
        resize = (Resize(shortest_edge(scale_h), interpolation) if scale_h == scale_w
                  else Resize(_keep_ratio(scale_h, scale_w, 0.0), "bilinear"))
    else:
        raise ValueError(f"crop_mode must be 'center', 'squash' or 'border', got {mode!r}")
    table = value_table([_to_tensor, _normalize(mean, config.get("std", _DEFAULT_STD))])
    return Recipe(name="timm eval transform", resizes=[resize],
                  window=Window(height, width, torchvision_crop_offset, fill), table=table)
