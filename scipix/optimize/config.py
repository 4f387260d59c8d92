"""Process-wide optimization level and OpenMP thread count.

Both are process-wide (as in the spec), not per thread: the thread count is
passed explicitly to every ``prange`` because ``omp_set_num_threads`` would
only reach kernels called from the thread that set it.
"""
from __future__ import annotations

import contextlib
import enum
import operator
import os
import threading
from collections.abc import Iterator
from typing import Union

from ._validate import positive_int

__all__ = ["OptLevel", "set_opt_level", "get_opt_level", "opt_level", "simd_enabled",
           "parallel_enabled", "memory_opt_enabled", "set_thread_count",
           "get_thread_count", "default_thread_count", "kernel_threads", "serial_kernels"]


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


def default_thread_count() -> int:
    """Threads scipix uses unless told otherwise.

    The first value of ``OMP_NUM_THREADS`` when set, otherwise the number of
    cores in this process's CPU affinity mask.
    """
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_level = OptLevel.FULL
_threads = default_thread_count()
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


def set_thread_count(n: int | None) -> None:
    """Set the OpenMP threads of scipix's kernels, for every calling thread.

    Parameters
    ----------
    n : int >= 1, or None
        None restores :func:`default_thread_count`.
    """
    global _threads
    if n is None:
        _threads = default_thread_count()
        return
    _threads = positive_int(n, "n")


def get_thread_count() -> int:
    """The thread count set by :func:`set_thread_count` (or the default)."""
    return _threads


class _ThreadState(threading.local):
    """Per-thread flags.  Worker threads of scipix's own thread pools set
    ``serial``: each OpenMP region started from another thread gets a team of
    its own, so kernels in W workers would otherwise start W * threads threads.
    The class attribute is the default: ``getattr(local, name, default)`` on a
    missing attribute costs ~600 ns (a caught AttributeError) per kernel call."""

    serial = False


_this_thread = _ThreadState()


def kernel_threads() -> int:
    """Threads a kernel called now may use: 1 below ``OptLevel.PARALLEL``
    and inside scipix's worker threads."""
    if _level_value < _PARALLEL or _this_thread.serial:
        return 1
    return _threads


@contextlib.contextmanager
def serial_kernels() -> Iterator[None]:
    """Run the kernels called by this thread on one OpenMP thread."""
    previous = _this_thread.serial
    _this_thread.serial = True
    try:
        yield
    finally:
        _this_thread.serial = previous


def _after_fork_in_child() -> None:
    # libgomp's thread pool does not survive fork(): a child that starts a
    # team after its parent ran one hangs.  One thread needs no team.
    global _threads
    _threads = 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
