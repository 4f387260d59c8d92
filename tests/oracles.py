"""NumPy oracles the kernel tests compare against: each kernel's definition
written out plainly, and the inputs that exercise row strides."""
import math
import platform

import numpy as np

from scipix.optimize.simd import (fast_area_resize, simd_grayscale, simd_normalize,
                                  simd_resize_bilinear)


# How far scipix's resizes may be from OpenCV's cv2.resize, in levels.
# scipix follows OpenCV's portable code (its x86-64 build) within 1.  OpenCV's
# aarch64 wheel resizes through KleidiCV and carotene, which round on their
# own: measured against its x86-64 build on the tests' inputs (OpenCV 5.1.0),
# up to 2 levels apart for gray bilinear and 4 for 4-channel bilinear at 0.3x.
# There the bound adds that gap; scipix's own results are the same on both
# architectures (the NumPy oracles and tests/test_variant_sweep.py hold them).
OPENCV_LEVELS = 1 + (4 if platform.machine() in ("aarch64", "arm64") else 0)


def gray_reference(pixels):
    wide = pixels.astype(np.int64)
    return ((77 * wide[..., 0] + 150 * wide[..., 1] + 29 * wide[..., 2]) >> 8).astype(np.uint8)


def strided_crop(rng, shape, channels=None):
    """A crop of a bigger random image: rows strided, pixels packed."""
    rows, cols = shape
    tail = () if channels is None else (channels,)
    big = rng.integers(0, 256, size=(rows + 5, cols + 9) + tail, dtype=np.uint8)
    return big[2:2 + rows, 3:3 + cols]


def bilinear_reference(src, width, height):
    """The kernels' fixed-point definition, written out in NumPy."""
    def taps(n_in, n_out, clamp_weight):
        scale = 1.0 / (n_out / n_in)
        f = ((np.arange(n_out) + 0.5) * scale - 0.5).astype(np.float32)
        s = np.floor(f).astype(np.int64)
        f = f - s.astype(np.float32)
        if clamp_weight:
            edge = (s < 0) | (s >= n_in - 1)
            f[edge] = 0
            s = np.clip(s, 0, n_in - 1)
        w1 = np.floor(f.astype(np.float32) * np.float32(2048) + np.float32(0.5)).astype(np.int64)
        return np.clip(s, 0, n_in - 1), np.clip(s + 1, 0, n_in - 1), 2048 - w1, w1

    x0, x1, wx0, wx1 = taps(src.shape[1], width, True)
    y0, y1, wy0, wy1 = taps(src.shape[0], height, False)
    s = src.astype(np.int64)
    rows = s[:, x0] * wx0 + s[:, x1] * wx1
    out = (rows[y0] * wy0[:, None] + rows[y1] * wy1[:, None] + (1 << 21)) >> 22
    return out.astype(np.uint8)


def area_taps(n_in, n_out):
    """OpenCV's computeResizeAreaTab coverage as (first source, float32 weights)."""
    scale = n_in / n_out
    start = np.zeros(n_out, np.int64)
    weights = np.zeros((n_out, int(scale) + 2), np.float32)
    for out in range(n_out):
        lo = out * scale
        hi = lo + scale
        cell = min(scale, n_in - lo)
        first = int(lo + 1.0 - 1e-12) if lo != int(lo) else int(lo)
        last = min(math.floor(hi), n_in - 1)
        first = min(first, last)
        taps = [1.0 / cell] * (last - first)
        start[out] = first
        if first - lo > 1e-3:
            start[out] = first - 1
            taps.insert(0, (first - lo) / cell)
        if hi - last > 1e-3:
            taps.append(min(min(hi - last, 1.0), cell) / cell)
        weights[out, :len(taps)] = taps
    return start, weights


