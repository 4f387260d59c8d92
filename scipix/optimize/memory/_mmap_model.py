"""Read-only memory-mapped model files, with zero-copy tensors."""
from __future__ import annotations

import io
import mmap
import os
import tokenize
from types import TracebackType
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._safetensors import read_header

__all__ = ["MmapModel"]

_NPY_MAGIC = b"\x93NUMPY"
# What NumPy's header parser raises on a malformed header: its own checks,
# and ast.literal_eval / tokenize on the header's Python literal.
_NPY_HEADER_ERRORS = (ValueError, TypeError, KeyError, SyntaxError, RecursionError,
                      MemoryError, OverflowError, tokenize.TokenError)


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
    Closing raises ``BufferError`` while arrays or slices of the file are
    still alive (their memory would vanish); drop them first.
    """

    def __init__(self, path: str, mapping: mmap.mmap) -> None:
        self.path = path
        self._mmap: mmap.mmap | None = mapping
        self._tensors: dict[str, _Tensor] | None = None  # name -> _Tensor, read on first use
        self._metadata: dict[str, str] = {}

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MmapModel:
        """Map ``path`` read-only.

        Raises
        ------
        FileNotFoundError, IsADirectoryError, PermissionError
        ValueError
            The file is empty.
        """
        path = os.fspath(path)
        with open(path, "rb") as file:  # raises the right OSError for bad paths
            if os.fstat(file.fileno()).st_size == 0:
                raise ValueError(f"{path}: the file is empty")
            mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        return cls(path, mapping)

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
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read(header)
        except _NPY_HEADER_ERRORS as exc:
            raise ValueError(f"{self.path}: not a valid .npy file: {exc!r}") from None
        if dtype.hasobject:
            raise ValueError(f"{self.path}: .npy holds Python objects, which cannot be mapped")
        count = 1
        for n in shape:
            count *= n
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
        """
        table = self._table()
        if name not in table:
            raise KeyError(f"{self.path} has no tensor {name!r}; it has {list(table)[:10]}")
        entry = table[name]
        if entry.nbytes == 0:  # frombuffer cannot start at the very end of the file
            empty = np.zeros(entry.shape, entry.dtype)
            empty.flags.writeable = False
            return empty
        flat = np.frombuffer(self._open_mapping(), dtype=entry.dtype,
                             count=entry.nbytes // entry.dtype.itemsize, offset=entry.offset)
        return flat.reshape(entry.shape, order=entry.order)

    def tensors(self) -> dict[str, NDArray[Any]]:
        """Every tensor, name -> read-only ndarray, in file order."""
        return {name: self.tensor(name) for name in self._table()}

    def close(self) -> None:
        """Unmap the file (a second call does nothing).

        Raises
        ------
        BufferError
            Arrays or slices of the file are still alive.
        """
        if self._mmap is not None:
            self._mmap.close()  # BufferError while exported; the model stays open then
            self._mmap = None

    def __enter__(self) -> MmapModel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._mmap is None else f"{len(self._mmap)} bytes"
        return f"MmapModel({self.path!r}, {state})"
