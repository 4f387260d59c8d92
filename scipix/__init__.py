"""scipix: the CPU side of OCR / ML inference pipelines, as fast as the hardware allows."""
from __future__ import annotations

from typing import Any

from . import optimize

__version__ = "0.1.0"
__all__ = ["optimize", "show_runtime", "runtime_info", "__version__"]


def runtime_info() -> dict[str, Any]:
    """What scipix runs on: CPU features, built and chosen variants, threads.

    Returns
    -------
    dict
    """
    from .optimize import _openmp_helpers
    return {
        "scipix": __version__,
        "cpu_features": optimize.get_features().enabled(),
        "built_variants": optimize.built_variants(),
        "runnable_variants": optimize.runnable_variants(),
        "active_variant": optimize.active_variant(),
        "opt_level": optimize.get_opt_level().name,
        "threads": optimize.get_thread_count(),
        "openmp": _openmp_helpers.openmp_enabled(),
        "omp_wait_policy": optimize.wait_policy(),
    }


def show_runtime() -> None:
    """Print :func:`runtime_info`, as ``numpy.show_runtime()`` does for NumPy."""
    info = runtime_info()
    width = max(len(key) for key in info)
    for key, value in info.items():
        if isinstance(value, list):
            value = " ".join(value) or "(none)"
        print(f"{key:<{width}} : {value}")