def area_reference(src, width, height):
    """The general area kernel's float32 arithmetic, in the same order."""
    x_start, x_weights = area_taps(src.shape[1], width)
    y_start, y_weights = area_taps(src.shape[0], height)
    rows = src.astype(np.float32)
    out = np.empty((height, width), np.uint8)
    for y in range(height):
        acc = None
        for k, w in enumerate(y_weights[y]):
            if w != 0:
                term = w * rows[y_start[y] + k]
                acc = term if acc is None else acc + term
        acc = np.concatenate([acc, np.zeros(x_weights.shape[1], np.float32)])
        total = x_weights[:, 0] * acc[x_start]
        for k in range(1, x_weights.shape[1]):
            total = total + x_weights[:, k] * acc[x_start + k]
        out[y] = np.minimum(np.rint(total), 255).astype(np.uint8)
    return out


def reference_quantize(x, scale, zero_point, qmin=-128):
    inv = np.float32(1) / np.float32(scale)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.rint(np.asarray(x, np.float32) * inv)
    return np.clip(scaled + np.float32(zero_point), qmin, 127).astype(np.int8)


# The documented bound: identical uint8 pixels, then simd_normalize's float32
# rounding of the statistics, which scales with the output (an outlier pixel
# normalizes to 20 or more: hypothesis found 1.3e-5 apart at 20.4).
ATOL = RTOL = 1e-5


def separate_kernels(image, shape):
    """gray -> resize (area shrinking, bilinear growing) -> normalize."""
    gray = image if image.ndim == 2 else simd_grayscale(image)
    height, width = shape
    if height <= gray.shape[0] and width <= gray.shape[1]:
        resized = fast_area_resize(gray, width, height)
    else:
        resized = simd_resize_bilinear(gray, width, height)
    values = resized.astype(np.float32)
    simd_normalize(values)
    return values


def blob_reference(images, shape, *, color="gray", input_order="rgb", shift=None,
                   factor=None, placement=None, pad=0.0, bilinear=False, layout="nchw",
                   dtype=np.float32):
    """preprocess_batch's definition in NumPy over the separate kernels: each
    image resized (packed channels, or gray first), placed at
    ``placement[i] = (rows, cols, top, left)`` on a ``pad`` background, then
    ``(v - shift) * factor`` per output channel in float32 (the per-image
    statistics when ``shift`` is None), cast and laid out."""
    height, width = shape
    channels = 1 if color == "gray" else 3
    planes = []
    for i, image in enumerate(images):
        rows, cols, top, left = (placement[i] if placement is not None
                                 else (height, width, 0, 0))
        pixels = image if image.ndim == 3 else image[:, :, None]
        if channels == 1 and pixels.shape[2] > 1:
            pixels = simd_grayscale(pixels, order=input_order)[:, :, None]
        if pixels.shape[2] == 4:
            pixels = np.ascontiguousarray(pixels[:, :, :3])
        grow = bilinear or rows > pixels.shape[0] or cols > pixels.shape[1]
        resize = simd_resize_bilinear if grow else fast_area_resize
        if pixels.shape[2] == 1:
            resized = resize(np.ascontiguousarray(pixels[:, :, 0]), cols, rows)[:, :, None]
        else:
            resized = resize(pixels, cols, rows)
        if channels == 3:
            resized = np.broadcast_to(resized, resized.shape[:2] + (3,))
            if color != input_order:
                resized = resized[:, :, ::-1]
        canvas = np.full((height, width, channels), np.nan, np.float32)
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(height, top + rows), min(width, left + cols)
        canvas[y0:y1, x0:x1] = resized[y0 - top:y1 - top, x0 - left:x1 - left]
        covered = canvas[y0:y1, x0:x1].astype(np.float64)
        if shift is None:
            m, s = covered.mean(), covered.std()
            image_shift = np.full(channels, np.float32(m))
            image_factor = np.full(channels, np.float32(1.0 / (s + 1e-8)))
        else:
            image_shift, image_factor = np.float32(shift), np.float32(factor)
        outside = np.isnan(canvas)
        canvas[outside] = np.broadcast_to(np.float32(pad), canvas.shape)[outside]
        values = (canvas - image_shift) * image_factor
        if dtype == np.uint8:
            values = np.rint(np.clip(np.nan_to_num(values), 0, 255))
        planes.append(values.astype(dtype))
    batch = np.stack(planes)
    return batch.transpose(0, 3, 1, 2).copy() if layout == "nchw" else batch
