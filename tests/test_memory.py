"""Buffer pools, the arena, image views and memory-mapped models."""
import gc
import json
import os
import struct
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

from scipix.tools.soak import resident_bytes
from scipix.optimize import OptLevel, opt_level
from scipix.optimize.memory import (Arena, BufferPool, ByteBuffer, GlobalPools, ImageView,
                                    MmapModel)
from scipix.optimize.simd import fast_area_resize, simd_grayscale


def address(buffer_like):
    return np.asarray(buffer_like).ctypes.data


# ---------------------------------------------------------------- ByteBuffer

def test_byte_buffer_extend_clear_and_alignment():
    buf = ByteBuffer(16)
    assert len(buf) == 0 and buf.capacity == 16
    buf.extend(b"hello")
    buf.extend(np.arange(3, dtype=np.uint8))
    assert bytes(buf) == b"hello\x00\x01\x02" and len(buf) == 8
    assert address(buf) % 64 == 0
    view = np.asarray(buf)
    view[0] = ord("J")  # writable, shared
    assert bytes(buf)[:5] == b"Jello"
    del view
    buf.clear()
    assert len(buf) == 0 and buf.capacity == 16


def test_byte_buffer_grows_but_not_while_exported():
    buf = ByteBuffer(4)
    buf.extend(b"abcdef")
    assert bytes(buf) == b"abcdef" and buf.capacity >= 6
    view = memoryview(buf)
    with pytest.raises(BufferError, match="while views"):
        buf.extend(b"x" * 100)
    assert bytes(view) == b"abcdef"
    view.release()
    buf.extend(b"x" * 100)
    assert len(buf) == 106


def test_byte_buffer_bad_input():
    with pytest.raises(ValueError, match="capacity must be >= 0"):
        ByteBuffer(-1)
    with pytest.raises(TypeError):
        ByteBuffer(4).extend(12)
    with pytest.raises((ValueError, BufferError)):
        ByteBuffer(4).extend(np.zeros((4, 4), np.uint8)[:, ::2])


# ---------------------------------------------------------------- BufferPool

def test_pool_counts_and_max_size():
    made = []
    pool = BufferPool(lambda: made.append(1) or ByteBuffer(8), initial_size=2, max_size=3)
    assert len(made) == 2 and pool.size() == 2
    handles = [pool.acquire() for _ in range(5)]
    assert (pool.hits, pool.misses, pool.size()) == (2, 3, 0)
    for handle in handles:
        handle.release()
    assert pool.size() == 3 and pool.dropped == 2
    pool.clear()
    assert pool.size() == 0


def test_pool_release_paths_and_stale_handle():
    pool = BufferPool(lambda: ByteBuffer(8), 0, 4)
    with pool.acquire() as buf:
        buf.extend(b"secret")
    assert pool.size() == 1
    handle = pool.acquire()
    assert len(handle.obj) == 0  # cleared: nobody sees the previous holder's bytes
    handle.release()
    handle.release()  # idempotent
    with pytest.raises(ValueError, match="was released"):
        handle.obj
    pool.acquire()  # dropped at once: back by garbage collection
    gc.collect()
    assert pool.size() == 1 and pool.hits == 2


def test_pool_never_reuses_exported_memory():
    pool = BufferPool(lambda: ByteBuffer(8), 0, 4)
    handle = pool.acquire()
    handle.obj.extend(b"abc")
    view = np.asarray(handle.obj)
    with pytest.raises(BufferError, match="release the views"):
        handle.release()
    del handle  # garbage collected while the view lives: dropped, not pooled
    gc.collect()
    assert pool.size() == 0 and pool.dropped == 1
    assert bytes(view) == b"abc"


def test_pool_reset_callable_for_other_objects():
    pool = BufferPool(list, 0, 2, reset=list.clear)
    with pool.acquire() as items:
        items.append(5)
    with pool.acquire() as items:
        assert items == []


