"""``python -m scipix bench``: optimized kernels against scalar code and OpenCV.

For each kernel and size it prints median times of the scalar reference
(``OptLevel.NONE``), the SIMD variant on one thread (``OptLevel.SIMD``), the
SIMD variant on all threads (``OptLevel.FULL``) and, where installed,
OpenCV on one thread (NumPy for normalize), with the speed-ups.
"""
import statistics
import time

import numpy as np

from . import optimize
from ._synthetic import page_rgba
from .optimize import OptLevel, simd

try:
    import cv2
except ImportError:
    cv2 = None


def _median_seconds(fn, repeat):
    """Median over ``repeat`` runs, each long enough (~2 ms) to time reliably."""
    fn()
    number, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= 2e-3:
            break
        number *= 4
    runs = [elapsed / number]
    for _ in range(repeat - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number)
    return statistics.median(runs)


def _cases(size):
    """(name, scipix call, comparison call or None, comparison name) per kernel."""
    rgba = page_rgba(size, size)
    gray = simd.simd_grayscale(rgba)
    out = np.empty_like(gray)
    tensor = np.random.default_rng(0).standard_normal(size * size).astype(np.float32)
    half, three_q, quarter = max(size // 2, 1), max(size * 3 // 4, 1), max(size // 4, 1)
    dst = {n: np.empty((n, n), np.uint8) for n in (half, three_q, quarter)}
    cases = {
        "grayscale": (lambda: simd.simd_grayscale(rgba, out=out),
                      cv2 and (lambda: cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY, dst=out)), "cv2"),
        "threshold": (lambda: simd.simd_threshold(gray, 128, out=out),
                      cv2 and (lambda: cv2.threshold(gray, 128, 255, cv2.THRESH_BINARY, dst=out)),
                      "cv2"),
        "normalize": (lambda: simd.simd_normalize(tensor),
                      lambda: np.divide(tensor - tensor.mean(), tensor.std() + 1e-8), "numpy"),
    }
    for name, n, fn, flag in (
            ("bilinear 1/2", half, simd.simd_resize_bilinear, "INTER_LINEAR"),
            ("bilinear 3/4", three_q, simd.simd_resize_bilinear, "INTER_LINEAR"),
            ("area 1/4", quarter, simd.fast_area_resize, "INTER_AREA"),
            ("area 3/4", three_q, simd.fast_area_resize, "INTER_AREA")):
        ours = (lambda fn=fn, n=n: fn(gray, n, n, out=dst[n]))
        theirs = cv2 and (lambda n=n, flag=flag: cv2.resize(
            gray, (n, n), dst=dst[n], interpolation=getattr(cv2, flag)))
        cases[name] = (ours, theirs, "cv2")
    return cases


def run_bench(sizes, repeat, kernels=None):
    if cv2 is not None:
        cv2.setNumThreads(1)
    threads = optimize.get_thread_count()
    print(f"scipix bench: variant {optimize.active_variant()}, {threads} threads, "
          f"median of {repeat}; times in microseconds; OpenCV "
          f"{cv2.__version__ + ' on 1 thread' if cv2 else 'not installed'}")
    header = (f"{'kernel':<13}{'size':>6}{'scalar':>11}{'simd 1T':>11}{f'simd {threads}T':>11}"
              f"{'other':>11}  {'vs scalar':>9}{'vs other':>9}{f'{threads}T gain':>9}")
    print(header)
    print("-" * len(header))
    for size in sizes:
        for name, (ours, theirs, other_name) in _cases(size).items():
            if kernels and name.split()[0] not in kernels:
                continue
            timings = {}
            for level in (OptLevel.NONE, OptLevel.SIMD, OptLevel.FULL):
                with optimize.opt_level(level):
                    timings[level] = _median_seconds(ours, repeat)
            other = _median_seconds(theirs, repeat) if theirs else float("nan")
            simd_1t = timings[OptLevel.SIMD]
            print(f"{name:<13}{size:>6}{timings[OptLevel.NONE] * 1e6:>11.1f}{simd_1t * 1e6:>11.1f}"
                  f"{timings[OptLevel.FULL] * 1e6:>11.1f}{other * 1e6:>11.1f}  "
                  f"{timings[OptLevel.NONE] / simd_1t:>8.1f}x{other / simd_1t:>8.2f}x"
                  f"{simd_1t / timings[OptLevel.FULL]:>8.2f}x  ({other_name})")
