"""Read-only memory-mapped model files, with zero-copy tensors."""
from __future__ import annotations

import errno
import hashlib
import io
import mmap
import os
import stat
import tokenize
from types import TracebackType
from typing import Any, Callable, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from .._validate import element_count
from ._safetensors import read_header

__all__ = ["MmapModel"]

_NPY_MAGIC = b"\x93NUMPY"
# What NumPy's header parser raises on a malformed header: its own checks,
# and ast.literal_eval / tokenize on the header's Python literal.
_NPY_HEADER_ERRORS = (ValueError, TypeError, KeyError, SyntaxError, RecursionError,
                      MemoryError, OverflowError, tokenize.TokenError)
# .npy format versions NumPy reads publicly.  3.0 (a UTF-8 header, written
# only for structured dtypes with field names outside Latin-1) has no public
# reader; the 2.0 reader would garble those names, so it is refused.
_NPY_READERS: dict[tuple[int, int], Callable[[io.BytesIO], Any]] = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
# Bytes hashed to check that a pickled model re-maps the same file: every
# header of a file scipix reads fits, and the pages are already resident.
_IDENTITY_BYTES = 1 << 16


class _FileIdentity(NamedTuple):
    """What a pickled model carries to find its file again."""
    path: str       # absolute
    size: int
    mtime_ns: int
    head_sha256: str  # of the first _IDENTITY_BYTES bytes


class _Tensor(NamedTuple):
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    order: Literal["C", "F"]  # "F" for a Fortran-ordered .npy
    offset: int     # from the start of the file
    nbytes: int


