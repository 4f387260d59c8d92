"""Session options: the defaults every scipix session starts from."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ..optimize.config import get_thread_count
from ..optimize._validate import positive_int

__all__ = ["session_options", "OPTIMIZATION_LEVELS", "default_threads"]

OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


def default_threads() -> int:
    """Cores a model may use: scipix's process-wide thread count
    (``set_thread_count``, ``OMP_NUM_THREADS``, threadpoolctl's limits), so
    ONNX Runtime's pools and scipix's OpenMP team are sized by one rule."""
    return get_thread_count()


def session_options(threads: int, *, optimization: str = "all",
                    configure: Optional[Callable[[Any], None]] = None) -> Any:
    """An ``onnxruntime.SessionOptions`` set up for serving on a CPU.

    * the CPU memory arena on (tensors of a repeated shape reuse memory);
    * ``threads`` intra-op threads, one inter-op thread, sequential
      execution: a session never starts more threads than it was given;
    * idle intra-op and inter-op workers sleep instead of spinning: a
      spinning worker holds a core another stage or session needs;
    * the graph optimization level ``optimization``;
    * log severity "error".

    Parameters
    ----------
    threads : int >= 1
        Intra-op threads of the session (1: it runs on the calling thread).
    optimization : {"disable", "basic", "extended", "all"}
        ONNX Runtime's ``GraphOptimizationLevel``.
    configure : callable, SessionOptions -> None, optional
        Called last with the options, to change anything else (any
        ``SessionOptions`` attribute, ``add_session_config_entry``, ...).

    Returns
    -------
    onnxruntime.SessionOptions
    """
    import onnxruntime as ort

    threads = positive_int(threads, "threads")
    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if optimization not in levels:
        raise ValueError(f"optimization must be one of {OPTIMIZATION_LEVELS}, "
                         f"got {optimization!r}")
    if configure is not None and not callable(configure):
        raise TypeError(f"configure must be callable, got {type(configure).__name__}")
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = True
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = levels[optimization]
    options.log_severity_level = 3
    if configure is not None:
        configure(options)
    return options
