"""Measure which execution shape runs a model faster on this machine."""
from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple, Union

from ..optimize._validate import positive_int
from ._model import EXECUTIONS, Feeds, Model
from ._options import default_threads

__all__ = ["choose_execution"]


def choose_execution(path: Union[str, "os.PathLike[str]"], feeds: Feeds, *,
                     threads: Optional[int] = None, rounds: int = 5,
                     **model_options: Any) -> Tuple[str, Dict[str, float]]:
    """The faster execution shape of a model for inputs like ``feeds``.

    Each round runs ``threads`` copies of ``feeds`` on each shape, the two
    shapes' rounds interleaved (so a change in the machine's load touches
    both): one after another on the ``"shared"`` session, all at once on
    the ``"pool"``'s sessions.  The median round decides.

    Parameters
    ----------
    path : str or os.PathLike
    feeds : ndarray or mapping of str to ndarray
        A typical input (a typical batch, for a batched model).
    threads : int, optional
        As for :class:`Model`.
    rounds : int >= 1
    **model_options
        Passed to both :class:`Model` s (``optimization``, ``configure``).

    Returns
    -------
    execution : {"shared", "pool"}
    seconds : dict
        The median round's seconds per shape.
    """
    rounds = positive_int(rounds, "rounds")
    threads = default_threads() if threads is None else positive_int(threads, "threads")
    times: Dict[str, List[float]] = {name: [] for name in EXECUTIONS}
    with Model(path, execution="shared", threads=threads, **model_options) as shared, \
            Model(path, execution="pool", threads=threads, **model_options) as pool, \
            ThreadPoolExecutor(threads) as callers:
        shared.run(feeds)  # warm up: first runs plan memory and buffers
        list(callers.map(lambda _: pool.run(feeds), range(threads)))
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(threads):
                shared.run(feeds)
            times["shared"].append(time.perf_counter() - start)
            start = time.perf_counter()
            list(callers.map(lambda _: pool.run(feeds), range(threads)))
            times["pool"].append(time.perf_counter() - start)
    seconds = {name: statistics.median(values) for name, values in times.items()}
    return min(seconds, key=seconds.__getitem__), seconds
