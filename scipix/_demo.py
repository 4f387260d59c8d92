"""``python -m scipix demo``: the spec's integration example on synthetic pages.

Sets the optimization level, detects the CPU, then runs the OCR
preprocessing chain (grayscale, binarize, downscale to the model input,
normalize) on synthetic page images and checks each stage against NumPy.
"""
import time

import numpy as np

import scipix
from . import optimize
from ._synthetic import page_rgba
from .optimize import OptLevel, simd

MODEL_INPUT = (384, 384)  # (height, width) of a typical OCR encoder


def _preprocess(rgba):
    gray = simd.simd_grayscale(rgba)
    binary = simd.simd_threshold(gray, 128)
    small = simd.fast_area_resize(binary, MODEL_INPUT[1], MODEL_INPUT[0])
    tensor = small.astype(np.float32)
    simd.simd_normalize(tensor)
    return gray, binary, tensor


def _check(rgba, gray, binary, tensor):
    wide = rgba.astype(np.int32)
    expected = (77 * wide[..., 0] + 150 * wide[..., 1] + 29 * wide[..., 2]) >> 8
    assert np.array_equal(gray, expected), "grayscale disagrees with NumPy"
    assert np.array_equal(binary, np.where(gray > 128, 255, 0)), "threshold disagrees"
    assert abs(float(tensor.mean())) < 1e-4 and abs(float(tensor.std()) - 1) < 1e-3


def run_demo(pages, size):
    optimize.set_opt_level(OptLevel.FULL)
    features = optimize.detect_features()
    print("Features:", ", ".join(features.enabled()))
    print(f"Variant: {optimize.active_variant()}  threads: {optimize.get_thread_count()}")

    images = [page_rgba(size, size, seed=i) for i in range(pages)]
    for level in (OptLevel.NONE, OptLevel.SIMD, OptLevel.FULL):
        with optimize.opt_level(level):
            start = time.perf_counter()
            results = [_preprocess(image) for image in images]
            elapsed = time.perf_counter() - start
        for image, result in zip(images, results):
            _check(image, *result)
        print(f"{level.name:<8} {pages} pages {size}x{size} -> {MODEL_INPUT}: "
              f"{elapsed * 1e3 / pages:7.2f} ms/page")
    ink = np.mean([np.mean(r[1] == 0) for r in results])
    print(f"ink coverage {ink:.1%}; tensors {results[0][2].shape} float32, "
          f"mean ~0, std ~1; all stages match NumPy")
    print("scipix", scipix.__version__, "demo OK")
