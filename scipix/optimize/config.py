"""Process-wide optimization level, and the OpenMP threads of each calling thread.

Which count a kernel runs on (docs/guide/scaling.rst):

- The main thread uses the process-wide count: :func:`set_thread_count`,
  else ``OMP_NUM_THREADS``, else the CPUs this process may run on.  A new
  value of ``OMP_NUM_THREADS`` replaces it (Ray sets it per task).
- Every other thread uses one OpenMP thread unless it chose its own count
  (:func:`local_thread_count`, ``threadpoolctl.threadpool_limits``): pools
  of threads (Dask, ``concurrent.futures``, web servers) run many tasks at
  once, and each OpenMP region started from another thread gets a team of
  its own, so a full team per task would oversubscribe the cores.
- A child made with ``fork`` uses one thread: libgomp cannot start a team
  in a forked child after its parent ran one.

The count is passed explicitly to every ``prange``: ``omp_set_num_threads``
would only reach kernels called from the thread that set it.
"""
from __future__ import annotations

import contextlib
import enum
import operator
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Union

from ._validate import positive_int

__all__ = ["OptLevel", "set_opt_level", "get_opt_level", "opt_level", "simd_enabled",
           "parallel_enabled", "memory_opt_enabled", "set_thread_count",
           "get_thread_count", "default_thread_count", "max_thread_count",
           "local_thread_count", "follow_process_thread_count", "serial_kernels",
           "kernel_threads"]


class OptLevel(enum.IntEnum):
    """Which optimizations scipix uses; each level includes the ones below.

    NONE
        The scalar reference kernels on one thread.
    SIMD
        The best SIMD variant for this CPU, on one thread.
    PARALLEL
        SIMD kernels on ``get_thread_count()`` OpenMP threads.
    FULL
        Also buffer pooling and the other memory optimizations (default).
    """

    NONE = 0
    SIMD = 1
    PARALLEL = 2
    FULL = 3


LevelLike = Union["OptLevel", int, str]


def _as_level(level: LevelLike) -> OptLevel:
    if isinstance(level, str):
        try:
            return OptLevel[level.upper()]
        except KeyError:
            raise ValueError(f"level must be one of {[m.name for m in OptLevel]}, "
                             f"got {level!r}") from None
    try:
        return OptLevel(operator.index(level))
    except TypeError:
        raise TypeError(f"level must be an OptLevel, got {type(level).__name__}") from None
    except ValueError:
        raise ValueError(f"level must be one of {[int(m) for m in OptLevel]}, "
                         f"got {level!r}") from None


_level = OptLevel.FULL
# Plain ints and bools of the level, read on every kernel call and pool
# acquire: comparing IntEnum members costs ~100 ns, these ~20.
_level_value = int(_level)
pooling = True
_SIMD, _PARALLEL = int(OptLevel.SIMD), int(OptLevel.PARALLEL)


def set_opt_level(level: LevelLike) -> None:
    """Set the process-wide optimization level.

    Parameters
    ----------
    level : OptLevel, int or str
        E.g. ``OptLevel.SIMD``, ``1`` or ``"simd"``.
    """
    global _level, _level_value, pooling
    _level = _as_level(level)
    _level_value = int(_level)
    pooling = _level_value >= OptLevel.FULL


def get_opt_level() -> OptLevel:
    """The current :class:`OptLevel`."""
    return _level


@contextlib.contextmanager
def opt_level(level: LevelLike) -> Iterator[OptLevel]:
    """Run a block at ``level``, then restore the previous level.

    The level is process-wide: other threads see it too while the block runs.
    """
    previous = _level
    set_opt_level(level)
    try:
        yield _level
    finally:
        set_opt_level(previous)


def simd_enabled() -> bool:
    """True when the SIMD kernels are used (level >= SIMD)."""
    return _level_value >= _SIMD


def parallel_enabled() -> bool:
    """True when kernels and batch helpers use several threads (level >= PARALLEL)."""
    return _level_value >= _PARALLEL


def memory_opt_enabled() -> bool:
    """True when pooling and the other memory optimizations are on (level FULL)."""
    return pooling


# More threads than CPUs only add switching to these kernels, but a few per
# CPU are harmless (tests of thread splitting, deliberate oversubscription);
# tens of thousands make the OpenMP runtime crash or exit the process.
_MAX_THREADS = 4 * (os.cpu_count() or 1)
_ENV_NAME = "OMP_NUM_THREADS"
# os.environ's own mapping, read on every kernel call to notice a new value
# of OMP_NUM_THREADS: os.environ.get would cost as much as a small kernel.
_environ_data = os.environ._data  # type: ignore[attr-defined]
_environ_key = os.environ.encodekey(_ENV_NAME)
_forked_child = False


def max_thread_count() -> int:
    """The largest thread count scipix accepts: four per logical CPU.

    ``set_thread_count`` and ``local_thread_count`` refuse more with a
    ValueError; a larger ``OMP_NUM_THREADS`` is lowered to it with a
    RuntimeWarning.
    """
    return _MAX_THREADS


def _checked_count(n: object, name: str) -> int:
    """``n`` as a thread count in ``[1, max_thread_count()]``, or a
    TypeError / ValueError naming ``name``; NumPy integers pass, bools do not."""
    count = positive_int(n, name)
    if count > _MAX_THREADS:
        raise ValueError(f"{name} must be at most {_MAX_THREADS} (max_thread_count(): "
                         f"4 per CPU), got {count}")
    return count


def _fork_safe(count: int) -> int:
    """``count``, or 1 with a RuntimeWarning in a forked child."""
    if _forked_child and count > 1:
        warnings.warn(f"scipix kernels stay on one thread in a process made with fork "
                      f"(asked for {count}): libgomp cannot start a team in a forked "
                      f"child after its parent ran one. Start workers with the 'spawn' "
                      f"or 'forkserver' method to use threads in them.",
                      RuntimeWarning, stacklevel=3)
        return 1
    return count


