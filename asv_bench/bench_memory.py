"""Memory optimizations against plain allocation (the spec's "Memory Optimizations").

``pooling`` "on" is ``OptLevel.FULL``, "off" ``OptLevel.PARALLEL``, where
pools allocate every time: the ratio of their times is what pooling saves.
"""
import os
import tempfile

import numpy as np

from ._api import public, set_opt_level
from ._inputs import sparse_safetensors

POOLING = {"on": "FULL", "off": "PARALLEL"}
HALF_MIB = np.ones(512 * 1024, np.uint8)
SIZES_64 = [64] * 64


class BufferPooling:
    """A 1 MiB buffer: acquire, write 512 KiB, release."""

    params = (list(POOLING),)
    param_names = ["pooling"]

    def setup(self, pooling):
        memory = public("scipix.optimize.memory")
        set_opt_level(POOLING[pooling])
        self.pool = memory.BufferPool(lambda: memory.ByteBuffer(1 << 20), 1, 4)

    def teardown(self, pooling):
        set_opt_level("FULL")

    def time_pooled_write(self, pooling):
        with self.pool.acquire() as buf:
            buf.extend(HALF_MIB)

    def time_acquire_release(self, pooling):
        self.pool.acquire().release()


class PlainAllocation:
    """The same 1 MiB buffer and write with numpy.empty and bytearray."""

    def time_numpy_empty_write(self):
        np.empty(1 << 20, np.uint8)[:HALF_MIB.size] = HALF_MIB

    def time_bytearray_write(self):
        bytearray(1 << 20)[:HALF_MIB.size] = memoryview(HALF_MIB)


class SmallBlocks:
    """64 blocks of 64 bytes: an arena against numpy.empty."""

    def setup(self):
        self.arena = public("scipix.optimize.memory.Arena")(1 << 16)

    def time_arena_alloc_reset(self):
        for _ in range(64):
            self.arena.alloc(64, 64)
        self.arena.reset()

    def time_numpy_empty(self):
        for _ in range(64):
            np.empty(64, np.uint8)


class ManyBlocks:
    """The same 64 blocks in one ``Arena.alloc_many`` call."""

    def setup(self):
        self.arena = public("scipix.optimize.memory.Arena")(1 << 16)
        if not hasattr(self.arena, "alloc_many"):
            raise NotImplementedError("Arena.alloc_many does not exist in this scipix")

    def time_arena_alloc_many_reset(self):
        self.arena.alloc_many(SIZES_64, 64)
        self.arena.reset()


class MappedModel:
    """Open a 1 GiB safetensors file (sparse) and read one 4 KiB tensor."""

    timeout = 120

    def setup_cache(self):
        folder = tempfile.mkdtemp(prefix="scipix-asv-")
        path = os.path.join(folder, "model.safetensors")
        sparse_safetensors(path)
        return path

    def setup(self, path):
        self.mmap_model = public("scipix.optimize.memory.MmapModel")

    def time_open_and_read_tensor(self, path):
        with self.mmap_model.from_file(path) as model:
            int(model.tensor("bias").sum())
