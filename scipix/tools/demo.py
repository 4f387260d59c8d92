"""``python -m scipix demo``: the spec's integration example on synthetic pages.

Sets the optimization level, detects the CPU, then runs the OCR
preprocessing chain (grayscale, binarize, downscale to the model input,
normalize) on synthetic page images and checks each stage against NumPy;
then the batch forms: the fused ``preprocess_batch`` into one model input
tensor (checked against the separate kernels), the spec's
``parallel_map_chunked`` over the pages, and a three-stage pipeline; last
an int8 linear head on the batch (checked against float32); last the spec's
integration example proper: an adaptive batcher whose processor maps pooled
buffers and SIMD grayscale over each batch in parallel.
"""
import asyncio
import time

import numpy as np

import scipix
from .. import optimize
from .synthetic import page_rgba
from ..optimize import OptLevel, batch, memory, parallel, quantize, simd

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
    _batch_forms(images)
    _quantized_head(images)
    asyncio.run(_served(images))
    print("scipix", scipix.__version__, "demo OK")


def _quantized_head(images, classes=256):
    """A linear model head on int8 weights against the same head in float32."""
    features = parallel.preprocess_batch(images, (32, 32)).reshape(len(images), -1)
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((classes, features.shape[1])).astype(np.float32)
    head = quantize.QuantizedLinear(weight)
    exact = features @ weight.T
    logits = head(features)
    error = float(np.abs(logits - exact).max() / np.abs(exact).max())
    assert error < 0.05, f"int8 head is off by {error:.1%}"
    agree = float(np.mean(logits.argmax(1) == exact.argmax(1)))
    print(f"int8 head {features.shape[1]} -> {classes} ({head.size_bytes() / 1024:.0f} KiB, "
          f"float32 {weight.nbytes / 1024:.0f} KiB): max error {error:.2%} of the largest "
          f"logit, top-1 agrees on {agree:.0%} of {len(images)} pages")


def _ink_in_pooled_buffer(image):
    """The spec's per-image step: a pooled buffer, SIMD grayscale into it."""
    with memory.GlobalPools.get().acquire_large() as buffer:
        gray = simd.simd_grayscale(image).reshape(-1)[:buffer.capacity]
        buffer.extend(gray)
        pixels = np.asarray(buffer)
        ink = float(np.mean(pixels < 128))
        del pixels  # the buffer goes back to the pool: no view may outlive it
    return ink


def _process_images(images):
    return parallel.parallel_map_chunked(images, 8, _ink_in_pooled_buffer)


async def _served(images):
    batcher = batch.AdaptiveBatcher(batch.BatchConfig(), 0.100, _process_images)
    runner = asyncio.create_task(batcher.run())
    inks = await asyncio.gather(*(batcher.add(image) for image in images))
    await batcher.shutdown()
    await runner
    assert inks == [_ink_in_pooled_buffer(image) for image in images]
    stats = batcher.stats()
    large = memory.GlobalPools.get().large
    print(f"AdaptiveBatcher: {stats.items} pages in {stats.batches} batches, p95 "
          f"{stats.p95_latency_ms:.1f} ms; pooled 1 MiB buffers: {large.hits} reused, "
          f"{large.misses} made")


def _separate_kernels(rgba):
    small = simd.fast_area_resize(simd.simd_grayscale(rgba), MODEL_INPUT[1], MODEL_INPUT[0])
    tensor = small.astype(np.float32)
    simd.simd_normalize(tensor)
    return tensor


def _batch_forms(images):
    for level in (OptLevel.SIMD, OptLevel.FULL):
        with optimize.opt_level(level):
            start = time.perf_counter()
            batch = parallel.preprocess_batch(images, MODEL_INPUT)
            elapsed = time.perf_counter() - start
        print(f"preprocess_batch {level.name:<5} -> {batch.shape} float32: "
              f"{elapsed * 1e3 / len(images):7.2f} ms/page")
    worst = max(float(np.abs(batch[i, 0] - _separate_kernels(im)).max())
                for i, im in enumerate(images))
    assert worst < 1e-5, f"preprocess_batch is {worst} from the separate kernels"
    print(f"  agrees with gray -> area resize -> normalize within {worst:.1e}")

    tensors = parallel.parallel_map_chunked(images, 8, lambda im: _preprocess(im)[2])
    assert all(np.array_equal(t, r) for t, r in
               zip(tensors, (_preprocess(im)[2] for im in images)))
    pipeline = parallel.Pipeline3(simd.simd_grayscale,
                                  lambda gray: simd.simd_threshold(gray, 128),
                                  lambda binary: float(np.mean(binary == 0)))
    ink = pipeline.execute_batch(images)
    print(f"parallel_map_chunked: {len(tensors)} tensors; Pipeline3 gray -> threshold -> "
          f"ink: {np.mean(ink):.1%}")
