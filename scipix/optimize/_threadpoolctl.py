"""scipix as a library threadpoolctl controls.

``threadpool_info()`` lists scipix (``user_api="openmp"``,
``internal_api="scipix"``) with the thread count of the calling thread, and
``threadpool_limits(n)`` or ``threadpool_limits(n, user_api="openmp")``
sets it, then restores it: in the main thread that is scipix's process-wide
count, in a thread with a count of its own (any other thread, by default)
that thread's count (see :mod:`scipix.optimize.config`).  threadpoolctl's
own OpenMP controller cannot do it: it calls ``omp_set_num_threads``, and
scipix passes its count to every parallel region explicitly.

A limit above :func:`~scipix.optimize.max_thread_count` is lowered to it
with a RuntimeWarning, as a large ``OMP_NUM_THREADS`` is: threadpoolctl sets
every library's controller in turn and restores only those it has set, so
an error from scipix's would leave the libraries before it (OpenBLAS, other
OpenMP runtimes) at the new limit for good.

threadpoolctl finds controllers among the shared objects loaded in the
process; scipix's is its ``_openmp_helpers`` extension, told from other
packages' modules of that name by the symbol it exports.  Registering needs
threadpoolctl >= 3.3 (``register``, and ``check_symbols`` honoured for
registered controllers); with an older one, or none, nothing is registered.
"""
from __future__ import annotations

import re
import warnings
from typing import Any

from . import config

__all__ = ["register_controller"]

try:
    import threadpoolctl  # type: ignore[import-untyped, unused-ignore]
except ImportError:
    threadpoolctl = None

_registered = False


def _supported(version: str) -> bool:
    major, minor = (int(number) for number in re.findall(r"\d+", version)[:2])
    return (major, minor) >= (3, 3)


def _clamped(num_threads: int) -> int:
    """``num_threads`` within [1, max_thread_count()], with a RuntimeWarning
    when it was outside."""
    ceiling = config.max_thread_count()
    count = min(max(int(num_threads), 1), ceiling)
    if count != num_threads:
        warnings.warn(f"threadpool_limits asked scipix for {num_threads} threads; scipix uses "
                      f"{count} (from 1 to max_thread_count(), {ceiling})",
                      RuntimeWarning, stacklevel=2)
    return count


def _controller_class() -> Any:
    class ScipixController(threadpoolctl.LibController):  # type: ignore[misc, unused-ignore]
        """scipix's OpenMP thread count, for threadpoolctl."""

        user_api = "openmp"
        internal_api = "scipix"
        filename_prefixes = ("_openmp_helpers",)
        check_symbols = ("scipix_thread_control",)

        def get_num_threads(self) -> int:
            return config._calling_thread_count()

        def set_num_threads(self, num_threads: int) -> None:
            config._set_calling_thread_count(_clamped(num_threads))

        def get_version(self) -> str:
            from .. import __version__
            return __version__

    return ScipixController


def register_controller() -> bool:
    """Register scipix's controller with threadpoolctl, once, when a
    version that supports it is installed.

    Returns
    -------
    bool
        True when scipix's controller is registered.
    """
    global _registered
    if not _registered and threadpoolctl is not None \
            and _supported(threadpoolctl.__version__):
        from . import _openmp_helpers  # noqa: F401  (loaded: threadpoolctl looks for it)
        threadpoolctl.register(_controller_class())
        _registered = True
    return _registered