def test_pool_bad_arguments_and_failing_factory():
    with pytest.raises(ValueError, match=r"max_size \(1\) must be >= initial_size \(2\)"):
        BufferPool(bytearray, 2, 1)
    with pytest.raises(ValueError, match="initial_size must be >= 0"):
        BufferPool(bytearray, -1, 1)
    with pytest.raises(TypeError, match="factory must be callable"):
        BufferPool(5, 0, 1)

    def failing():
        raise RuntimeError("no memory today")

    with pytest.raises(RuntimeError, match="no memory today"):
        BufferPool(failing, 1, 2)
    pool = BufferPool(failing, 0, 2)
    with pytest.raises(RuntimeError, match="no memory today"):
        pool.acquire()
    assert pool.size() == 0


def test_pooling_off_below_full():
    pool = BufferPool(lambda: ByteBuffer(8), 1, 4)
    with opt_level(OptLevel.PARALLEL):
        with pool.acquire():
            pass
        assert pool.hits == 0 and pool.misses == 1 and pool.dropped == 1
    assert pool.size() == 1


def test_pool_under_8_threads_never_double_hands_out():
    pool = BufferPool(lambda: ByteBuffer(64), 0, 4)
    holders = {}
    errors = []
    lock = threading.Lock()

    def worker():
        me = threading.get_ident()
        for _ in range(100_000):
            handle = pool.acquire()
            key = id(handle.obj)
            with lock:
                if key in holders:
                    errors.append("handed out twice")
                holders[key] = me
            handle.obj.extend(b"x")
            with lock:
                del holders[key]
            handle.release()
            if pool.size() > 4:
                errors.append("pool above max_size")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert pool.size() <= 4
    # Flat memory: at most max_size + 8 holders' buffers were ever made.
    assert pool.misses <= 4 + 8 and pool.hits + pool.misses == 800_000


def test_global_pools_singleton_and_sizes():
    pools = GlobalPools.get()
    assert GlobalPools.get() is pools
    for acquire, capacity in ((pools.acquire_small, 1024), (pools.acquire_medium, 65536),
                              (pools.acquire_large, 1 << 20)):
        with acquire() as buf:
            assert buf.capacity == capacity and len(buf) == 0


# ---------------------------------------------------------------- Arena

@pytest.mark.parametrize("alignment", [1, 2, 8, 64, 256, 4096])
def test_arena_alignment(alignment):
    arena = Arena(1 << 16)
    blocks = [arena.alloc(size, alignment) for size in (1, 7, 100, 0, 33)]
    assert all(block.address % alignment == 0 for block in blocks)
    assert [len(b) for b in blocks] == [1, 7, 100, 0, 33]


def test_arena_growth_never_moves_blocks():
    arena = Arena(64)
    first = np.asarray(arena.alloc(48))
    first[:] = 7
    where = first.ctypes.data
    big = np.asarray(arena.alloc(1000))  # a new chunk
    big[:] = 9
    assert first.ctypes.data == where and (first == 7).all()
    assert arena.capacity >= 64 + 1000 and arena.usage >= 1048


def test_arena_reset_refuses_live_blocks():
    arena = Arena.with_capacity(1024)
    block = arena.alloc(100)
    array = arena.alloc_array((4, 5), np.float32)
    with pytest.raises(BufferError, match="2 arena blocks"):
        arena.reset()
    del block
    with pytest.raises(BufferError, match="1 arena blocks"):
        arena.reset()
    del array
    arena.reset()
    assert arena.usage == 0 and arena.live_blocks == 0


def test_arena_forced_reset_and_merge():
    arena = Arena(128)
    old = arena.alloc(100)
    arena.alloc(500)  # second chunk, dropped at once
    arena.reset(force=True)
    assert arena.capacity >= 628 and arena.live_blocks == 0
    del old  # from before the reset: must not disturb the new count
    kept = arena.alloc(10)
    assert arena.live_blocks == 1
    del kept


@pytest.mark.parametrize("sizes", [[64] * 64, (1, 7, 0, 100, 33), np.array([5, 3000, 9], np.int32),
                                   iter([10, 20]), range(3), []])
