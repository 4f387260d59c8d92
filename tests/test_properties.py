"""Property-based tests: random shapes, layouts and values for every public
function; each call returns the reference result or raises a documented
exception (TypeError, ValueError, BufferError, MemoryError), never more."""
import asyncio
import os
import tempfile

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scipix.optimize import OptLevel, opt_level
from scipix.optimize.batch import BatchConfig, DynamicBatcher
from scipix.optimize.memory import Arena, BufferPool, ByteBuffer, ImageView
from scipix.optimize.parallel import (AsyncParallelExecutor, Pipeline3, parallel_map_chunked,
                                     parallel_preprocess_result, preprocess_batch)
from scipix.optimize.quantize import (DynamicQuantizer, PerChannelQuant, QuantizedTensor,
                                      QuantParams, dequantize, quantize_with_params,
                                      quantized_matmul)
from scipix.optimize.simd import (fast_area_resize, simd_grayscale, simd_normalize,
                                  simd_resize_bilinear, simd_threshold)

from oracles import ATOL, RTOL, gray_reference, reference_quantize, separate_kernels

DOCUMENTED = (TypeError, ValueError, BufferError, MemoryError)
LAYOUTS = ["c", "crop", "flipped_rows", "fortran", "column_step", "read_only"]
# The slow properties (many images, an event loop) run a fifth as many cases.
FEWER = settings(max_examples=max(10, settings.default.max_examples // 5))


@st.composite
def uint8_images(draw, channels=None, min_side=0, max_side=40):
    """A uint8 image in one of LAYOUTS, with (layout, values as C array)."""
    height = draw(st.integers(min_side, max_side))
    width = draw(st.integers(min_side, max_side))
    tail = () if channels is None else (draw(st.sampled_from(channels)),)
    values = draw(hnp.arrays(np.uint8, (height, width) + tail))
    layout = draw(st.sampled_from(LAYOUTS))
    if layout == "crop":
        big = np.zeros((height + 3, width + 5) + tail, np.uint8)
        big[1:1 + height, 2:2 + width] = values
        image = big[1:1 + height, 2:2 + width]
    elif layout == "flipped_rows":
        image = values[::-1].copy()[::-1]
    elif layout == "fortran":
        image = np.asfortranarray(values)
    elif layout == "column_step":
        wide = np.zeros((height, 2 * width) + tail, np.uint8)
        wide[:, ::2] = values
        image = wide[:, ::2]
    else:
        image = values.copy()
        image.flags.writeable = layout != "read_only"
    return image, layout, values


def rows_packed(image):
    """What the image kernels accept: pixels packed within each row (a
    length-1 axis's stride does not count: nothing is read through it)."""
    if image.size == 0:
        return False
    item = image.shape[2] if image.ndim == 3 else 1
    last = image.shape[-1] == 1 or image.strides[-1] == 1
    return last and (image.ndim == 2 or image.shape[1] == 1 or image.strides[1] == item)


@given(uint8_images(channels=(3, 4)))
def test_grayscale(case):
    image, _, values = case
    if not rows_packed(image):
        with pytest.raises(ValueError):
            simd_grayscale(image)
        return
    np.testing.assert_array_equal(simd_grayscale(image), gray_reference(values))


@given(uint8_images(), st.integers(-2, 257))
def test_threshold(case, thresh):
    image, _, values = case
    if not (0 <= thresh <= 255 and rows_packed(image)):
        with pytest.raises(ValueError):
            simd_threshold(image, thresh)
        return
    expected = np.where(values > thresh, 255, 0).astype(np.uint8)
    np.testing.assert_array_equal(simd_threshold(image, thresh), expected)
    # In place (out aliases the input) where it is a valid out: its rows
    # contiguous, a one-column view's stride included.
    if image.flags.writeable and image.strides[-1] == 1:
        simd_threshold(image, thresh, out=image)
        np.testing.assert_array_equal(image, expected)


@given(uint8_images(), st.integers(-1, 60), st.integers(-1, 60))
def test_resizes_equal_scalar_reference(case, width, height):
    image, _, _ = case
    for resize in (simd_resize_bilinear, fast_area_resize):
        valid = (rows_packed(image) and width >= 1 and height >= 1
                 and (resize is simd_resize_bilinear
                      or (width <= image.shape[1] and height <= image.shape[0])))
        if not valid:
            with pytest.raises(ValueError):
                resize(image, width, height)
            continue
        result = resize(image, width, height)
        with opt_level(OptLevel.NONE):
            np.testing.assert_array_equal(result, resize(image, width, height))
        if image.min() == image.max():  # a flat image stays flat
            assert (result == image.flat[0]).all()


@given(uint8_images(min_side=2, max_side=24), st.integers(1, 30), st.integers(1, 30))
def test_resize_out_overlapping_the_source(case, width, height):
    image, layout, _ = case
    assume(rows_packed(image) and layout != "read_only")
    expected = simd_resize_bilinear(image, width, height)
    # out reinterprets the source's own bytes (a C image has exactly them).
    source = np.ascontiguousarray(image)
    assume(source.size >= width * height)
    out = source.reshape(-1)[:width * height].reshape(height, width)
    simd_resize_bilinear(source, width, height, out=out)
    np.testing.assert_array_equal(out, expected)


finite_or_not = st.floats(width=32, allow_nan=True, allow_infinity=True)


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=9),
                  elements=finite_or_not), st.booleans())
