"""An online estimate of a processor's cost per batch, robust to a busy machine."""
from __future__ import annotations

import collections
from typing import Deque, Optional, Tuple

import numpy as np

__all__ = ["CostEstimator"]

# Batches the estimate is made from: recent enough to follow a change.
COST_WINDOW = 64
# The slope is trusted only once the window's sizes are this far apart
# (upper quartile / lower quartile): batches of nearly one size, or a few
# odd ones among them, carry no information about the cost per item, and a
# fit through them follows the noise.
SIZE_SPREAD = 2.0


class CostEstimator:
    """Estimate ``t(n) = per_item * n + per_batch`` from observed batches.

    Robust where least squares is not (a machine shared with other work
    adds delays that have nothing to do with ``n``):

    * the slope is the Theil-Sen estimate (median of the pairwise slopes)
      and the intercept the median residual, so a minority of delayed
      batches moves neither;
    * until the window's quartile sizes are ``SIZE_SPREAD`` apart the whole
      cost is taken as per item (the median of ``t / n``), which
      over-predicts larger batches: the caller grows its batches from
      there, and the spread comes with the growth;
    * both terms are kept >= 0.

    Parameters
    ----------
    window : int >= 2
        Batches kept (the most recent).
    """

    def __init__(self, window: int = COST_WINDOW) -> None:
        self._seen: Deque[Tuple[int, float]] = collections.deque(maxlen=window)
        self._model: Optional[Tuple[float, float]] = None

    def observe(self, size: int, seconds: float) -> None:
        """A batch of ``size`` items took ``seconds``."""
        self._seen.append((size, seconds))
        sizes = np.array([s for s, _ in self._seen], dtype=float)
        times = np.array([t for _, t in self._seen], dtype=float)
        lower, upper = np.percentile(sizes, [25, 75])
        if upper < SIZE_SPREAD * lower:
            per_item, per_batch = float(np.median(times / sizes)), 0.0
        else:
            apart = sizes[:, None] > sizes[None, :]
            slopes = (times[:, None] - times[None, :])[apart] / (sizes[:, None] - sizes[None, :])[apart]
            per_item = max(float(np.median(slopes)), 0.0)
            per_batch = max(float(np.median(times - per_item * sizes)), 0.0)
        self._model = (per_item, per_batch)

    @property
    def model(self) -> tuple[float, float] | None:
        """``(per_item, per_batch)`` seconds, or None before the first batch."""
        return self._model

    def largest_seen(self) -> int:
        """The largest batch in the window (0 before the first)."""
        return max((s for s, _ in self._seen), default=0)

    def predict(self, size: int) -> float:
        """Seconds a batch of ``size`` is expected to take (needs a model)."""
        assert self._model is not None
        per_item, per_batch = self._model
        return per_item * size + per_batch