class MmapModel:
    """A model file mapped read-only into memory.

    Pages are read from disk when first touched and live in the page cache,
    so several processes mapping the same file share one copy.  ``.npy``
    and ``.safetensors`` files also expose their tensors as read-only NumPy
    arrays over the mapping (no copy).

    Use :meth:`from_file`; close with :meth:`close` or a ``with`` block.
    Arrays and slices taken from the model stay valid after it is closed:
    the file is unmapped when the last of them dies (as with ``mmap``
    objects exported through the buffer protocol).

    A model pickles by path: unpickling maps the same file again (checked
    by size, modification time and a hash of its first 64 KiB), so worker
    processes on one machine share the pages instead of copying them.

    Notes
    -----
    A mapped file must not be truncated or rewritten in place while it is
    mapped: reading a page that no longer exists kills the process with
    ``SIGBUS``, and rewritten bytes change arrays already handed out.
    Replace it instead (write a new file, then ``os.replace``), as
    :meth:`QuantizedTensor.save <scipix.optimize.quantize.QuantizedTensor.save>`
    does; mappings of the old file keep its old contents.
    """

    def __init__(self, path: str, mapping: mmap.mmap, opened: tuple[str, int, int]) -> None:
        self.path = path
        self._mmap: mmap.mmap | None = mapping
        self._tensors: dict[str, _Tensor] | None = None  # name -> _Tensor, read on first use
        self._metadata: dict[str, str] = {}
        self._opened = opened  # (absolute path, size, mtime_ns) of the file mapped

    @classmethod
    def from_file(cls, path: str | bytes | os.PathLike[Any]) -> MmapModel:
        """Map ``path`` (a regular file) read-only.

        Raises
        ------
        FileNotFoundError, IsADirectoryError, PermissionError
        TypeError
            ``path`` is not a path.
        ValueError
            The file is empty, or not a regular file (a FIFO, a device).
        """
        try:
            path = os.fsdecode(path)
        except TypeError:
            raise TypeError(f"path must be a str, bytes or os.PathLike, "
                            f"got {type(path).__name__}") from None
        # Non-blocking: opening a FIFO for reading would wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"{path}: not a regular file; only files can be mapped")
            if info.st_size == 0:
                raise ValueError(f"{path}: the file is empty")
            mapping = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return cls(path, mapping, (os.path.abspath(path), info.st_size, info.st_mtime_ns))

    def _open_mapping(self) -> mmap.mmap:
        if self._mmap is None:
            raise ValueError(f"{self.path}: the model is closed")
        return self._mmap

    def as_slice(self) -> memoryview:
        """The whole file as a read-only ``memoryview`` (no copy)."""
        return memoryview(self._open_mapping())

    def __len__(self) -> int:
        return len(self._open_mapping())

    @property
    def closed(self) -> bool:
        return self._mmap is None

    def _table(self) -> dict[str, _Tensor]:
        mapping = self._open_mapping()
        if self._tensors is None:
            if mapping[:len(_NPY_MAGIC)] == _NPY_MAGIC:
                self._tensors = self._npy_table(mapping)
            elif self.path.endswith(".safetensors"):
                table, self._metadata = read_header(mapping, self.path)
                self._tensors = {name: _Tensor(dtype, shape, "C", offset, nbytes)
                                 for name, (dtype, shape, offset, nbytes) in table.items()}
            else:
                raise ValueError(f"{self.path}: tensors need a .npy or .safetensors file; "
                                 f"use as_slice() for raw bytes")
        return self._tensors

    def _npy_table(self, mapping: mmap.mmap) -> dict[str, _Tensor]:
        header = io.BytesIO(mapping[:min(len(mapping), 1 << 20)])
        try:
            version = np.lib.format.read_magic(header)
            if version not in _NPY_READERS:
                raise ValueError(f"format version {version[0]}.{version[1]} is not 1.0 or "
                                 f"2.0 (3.0, for non-Latin-1 field names, is not supported)")
            shape, fortran_order, dtype = _NPY_READERS[version](header)
            count = element_count(shape)
        except _NPY_HEADER_ERRORS as exc:
            raise ValueError(f"{self.path}: not a valid .npy file: {exc!r}") from None
        if dtype.hasobject:
            raise ValueError(f"{self.path}: .npy holds Python objects, which cannot be mapped")
        offset, nbytes = header.tell(), count * dtype.itemsize
        if offset + nbytes > len(mapping):
            raise ValueError(f"{self.path}: truncated .npy: {offset + nbytes} bytes needed, "
                             f"{len(mapping)} present")
        name = os.path.splitext(os.path.basename(self.path))[0]
        return {name: _Tensor(dtype, shape, "F" if fortran_order else "C", offset, nbytes)}

    def names(self) -> list[str]:
        """Tensor names, in file order."""
        return list(self._table())

    @property
    def metadata(self) -> dict[str, str]:
        """The safetensors ``__metadata__`` (empty for .npy)."""
        self._table()
        return dict(self._metadata)

    def tensor(self, name: str) -> NDArray[Any]:
        """Tensor ``name`` as a read-only ndarray over the mapping.

        A ``.npy`` file holds one tensor, named after the file (its stem).

        Raises
        ------
        KeyError
            The file has no tensor ``name``.
        ValueError
            The model is closed, the file is not a valid ``.npy`` or
            ``.safetensors`` file, or the tensor's shape is one NumPy cannot
            hold (more than its dimension limit, or an axis past ``2**63``);
            the message names the file and the tensor.
        """
        table = self._table()
        if name not in table:
            raise KeyError(f"{self.path} has no tensor {name!r}; it has {list(table)[:10]}")
        entry = table[name]
        try:
            if entry.nbytes == 0:  # frombuffer cannot start at the very end of the file
                empty = np.zeros(entry.shape, entry.dtype)
                empty.flags.writeable = False
                return empty
            flat = np.frombuffer(self._open_mapping(), dtype=entry.dtype,
                                 count=entry.nbytes // entry.dtype.itemsize, offset=entry.offset)
            return flat.reshape(entry.shape, order=entry.order)
        except ValueError as exc:  # a shape NumPy cannot hold: too many or too long axes
            raise ValueError(f"{self.path}: tensor {name!r} of shape {list(entry.shape)} is "
                             f"not a NumPy array: {exc}") from None

    def tensors(self) -> dict[str, NDArray[Any]]:
        """Every tensor, name -> read-only ndarray, in file order."""
        return {name: self.tensor(name) for name in self._table()}

    def close(self) -> None:
        """Close the model (a second call does nothing).

        The model hands out no more arrays.  The file is unmapped now, or,
        while arrays or slices of it are alive, when the last one dies.
        """
        mapping, self._mmap = self._mmap, None
        if mapping is not None:
            try:
                mapping.close()
            except BufferError:
                # Exported: the arrays hold the mmap object, whose
                # deallocation unmaps once the last of them is gone.
                pass

    def __enter__(self) -> MmapModel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _identity(self) -> _FileIdentity:
        """The file as this model mapped it: absolute path, size,
        modification time and the SHA-256 of its first 64 KiB."""
        path, size, mtime_ns = self._opened
        head = hashlib.sha256(self._open_mapping()[:_IDENTITY_BYTES]).hexdigest()
        return _FileIdentity(path, size, mtime_ns, head)

    def __reduce__(self) -> tuple[Any, ...]:
        return _remap, (self._identity(),)

    def __repr__(self) -> str:
        state = "closed" if self._mmap is None else f"{len(self._mmap)} bytes"
        return f"MmapModel({self.path!r}, {state})"


def _remap(identity: _FileIdentity) -> MmapModel:
    """Unpickle a :class:`MmapModel`: map its file again, if it is the same file."""
    model = MmapModel.from_file(identity.path)
    found = model._identity()
    if found != identity:
        changed = [field for field, old, new in zip(identity._fields, identity, found)
                   if old != new]
        model.close()
        raise ValueError(f"{identity.path}: the file changed since the model was pickled "
                         f"({', '.join(changed)} differ); a pickled model re-maps its file "
                         f"and needs the same one")
    return model
