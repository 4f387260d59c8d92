"""The thread a blocking processor runs in."""
from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, Optional, Tuple

from ..config import follow_process_thread_count

__all__ = ["ProcessorThread"]

# What the thread hands back: the processor's return value, or what it raised.
Deliver = Callable[[Any, Optional[BaseException]], None]

_RETIRE = object()  # the job retire() queues in place of an argument


class ProcessorThread:
    """Run a blocking function on one daemon thread, one call at a time.

    A daemon thread, not a ``ThreadPoolExecutor`` worker: the interpreter
    joins executor threads at exit, so a processor that never returns
    would keep the process alive.  A call abandoned by its batcher (shut
    down with a timeout, or cancelled) finishes alone; its outcome is
    dropped.

    Parameters
    ----------
    fn : callable
        Called with one argument per :meth:`call`.
    name : str
        The thread's name.
    """

    def __init__(self, fn: Callable[[Any], Any], name: str) -> None:
        self._fn = fn
        self._calls_lock = threading.Lock()
        self._calls = 0  # queued or running, not yet delivered
        self._closed = False
        self._jobs: queue.SimpleQueue[Optional[Tuple[Any, asyncio.AbstractEventLoop, Deliver]]] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, argument: Any, loop: asyncio.AbstractEventLoop, deliver: Deliver) -> None:
        """Queue ``fn(argument)``; ``deliver(result, error)`` runs on ``loop`` after it."""
        with self._calls_lock:
            self._calls += 1
        self._jobs.put((argument, loop, deliver))

    def close(self) -> None:
        """Let the thread end after the call in progress, if any (again: nothing)."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)

    async def retire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close, and when no call is in flight, return once the thread has ended.

        A thread still running an abandoned call is left to finish alone:
        waiting for it could wait for ever.
        """
        with self._calls_lock:
            idle = self._calls == 0
        if not idle or self._closed:
            self.close()
            return
        ended: asyncio.Future[None] = loop.create_future()

        def say_ended(result: Any, error: Optional[BaseException]) -> None:
            if not ended.done():
                ended.set_result(None)

        self._closed = True
        self._jobs.put((_RETIRE, loop, say_ended))
        await ended
        self._thread.join()  # the thread has returned from its loop: a moment at most

    def _serve(self) -> None:
        # The one processor thread has the cores to itself while a batch
        # runs: its kernels use the process-wide count (other threads use one).
        follow_process_thread_count()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            argument, loop, deliver = job
            if argument is _RETIRE:
                loop.call_soon_threadsafe(deliver, None, None)
                return
            result: Any = None
            error: Optional[BaseException] = None
            try:
                result = self._fn(argument)
            except BaseException as exc:  # CancelledError, KeyboardInterrupt too: the loop decides
                error = exc
            with self._calls_lock:  # before delivery: once delivered, the call is over
                self._calls -= 1
            try:
                loop.call_soon_threadsafe(deliver, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass
            del job, argument, result, error
