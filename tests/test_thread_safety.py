"""Thread safety: every kernel from 8 Python threads at once on shared
read-only input gives the serial result; shared arenas, buffers and models
raise on misuse rather than corrupt."""
import threading

import numpy as np
import pytest

from scipix.optimize import parallel, quantize, simd
from scipix.optimize.memory import Arena, ByteBuffer, MmapModel

THREADS = 8
ROUNDS = 25


def read_only(array):
    array.flags.writeable = False
    return array


def run_together(work, threads=THREADS):
    """``work(index)`` on ``threads`` threads released at once; results by index."""
    barrier = threading.Barrier(threads)
    results, errors = [None] * threads, []

    def worker(index):
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _shared_inputs():
    rng = np.random.default_rng(3)
    rgba = read_only(rng.integers(0, 256, (301, 257, 4), dtype=np.uint8))
    gray = read_only(rng.integers(0, 256, (301, 257), dtype=np.uint8))
    values = read_only(rng.standard_normal((64, 300)).astype(np.float32))
    params = quantize.QuantParams.from_data(values)
    q = read_only(quantize.quantize_with_params(values, params))
    layer = quantize.QuantizedLinear(rng.standard_normal((48, 300)).astype(np.float32),
                                     rng.standard_normal(48).astype(np.float32))

    def normalized(data):
        copy = data.copy()  # in place: each call on its own copy of the shared input
        simd.simd_normalize(copy)
        return copy

    return {
        "simd_grayscale": lambda: simd.simd_grayscale(rgba),
        "simd_threshold": lambda: simd.simd_threshold(gray, 99),
        "simd_resize_bilinear": lambda: simd.simd_resize_bilinear(gray, 517, 203),
        "fast_area_resize": lambda: simd.fast_area_resize(gray, 85, 100),
        "simd_normalize": lambda: normalized(values),
        "quantize_with_params": lambda: quantize.quantize_with_params(values, params),
        "dequantize": lambda: quantize.dequantize(q, params),
        "PerChannelQuant": lambda: quantize.PerChannelQuant.from_f32(
            values, values.shape).to_f32(),
        "QuantizedLinear": lambda: layer(values),
        "preprocess_batch": lambda: parallel.preprocess_batch([rgba, gray], (96, 80)),
    }


CALLS = _shared_inputs()


@pytest.mark.parametrize("name", list(CALLS))
def test_kernels_from_8_threads_match_serial(name):
    call = CALLS[name]
    expected = call()
    outputs = run_together(lambda _: [call() for _ in range(ROUNDS)])
    for per_thread in outputs:
        for result in per_thread:
            np.testing.assert_array_equal(result, expected)


def test_shared_arena_never_hands_out_the_same_bytes():
    arena = Arena(1024)  # small: the threads also race to add chunks

    def fill(index):
        sizes = np.random.default_rng(index).integers(1, 700, 300)
        # Half one at a time, half in batches of ten.
        blocks = [arena.alloc(int(size), 16) for size in sizes[:150]]
        for start in range(150, 300, 10):
            blocks.extend(arena.alloc_many(sizes[start:start + 10], 16))
        for block in blocks:
            np.asarray(block)[:] = index
        return blocks

    per_thread = run_together(fill)
    for index, blocks in enumerate(per_thread):
        for block in blocks:
            assert (np.asarray(block) == index).all()
    with pytest.raises(BufferError):  # blocks are alive in the main thread
        arena.reset()
    del blocks, block, per_thread
    arena.reset()


def test_arena_reset_from_another_thread_refused_while_blocks_live():
    arena = Arena(4096)
    block = arena.alloc(100)
    errors = run_together(lambda _: _capture(arena.reset), threads=4)
    assert all(isinstance(error, BufferError) for error in errors)
    assert len(block) == 100 and arena.live_blocks == 1


def _capture(fn):
    try:
        fn()
    except Exception as exc:
        return exc
    return None


def test_shared_byte_buffer_extends_atomically():
    buffer = ByteBuffer(0)
    run_together(lambda index: [buffer.extend(bytes([index]) * 7) for _ in range(500)])
    data = np.frombuffer(bytes(buffer), np.uint8).reshape(-1, 7)
    assert data.shape[0] == THREADS * 500
    assert (data == data[:, :1]).all()  # no extend interleaved inside another


def test_model_close_from_other_threads_while_a_tensor_lives(tmp_path):
    # Closing never raises: the tensor keeps the mapping until it dies.
    path = tmp_path / "w.npy"
    np.save(path, np.arange(10.0))
    model = MmapModel.from_file(path)
    weight = model.tensor("w")
    errors = run_together(lambda _: _capture(model.close), threads=4)
    assert errors == [None] * len(errors)
    assert model.closed and weight.sum() == 45.0
