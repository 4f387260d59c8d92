"""Bounded-concurrency execution of coroutines."""
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, Union

from .._validate import positive_int
from ..config import parallel_enabled

__all__ = ["AsyncParallelExecutor"]

T = TypeVar("T")
R = TypeVar("R")


class AsyncParallelExecutor:
    """Await ``fn(task)`` for many tasks, at most ``max_concurrent`` at once.

    ``max_concurrent`` workers each take the next task as they finish one,
    so at any moment at most that many ``fn`` coroutines exist; tasks are
    not all turned into coroutines up front.  Below ``OptLevel.PARALLEL``
    the tasks run one at a time.

    Parameters
    ----------
    max_concurrent : int >= 1
    """

    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = positive_int(max_concurrent, "max_concurrent")

    async def execute(self, tasks: Iterable[T], fn: Callable[[T], Awaitable[R]]) -> list[R]:
        """Results of ``await fn(task)`` in task order.

        The first exception cancels the tasks still running and is raised;
        a ``CancelledError`` raised by ``fn`` counts as one (as for
        ``asyncio.gather``).
        """
        return await self._run(tasks, fn, capture=False)

    async def execute_result(self, tasks: Iterable[T], fn: Callable[[T], Awaitable[R]]
                             ) -> list[Union[R, BaseException]]:
        """As :meth:`execute`, but each task's exception (a ``CancelledError``
        raised by ``fn`` included) is returned in its slot instead of
        raised; the other tasks go on."""
        return await self._run(tasks, fn, capture=True)

    async def _run(self, tasks: Iterable[T], fn: Callable[[T], Awaitable[R]],
                   capture: bool) -> list[Any]:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        items = list(tasks)
        results: list[Any] = [None] * len(items)
        if not items:
            return results
        indices = iter(range(len(items)))  # shared: each worker takes the next index
        stopping = False  # set before the workers are cancelled

        async def call(index: int) -> R:
            awaitable = fn(items[index])
            if not inspect.isawaitable(awaitable):
                raise TypeError(f"fn must return an awaitable, got {type(awaitable).__name__}")
            return await awaitable

        async def worker() -> None:
            for index in indices:
                try:
                    results[index] = await call(index)
                except asyncio.CancelledError as exc:
                    if stopping:
                        raise
                    # fn's own cancellation: a task that ends cancelled would
                    # not count as failed, so it travels wrapped.
                    if not capture:
                        raise _FnCancelled(exc) from None
                    results[index] = exc
                except Exception as exc:
                    if not capture:
                        raise
                    results[index] = exc

        limit = self.max_concurrent if parallel_enabled() else 1
        workers = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(items)))]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        finally:  # a failure, or the caller cancelled us: no worker outlives the call
            stopping = True
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if isinstance(error, _FnCancelled):
                raise error.cancelled
            if error is not None:
                raise error
        return results

    def __repr__(self) -> str:
        return f"AsyncParallelExecutor(max_concurrent={self.max_concurrent})"


class _FnCancelled(Exception):
    """A worker's wrapper for a ``CancelledError`` that ``fn`` raised."""

    def __init__(self, cancelled: asyncio.CancelledError) -> None:
        super().__init__(cancelled)
        self.cancelled = cancelled
