"""Native memory for :mod:`scipix.optimize.memory`: aligned byte buffers, a
thread-safe object pool, and a bump-pointer arena.

Everything hands memory out through the buffer protocol, so
``numpy.asarray(obj)`` and scipix's kernels use it without a copy.
"""
cimport cython
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject, _Py_REFCNT
from cpython.buffer cimport PyBUF_ANY_CONTIGUOUS, PyBuffer_FillInfo, PyBuffer_Release, PyObject_GetBuffer
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free
from libc.string cimport memcpy

import math
import warnings

from . import config
from ._validate import shape_tuple

cdef extern from "stdlib.h":
    int posix_memalign(void** memptr, size_t alignment, size_t size) nogil

# Cache-line alignment: no two buffers share a line, and every SIMD load
# width up to AVX-512 is aligned at the start of a buffer.
ALIGNMENT = 64
# Largest Arena.alloc alignment (a 2 MiB huge page); keeps the address
# arithmetic far from overflow.
cdef enum:
    MAX_ALIGNMENT = 1 << 21


cdef char* _aligned_alloc(Py_ssize_t size, Py_ssize_t alignment) except NULL:
    cdef void* memory = NULL
    if posix_memalign(&memory, <size_t>alignment, <size_t>max(size, 1)) != 0:
        raise MemoryError(f"cannot allocate {size} bytes")
    return <char*>memory


cdef inline bint _power_of_two(Py_ssize_t value) noexcept:
    return value > 0 and (value & (value - 1)) == 0


cdef _stays_here(object obj, str instead):
    """The TypeError of pickling (or copying) an object of native memory:
    its bytes, and the views that share them, exist only in this process."""
    raise TypeError(f"{type(obj).__name__} cannot be pickled or copied: it is native memory "
                    f"of this process, shared with the views handed out from it; {instead}")


@cython.final
cdef class ByteBuffer:
    """Growable bytes in 64-byte-aligned native memory, like a ``Vec<u8>``.

    The buffer protocol exposes the first ``len(buf)`` bytes, writable.

    Parameters
    ----------
    capacity : int >= 0
        Bytes reserved up front; :meth:`extend` grows it when needed.
    """
    cdef char* _data
    cdef Py_ssize_t _capacity
    cdef Py_ssize_t _length
    cdef Py_ssize_t _exports

    def __cinit__(self, Py_ssize_t capacity=0):
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self._data = _aligned_alloc(capacity, ALIGNMENT)
        self._capacity = capacity

    def __dealloc__(self):
        free(self._data)

    @property
    def capacity(self):
        """Bytes that fit without reallocating."""
        return self._capacity

    def __len__(self):
        return self._length

    def extend(self, data):
        """Append the bytes of ``data`` (any contiguous buffer).

        Grows the capacity (at least doubling) when needed; growing moves
        the bytes, so it raises ``BufferError`` while views are exported.
        """
        cdef Py_buffer source
        cdef Py_ssize_t needed
        cdef char* grown
        PyObject_GetBuffer(data, &source, PyBUF_ANY_CONTIGUOUS)
        try:
            needed = self._length + source.len
            if needed > self._capacity:
                if self._exports:
                    raise BufferError("cannot grow a ByteBuffer while views of it exist")
                grown = _aligned_alloc(max(needed, 2 * self._capacity), ALIGNMENT)
                memcpy(grown, self._data, self._length)
                free(self._data)
                self._data = grown
                self._capacity = max(needed, 2 * self._capacity)
            memcpy(self._data + self._length, source.buf, source.len)
            self._length = needed
        finally:
            PyBuffer_Release(&source)

    def clear(self):
        """Set the length to 0 (the capacity stays)."""
        self._length = 0

    @property
    def exports(self):
        """Views of this buffer alive now (memoryviews, NumPy arrays)."""
        return self._exports

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self._data, self._length, 0, flags)
        self._exports += 1

    def __releasebuffer__(self, Py_buffer* view):
        self._exports -= 1

    def __reduce__(self):
        _stays_here(self, "send bytes(buf) and extend a ByteBuffer on the other side")

    def __repr__(self):
        return f"ByteBuffer(len={self._length}, capacity={self._capacity})"


