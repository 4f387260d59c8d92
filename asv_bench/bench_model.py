"""Model inputs: preprocess_batch's options, packed resizes and the score
kernels, against OpenCV and NumPy, one thread each.

Public API only and self-contained (inputs made here): at a commit that
lacks an API, ``setup`` raises NotImplementedError and asv skips the case.
"""
import inspect

import numpy as np

from scipix.optimize import parallel, set_thread_count, simd

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _opencv():
    try:
        import cv2
    except ImportError:
        raise NotImplementedError("opencv-python-headless is not installed") from None
    cv2.setNumThreads(1)
    return cv2


def _require_model_options():
    if "color" not in inspect.signature(parallel.preprocess_batch).parameters:
        raise NotImplementedError("preprocess_batch has no model-input options here")


class ModelBlob:
    """16 BGR 1024x768 images -> (16, 3, 384, 384) NCHW RGB, ImageNet mean/std."""

    params = (["float32", "float16"], ["auto", "bilinear"])
    param_names = ["dtype", "interpolation"]
    timeout = 300

    def setup(self, dtype, interpolation):
        _require_model_options()
        set_thread_count(1)
        rng = np.random.default_rng(0)
        self.images = [rng.integers(0, 256, (768, 1024, 3), np.uint8) for _ in range(16)]
        self.out = np.ones((16, 3, 384, 384), dtype)

    def teardown(self, dtype, interpolation):
        set_thread_count(None)

    def time_preprocess_batch(self, dtype, interpolation):
        parallel.preprocess_batch(self.images, (384, 384), color="rgb", input_order="bgr",
                                  mean=IMAGENET_MEAN, std=IMAGENET_STD, scale=1 / 255,
                                  interpolation=interpolation, dtype=dtype, out=self.out)


class OpenCVModelBlob:
    """The same batch with cv2.dnn.blobFromImagesWithParams (INTER_LINEAR)."""

    timeout = 300

    def setup(self):
        self.cv2 = _opencv()
        rng = np.random.default_rng(0)
        self.images = [rng.integers(0, 256, (768, 1024, 3), np.uint8) for _ in range(16)]
        self.params = self.cv2.dnn.Image2BlobParams()
        self.params.scalefactor = tuple(1 / 255 / s for s in IMAGENET_STD)
        self.params.mean = tuple(255 * m for m in IMAGENET_MEAN)
        self.params.size = (384, 384)
        self.params.swapRB = True

    def time_blob_from_images(self):
        self.cv2.dnn.blobFromImagesWithParams(self.images, self.params)


class DetectorInput:
    """PP-OCR detection input of a 2480x3508 BGR page: short side at least
    736, sides multiples of 32 (3520x2496), (x / 255 - 0.5) / 0.5, NCHW."""

    params = (["scipix", "stock_numpy", "fused_numpy"],)
    param_names = ["method"]
    timeout = 300

    def setup(self, method):
        self.cv2 = _opencv()
        set_thread_count(1)
        rng = np.random.default_rng(1)
        self.page = rng.integers(0, 256, (3508, 2480, 3), np.uint8)
        self.size = (3520, 2496)
        if method == "scipix":
            _require_model_options()
            self.out = np.ones((1, 3) + self.size, np.float32)
        self.staged = np.ones((3,) + self.size, np.float32)

    def teardown(self, method):
        set_thread_count(None)

    def time_detector_input(self, method):
        height, width = self.size
        if method == "scipix":
            parallel.preprocess_batch([self.page], self.size, color="bgr", input_order="bgr",
                                      mean=0.5, std=0.5, scale=1 / 255,
                                      interpolation="bilinear", out=self.out)
        elif method == "stock_numpy":
            # RapidOCR 1.4.4's arithmetic: float64 mean and std, fresh buffers.
            resized = self.cv2.resize(self.page, (width, height))
            mean, std = np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5, 0.5])
            values = (resized.astype("float32") * (1 / 255.0) - mean) / std
            values.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
        else:
            resized = self.cv2.resize(self.page, (width, height))
            np.subtract(resized.transpose(2, 0, 1), np.float32(127.5), out=self.staged)
            np.multiply(self.staged, np.float32(1 / 127.5), out=self.staged)


class ColorResize:
    """Packed RGB resizes to 3/4 of the side against cv2.resize, one thread."""

    params = ([1024, 2048], ["bilinear", "area"], ["scipix", "opencv"])
    param_names = ["side", "method", "library"]

    def setup(self, side, method, library):
        self.cv2 = _opencv()
        set_thread_count(1)
        rng = np.random.default_rng(2)
        self.image = rng.integers(0, 256, (side, side, 3), np.uint8)
        self.target = side * 3 // 4
        self.out = np.ones((self.target, self.target, 3), np.uint8)
        if library == "scipix":
            try:
                simd.fast_area_resize(self.image[:8, :8], 4, 4)
            except ValueError:
                raise NotImplementedError("no packed colour resize here") from None

    def teardown(self, side, method, library):
        set_thread_count(None)

    def time_resize(self, side, method, library):
        if library == "scipix":
            resize = simd.simd_resize_bilinear if method == "bilinear" else simd.fast_area_resize
            resize(self.image, self.target, self.target, out=self.out)
        else:
            flag = self.cv2.INTER_LINEAR if method == "bilinear" else self.cv2.INTER_AREA
            self.cv2.resize(self.image, (self.target, self.target), dst=self.out,
                            interpolation=flag)


class ScoreKernels:
    """A detector's float32 probability map to a bitmap, and CTC's argmax."""

    params = (["scipix", "reference"],)
    param_names = ["library"]

    def setup(self, library):
        self.cv2 = _opencv()
        set_thread_count(1)
        if library == "scipix" and not hasattr(simd, "argmax_last"):
            raise NotImplementedError("no score kernels here")
        rng = np.random.default_rng(3)
        self.probability = rng.random((3520, 2496), dtype=np.float32)
        self.bitmap = np.ones(self.probability.shape, np.uint8)
        self.logits = rng.random((16, 80, 6625), dtype=np.float32)

    def teardown(self, library):
        set_thread_count(None)

    def time_threshold(self, library):
        if library == "scipix":
            simd.simd_threshold(self.probability, 0.3, out=self.bitmap)
        else:
            self.cv2.threshold(self.probability, 0.3, 255, self.cv2.THRESH_BINARY)

    def time_argmax(self, library):
        if library == "scipix":
            simd.argmax_last(self.logits)
        else:
            self.logits.argmax(-1), self.logits.max(-1)
