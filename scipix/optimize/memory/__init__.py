"""Memory optimizations: buffer pools, an arena, zero-copy image views and
memory-mapped models.

Pools and the arena are Cython ``cdef class`` es over 64-byte-aligned native
memory; everything hands memory out through the buffer protocol, so
``numpy.asarray(obj)`` and scipix's kernels use it without a copy.  Below
``OptLevel.FULL`` pools do not pool (acquire creates, release drops).
"""
from .._memory import ALIGNMENT, Arena, ArenaBlock, BufferPool, ByteBuffer, Pooled
from ._image_view import ImageView
from ._mmap_model import MmapModel
from ._pools import GlobalPools

__all__ = ["ALIGNMENT", "Arena", "ArenaBlock", "BufferPool", "ByteBuffer", "Pooled",
           "GlobalPools", "ImageView", "MmapModel"]