@cython.final
@cython.freelist(64)
cdef class Pooled:
    """A pool's object on loan; it goes back on :meth:`release`, at the end
    of a ``with`` block, or when the handle is garbage collected.

    ``with pool.acquire() as obj:`` binds the object itself.
    """
    cdef BufferPool _pool
    cdef object _obj

    @property
    def obj(self):
        """The pooled object; ``ValueError`` once released."""
        if self._obj is None:
            raise ValueError("this pooled object was released; acquire another")
        return self._obj

    def release(self):
        """Give the object back (a second call does nothing).

        Raises ``BufferError`` if views of a :class:`ByteBuffer` are still
        alive: the next holder would share its memory.
        """
        if self._obj is None:
            return
        if type(self._obj) is ByteBuffer and (<ByteBuffer>self._obj)._exports:
            raise BufferError("release the views of this buffer (e.g. del the NumPy array) "
                              "before giving it back")
        obj, self._obj = self._obj, None
        self._pool._give_back(obj)

    def __enter__(self):
        return self.obj

    def __exit__(self, *exc_info):
        self.release()

    def __dealloc__(self):
        if self._obj is None:
            return
        if type(self._obj) is ByteBuffer and (<ByteBuffer>self._obj)._exports:
            self._pool._drop()  # views outlive the handle: never reuse this memory
        else:
            self._pool._give_back(self._obj)

    def __reduce__(self):
        _stays_here(self, "send the data, and acquire from a pool in the receiving process")

    def __repr__(self):
        return f"Pooled({'released' if self._obj is None else repr(self._obj)})"


@cython.final
cdef class BufferPool:
    """A bounded, thread-safe pool of reusable objects.

    Parameters
    ----------
    factory : callable, () -> object
        Makes a new object when the pool is empty.
    initial_size : int >= 0
        Objects made up front.
    max_size : int >= initial_size
        Objects the pool keeps; one given back to a full pool is dropped.
    reset : callable, object -> None, optional
        Called on each object given back.  :class:`ByteBuffer` objects are
        always cleared to length 0, so a holder never sees the bytes of the
        one before.

    Notes
    -----
    The free list and counters change inside a critical section: under the
    GIL nothing else runs between them (no Python code is called there),
    and on free-threaded CPython it is a per-pool lock.  So no object is
    ever handed to two holders.

    Below ``OptLevel.FULL`` pooling is off: :meth:`acquire` always calls
    ``factory`` and given-back objects are dropped.
    """
    cdef object _factory
    cdef object _reset
    cdef list _free
    cdef readonly Py_ssize_t initial_size
    cdef readonly Py_ssize_t max_size
    cdef Py_ssize_t _hits, _misses, _dropped

    def __init__(self, factory, Py_ssize_t initial_size=0, Py_ssize_t max_size=64, reset=None):
        if not callable(factory):
            raise TypeError(f"factory must be callable, got {type(factory).__name__}")
        if reset is not None and not callable(reset):
            raise TypeError(f"reset must be callable or None, got {type(reset).__name__}")
        if initial_size < 0:
            raise ValueError(f"initial_size must be >= 0, got {initial_size}")
        if max_size < initial_size:
            raise ValueError(f"max_size ({max_size}) must be >= initial_size ({initial_size})")
        self._factory = factory
        self._reset = reset
        self.initial_size = initial_size
        self.max_size = max_size
        self._free = [factory() for _ in range(initial_size)]

    cpdef Pooled acquire(self):
        """An object from the pool (or a new one), on loan as a :class:`Pooled`."""
        cdef Pooled handle = Pooled.__new__(Pooled)
        cdef object obj = None
        if config.pooling:
            with cython.critical_section(self):
                if self._free:
                    obj = self._free.pop()
                    self._hits += 1
                else:
                    self._misses += 1
        else:
            with cython.critical_section(self):
                self._misses += 1
        if obj is None:
            obj = self._factory()
        handle._pool = self
        handle._obj = obj
        return handle

    cdef _give_back(self, obj):
        if type(obj) is ByteBuffer:
            (<ByteBuffer>obj)._length = 0
        elif self._reset is not None:
            self._reset(obj)
        keep = config.pooling
        with cython.critical_section(self):
            if keep and len(self._free) < self.max_size:
                self._free.append(obj)
            else:
                self._dropped += 1

    cdef _drop(self):
        with cython.critical_section(self):
            self._dropped += 1

    def size(self):
        """Objects waiting in the pool now."""
        return len(self._free)

    def clear(self):
        """Drop every waiting object."""
        with cython.critical_section(self):
            self._free = []

    @property
    def hits(self):
        """Acquisitions served from the pool."""
        return self._hits

    @property
    def misses(self):
        """Acquisitions that called ``factory``."""
        return self._misses

    @property
    def dropped(self):
        """Objects given back but not kept (pool full, pooling off, views alive)."""
        return self._dropped

    def __len__(self):
        return len(self._free)

    def __reduce__(self):
        _stays_here(self, "make a pool in each process (e.g. in a worker initializer)")

    def __repr__(self):
        return (f"BufferPool(size={len(self._free)}, max_size={self.max_size}, "
                f"hits={self._hits}, misses={self._misses}, dropped={self._dropped})")


