"""Model input recipes: the exact preprocessing of other libraries' models.

``from_hf(processor)`` reproduces a Hugging Face image processor,
``from_timm(data_config)`` timm's evaluation transform; each returns a
:class:`Recipe`, called as ``recipe(images, out=None) -> float32 (N, 3, H, W)``.
"""
from ._hf import from_hf
from ._recipe import Recipe
from ._timm import from_timm

__all__ = ["Recipe", "from_hf", "from_timm"]
