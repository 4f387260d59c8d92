"""A batcher that sizes its batches to meet a latency target."""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Hashable
from typing import Any, Deque, Optional, Tuple

import numpy as np

from ._config import BatchConfig
from ._dynamic import DynamicBatcher, Processor, R, T, _Pending

__all__ = ["AdaptiveBatcher"]

# Batches the cost model is fitted on: recent enough to follow a change.
COST_WINDOW = 64
# Send a group once its oldest item's wait plus the batch's predicted cost
# reaches this share of the target: the rest absorbs a busy processor.
BUDGET_SHARE = 0.9


class AdaptiveBatcher(DynamicBatcher[T, R]):
    """A :class:`DynamicBatcher` whose batch size follows a latency target.

    The processor's cost is fitted online as ``t(n) = a * n + b`` (least
    squares over the last 64 batches, as BentoML's dispatcher does).  From
    it:

    * the batch size in use (``current_config().max_batch_size``) is the
      largest ``n`` in [1, ``max_batch_size``] with ``t(n) <= target / 2``,
      so that a batch queued behind a full one still meets the target;
    * a group is sent when ``n`` reaches that size, or when its oldest
      item's wait plus ``t(n)`` reaches 90 % of the target (``max_wait_ms``
      still caps the wait), so under light load items wait for company
      only as long as the target allows.

    Before its first batch it behaves as a :class:`DynamicBatcher` with
    ``config``; while all batches seen had one size, the whole cost is
    taken as per item.

    Parameters
    ----------
    config : BatchConfig
    target_latency : float
        Seconds from ``add`` to result (a ``datetime.timedelta`` also works).
    processor, group_key
        As for :class:`DynamicBatcher`.
    """

    def __init__(self, config: BatchConfig, target_latency: Any, processor: Processor[T, R], *,
                 group_key: Callable[[T], Hashable] | None = None) -> None:
        super().__init__(config, processor, group_key=group_key)
        if hasattr(target_latency, "total_seconds"):
            target_latency = target_latency.total_seconds()
        if isinstance(target_latency, bool) or not isinstance(target_latency, (int, float)):
            raise TypeError(f"target_latency must be seconds, got {type(target_latency).__name__}")
        if not 0 < target_latency < float("inf"):
            raise ValueError(f"target_latency must be positive, got {target_latency}")
        self.target_latency = float(target_latency)
        self._costs: Deque[Tuple[int, float]] = collections.deque(maxlen=COST_WINDOW)
        self._model: Optional[Tuple[float, float]] = None  # (a, b) seconds per item and per batch
        self._size = config.max_batch_size

    def current_config(self) -> BatchConfig:
        """The :class:`BatchConfig` the dispatcher uses now (adapted size)."""
        return dataclasses.replace(
            self.config, max_batch_size=self._size,
            preferred_batch_size=min(self.config.preferred_batch_size, self._size))

    def cost_model(self) -> tuple[float, float] | None:
        """``(a, b)``: fitted seconds per item and per batch, or None yet."""
        return self._model

    def _limit(self) -> int:
        return self._size

    def _predicted(self, model: tuple[float, float], size: int) -> float:
        per_item, per_batch = model
        return per_item * size + per_batch

    def _ready_at(self, queue: Deque[_Pending], now: float) -> float:
        if self._model is None:
            return super()._ready_at(queue, now)
        size = len(queue)
        if size >= self._size:
            return now
        budget = BUDGET_SHARE * self.target_latency - self._predicted(self._model, size)
        return queue[0].enqueued + min(max(budget, 0.0), self.config.max_wait_ms / 1e3)

    def _observe(self, size: int, seconds: float) -> None:
        self._costs.append((size, seconds))
        sizes = np.array([c[0] for c in self._costs], dtype=float)
        times = np.array([c[1] for c in self._costs])
        if np.ptp(sizes) == 0:
            # One size seen so far: all cost per item, exact at that size.
            per_item, per_batch = times.mean() / sizes[0], 0.0
        else:
            per_item, per_batch = np.polyfit(sizes, times, 1)
        per_item, per_batch = max(float(per_item), 1e-9), max(float(per_batch), 0.0)
        self._model = (per_item, per_batch)
        fits = int((self.target_latency / 2 - per_batch) / per_item)
        self._size = int(min(max(fits, 1), self.config.max_batch_size))
