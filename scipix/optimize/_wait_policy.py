"""scipix's default OpenMP wait policy: passive.

libgomp's own default keeps its idle workers spinning for a few
milliseconds after every parallel region, CPU taken from whatever runs next
(a model runtime's threads, a web server).  Passive workers sleep at once,
at a cost of tens of microseconds when the next region wakes them (see
docs/design/choices.rst).  libgomp reads ``OMP_WAIT_POLICY`` once, when it loads, so the
variable is set only while scipix's extensions load their runtime, then
removed: child processes and later imports see the environment unchanged.

A process may hold several OpenMP runtimes: a wheel vendors its own
libgomp (scipix's, PyTorch's), an editable build uses the system's.  What
counts is whether scipix's own runtime was loaded before scipix: found after
the import from the library that resolves scipix's OpenMP calls, compared
with the runtimes mapped before it.

Users choose another policy with ``OMP_WAIT_POLICY`` (e.g. ``active`` for
back-to-back small calls on dedicated cores), set before importing scipix.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import re
from collections.abc import Iterator

__all__ = ["passive_unless_chosen", "wait_policy", "openmp_runtime", "openmp_runtimes_loaded"]

_policy: str | None = None
_OPENMP_RUNTIME = re.compile(r"/lib(gomp|omp|iomp5)[-.][^/]*$")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def openmp_runtimes_loaded() -> list[str]:
    """Paths of the OpenMP runtimes mapped into this process (Linux; else [])."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[-1].strip() for line in maps if "/lib" in line}
    except OSError:
        return []
    return sorted(os.path.realpath(path) for path in paths if _OPENMP_RUNTIME.search(path))


def openmp_runtime() -> str | None:
    """Path of the OpenMP runtime scipix's compiled modules call.

    ``None`` when scipix was built without OpenMP or the platform cannot
    tell (no ``dladdr``).
    """
    from . import _openmp_helpers
    try:
        # dlsym through the module's own handle searches the module, then
        # the libraries it links: the runtime its calls are bound to.
        function = ctypes.CDLL(_openmp_helpers.__file__).omp_get_max_threads
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError):
        return None
    info = _DlInfo()
    if not dladdr(ctypes.cast(function, ctypes.c_void_p), ctypes.byref(info)):
        return None
    path: bytes = info.dli_fname
    return os.path.realpath(path.decode())


@contextlib.contextmanager
def passive_unless_chosen() -> Iterator[None]:
    """Load scipix's OpenMP runtime inside this block with a passive wait
    policy, unless the user set ``OMP_WAIT_POLICY``; record who chose."""
    global _policy
    if os.environ.get("OMP_WAIT_POLICY"):
        _policy = f"{os.environ['OMP_WAIT_POLICY']} (OMP_WAIT_POLICY)"
        yield
        return
    loaded_before = openmp_runtimes_loaded()
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    from ._openmp_helpers import openmp_enabled
    runtime = openmp_runtime()
    if not openmp_enabled():
        _policy = "none (scipix was built without OpenMP)"
    elif runtime in loaded_before or (runtime is None and loaded_before):
        _policy = "runtime default (OpenMP was loaded before scipix)"
    else:
        _policy = "passive (scipix default)"


def wait_policy() -> str | None:
    """The OpenMP wait policy of scipix's runtime, and who chose it."""
    return _policy
