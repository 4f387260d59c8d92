"""The thread a blocking processor runs in."""
from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, Optional, Tuple

__all__ = ["ProcessorThread"]

# What the thread hands back: the processor's return value, or what it raised.
Deliver = Callable[[Any, Optional[BaseException]], None]


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
        self._jobs: queue.SimpleQueue[Optional[Tuple[Any, asyncio.AbstractEventLoop, Deliver]]] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, argument: Any, loop: asyncio.AbstractEventLoop, deliver: Deliver) -> None:
        """Queue ``fn(argument)``; ``deliver(result, error)`` runs on ``loop`` after it."""
        self._jobs.put((argument, loop, deliver))

    def close(self) -> None:
        """Let the thread end after the call in progress, if any."""
        self._jobs.put(None)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            argument, loop, deliver = job
            result: Any = None
            error: Optional[BaseException] = None
            try:
                result = self._fn(argument)
            except BaseException as exc:  # CancelledError, KeyboardInterrupt too: the loop decides
                error = exc
            try:
                loop.call_soon_threadsafe(deliver, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass
            del job, argument, result, error
