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
        ``scipix`` (version), ``cpu`` (model name, family and model),
        ``cpu_features``, ``built_variants``,
        ``runnable_variants``, ``active_variant``, ``opt_level``,
        ``threads``, ``openmp`` (bool: built with OpenMP), ``openmp_runtime``
        (path of the OpenMP library scipix's kernels call, or why there is
        none), ``other_openmp`` (paths of further OpenMP libraries
        in the process, e.g. PyTorch's own libgomp: their threads and
        scipix's do not coordinate) and ``omp_wait_policy`` (of scipix's
        runtime, and who chose it).
    """
    from .optimize import _openmp_helpers, _wait_policy
    openmp = _openmp_helpers.openmp_enabled()
    runtime = _wait_policy.openmp_runtime()
    if not openmp:
        runtime_text = "none (built without OpenMP: every kernel runs on one thread)"
    else:
        runtime_text = runtime or "unknown (no dladdr on this platform)"
    return {
        "scipix": __version__,
        "cpu": optimize.cpu.cpu_name(),
        "cpu_features": optimize.get_features().enabled(),
        "built_variants": optimize.built_variants(),
        "runnable_variants": optimize.runnable_variants(),
        "active_variant": optimize.active_variant(),
        "opt_level": optimize.get_opt_level().name,
        "threads": optimize.get_thread_count(),
        "openmp": openmp,
        "openmp_runtime": runtime_text,
        "other_openmp": [path for path in _wait_policy.openmp_runtimes_loaded()
                                  if path != runtime],
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
