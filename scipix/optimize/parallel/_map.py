"""Order-keeping thread-pool maps.

The workers are threads, so they run in parallel only while ``fn`` releases
the GIL: scipix's kernels, NumPy's large-array operations and OpenCV do; a
``fn`` written in pure Python does not and gains nothing (use processes
for that).  Inside the workers scipix's kernels run on one OpenMP thread
each, so W workers use W cores, not W times ``get_thread_count()``.

Below ``OptLevel.PARALLEL`` every map runs in the calling thread.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, Union

from .._validate import positive_int
from ..config import get_thread_count, parallel_enabled, serial_kernels

__all__ = ["parallel_preprocess", "parallel_preprocess_result", "parallel_map_chunked"]

T = TypeVar("T")
R = TypeVar("R")


def _check_fn(fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")


def _workers(max_workers: int | None) -> int:
    if max_workers is None:
        return get_thread_count()
    return positive_int(max_workers, "max_workers")


def _map_chunks(fn: Callable[[T], R], items: Sequence[T], chunk_size: int,
                max_workers: int) -> list[R]:
    """``[fn(item) for item in items]`` in tasks of ``chunk_size`` items.

    Results in order; the first failure in input order is raised after the
    tasks not yet started are cancelled.
    """
    chunks = [items[start:start + chunk_size] for start in range(0, len(items), chunk_size)]
    workers = min(max_workers, len(chunks))
    if workers <= 1 or not parallel_enabled():
        return [fn(item) for item in items]

    def run_chunk(chunk: Sequence[T]) -> list[R]:
        with serial_kernels():
            return [fn(item) for item in chunk]

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scipix") as pool:
        futures = [pool.submit(run_chunk, chunk) for chunk in chunks]
        try:
            return [result for future in futures for result in future.result()]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _balanced_chunk(n_items: int, workers: int) -> int:
    # Four tasks per worker: little per-task overhead, and a slow image
    # holds up at most a quarter of one worker's share.
    return max(1, -(-n_items // (4 * workers)))


def _captured(fn: Callable[[T], R]) -> Callable[[T], Union[R, Exception]]:
    def call(item: T) -> Union[R, Exception]:
        try:
            return fn(item)
        except Exception as exc:  # returned in the item's slot, as documented
            return exc
    return call


def parallel_preprocess(images: Iterable[T], fn: Callable[[T], R], *,
                        max_workers: int | None = None) -> list[R]:
    """``[fn(image) for image in images]`` on a thread pool, order kept.

    Parameters
    ----------
    images : iterable
    fn : callable, one item -> result
    max_workers : int >= 1, optional
        Default ``get_thread_count()``.

    Returns
    -------
    list
        ``fn``'s results in input order.

    Raises
    ------
    Exception
        The exception of the first failing item in input order; items not
        yet started are skipped.
    """
    _check_fn(fn)
    workers = _workers(max_workers)
    items = list(images)
    return _map_chunks(fn, items, _balanced_chunk(len(items), workers), workers)


def parallel_preprocess_result(images: Iterable[T], fn: Callable[[T], R], *,
                               max_workers: int | None = None) -> list[Union[R, Exception]]:
    """As :func:`parallel_preprocess`, but never raises for an item.

    Returns
    -------
    list
        In input order, ``fn(image)`` or the ``Exception`` it raised (as
        ``asyncio.gather(..., return_exceptions=True)``).
    """
    _check_fn(fn)
    return parallel_preprocess(images, _captured(fn), max_workers=max_workers)


def parallel_map_chunked(items: Iterable[T], chunk_size: int, fn: Callable[[T], R], *,
                         max_workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, ``chunk_size`` items per pool task.

    Larger chunks cost less per item (one task, not one per item) but
    balance worse when item costs vary.

    Parameters
    ----------
    items : iterable
    chunk_size : int >= 1
    fn : callable, one item -> result
    max_workers : int >= 1, optional
        Default ``get_thread_count()``.

    Returns
    -------
    list
        Results in input order.

    Raises
    ------
    Exception
        The first failure in input order; chunks not yet started are skipped.
    """
    chunk_size = positive_int(chunk_size, "chunk_size")
    _check_fn(fn)
    return _map_chunks(fn, list(items), chunk_size, _workers(max_workers))
