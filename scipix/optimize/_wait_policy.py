"""scipix's default OpenMP wait policy: passive.

libgomp's own default keeps its idle workers spinning for a few
milliseconds after every parallel region: measured here, each such call
leaves about 10 ms of CPU burned on other cores, taken from whatever runs
next (a model runtime's threads, a web server).  Passive workers sleep at
once, at a cost of tens of microseconds when the next region wakes them
(see the README).  libgomp reads ``OMP_WAIT_POLICY`` once, when it loads,
so the variable is set only while scipix's extensions load it, then
removed: child processes and later imports see the environment unchanged.

Users choose another policy with ``OMP_WAIT_POLICY`` (e.g. ``active`` for
back-to-back small calls on dedicated cores), set before importing scipix.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["passive_unless_chosen", "wait_policy"]

_policy: str | None = None


def _openmp_runtime_loaded() -> bool:
    """True when an OpenMP runtime is already mapped into this process."""
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line or "libomp" in line for line in maps)
    except OSError:  # not Linux: assume not, the variable is then harmless
        return False


@contextlib.contextmanager
def passive_unless_chosen() -> Iterator[None]:
    """Load the OpenMP runtime inside this block with a passive wait policy,
    unless the user set ``OMP_WAIT_POLICY`` or the runtime is loaded already."""
    global _policy
    if os.environ.get("OMP_WAIT_POLICY"):
        _policy = f"{os.environ['OMP_WAIT_POLICY']} (OMP_WAIT_POLICY)"
        yield
        return
    if _openmp_runtime_loaded():
        _policy = "runtime default (OpenMP was loaded before scipix)"
        yield
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        yield
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    _policy = "passive (scipix default)"


def wait_policy() -> str | None:
    """The OpenMP wait policy in effect, and who chose it."""
    return _policy