def test_normalize(data, fortran):
    data = np.asfortranarray(data) if fortran else data
    original = data.copy()
    if data.size == 0 or not np.isfinite(data).all():
        with pytest.raises(ValueError):
            simd_normalize(data)
        np.testing.assert_array_equal(data, original)  # unchanged on error
        return
    wide = original.astype(np.float64)
    expected = (wide - wide.mean()) / (wide.std() + 1e-8)
    simd_normalize(data)
    # float32 statistics: relative error ~1e-6 of the output's scale.
    np.testing.assert_allclose(data, expected, rtol=1e-4, atol=1e-4 * max(1, abs(expected).max()))


params = st.builds(QuantParams,
                   scale=st.floats(2.0 ** -20, 2.0 ** 20, width=32),
                   zero_point=st.integers(-128, 127))


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=9),
                  elements=finite_or_not),
       params, st.sampled_from(["C", "F", "strided"]))
def test_quantize_round_trip(data, qparams, layout):
    if layout == "F":
        data = np.asfortranarray(data)
    elif layout == "strided" and data.ndim:
        data = np.repeat(data, 2, axis=-1)[..., ::2]
    if np.isnan(data).any():
        with pytest.raises(ValueError, match="NaN"):
            quantize_with_params(data, qparams)
        return
    q = quantize_with_params(data, qparams)
    assert q.shape == data.shape and q.dtype == np.int8
    np.testing.assert_array_equal(q, reference_quantize(data, qparams.scale, qparams.zero_point))
    back = dequantize(q, qparams)
    expected = ((q.astype(np.float32) - np.float32(qparams.zero_point))
                * np.float32(qparams.scale))
    np.testing.assert_array_equal(back, expected)


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=8),
                  elements=st.floats(-2.0 ** 100, 2.0 ** 100, width=32)),
       st.integers(-4, 3))
def test_per_channel_equals_per_slice(weights, axis):
    if not -weights.ndim <= axis < weights.ndim:
        with pytest.raises(ValueError):
            PerChannelQuant.from_f32(weights, weights.shape, axis=axis)
        return
    quant = PerChannelQuant.from_f32(weights, weights.shape, axis=axis)
    moved = np.moveaxis(weights, axis, 0)
    restored = np.moveaxis(quant.to_f32(), axis, 0)
    for channel, values in enumerate(moved):
        expected = QuantParams.from_data(values)
        assert quant.params(channel) == expected
        q = reference_quantize(values, expected.scale, expected.zero_point)
        np.testing.assert_array_equal(restored[channel], dequantize(q, expected))