def test_arena_alloc_many_is_a_loop_of_alloc(sizes):
    wanted = list(sizes) if not isinstance(sizes, type(iter([]))) else [10, 20]
    arena, looped = Arena(256), Arena(256)
    blocks = arena.alloc_many(sizes, 32)
    one_by_one = [looped.alloc(size, 32) for size in wanted]
    assert [len(b) for b in blocks] == wanted
    assert all(block.address % 32 == 0 for block in blocks)
    # Same layout as the loop: the same offsets in each chunk, the same growth.
    assert arena.usage == looped.usage and arena.capacity == looped.capacity
    assert arena.live_blocks == len(wanted)
    for index, block in enumerate(blocks):
        np.asarray(block)[:] = index + 1
    for index, block in enumerate(blocks):
        assert (np.asarray(block) == index + 1).all()


@pytest.mark.parametrize("sizes, error, match", [
    ([8, -1], ValueError, r"sizes\[1\] must be >= 0"),
    ([8, 2.5], TypeError, r"sizes\[1\] must be an integer, got float"),
    ([8, "8"], TypeError, r"sizes\[1\] must be an integer, got str"),
    ([2 ** 70], MemoryError, "cannot allocate"),
    ([2 ** 63 - 8], MemoryError, "cannot allocate"),
    (8, TypeError, "not iterable"),
])
def test_arena_alloc_many_bad_sizes_hand_out_nothing(sizes, error, match):
    arena = Arena(64)
    with pytest.raises(error, match=match):
        arena.alloc_many(sizes)
    assert arena.usage == 0 and arena.live_blocks == 0


def test_arena_alloc_many_bad_alignment():
    with pytest.raises(ValueError, match="alignment must be a power of two"):
        Arena(64).alloc_many([8], 48)


def test_arena_alloc_array():
    arena = Arena(4096)
    array = arena.alloc_array((3, 4), np.float64, alignment=128)
    assert array.shape == (3, 4) and array.dtype == np.float64 and array.ctypes.data % 128 == 0
    array[:] = 1.5
    assert array.sum() == 18.0


@pytest.mark.parametrize("call, error, match", [
    (lambda a: a.alloc(-1), ValueError, "size must be >= 0"),
    (lambda a: a.alloc(8, 3), ValueError, "alignment must be a power of two"),
    (lambda a: a.alloc(8, 0), ValueError, "alignment must be a power of two"),
    (lambda a: a.alloc_array((2, -1), np.uint8), ValueError, r"shape\[1\] must be >= 0"),
    (lambda a: a.alloc_array((2, 2.5), np.uint8), TypeError, r"shape\[1\] must be an int"),
    (lambda a: a.alloc_array(True, np.uint8), TypeError, "not a bool"),
    (lambda a: a.alloc_array(4, object), TypeError, "Python objects"),
    # Found by test_properties: sizes near 2**63 wrapped the bounds check and
    # handed out a block far larger than its chunk.
    (lambda a: a.alloc(2 ** 63 - 8), MemoryError, "cannot allocate"),
    (lambda a: a.alloc(2 ** 62), MemoryError, "cannot allocate"),
    (lambda a: a.alloc(8, 2 ** 22), ValueError, "alignment must be a power of two <="),
    (lambda a: a.alloc_array((2 ** 40, 2 ** 40), np.uint8), MemoryError, "cannot allocate"),
])
def test_arena_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call(Arena(64))


def test_arena_shared_under_load_makes_its_growth_visible():
    # A block always alive across resets, as with threads sharing an arena
    # under steady load: every reset is refused and the arena only grows.
    arena = Arena(1024)
    held = arena.alloc(512)
    with pytest.warns(ResourceWarning, match="one arena per thread or per request") as caught:
        for _ in range(8):
            with pytest.raises(BufferError):
                arena.reset()
            held = arena.alloc(4096)
    assert len(caught) == 1  # warned once
    assert arena.refused_resets == 8 and arena.capacity > 16 * 1024
    assert "refused_resets=8" in repr(arena)
    del held
    arena.reset()
    assert arena.refused_resets == 8 and arena.usage == 0


