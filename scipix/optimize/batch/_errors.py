"""What a batcher raises to its callers.

Every class pickles with its attributes (``BaseException.__reduce__`` hands
back ``args`` and ``__dict__``, and each ``__init__`` takes its message
alone as the one positional argument), so a failure travels through a
``ProcessPoolExecutor`` or a cluster's workers intact.  ``__cause__`` and
the traceback do not travel: pickle drops them for every exception.
"""
from __future__ import annotations

import asyncio

__all__ = ["BatchError", "QueueFull", "ProcessingFailed", "Timeout", "BatcherClosed"]

# asyncio.TimeoutError is the builtin from Python 3.11 on, a class of its
# own before: Timeout derives from both, so either ``except`` catches it.
_TIMEOUT_BASES = tuple(dict.fromkeys((TimeoutError, asyncio.TimeoutError)))


class BatchError(Exception):
    """Base of every error a batcher raises to a caller of ``add``."""


class QueueFull(BatchError, asyncio.QueueFull):
    """``max_queue_size`` items are waiting; the item was not enqueued.

    Also an ``asyncio.QueueFull``.

    Attributes
    ----------
    queue_size, max_queue_size : int or None
        Items waiting when the item was refused, and the limit.
    """

    def __init__(self, message: str = "", *, queue_size: int | None = None,
                 max_queue_size: int | None = None) -> None:
        super().__init__(message)
        self.queue_size = queue_size
        self.max_queue_size = max_queue_size


class ProcessingFailed(BatchError):
    """The item's batch failed (the processor raised, or returned a wrong
    result list), or the processor's result for this item was an exception;
    the original exception is ``__cause__``.

    Attributes
    ----------
    batch_size : int or None
        Items in the batch the processor was given.
    """

    def __init__(self, message: str = "", *, batch_size: int | None = None) -> None:
        super().__init__(message)
        self.batch_size = batch_size


class Timeout(BatchError, *_TIMEOUT_BASES):  # type: ignore[misc]
    """The item's result did not arrive within the ``timeout`` of ``add``.

    Also a ``TimeoutError`` (and an ``asyncio.TimeoutError`` where that
    class differs, before Python 3.11).

    Attributes
    ----------
    timeout : float or None
        The ``timeout`` given to ``add``, in seconds.
    """

    def __init__(self, message: str = "", *, timeout: float | None = None) -> None:
        super().__init__(message)
        self.timeout = timeout


class BatcherClosed(BatchError):
    """The batcher is not running: it was shut down, its dispatch loop died
    (``__cause__``), or ``run()`` was not started before ``add()``."""
