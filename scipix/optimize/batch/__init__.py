"""Dynamic and adaptive batching on asyncio (the spec's "Dynamic Batching").

A model server puts a batcher in front of its inference call: callers
``await batcher.add(item)`` one item at a time and get their own result,
while the processor sees lists of items.  See :class:`DynamicBatcher` for
the dispatch rule and :class:`AdaptiveBatcher` for the latency target.
"""
from ._adaptive import AdaptiveBatcher
from ._config import BatchConfig
from ._dynamic import BatchStats, DynamicBatcher
from ._errors import BatcherClosed, BatchError, ProcessingFailed, QueueFull, Timeout

__all__ = ["BatchConfig", "DynamicBatcher", "AdaptiveBatcher", "BatchStats", "BatchError",
           "QueueFull", "ProcessingFailed", "Timeout", "BatcherClosed"]