@given(st.integers(1, 60), st.integers(1, 60), st.integers(0, 255))
def test_image_view_subviews_are_numpy_slices(width, height, seed):
    rng = np.random.default_rng(seed)
    channels = int(rng.integers(1, 5))
    frame = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    view = ImageView(frame.tobytes(), width, height, channels)
    frame = frame[..., 0] if channels == 1 else frame  # one channel: (H, W) views
    x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
    w, h = int(rng.integers(1, width - x + 1)), int(rng.integers(1, height - y + 1))
    sub = view.subview(x, y, w, h)
    np.testing.assert_array_equal(np.asarray(sub), frame[y:y + h, x:x + w])
    assert sub.pixel(w - 1, h - 1) == tuple(np.atleast_1d(frame[y + h - 1, x + w - 1]))
    with pytest.raises(ValueError):
        view.subview(x, y, width - x + 1, h)


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, 64))
def test_byte_buffer_is_a_bytearray(chunks, capacity):
    buffer, model = ByteBuffer(capacity), bytearray()
    for chunk in chunks:
        buffer.extend(chunk)
        model.extend(chunk)
        assert len(buffer) == len(model) and buffer.capacity >= len(model)
    assert bytes(buffer) == bytes(model)


@given(st.lists(st.tuples(st.lists(st.integers(0, 5000), min_size=1, max_size=4),
                          st.sampled_from([1, 2, 8, 64, 4096])),
                max_size=30), st.integers(1, 3000))
def test_arena_blocks_aligned_and_disjoint(requests, capacity):
    arena = Arena(capacity)
    blocks = []
    for sizes, alignment in requests:
        # One size: alloc; more: alloc_many.  Both must keep every block apart.
        first = len(blocks)
        blocks.extend([arena.alloc(sizes[0], alignment)] if len(sizes) == 1
                      else arena.alloc_many(sizes, alignment))
        for index in range(first, len(blocks)):
            assert blocks[index].address % alignment == 0
            assert len(blocks[index]) == sizes[index - first]
            np.asarray(blocks[index])[:] = index % 251
    for index in range(len(blocks)):  # a later block overwrote none
        assert (np.asarray(blocks[index]) == index % 251).all()
    if blocks:
        with pytest.raises(BufferError):
            arena.reset()
    blocks.clear()
    arena.reset()
    assert arena.usage == 0


@given(st.integers(0, 4), st.integers(0, 6),
       st.lists(st.sampled_from(["acquire", "release"]), max_size=60))
def test_pool_never_exceeds_max_size_nor_shares(initial, extra, operations):
    pool = BufferPool(lambda: ByteBuffer(16), initial, initial + extra)
    held = []
    for operation in operations:
        if operation == "acquire":
            held.append(pool.acquire())
        elif held:
            held.pop(0).release()
        assert pool.size() <= pool.max_size
        objects = [id(handle.obj) for handle in held]
        assert len(set(objects)) == len(objects)


@given(st.lists(st.integers(), max_size=80), st.integers(-1, 12))
def test_parallel_map_chunked_keeps_order(items, chunk_size):
    if chunk_size < 1:
        with pytest.raises(ValueError):
            parallel_map_chunked(items, chunk_size, abs)
        return
    assert parallel_map_chunked(items, chunk_size, lambda n: n * 3) == [n * 3 for n in items]


@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 300), params, params,
       st.integers(0, 2 ** 32 - 1), st.booleans())
def test_quantized_matmul_is_its_integer_formula(m, n, k, a_params, b_params, seed, transposed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b_rows = rng.integers(-128, 128, (n, k)).astype(np.int8)
    b = b_rows.T if transposed else np.ascontiguousarray(b_rows.T)
    total = ((a.astype(np.int64) - a_params.zero_point)
             @ (b_rows.astype(np.int64) - b_params.zero_point).T)
    expected = total.astype(np.float32) * (np.float32(a_params.scale)
                                           * np.float32(b_params.scale))
    np.testing.assert_array_equal(quantized_matmul(a, a_params, b, b_params), expected)


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=9),
                  elements=st.floats(-2.0 ** 60, 2.0 ** 60, width=32)), st.booleans())
