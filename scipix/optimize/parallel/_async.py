"""Bounded-concurrency execution of coroutines."""
import asyncio
import inspect

from .._validate import positive_int
from ..config import parallel_enabled

__all__ = ["AsyncParallelExecutor"]


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

    def __init__(self, max_concurrent):
        self.max_concurrent = positive_int(max_concurrent, "max_concurrent")

    async def execute(self, tasks, fn):
        """Results of ``await fn(task)`` in task order.

        The first exception cancels the tasks still running and is raised.
        """
        return await self._run(tasks, fn, capture=False)

    async def execute_result(self, tasks, fn):
        """As :meth:`execute`, but each task's exception is returned in its
        slot instead of raised; the other tasks go on."""
        return await self._run(tasks, fn, capture=True)

    async def _run(self, tasks, fn, capture):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        items = list(tasks)
        results = [None] * len(items)
        if not items:
            return results
        indices = iter(range(len(items)))  # shared: each worker takes the next index

        async def call(index):
            awaitable = fn(items[index])
            if not inspect.isawaitable(awaitable):
                raise TypeError(f"fn must return an awaitable, got {type(awaitable).__name__}")
            return await awaitable

        async def worker():
            for index in indices:
                if capture:
                    try:
                        results[index] = await call(index)
                    except Exception as exc:
                        results[index] = exc
                else:
                    results[index] = await call(index)

        limit = self.max_concurrent if parallel_enabled() else 1
        workers = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(items)))]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        finally:  # a failure, or the caller cancelled us: no worker outlives the call
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()
        return results

    def __repr__(self):
        return f"AsyncParallelExecutor(max_concurrent={self.max_concurrent})"
