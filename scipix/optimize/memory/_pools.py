"""Process-wide buffer pools in three sizes (the spec's ``GlobalPools``)."""
from __future__ import annotations

import threading

from typing import Optional

from .._memory import ALIGNMENT, BufferPool, ByteBuffer, Pooled

__all__ = ["GlobalPools"]

KIB = 1024


class GlobalPools:
    """Three :class:`BufferPool` s of :class:`ByteBuffer`, one per size class.

    ========  ==========  ========
    pool      capacity    max kept
    ========  ==========  ========
    small     1 KiB       256
    medium    64 KiB      64
    large     1 MiB       16
    ========  ==========  ========

    At most ~21 MiB stay pooled.  The pools start empty and fill as
    buffers are given back.  Get the instance with :meth:`get`.
    """

    SMALL, MEDIUM, LARGE = KIB, 64 * KIB, 1024 * KIB
    _instance: Optional["GlobalPools"] = None
    _creating = threading.Lock()

    def __init__(self) -> None:
        self.small = BufferPool(lambda: ByteBuffer(self.SMALL), 0, 256)
        self.medium = BufferPool(lambda: ByteBuffer(self.MEDIUM), 0, 64)
        self.large = BufferPool(lambda: ByteBuffer(self.LARGE), 0, 16)

    @classmethod
    def get(cls) -> GlobalPools:
        """The process-wide instance, made on first use."""
        if cls._instance is None:
            with cls._creating:
                if cls._instance is None:
                    cls._instance = cls()
        return cls._instance

    def acquire_small(self) -> Pooled[ByteBuffer]:
        """A 1 KiB :class:`ByteBuffer` on loan (a ``Pooled`` handle)."""
        return self.small.acquire()

    def acquire_medium(self) -> Pooled[ByteBuffer]:
        """A 64 KiB :class:`ByteBuffer` on loan."""
        return self.medium.acquire()

    def acquire_large(self) -> Pooled[ByteBuffer]:
        """A 1 MiB :class:`ByteBuffer` on loan."""
        return self.large.acquire()

    def __reduce__(self) -> tuple[()]:
        raise TypeError("GlobalPools cannot be pickled or copied: its buffers are native "
                        "memory of this process; call GlobalPools.get() in the receiving "
                        "process")

    def __repr__(self) -> str:
        return (f"GlobalPools(small={self.small!r}, medium={self.medium!r}, "
                f"large={self.large!r}, alignment={ALIGNMENT})")