cdef inline int _check_alignment(Py_ssize_t alignment) except -1:
    if not _power_of_two(alignment) or alignment > MAX_ALIGNMENT:
        raise ValueError(f"alignment must be a power of two <= {<int>MAX_ALIGNMENT}, "
                         f"got {alignment}")
    return 0


cdef inline int _check_block_size(Py_ssize_t size, Py_ssize_t index=-1) except -1:
    """``size`` (or ``sizes[index]`` when ``index >= 0``) is a block size."""
    if size < 0:
        name = "size" if index < 0 else f"sizes[{index}]"
        raise ValueError(f"{name} must be >= 0, got {size}")
    # Room for the alignment padding keeps the offset arithmetic from overflowing.
    if size > PY_SSIZE_T_MAX - 2 * MAX_ALIGNMENT:
        raise MemoryError(f"cannot allocate {size} bytes")
    return 0


@cython.final
@cython.no_gc
cdef class _Generation:
    """Held by every block handed out since an arena's last reset: its
    reference count, less the arena's own, is the number of those blocks
    alive (no per-block bookkeeping when a block dies)."""


@cython.final
@cython.freelist(64)
@cython.no_gc  # holds only a chunk and a generation, which never refer back: no cycles
cdef class ArenaBlock:
    """Arena memory handed out by :meth:`Arena.alloc`: a writable uint8
    buffer (``memoryview(block)``, ``numpy.asarray(block)``)."""
    cdef ByteBuffer _chunk  # keeps the memory alive as long as the block
    cdef _Generation _generation
    cdef char* _ptr
    cdef Py_ssize_t _size

    def __len__(self):
        return self._size

    @property
    def address(self):
        """Address of the first byte (to check alignment)."""
        return <uintptr_t>self._ptr

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, self._ptr, self._size, 0, flags)

    def __reduce__(self):
        _stays_here(self, "send bytes(block) or numpy.array(block) (a copy)")

    def __releasebuffer__(self, Py_buffer* view):
        pass