def test_arena_growth_after_successful_resets_does_not_warn():
    arena = Arena(64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in [100, 1000, 10_000, 100_000]:
            arena.alloc(size)
            arena.reset()
    assert arena.capacity > 16 * 64 and arena.refused_resets == 0


def test_arena_bad_capacity():
    with pytest.raises(ValueError, match="capacity must be positive"):
        Arena(0)


# ---------------------------------------------------------------- ImageView

def test_image_view_basics_and_zero_copy_subview(rng):
    data = bytearray(rng.integers(0, 256, 6 * 4 * 4, dtype=np.uint8).tobytes())
    view = ImageView(data, 6, 4, 4)
    pixels = np.frombuffer(data, np.uint8).reshape(4, 6, 4)
    assert view.dimensions == (6, 4) and view.channels == 4
    assert view.pixel(5, 3) == tuple(int(v) for v in pixels[3, 5])
    sub = view.subview(1, 2, 3, 2)
    assert sub.dimensions == (3, 2) and np.shares_memory(sub.data, pixels)
    data[(2 * 6 + 1) * 4] = 255 - data[(2 * 6 + 1) * 4]  # seen through the subview
    assert sub.pixel(0, 0)[0] == data[(2 * 6 + 1) * 4]


def test_image_view_accepts_the_shapes_its_sizes_describe():
    frame = np.arange(480 * 640 * 4, dtype=np.uint32).astype(np.uint8)
    for data in [frame, frame.reshape(480, 640, 4), frame.reshape(480, 640 * 4)]:
        view = ImageView(data, np.int64(640), np.uint16(480), 4)
        assert view.dimensions == (640, 480) and np.shares_memory(view.data, frame)
    gray = ImageView(frame[:480 * 640].reshape(480, 640), 640, 480, 1)
    assert gray.data.shape == (480, 640)


def test_kernels_take_views_and_subviews(rng):
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    view = ImageView(rgba, 50, 40, 4)
    sub = view.subview(5, 7, 30, 20)
    np.testing.assert_array_equal(simd_grayscale(sub), simd_grayscale(rgba[7:27, 5:35]))
    gray = ImageView(simd_grayscale(rgba), 50, 40, 1)
    np.testing.assert_array_equal(fast_area_resize(gray.subview(0, 0, 50, 20), 25, 10),
                                  fast_area_resize(simd_grayscale(rgba)[:20], 25, 10))


@pytest.mark.parametrize("make, error, match", [
    (lambda: ImageView(b"\x00" * 11, 2, 2, 3), ValueError, "has 11 bytes"),
    (lambda: ImageView(b"\x00" * 12, 0, 2, 3), ValueError, "width must be positive"),
    (lambda: ImageView(b"\x00" * 12, 2, -2, 3), ValueError, "height must be positive"),
    (lambda: ImageView(np.zeros(12, np.float32), 2, 2, 3), TypeError, "dtype uint8"),
    (lambda: ImageView(np.zeros((4, 6), np.uint8)[:, ::2], 3, 4, 1), ValueError,
     "C-contiguous"),
    (lambda: ImageView(12, 2, 2, 3), TypeError, "bytes-like"),
    (lambda: ImageView(b"\x00" * 12, 2, 2, 3).subview(1, 1, 2, 1), ValueError, "outside"),
    (lambda: ImageView(b"\x00" * 12, 2, 2, 3).subview(2, 0, 1, 1), ValueError, "x=2"),
    (lambda: ImageView(b"\x00" * 12, 2, 2, 3).pixel(0, 5), ValueError, "y=5"),
    (lambda: ImageView(b"\x00" * 12, 2, 2, 3).pixel(0.5, 0), TypeError, "x must be an int"),
    (lambda: ImageView(b"\x00" * 12, True, 2, 6), TypeError, "width must be an int, not a bool"),
    (lambda: ImageView(b"\x00" * 12, 2, 2, np.bool_(True)), TypeError,
     "channels must be an int, not a bool"),
    (lambda: ImageView(b"\x00" * 12, 2, 2, 3).pixel(False, 0), TypeError, "not a bool"),
    # Width and height swapped for a (480, 640, 4) frame.
    (lambda: ImageView(np.zeros((480, 640, 4), np.uint8), 480, 640, 4), ValueError,
     r"shape \(480, 640, 4\), but width=480, height=640.*look swapped"),
    (lambda: ImageView(np.zeros((480, 640, 4), np.uint8), 640, 480, 3), ValueError,
     r"describe \(480, 640, 3\)"),
    (lambda: ImageView(np.zeros((480, 640), np.uint8), 480, 640, 1), ValueError, "look swapped"),
    (lambda: ImageView(np.zeros((1, 48, 64, 1), np.uint8), 64, 48, 1), ValueError,
     r"shape \(1, 48, 64, 1\)"),
])
def test_image_view_bad_input(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------- MmapModel

def write_safetensors(path, header, data=b""):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def test_raw_file_zero_copy(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with MmapModel.from_file(path) as model:
        data = model.as_slice()
        assert len(model) == 1024 and data[255] == 255 and data.readonly
        with pytest.raises(ValueError, match="need a .npy or .safetensors"):
            model.tensor("x")
        data.release()
    assert model.closed
    with pytest.raises(ValueError, match="the model is closed"):
        model.as_slice()


def test_safetensors_match_reference_writer(tmp_path, rng):
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    tensors = {"weight": rng.standard_normal((3, 5)).astype(np.float32),
               "bias": np.arange(7, dtype=np.int64),
               "mask": np.array([True, False]), "half": np.ones((2, 2), np.float16),
               "empty": np.zeros((0, 3), np.float32)}
    path = tmp_path / "m.safetensors"
    safetensors_numpy.save_file(tensors, str(path), metadata={"format": "np"})
    model = MmapModel.from_file(path)
    assert set(model.names()) == set(tensors) and model.metadata == {"format": "np"}
    loaded = model.tensors()
    for name, expected in tensors.items():
        np.testing.assert_array_equal(loaded[name], expected)
        assert loaded[name].dtype == expected.dtype and not loaded[name].flags.writeable
    assert np.shares_memory(loaded["weight"], np.frombuffer(model.as_slice(), np.uint8))
    with pytest.raises(ValueError, match="read-only"):
        loaded["weight"][0, 0] = 1
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        model.tensor("nope")
    model.close()  # arrays still alive: they keep the mapping
    np.testing.assert_array_equal(loaded["weight"], tensors["weight"])
    with pytest.raises(ValueError, match="closed"):
        model.tensor("bias")


@pytest.mark.parametrize("order", ["C", "F"])
def test_npy_tensor(tmp_path, rng, order):
    array = np.asarray(rng.standard_normal((4, 6)), order=order)
    path = tmp_path / "weights.npy"
    np.save(path, array)
    with MmapModel.from_file(path) as model:
        assert model.names() == ["weights"]
        tensor = model.tensor("weights")
        np.testing.assert_array_equal(tensor, array)
        assert not tensor.flags.writeable
        del tensor


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("content, match", [
    (b"\x01\x02", "too short"),
    (struct.pack("<Q", 1000) + b"{}", "runs past the end"),
    (struct.pack("<Q", 4) + b"{no}", "not UTF-8 JSON"),
    (struct.pack("<Q", 2) + b"[]", "must be a JSON object"),
])
def test_corrupt_safetensors_bytes(tmp_path, content, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with MmapModel.from_file(path) as model, pytest.raises(ValueError, match=match):
        model.tensors()


@pytest.mark.parametrize("header, data, match", [
    ({"a": {**F32, "data_offsets": [0, 16]}}, b"\x00" * 8, "lie outside"),
    ({"a": F32, "b": {**F32, "data_offsets": [4, 12]}}, b"\x00" * 12, "overlaps"),
    ({"a": {**F32, "data_offsets": [4, 12]}}, b"\x00" * 12, "belong to no tensor"),
    ({"a": F32}, b"\x00" * 12, "at the end belong to no tensor"),
    ({"a": {**F32, "dtype": "Q7"}}, b"\x00" * 8, "unknown dtype"),
    ({"a": {**F32, "dtype": "BF16", "shape": [4]}}, b"\x00" * 8, "NumPy cannot represent"),
    ({"a": {**F32, "shape": [3]}}, b"\x00" * 8, "needs 12 bytes"),
    ({"a": {**F32, "shape": [-2]}}, b"\x00" * 8, "list of ints >= 0"),
    ({"a": {"dtype": "F32", "shape": [2]}}, b"\x00" * 8, "exactly dtype, shape"),
    ({"__metadata__": {"k": 1}, "a": F32}, b"\x00" * 8, "map strings to strings"),
])
def test_corrupt_safetensors_header(tmp_path, header, data, match):
    path = write_safetensors(tmp_path / "bad.safetensors", header, data)
    with MmapModel.from_file(path) as model, pytest.raises(ValueError, match=match):
        model.tensors()


def mapped(path):
    """Whether ``path`` is mapped into this process now."""
    with open("/proc/self/maps") as maps:
        return any(line.rstrip().endswith(" " + str(path)) for line in maps)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc")
def test_closing_with_live_arrays_defers_the_unmap(tmp_path, rng):
    # The memory guide's example: an array taken inside the block outlives it.
    array = rng.standard_normal((8, 4)).astype(np.float32)
    path = tmp_path / "weight.npy"
    np.save(path, array)
    with MmapModel.from_file(path) as model:
        weight = model.tensor("weight")
        raw = model.as_slice()
    assert model.closed and mapped(path)
    np.testing.assert_array_equal(weight, array)
    with pytest.raises(ValueError, match="the model is closed"):
        model.tensor("weight")
    del weight
    assert bytes(raw[:6]) == b"\x93NUMPY" and mapped(path)
    raw.release()
    gc.collect()
    assert not mapped(path)  # the last view unmapped it
    with MmapModel.from_file(path) as model:
        pass
    assert not mapped(path)  # no views: unmapped at once


def test_an_exception_in_a_model_block_is_not_masked(tmp_path):
    np.save(tmp_path / "w.npy", np.arange(4.0))
    with pytest.raises(KeyError, match="mine"):
        with MmapModel.from_file(tmp_path / "w.npy") as model:
            weight = model.tensor("w")  # noqa: F841  (alive while the block raises)
            raise KeyError("mine")


def test_fifo_is_refused_without_blocking(tmp_path):
    # Before the check, open() waited for a writer forever: run it in a child
    # that the test can give up on.
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    code = ("import sys\nfrom scipix.optimize.memory import MmapModel\n"
            "try:\n    MmapModel.from_file(sys.argv[1])\n"
            "except ValueError as exc:\n    print(exc)\n")
    try:
        result = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True,
                                text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("MmapModel.from_file blocked on a FIFO")
    assert result.stdout.strip() == f"{fifo}: not a regular file; only files can be mapped"


def test_bytes_and_pathlike_paths(tmp_path):
    np.save(tmp_path / "w.npy", np.arange(3.0))
    with MmapModel.from_file(os.fsencode(tmp_path / "w.npy")) as model:
        assert model.names() == ["w"] and model.path == str(tmp_path / "w.npy")
    with pytest.raises(TypeError, match="path must be a str, bytes or os.PathLike, got int"):
        MmapModel.from_file(3)


def test_deeply_nested_header_is_a_value_error(tmp_path):
    raw = b"[" * 100_000 + b"]" * 100_000
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    with MmapModel.from_file(path) as model, pytest.raises(
            ValueError, match=f"{path}: not a valid safetensors file: .*nested too deeply"):
        model.names()


def npy_with_header(header, version=(1, 0), data=b"\x00" * 64):
    """A .npy file with ``header`` (a dict literal) written as is."""
    text = header.encode("latin1")
    if version == (1, 0):
        length = struct.pack("<H", len(text) + 1)
    else:
        length = struct.pack("<I", len(text) + 1)
    return b"\x93NUMPY" + bytes(version) + length + text + b"\n" + data


@pytest.mark.parametrize("header, version, match", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", (1, 0),
     r"shape\[0\] must be >= 0"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", (1, 0),
     r"shape\[1\] must be >= 0"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", (9, 0),
     r"format version 9.0 is not 1.0 or 2.0"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", (2, 1),
     r"format version 2.1"),
])
def test_crafted_npy_headers_are_refused(tmp_path, header, version, match):
    path = tmp_path / "crafted.npy"
    path.write_bytes(npy_with_header(header, version))
    with MmapModel.from_file(path) as model, pytest.raises(
            ValueError, match=f"{path}: not a valid .npy file: .*{match}"):
        model.names()


def test_npy_version_2_opens_and_3_is_refused(tmp_path):
    # 3.0 is 2.0 with a UTF-8 header, for field names outside Latin-1; read
    # as 2.0 the names would come out garbled.
    latin1 = np.array([(1, 2.5), (3, 4.5)], dtype=[("\u00e9t\u00e9", "<i4"), ("x", "<f8")])
    utf8 = latin1.astype([("\u00e9t\u00e9", "<i4"), ("\u03c9", "<f8")])
    for version, array in [((2, 0), latin1), ((3, 0), utf8)]:
        path = tmp_path / f"v{version[0]}.npy"
        with open(path, "wb") as file:
            np.lib.format.write_array(file, array, version=version)
        with MmapModel.from_file(path) as model:
            if version == (3, 0):
                with pytest.raises(ValueError, match="version 3.0 is not 1.0 or 2.0"):
                    model.names()
                continue
            loaded = model.tensor(path.stem)
            assert loaded.dtype.names == array.dtype.names
            np.testing.assert_array_equal(loaded, array)
            del loaded


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        MmapModel.from_file(tmp_path / "missing.bin")
    with pytest.raises(IsADirectoryError):
        MmapModel.from_file(tmp_path)
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="the file is empty"):
        MmapModel.from_file(tmp_path / "empty.bin")
    (tmp_path / "cut.npy").write_bytes(b"\x93NUMPY\x01\x00")
    with MmapModel.from_file(tmp_path / "cut.npy") as model:
        with pytest.raises(ValueError, match="not a valid .npy"):
            model.tensors()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_reading_one_tensor_touches_only_its_pages(tmp_path):
    big, small = 256 << 20, 4096
    header = {"big": {"dtype": "U8", "shape": [big], "data_offsets": [0, big]},
              "small": {"dtype": "U8", "shape": [small], "data_offsets": [big, big + small]}}
    path = write_safetensors(tmp_path / "big.safetensors", header)
    with open(path, "r+b") as file:  # sparse: no 256 MiB written to disk
        file.truncate(os.path.getsize(path) + big + small)
    before = resident_bytes()
    with MmapModel.from_file(path) as model:
        assert int(model.tensor("small").sum()) == 0
        grown = resident_bytes() - before
    assert grown < 16 << 20, f"resident memory grew by {grown} bytes"


@pytest.mark.parametrize("shape, data, match", [
    ([0, 2**70], b"", "Maximum allowed dimension"),
    ([1] * 65, b"\x00" * 4, "maximum supported dimension"),
])
def test_shapes_numpy_cannot_hold_name_the_file_and_tensor(tmp_path, shape, data, match):
    """Issue 27.13: MmapModel.tensor() surfaced NumPy's message alone for a
    header shape NumPy refuses."""
    path = write_safetensors(tmp_path / "odd.safetensors",
                             {"wide": {**F32, "shape": shape, "data_offsets": [0, len(data)]}},
                             data)
    with MmapModel.from_file(path) as model, pytest.raises(ValueError, match=match) as caught:
        model.tensor("wide")
    assert str(path) in str(caught.value) and "'wide'" in str(caught.value)
