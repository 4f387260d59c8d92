"""Parallel processing: batch preprocessing, text-line crops, thread-pool maps, pipelines,
and bounded-concurrency asyncio execution.

Below ``OptLevel.PARALLEL`` (see :func:`scipix.optimize.set_opt_level`)
everything here runs sequentially, in the calling thread.
"""
from ._async import AsyncParallelExecutor
from ._batch import BatchResult, preprocess_batch
from ._crops import crop_quads, crop_widths
from ._detector import detector_size
from ._map import parallel_map_chunked, parallel_preprocess, parallel_preprocess_result
from ._pipeline import Pipeline, Pipeline3, PipelineError, PipelineExecutor

__all__ = ["preprocess_batch", "BatchResult", "detector_size", "crop_quads", "crop_widths",
           "parallel_preprocess", "parallel_preprocess_result", "parallel_map_chunked",
           "Pipeline", "PipelineExecutor", "Pipeline3",
           "PipelineError", "AsyncParallelExecutor"]
