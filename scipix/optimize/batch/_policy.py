"""Batching policies: the one place that decides how large a batch is and when it goes.

The dispatcher asks its policy for the size limit and for the time a
group is ready, and tells it how long each batch took; ``current_config``
reports the rule in force as a :class:`BatchConfig`, so what a batcher
reports is what it does.
"""
from __future__ import annotations

import dataclasses
import math

from ._config import BatchConfig
from ._cost import CostEstimator

__all__ = ["FixedPolicy", "LatencyPolicy"]

# A group goes once its oldest item's wait plus the batch's predicted cost
# reaches this share of the target: the rest absorbs a busy processor.
BUDGET_SHARE = 0.9


class FixedPolicy:
    """The rule of a :class:`BatchConfig` as given.

    A group of ``max_batch_size`` is the largest batch; a group of
    ``preferred_batch_size`` is ready at once; a smaller one when its
    oldest item has waited ``max_wait_ms``.
    """

    def __init__(self, config: BatchConfig) -> None:
        self.config = config

    def limit(self) -> int:
        """Largest batch to send now."""
        return self.config.max_batch_size

    def preferred(self) -> int:
        """A group this large is ready at once."""
        return self.config.preferred_batch_size

    def ready_at(self, size: int, oldest: float, now: float) -> float:
        """When a group of ``size`` whose oldest item arrived at ``oldest``
        is ready (``<= now``: send it); times on the event loop's clock."""
        if size >= self.preferred():
            return now
        return oldest + self._wait(size)

    def observe(self, size: int, seconds: float) -> None:
        """A batch of ``size`` items took ``seconds``."""

    def current_config(self) -> BatchConfig:
        """The rule in force, as a :class:`BatchConfig`."""
        return self.config

    def _wait(self, size: int) -> float:
        """Seconds a group of ``size`` (below the preferred size) waits for company."""
        return self.config.max_wait_ms / 1e3


class LatencyPolicy(FixedPolicy):
    """Batch sizes and waits that follow a latency target.

    With the processor's cost estimated as ``t(n)`` (a
    :class:`CostEstimator`):

    * the size limit is the largest ``n`` in [1, ``max_batch_size``] with
      ``t(n) <= target / 2``, so that a batch queued behind a full one still
      meets the target; it at most doubles the largest batch seen so far,
      so the estimate is never extrapolated far from its data;
    * a group of ``min(preferred_batch_size, limit)`` is ready at once;
    * a smaller group is ready when its oldest item's wait plus ``t(size)``
      reaches 90 % of the target, and after ``max_wait_ms`` at the latest
      (so a group whose ``t(size)`` alone reaches it is ready at once: the
      preferred size reported is the smallest such size where smaller).

    Before the first batch it is the :class:`FixedPolicy` of ``config``.

    Parameters
    ----------
    config : BatchConfig
    target_latency : float
        Seconds from ``add`` to result.
    """

    def __init__(self, config: BatchConfig, target_latency: float) -> None:
        super().__init__(config)
        self.target_latency = target_latency
        self.estimator = CostEstimator()
        self._size = config.max_batch_size
        self._preferred = config.preferred_batch_size

    def limit(self) -> int:
        return self._size

    def preferred(self) -> int:
        return self._preferred

    def observe(self, size: int, seconds: float) -> None:
        self.estimator.observe(size, seconds)
        per_item, per_batch = self.estimator.model  # type: ignore[misc]
        largest = self.config.max_batch_size
        fits = largest if per_item == 0 else math.floor(
            (self.target_latency / 2 - per_batch) / per_item)
        self._size = max(1, min(fits, largest, 2 * self.estimator.largest_seen()))
        budget = BUDGET_SHARE * self.target_latency - per_batch
        no_wait = 1 if budget <= 0 else largest if per_item == 0 else math.ceil(budget / per_item)
        self._preferred = max(1, min(self.config.preferred_batch_size, self._size, no_wait))

    def current_config(self) -> BatchConfig:
        """The rule in force: the adapted size as ``max_batch_size``, and as
        ``max_wait_ms`` the longest a group now waits (a group of one; a
        larger group waits less, by its predicted cost)."""
        longest = self._wait(1)
        return dataclasses.replace(
            self.config, max_batch_size=self._size, preferred_batch_size=self._preferred,
            max_wait_ms=longest * 1e3 if longest > 0 else self.config.max_wait_ms)

    def _wait(self, size: int) -> float:
        cap = self.config.max_wait_ms / 1e3
        if self.estimator.model is None:
            return cap
        budget = BUDGET_SHARE * self.target_latency - self.estimator.predict(size)
        return min(max(budget, 0.0), cap)
