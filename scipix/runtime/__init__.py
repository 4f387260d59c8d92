"""ONNX Runtime, driven for throughput on the CPU.

:class:`Model` loads an ONNX model into sessions set up for serving (memory
arena on, idle workers sleeping, thread counts from scipix's own) in one
of two execution shapes, checks inputs against the model and writes
outputs into reused buffers.  :class:`BatchedModel` groups requests from
many callers (asyncio or threads) by padded input shape into batches
that run on the model's sessions at once.  :class:`StagePipeline` runs
models one after another (detector -> crops -> recognizer) with the stages
overlapped.  Requires ``onnxruntime`` (``pip install scipix[runtime]``).
"""
from ._batched import BatchedModel, RuntimeStats
from ._choose import choose_execution
from ._errors import InputError, ModelError, ModelLoadError, RuntimeClosed
from ._model import EXECUTIONS, Model, TensorSpec
from ._options import default_threads, session_options
from ._stages import StagePipeline, StageResult

__all__ = ["Model", "TensorSpec", "EXECUTIONS", "BatchedModel", "RuntimeStats",
           "StagePipeline", "StageResult", "choose_execution", "session_options",
           "default_threads", "ModelLoadError", "InputError", "ModelError", "RuntimeClosed"]
