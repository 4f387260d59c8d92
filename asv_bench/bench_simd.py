"""SIMD image kernels at each optimization level (the spec's "Benchmarking").

``opt_level`` NONE is the scalar reference, SIMD one thread of the chosen
variant, FULL all threads: the ratio of their times is the speed-up.
"""
import numpy as np

from ._api import public, set_opt_level
from ._inputs import page_rgba

SIZES = [256, 512, 1024, 2048]
LEVELS = ["NONE", "SIMD", "FULL"]


class ImageKernels:
    """grayscale, threshold and resize of a size x size page image."""

    params = (SIZES, LEVELS)
    param_names = ["size", "opt_level"]

    def setup(self, size, level):
        self.simd = public("scipix.optimize.simd")
        set_opt_level(level)
        self.rgba = page_rgba(size, size)
        self.gray = self.simd.simd_grayscale(self.rgba)
        self.out = np.empty_like(self.gray)
        self.half = np.empty((size // 2, size // 2), np.uint8)
        self.three_quarters = np.empty((size * 3 // 4, size * 3 // 4), np.uint8)

    def teardown(self, size, level):
        set_opt_level("FULL")

    def time_grayscale(self, size, level):
        self.simd.simd_grayscale(self.rgba, out=self.out)

    def time_threshold(self, size, level):
        self.simd.simd_threshold(self.gray, 128, out=self.out)

    def time_resize_bilinear_half(self, size, level):
        self.simd.simd_resize_bilinear(self.gray, size // 2, size // 2, out=self.half)

    def time_resize_bilinear_three_quarters(self, size, level):
        n = size * 3 // 4
        self.simd.simd_resize_bilinear(self.gray, n, n, out=self.three_quarters)

    def time_area_resize_half(self, size, level):
        self.simd.fast_area_resize(self.gray, size // 2, size // 2, out=self.half)

    def time_area_resize_three_quarters(self, size, level):
        n = size * 3 // 4
        self.simd.fast_area_resize(self.gray, n, n, out=self.three_quarters)


class Normalize:
    """In-place normalization of a size x size float32 tensor."""

    params = (SIZES, LEVELS)
    param_names = ["size", "opt_level"]

    def setup(self, size, level):
        self.normalize = public("scipix.optimize.simd.simd_normalize")
        set_opt_level(level)
        self.data = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)

    def teardown(self, size, level):
        set_opt_level("FULL")

    def time_normalize(self, size, level):
        self.normalize(self.data)


class OpenCV:
    """The same operations in OpenCV on one thread, for comparison."""

    params = [SIZES]
    param_names = ["size"]

    def setup(self, size):
        try:
            import cv2
        except ImportError:
            raise NotImplementedError("opencv-python-headless is not installed") from None
        cv2.setNumThreads(1)
        self.cv2 = cv2
        self.rgba = page_rgba(size, size)
        self.gray = cv2.cvtColor(self.rgba, cv2.COLOR_RGBA2GRAY)
        self.out = np.empty_like(self.gray)

    def time_cvtcolor(self, size):
        self.cv2.cvtColor(self.rgba, self.cv2.COLOR_RGBA2GRAY, dst=self.out)

    def time_threshold(self, size):
        self.cv2.threshold(self.gray, 128, 255, self.cv2.THRESH_BINARY, dst=self.out)

    def time_resize_linear_three_quarters(self, size):
        n = size * 3 // 4
        self.cv2.resize(self.gray, (n, n), interpolation=self.cv2.INTER_LINEAR)

    def time_resize_area_three_quarters(self, size):
        n = size * 3 // 4
        self.cv2.resize(self.gray, (n, n), interpolation=self.cv2.INTER_AREA)