def test_quantized_tensor_save_load_round_trip(values, symmetric):
    make = QuantizedTensor.from_f32_symmetric if symmetric else QuantizedTensor.from_f32
    tensor = make(values, values.shape)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "t.safetensors")
        tensor.save(path)
        loaded = QuantizedTensor.load(path)
        assert loaded.params == tensor.params
        np.testing.assert_array_equal(loaded.data, tensor.data)
        np.testing.assert_array_equal(loaded.to_f32(), tensor.to_f32())
        del loaded  # unmaps the file before the directory goes


@given(hnp.arrays(np.float32, st.integers(1, 400), elements=st.floats(-1e6, 1e6, width=32)),
       st.floats(50.5, 100))
def test_percentile_range_is_an_order_statistic(values, percentile):
    low, high = DynamicQuantizer(percentile).range_of(values)
    ordered = np.sort(values)
    tail = int(round((100.0 - percentile) / 100.0 * (values.size - 1)))
    assert (low, high) == (float(ordered[tail]), float(ordered[values.size - 1 - tail]))


@FEWER
@given(st.lists(st.integers(-50, 50), max_size=60), st.integers(1, 6))
def test_pipeline_and_thread_maps_equal_plain_maps(items, queue_size):
    def stage1(n):
        return n * 2

    def stage2(n):
        if n == 42:
            raise ValueError("forty-two")
        return n + 1

    pipeline = Pipeline3(stage1, str, len, queue_size=queue_size)
    assert pipeline.execute_batch(items) == [len(str(n * 2)) for n in items]
    results = parallel_preprocess_result(items, lambda n: stage2(stage1(n)))
    for n, result in zip(items, results):
        assert (isinstance(result, ValueError) if n == 21 else result == n * 2 + 1)


@FEWER
@given(st.lists(st.integers(), max_size=60), st.integers(1, 8))
def test_async_executor_equals_sequential(items, limit):
    async def double(n):
        await asyncio.sleep(0)
        return 2 * n

    results = asyncio.run(AsyncParallelExecutor(limit).execute(items, double))
    assert results == [2 * n for n in items]


@FEWER
@given(st.lists(uint8_images(channels=(3, 4), min_side=1, max_side=30), min_size=1, max_size=4),
       st.integers(1, 40), st.integers(1, 40))
def test_preprocess_batch_equals_separate_kernels(cases, height, width):
    images = [image for image, _, _ in cases]
    if not all(rows_packed(image) for image in images):
        with pytest.raises(ValueError):
            preprocess_batch(images, (height, width))
        return
    batch = preprocess_batch(images, (height, width))
    for image, result in zip(images, batch):
        np.testing.assert_allclose(result[0], separate_kernels(image, (height, width)),
                                   rtol=RTOL, atol=ATOL)


@FEWER
@given(st.lists(st.integers(), max_size=120), st.integers(1, 16), st.integers(1, 64))
def test_batcher_returns_each_callers_result(items, max_batch_size, queue_size):
    sizes = []

    def double(batch):
        sizes.append(len(batch))
        return [item * 2 for item in batch]

    async def scenario():
        batcher = DynamicBatcher(BatchConfig(max_batch_size=max_batch_size,
                                             max_wait_ms=1, max_queue_size=queue_size), double)
        runner = asyncio.create_task(batcher.run())
        await asyncio.sleep(0)  # run() starts before shutdown() is called
        results = await asyncio.gather(*(batcher.add(item) for item in items),
                                       return_exceptions=True)
        await batcher.shutdown()
        await runner
        return results

    results = asyncio.run(scenario())
    for item, result in zip(items, results):
        # Callers beyond the queue's room are refused at once, never lost.
        assert result == item * 2 or type(result).__name__ == "QueueFull"
    assert sum(sizes) == sum(1 for r in results if not isinstance(r, Exception))
    assert all(1 <= size <= max_batch_size for size in sizes)
