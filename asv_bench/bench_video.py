"""Decoded video frames to model input (``scipix.video``), at each
optimization level, against OpenCV (one thread) where installed.

``opt_level`` NONE is the scalar reference, SIMD one thread of the chosen
variant, FULL all threads.  The frames are I420 planes made here.
"""
import numpy as np

from ._api import public, set_opt_level

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
LEVELS = ["NONE", "SIMD", "FULL"]
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def i420(rows, cols):
    """Planes of a photograph-like frame, and the planes as one buffer."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    luma = 120 + 70 * np.sin(xx / 9.1 + yy / 13.0) + rng.normal(0, 8, (rows, cols))
    cy, cx = np.mgrid[0:rows // 2, 0:cols // 2].astype(np.float32)
    planes = tuple(np.clip(p, 0, 255).astype(np.uint8)
                   for p in (luma, 128 + 50 * np.cos(cx / 5.0 - cy / 7.0),
                             128 + 45 * np.sin(cy / 6.0 + cx / 11.0)))
    return planes, np.concatenate([p.ravel() for p in planes]).reshape(-1, cols)


class Video:
    """yuv_to_rgb at full size; preprocess_yuv to a classifier's (3, 224, 224)
    (ImageNet normalization) and a detector's 640x640 letterbox."""

    params = (list(SIZES), LEVELS)
    param_names = ["size", "opt_level"]

    def setup(self, size, level):
        self.yuv_to_rgb = public("scipix.video.yuv_to_rgb")
        self.preprocess_yuv = public("scipix.video.preprocess_yuv")
        set_opt_level(level)
        rows, cols = SIZES[size]
        self.planes, _ = i420(rows, cols)
        self.rgb = np.empty((rows, cols, 3), np.uint8)
        self.classifier = np.empty((1, 3, 224, 224), np.float32)
        self.detector = np.empty((1, 3, 640, 640), np.float32)

    def teardown(self, size, level):
        set_opt_level("FULL")

    def time_yuv_to_rgb(self, size, level):
        self.yuv_to_rgb(*self.planes, out=self.rgb)

    def time_classifier_input(self, size, level):
        self.preprocess_yuv([self.planes], (224, 224), mean=MEAN, std=STD, scale=1 / 255,
                            out=self.classifier)

    def time_detector_input(self, size, level):
        self.preprocess_yuv([self.planes], (640, 640), resize="letterbox", pad_value=114,
                            scale=1 / 255, out=self.detector)


class OpenCV:
    """The same with cv2.cvtColor, cv2.resize (INTER_AREA) and NumPy, one thread."""

    params = list(SIZES)
    param_names = ["size"]

    def setup(self, size):
        try:
            import cv2
        except ImportError:
            raise NotImplementedError("OpenCV is not installed") from None
        cv2.setNumThreads(1)
        self.cv2 = cv2
        rows, cols = SIZES[size]
        _, self.buffer = i420(rows, cols)
        self.rgb = np.empty((rows, cols, 3), np.uint8)
        self.mean = np.array(MEAN, np.float32) * 255
        self.std = np.array(STD, np.float32) * 255

    def time_yuv_to_rgb(self, size):
        self.cv2.cvtColor(self.buffer, self.cv2.COLOR_YUV2RGB_I420, dst=self.rgb)

    def time_classifier_input(self, size):
        rgb = self.cv2.cvtColor(self.buffer, self.cv2.COLOR_YUV2RGB_I420)
        small = self.cv2.resize(rgb, (224, 224), interpolation=self.cv2.INTER_AREA)
        ((small.astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1).copy()
