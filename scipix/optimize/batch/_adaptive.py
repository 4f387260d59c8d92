"""A batcher that sizes its batches to meet a latency target."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from .._validate import positive_finite
from ._config import BatchConfig
from ._dynamic import DynamicBatcher, Processor, R, T
from ._policy import LatencyPolicy

__all__ = ["AdaptiveBatcher"]


class AdaptiveBatcher(DynamicBatcher[T, R]):
    """A :class:`DynamicBatcher` whose batch size follows a latency target.

    The processor's cost is estimated online as ``t(n) = a * n + b`` from
    the last 64 batches, robustly (a median fit that needs batches of
    different sizes before it trusts the slope: see
    :class:`~scipix.optimize.batch._cost.CostEstimator`).  From it:

    * the batch size in use (``current_config().max_batch_size``) is the
      largest ``n`` in [1, ``max_batch_size``] with ``t(n) <= target / 2``,
      so that a batch queued behind a full one still meets the target; it
      grows at most to twice the largest batch seen so far;
    * a group of ``preferred_batch_size`` (at most the size in use) is sent
      as soon as the processor is free, as by a :class:`DynamicBatcher`;
    * a smaller group is sent when its oldest item's wait plus ``t(n)``
      reaches 90 % of the target (``max_wait_ms`` still caps the wait), so
      under light load items wait for company only as long as the target
      allows.

    ``current_config()`` reports that rule: the size in use, the preferred
    size honoured and the longest wait.  Before its first batch it behaves
    as a :class:`DynamicBatcher` with ``config``.

    Parameters
    ----------
    config : BatchConfig
    target_latency : float
        Seconds from ``add`` to result (a ``datetime.timedelta`` also works).
    processor, group_key, max_in_flight
        As for :class:`DynamicBatcher`.
    """

    def __init__(self, config: BatchConfig, target_latency: Any, processor: Processor[T, R], *,
                 group_key: Callable[[T], Hashable] | None = None,
                 max_in_flight: int = 1) -> None:
        super().__init__(config, processor, group_key=group_key, max_in_flight=max_in_flight)
        if hasattr(target_latency, "total_seconds"):
            target_latency = target_latency.total_seconds()
        self.target_latency = positive_finite(target_latency, "target_latency")
        self._latency = LatencyPolicy(config, self.target_latency)
        self._policy = self._latency

    def cost_model(self) -> tuple[float, float] | None:
        """``(a, b)``: estimated seconds per item and per batch, or None yet."""
        return self._latency.estimator.model