@cython.final
cdef class Arena:
    """Bump-pointer allocation of temporary buffers, freed all at once.

    :meth:`alloc` hands out one block, :meth:`alloc_many` several in one
    call, :meth:`alloc_array` a NumPy array.  Memory handed out never
    moves: when a chunk is full a new one is added.
    :meth:`reset` makes the whole capacity free again (merged into one
    chunk), and refuses while blocks handed out since the last reset are
    alive, so no block ever aliases newer data unless ``force=True``.
    Threads may share an arena: :meth:`alloc` never hands the same bytes
    out twice, and :meth:`reset` raises ``BufferError`` while any thread
    still holds a block.

    Parameters
    ----------
    capacity : int >= 1
        Bytes of the first chunk.

    Notes
    -----
    Use one arena per thread, or per request, reset when that work is
    done.  An arena shared by threads under steady load may never see a
    moment with no block alive: every reset is refused and it grows without
    bound.  :attr:`refused_resets` counts the refusals, and the arena warns
    (``ResourceWarning``, once) when it grows past 16 times its first
    capacity with its last reset refused.
    """
    cdef list _chunks
    cdef ByteBuffer _chunk
    cdef Py_ssize_t _offset
    cdef Py_ssize_t _used
    cdef _Generation _generation
    cdef Py_ssize_t _first_capacity
    cdef Py_ssize_t _capacity  # bytes in all chunks
    cdef Py_ssize_t _refused_resets
    cdef bint _last_reset_refused
    cdef bint _warned

    def __init__(self, Py_ssize_t capacity):
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._chunk = ByteBuffer(capacity)
        self._chunks = [self._chunk]
        self._generation = _Generation()
        self._first_capacity = self._capacity = capacity

    @staticmethod
    def with_capacity(Py_ssize_t capacity):
        """``Arena(capacity)``, the spec's constructor name."""
        return Arena(capacity)

    cpdef ArenaBlock alloc(self, Py_ssize_t size, Py_ssize_t alignment=64):
        """``size`` bytes aligned to ``alignment`` (a power of two, at most
        2 MiB).

        Returns
        -------
        ArenaBlock
            Writable uint8 buffer of ``size`` bytes.
        """
        _check_alignment(alignment)
        _check_block_size(size)
        cdef ArenaBlock block = ArenaBlock.__new__(ArenaBlock)
        self._place(block, size, alignment)
        return block

    def alloc_many(self, sizes, Py_ssize_t alignment=64):
        """One block per entry of ``sizes``, each aligned to ``alignment``.

        The same as ``[arena.alloc(n, alignment) for n in sizes]`` in one
        call: a Python loop of :meth:`alloc` costs more in the interpreter
        than the allocation itself.

        Parameters
        ----------
        sizes : sequence of int >= 0
            Bytes of each block.
        alignment : int
            A power of two, at most 2 MiB.

        Returns
        -------
        list of ArenaBlock
            In the order of ``sizes``; consecutive blocks are adjacent apart
            from alignment padding unless a new chunk had to be added.
        """
        _check_alignment(alignment)
        items = sizes if isinstance(sizes, (list, tuple)) else list(sizes)
        cdef Py_ssize_t n = len(items), i
        cdef Py_ssize_t* wanted = <Py_ssize_t*>PyMem_Malloc(max(n, 1) * sizeof(Py_ssize_t))
        if wanted == NULL:
            raise MemoryError()
        try:
            # Every size is checked before any memory is handed out.
            for i in range(n):
                try:
                    wanted[i] = items[i]
                except TypeError:
                    raise TypeError(f"sizes[{i}] must be an integer, got "
                                    f"{type(items[i]).__name__}") from None
                except OverflowError:
                    raise MemoryError(f"cannot allocate {items[i]} bytes") from None
                _check_block_size(wanted[i], i)
            blocks = [ArenaBlock.__new__(ArenaBlock) for i in range(n)]
            for i in range(n):
                self._place(<ArenaBlock>blocks[i], wanted[i], alignment)
        finally:
            PyMem_Free(wanted)
        return blocks

    cdef inline int _place(self, ArenaBlock block, Py_ssize_t size, Py_ssize_t alignment) except -1:
        """Point ``block`` at the next ``size`` free bytes aligned to
        ``alignment``, adding a chunk when the current one is full."""
        # Python allocations (the block, a new chunk) may run the garbage
        # collector and so switch threads: the offset is read for the last
        # time, and bumped, after them with no Python call in between, so two
        # threads never get the same bytes.  (On free-threaded CPython the
        # critical section is a per-arena lock.)
        cdef Py_ssize_t start
        with cython.critical_section(self):
            start = self._aligned_offset(alignment)
            while size > self._chunk._capacity - start:
                self._grow(size + alignment)
                start = self._aligned_offset(alignment)
            block._chunk = self._chunk
            block._generation = self._generation
            block._ptr = self._chunk._data + start
            block._size = size
            self._used += start + size - self._offset
            self._offset = start + size
        return 0

    cdef inline Py_ssize_t _aligned_offset(self, Py_ssize_t alignment) noexcept:
        """Offset in the current chunk of the next ``alignment``-aligned byte."""
        cdef uintptr_t base = <uintptr_t>self._chunk._data
        return <Py_ssize_t>(((base + self._offset + alignment - 1)
                             & ~<uintptr_t>(alignment - 1)) - base)

    cdef _grow(self, Py_ssize_t at_least):
        chunk = ByteBuffer(max(at_least, 2 * self._chunk._capacity))
        self._chunks.append(chunk)
        self._chunk = chunk
        self._offset = 0
        self._capacity += chunk._capacity
        if (self._last_reset_refused and not self._warned
                and self._capacity > 16 * self._first_capacity):
            self._warned = True
            warnings.warn(
                f"Arena grew to {self._capacity} bytes ({self._capacity // self._first_capacity}"
                f"x its first chunk) while its resets are refused ({self._refused_resets} so "
                f"far): blocks stay alive between resets, as with an arena shared by threads "
                f"under steady load. Use one arena per thread or per request.",
                ResourceWarning, stacklevel=3)

    def alloc_array(self, shape, dtype, Py_ssize_t alignment=64):
        """A NumPy array of ``shape`` and ``dtype`` in arena memory
        (uninitialized, C order)."""
        import numpy as np
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise TypeError("arena arrays cannot hold Python objects")
        shape = shape_tuple(shape)
        count = math.prod(shape)
        if count * dtype.itemsize > PY_SSIZE_T_MAX:
            raise MemoryError(f"cannot allocate an array of shape {shape} and dtype {dtype}")
        block = self.alloc(count * dtype.itemsize, max(alignment, dtype.alignment))
        return np.frombuffer(block, dtype=dtype, count=count).reshape(shape)

    def reset(self, *, bint force=False):
        """Free everything handed out, keeping the capacity.

        Raises
        ------
        BufferError
            Blocks (or arrays) from before are alive and ``force`` is False.
        """
        if not force and self._live_blocks():
            self._refuse_reset()  # before making a merged chunk only to drop it
        # The merged chunk is made first: making it may switch threads, and
        # a block handed out meanwhile must still be seen as live.
        merged = ByteBuffer(self._capacity) if len(self._chunks) > 1 else None
        fresh = _Generation() if force else None
        cdef Py_ssize_t live
        with cython.critical_section(self):
            live = self._live_blocks()
            if live and not force:
                self._refuse_reset()
            if merged is not None:
                self._chunk = merged
                self._chunks = [merged]
            if live:
                # The blocks kept alive by force no longer count.
                self._generation = fresh
            self._offset = 0
            self._used = 0
            self._last_reset_refused = False

    cdef _refuse_reset(self):
        self._refused_resets += 1
        self._last_reset_refused = True
        raise BufferError(f"{self._live_blocks()} arena blocks handed out since the last "
                          f"reset are alive; drop them, or reset(force=True)")

    cdef inline Py_ssize_t _live_blocks(self) noexcept:
        return _Py_REFCNT(<PyObject*>self._generation) - 1

    @property
    def usage(self):
        """Bytes handed out since the last reset, alignment padding included."""
        return self._used

    @property
    def capacity(self):
        """Bytes in all chunks."""
        return self._capacity

    @property
    def refused_resets(self):
        """Calls of :meth:`reset` refused because blocks were alive."""
        return self._refused_resets

    @property
    def live_blocks(self):
        """Blocks handed out since the last reset and still alive."""
        return self._live_blocks()

    def __reduce__(self):
        _stays_here(self, "make an Arena in each worker, one per thread or per request")

    def __repr__(self):
        return (f"Arena(usage={self._used}, capacity={self._capacity}, "
                f"live_blocks={self._live_blocks()}, refused_resets={self._refused_resets})")
