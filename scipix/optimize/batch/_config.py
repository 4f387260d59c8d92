"""Batching parameters."""
from __future__ import annotations

from dataclasses import dataclass

from .._validate import positive_finite, positive_int

__all__ = ["BatchConfig"]


@dataclass(frozen=True)
class BatchConfig:
    """How a batcher groups items (the spec's ``BatchConfig``).

    Parameters
    ----------
    max_batch_size : int >= 1
        Largest batch handed to the processor.
    max_wait_ms : float > 0
        Longest the oldest waiting item waits before its batch starts
        (while the processor is free).
    max_queue_size : int >= 1
        Items that may wait; ``add`` beyond it raises ``QueueFull``.
    preferred_batch_size : int in [1, max_batch_size], or 0
        A batch this large is sent at once when the processor is free.
        0 (the default) stands for the spec's 16, or ``max_batch_size``
        when that is smaller (so ``BatchConfig(max_batch_size=8)`` is valid).
    """

    max_batch_size: int = 32
    max_wait_ms: float = 50
    max_queue_size: int = 1000
    preferred_batch_size: int = 0

    def __post_init__(self) -> None:
        preferred = self.preferred_batch_size
        if preferred == 0:
            preferred = min(16, positive_int(self.max_batch_size, "max_batch_size"))
            object.__setattr__(self, "preferred_batch_size", preferred)
        for name in ("max_batch_size", "max_queue_size", "preferred_batch_size"):
            positive_int(getattr(self, name), name)
        positive_finite(self.max_wait_ms, "max_wait_ms")
        if preferred > self.max_batch_size:
            raise ValueError(f"preferred_batch_size ({self.preferred_batch_size}) must be <= "
                             f"max_batch_size ({self.max_batch_size})")