def _environment_count(raw: str) -> int | None:
    """The first value of ``OMP_NUM_THREADS`` as a thread count; None, with a
    RuntimeWarning, when it is not a positive integer."""
    first = raw.split(",")[0].strip()
    if not (first.isdecimal() and int(first) > 0):
        warnings.warn(f"{_ENV_NAME}={raw!r} is not a positive integer; scipix ignores it",
                      RuntimeWarning, stacklevel=3)
        return None
    if int(first) > _MAX_THREADS:
        warnings.warn(f"{_ENV_NAME}={raw!r} is more than max_thread_count() "
                      f"({_MAX_THREADS}); scipix uses {_MAX_THREADS}",
                      RuntimeWarning, stacklevel=3)
        return _MAX_THREADS
    return int(first)


def default_thread_count() -> int:
    """Threads scipix uses unless told otherwise.

    The first value of ``OMP_NUM_THREADS`` when set (at most
    :func:`max_thread_count`, with a RuntimeWarning for a value that is
    too large or not a positive integer), otherwise the number of cores in
    this process's CPU affinity mask; 1 in a process made with ``fork``.
    """
    if _forked_child:
        return 1
    raw = os.environ.get(_ENV_NAME, "")
    count = _environment_count(raw) if raw.strip() else None
    if count is not None:
        return count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_environ_seen = _environ_data.get(_environ_key)
_threads = default_thread_count()


def _follow_environment() -> None:
    """Take the count from ``OMP_NUM_THREADS`` when its value changed since
    it was last read: Ray sets it per task in processes it reuses."""
    global _environ_seen, _threads
    raw = _environ_data.get(_environ_key)
    if raw != _environ_seen:
        _threads = default_thread_count()
    _environ_seen = raw


def set_thread_count(n: int | None) -> None:
    """Set the process-wide OpenMP thread count of scipix's kernels.

    The main thread's kernels, and those of threads that follow the
    process-wide count (``local_thread_count(None)``), run on it; other
    threads use one thread unless they set their own.  A later change of
    ``OMP_NUM_THREADS`` replaces it.

    Parameters
    ----------
    n : int in [1, max_thread_count()], or None
        None restores :func:`default_thread_count`.  In a process made with
        ``fork`` a count above 1 is lowered to 1 with a RuntimeWarning.
    """
    global _threads, _environ_seen
    count = default_thread_count() if n is None else _fork_safe(_checked_count(n, "n"))
    _environ_seen = _environ_data.get(_environ_key)
    _threads = count


def get_thread_count() -> int:
    """The process-wide thread count (see :func:`set_thread_count`)."""
    if _environ_data.get(_environ_key) is not _environ_seen:
        _follow_environment()
    return _threads


class _ThreadState(threading.local):
    """The calling thread's own count: None follows the process-wide count
    (the main thread, by default), an int is the thread's own (1 by default
    in every other thread).  Set in ``__init__`` because a missing attribute
    of a ``threading.local`` costs a caught AttributeError per kernel call."""

    def __init__(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        self.threads: int | None = None if main else 1


_this_thread = _ThreadState()


def kernel_threads() -> int:
    """Threads a kernel called now from this thread may use: 1 below
    ``OptLevel.PARALLEL``, else this thread's own count or the process-wide one."""
    if _level_value < _PARALLEL:
        return 1
    own = _this_thread.threads
    if own is not None:
        return own
    if _environ_data.get(_environ_key) is not _environ_seen:
        _follow_environment()
    return _threads


@contextlib.contextmanager
def local_thread_count(n: int | None) -> Iterator[None]:
    """Run the kernels this thread calls inside the block on ``n`` threads.

    Threads other than the main thread run kernels on one OpenMP thread by
    default; a thread that has the cores to itself (e.g. the only worker of
    a Dask process) uses ``local_thread_count(None)`` to follow the
    process-wide count instead.  Other threads are not affected.

    Parameters
    ----------
    n : int in [1, max_thread_count()], or None
        None follows :func:`get_thread_count`.
    """
    previous = _this_thread.threads
    _this_thread.threads = None if n is None else _fork_safe(_checked_count(n, "n"))
    try:
        yield
    finally:
        _this_thread.threads = previous if previous is None or not _forked_child else 1


def follow_process_thread_count() -> None:
    """From now on, run the kernels this thread calls on the process-wide
    count: for a thread that has the cores to itself, e.g. as the
    ``initializer`` of a one-thread ``ThreadPoolExecutor`` (scipix's
    batchers run their processor so)."""
    _this_thread.threads = None


def serial_kernels() -> contextlib.AbstractContextManager[None]:
    """Run the kernels this thread calls inside the block on one OpenMP
    thread: ``local_thread_count(1)``.  Use it in a thread of your own pool
    that would otherwise follow the process-wide count."""
    return local_thread_count(1)


def _calling_thread_count() -> int:
    """The count :func:`_set_calling_thread_count` sets: the calling thread's
    own count when it has one, else the process-wide count."""
    own = _this_thread.threads
    return get_thread_count() if own is None else own


def _set_calling_thread_count(n: int) -> None:
    """Set the calling thread's own count when it has one, else the
    process-wide count (what ``threadpool_limits`` sets, thread by thread)."""
    if _this_thread.threads is None:
        set_thread_count(n)
    else:
        _this_thread.threads = _fork_safe(_checked_count(n, "n"))


def _after_fork_in_child() -> None:
    global _forked_child, _threads
    _forked_child = True
    _threads = 1
    if _this_thread.threads is not None:
        _this_thread.threads = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
