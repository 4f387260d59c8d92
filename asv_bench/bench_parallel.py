"""The parallel layer, sequential against parallel (the spec's "Parallel Processing").

``mode`` "sequential" is ``OptLevel.SIMD`` (one thread, everything in the
calling thread), "parallel" is ``OptLevel.FULL`` on ``get_thread_count()``
threads: the ratio of their times is the parallel speed-up.
"""
import asyncio

import numpy as np

from ._api import public, set_opt_level
from ._baselines import opencv_preprocess_batch
from ._inputs import page_rgba

MODES = {"sequential": "SIMD", "parallel": "FULL"}
PAGE = (768, 1024)
MODEL_INPUT = (384, 384)


def _pages():
    return [page_rgba(*PAGE, seed=i) for i in range(64)]


class PreprocessBatch:
    """64 RGBA 1024x768 pages -> (64, 1, 384, 384) float32, fused."""

    params = (list(MODES),)
    param_names = ["mode"]
    timeout = 300

    def setup_cache(self):
        return _pages()

    def setup(self, images, mode):
        self.preprocess_batch = public("scipix.optimize.parallel.preprocess_batch")
        set_opt_level(MODES[mode])
        # Touched here, so that the timed runs do not pay its page faults.
        self.out = np.ones((len(images), 1) + MODEL_INPUT, np.float32)

    def teardown(self, images, mode):
        set_opt_level("FULL")

    def time_preprocess_batch(self, images, mode):
        self.preprocess_batch(images, MODEL_INPUT, out=self.out)


class OpenCVPreprocessBatch:
    """The same batch with cv2.cvtColor, cv2.resize(INTER_AREA), meanStdDev."""

    timeout = 300

    def setup_cache(self):
        return _pages()

    def setup(self, images):
        try:
            import cv2
        except ImportError:
            raise NotImplementedError("opencv-python-headless is not installed") from None
        cv2.setNumThreads(1)
        self.cv2 = cv2
        self.out = np.ones((len(images), 1) + MODEL_INPUT, np.float32)

    def time_opencv_1_thread(self, images):
        opencv_preprocess_batch(self.cv2, images, MODEL_INPUT, self.out)


class ParallelMap:
    """parallel_map_chunked / parallel_preprocess of the gray kernel over n
    256x256 RGBA tiles (~20 us each: smaller items are dominated by the GIL
    handoffs between pool threads and gain nothing from threads)."""

    params = ([100, 1000, 10000], list(MODES))
    param_names = ["n", "mode"]

    def setup(self, n, mode):
        self.parallel = public("scipix.optimize.parallel")
        self.gray = public("scipix.optimize.simd.simd_grayscale")
        set_opt_level(MODES[mode])
        self.tiles = [page_rgba(256, 256)] * n

    def teardown(self, n, mode):
        set_opt_level("FULL")

    def time_parallel_map_chunked(self, n, mode):
        self.parallel.parallel_map_chunked(self.tiles, 8, self.gray)

    def time_parallel_preprocess(self, n, mode):
        self.parallel.parallel_preprocess(self.tiles, self.gray)


def _identity(x):
    return x


async def _nothing(x):
    return x


class ExecutorOverhead:
    """10000 no-op items: the executors' own cost per item is time / 10000."""

    params = (list(MODES),)
    param_names = ["mode"]

    def setup(self, mode):
        parallel = public("scipix.optimize.parallel")
        set_opt_level(MODES[mode])
        self.items = range(10_000)
        self.pipeline = parallel.PipelineExecutor(_identity, _identity)
        self.pipeline3 = parallel.Pipeline3(_identity, _identity, _identity)
        self.executor = parallel.AsyncParallelExecutor(8)

    def teardown(self, mode):
        set_opt_level("FULL")

    def time_pipeline_executor(self, mode):
        self.pipeline.execute_batch(self.items)

    def time_pipeline3(self, mode):
        self.pipeline3.execute_batch(self.items)

    def time_async_parallel_executor(self, mode):
        asyncio.run(self.executor.execute(self.items, _nothing))
