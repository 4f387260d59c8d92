"""scipix.optimize: CPU feature detection, optimization levels and threads.

The submodules hold the capabilities: :mod:`~scipix.optimize.simd` (image
kernels), :mod:`~scipix.optimize.parallel` (batch preprocessing,
pipelines, bounded asyncio execution) and :mod:`~scipix.optimize.memory`
(pools, arena, image views, memory-mapped models) and
:mod:`~scipix.optimize.batch` (dynamic and adaptive batching) and
:mod:`~scipix.optimize.quantize` (INT8 quantization).
"""
from ._wait_policy import passive_unless_chosen, wait_policy

with passive_unless_chosen():  # the first import of an OpenMP extension
    from . import batch, memory, parallel, quantize, simd
    from ._dispatch import active_variant, built_variants, runnable_variants
    from .config import (OptLevel, default_thread_count, follow_process_thread_count,
                         get_opt_level, get_thread_count, local_thread_count, max_thread_count,
                         memory_opt_enabled, opt_level, parallel_enabled, serial_kernels,
                         set_opt_level, set_thread_count, simd_enabled)
    from .cpu import CpuFeatures, detect_features, get_features
from ._threadpoolctl import register_controller

register_controller()

__all__ = [
    "CpuFeatures", "detect_features", "get_features",
    "active_variant", "built_variants", "runnable_variants",
    "OptLevel", "set_opt_level", "get_opt_level", "opt_level",
    "simd_enabled", "parallel_enabled", "memory_opt_enabled",
    "set_thread_count", "get_thread_count", "default_thread_count", "max_thread_count",
    "local_thread_count", "follow_process_thread_count", "serial_kernels", "wait_policy",
    "simd", "parallel", "memory", "batch", "quantize",
]
