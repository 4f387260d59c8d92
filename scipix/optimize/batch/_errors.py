"""What a batcher raises to its callers."""

__all__ = ["BatchError", "QueueFull", "ProcessingFailed", "Timeout", "BatcherClosed"]


class BatchError(Exception):
    """Base of every error a batcher raises to a caller of ``add``."""


class QueueFull(BatchError):
    """``max_queue_size`` items are waiting; the item was not enqueued."""


class ProcessingFailed(BatchError):
    """The item's batch failed (the processor raised, or returned a wrong
    result list), or the processor's result for this item was an exception;
    the original exception is ``__cause__``."""


class Timeout(BatchError):
    """The item's result did not arrive within the ``timeout`` of ``add``."""


class BatcherClosed(BatchError):
    """The batcher is shut down, or its dispatch loop died (``__cause__``)."""
