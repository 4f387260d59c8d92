"""Every SIMD variant this CPU runs against the scalar reference, through the
public API, on 1 and 2 threads: each output equal bit for bit.

The kernel tests compare each variant with an oracle family by family; this
sweep is the one place that runs every family's public calls on every
variant, on inputs large enough that two threads split the work.  It is the
check .ci/arm64 runs for neon, neondot and neoni8mm (and x86's variants here)."""
from dataclasses import fields

import numpy as np
import pytest

from scipix.optimize import _dispatch, local_thread_count, simd
from scipix.optimize.parallel import crop_quads, preprocess_batch
from scipix.optimize.quantize import (QuantizedLinear, dequantize, quantize_weights,
                                      quantized_matmul)
from scipix.video import preprocess_yuv, yuv_to_rgb
from variants import REFERENCE, RUNNABLE, names

# More pixels than one thread takes on its own (_variant.pxd's PARALLEL_MIN_WORK).
ROWS, COLS = 389, 517


def image(seed, channels):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ROWS, 0:COLS]
    smooth = 128 + 100 * np.sin(x / 9.0 + y / 13.0)
    planes = np.stack([smooth, 255 - smooth, (x * y) % 256, smooth / 2 + 64][:channels], -1)
    noisy = planes + rng.normal(0, 20, planes.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def image_family():
    rgba, gray = image(1, 4), image(2, 1)[..., 0]
    scores = np.random.default_rng(3).standard_normal((300, 97)).astype(np.float32)
    normalized = scores.copy()
    simd.simd_normalize(normalized)
    return [simd.simd_grayscale(rgba), simd.simd_threshold(gray, 117),
            simd.simd_resize_bilinear(image(4, 3), 731, 203),
            simd.simd_resize_bilinear(gray, 97, 640),
            simd.fast_area_resize(image(5, 3), 160, 97), simd.fast_area_resize(gray, 99, 61),
            *simd.argmax_last(scores), normalized,
            preprocess_batch([image(6, 3), image(7, 3)[:300]], (320, 448), color="rgb",
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                             scale=1 / 255, resize="letterbox"),
            preprocess_batch([image(8, 3)], (48, 320), dtype=np.float16),
            preprocess_batch([image(12, 3)], (224, 224), color="rgb", reference="pillow",
                             interpolation="bicubic", resize="shortest_edge", edge=256,
                             layout="nhwc", dtype=np.uint8)]


def warp_family():
    page = image(9, 3)
    quads = np.array([[[10, 20], [400, 35], [398, 80], [8, 66]],
                      [[300, 100], [330, 98], [340, 380], [310, 382]],
                      [[50.5, 200.25], [480.75, 210.5], [470.5, 260], [45, 250]]])
    crops, widths = crop_quads(page, quads, 48)
    cubic, _ = crop_quads(page, quads, 32, interpolation="cubic", color="gray")
    return [crops, widths, cubic]


def resample_family():
    return [simd.resample(image(10, channels), width, height, name)
            for channels, width, height, name in [(3, 224, 298, "bicubic"),
                                                  (4, 601, 140, "lanczos"),
                                                  (1, 37, 500, "bilinear"),
                                                  (2, 300, 300, "box"),
                                                  (3, 1000, 800, "hamming")]] + [
        simd.resample(image(13, 3), 256, 341, "lanczos", reference="opencv"),
        simd.resample(image(14, 1), 1300, 90, "lanczos", reference="opencv")]


def planes(seed):
    """I420 planes of a ROWS x COLS frame (odd: chroma rounds up), and NV12's
    interleaved chroma."""
    rng = np.random.default_rng(seed)
    y = image(seed, 1)[..., 0]
    u, v = (rng.integers(16, 241, ((ROWS + 1) // 2, (COLS + 1) // 2), np.uint8)
            for _ in range(2))
    return y, u, v, np.ascontiguousarray(np.stack([u, v], -1))


def yuv_family():
    y, u, v, uv = planes(15)
    even = (y[:388, :516], u[:194, :258], v[:194, :258])
    return [yuv_to_rgb(y, u, v), yuv_to_rgb(y, u, v, converter="opencv"),
            yuv_to_rgb(y, uv, layout="nv12", matrix="bt709", full_range=True),
            preprocess_yuv([(y, u, v)], (224, 224), mean=(0.485, 0.456, 0.406),
                           std=(0.229, 0.224, 0.225), scale=1 / 255),
            preprocess_yuv([even], (320, 320), resize="letterbox", pad_value=114,
                           scale=1 / 255),
            preprocess_yuv([even], (194, 258), scale=1 / 255),  # an exact halving
            preprocess_yuv([(y, u, v)], (96, 128), converter="opencv", color="bgr")]


def quantize_family():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((64, 1030)).astype(np.float32)
    weights = rng.standard_normal((200, 1030)).astype(np.float32)
    q, params = quantize_weights(x)
    # Both activation ranges, whatever the variant would pick by itself.
    layers = [QuantizedLinear(weights, rng.standard_normal(200).astype(np.float32),
                              reduce_range=reduce_range) for reduce_range in (False, True)]
    b_q, b_params = quantize_weights(weights.T.copy())
    return [q, dequantize(q, params), *(layer(x) for layer in layers),
            *(layer(x[:3]) for layer in layers), quantized_matmul(q, params, b_q, b_params)]


# One entry per kernel family of _dispatch.Kernels.
FAMILIES = {"image": image_family, "warp": warp_family, "resample": resample_family,
            "quantize": quantize_family, "yuv": yuv_family}


def test_every_family_is_swept():
    assert set(FAMILIES) == {field.name for field in fields(_dispatch.Kernels)}


def outputs(monkeypatch, kernels, family, threads):
    monkeypatch.setattr(_dispatch, "KERNELS", kernels)
    with local_thread_count(threads):
        return FAMILIES[family]()


@pytest.mark.skipif(not RUNNABLE, reason="no SIMD variant runs here")
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variant", RUNNABLE, ids=names(RUNNABLE))
def test_variant_equals_scalar_reference(monkeypatch, variant, family):
    expected = outputs(monkeypatch, REFERENCE, family, 1)
    for threads in (1, 2):
        for number, (got, want) in enumerate(zip(outputs(monkeypatch, variant[1], family,
                                                         threads), expected)):
            assert got.dtype == want.dtype and got.shape == want.shape, (family, number)
            assert np.array_equal(got, want, equal_nan=got.dtype.kind == "f"), \
                (family, number, threads, int(np.count_nonzero(got != want)))
