"""A strict reader of the safetensors header (no dependency on the package).

Layout: 8 bytes little-endian header length N, N bytes of UTF-8 JSON, then
the data.  The JSON maps each tensor name to ``{"dtype", "shape",
"data_offsets": [begin, end]}`` (offsets relative to the data), plus an
optional ``"__metadata__"`` of strings.  As the reference implementation,
tensors must tile the data exactly: no overlap, no gap, nothing after.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Mapping
from typing import Any, Dict, Tuple

import numpy as np
from numpy.typing import NDArray

__all__ = ["DTYPES", "read_header", "write"]

DTYPES = {
    "BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_NO_NUMPY_DTYPE = {"BF16", "F8_E4M3", "F8_E5M2"}
# The reference implementation's limit: a larger header is not a model.
MAX_HEADER = 100 * 1024 * 1024


# name -> (dtype, shape, absolute byte offset, byte length)
TensorTable = Dict[str, Tuple[np.dtype[Any], Tuple[int, ...], int, int]]


def _corrupt(path: str, why: str) -> ValueError:
    return ValueError(f"{path}: not a valid safetensors file: {why}")


def read_header(buffer: Any, path: str) -> tuple[TensorTable, dict[str, str]]:
    """Tensor table of a safetensors file.

    Parameters
    ----------
    buffer : bytes-like
        The whole file (e.g. a memory map).
    path : str
        For error messages.

    Returns
    -------
    tensors : dict
        name -> (dtype, shape tuple, absolute byte offset, byte length), in
        file order.
    metadata : dict of str -> str
    """
    size = len(buffer)
    if size < 8:
        raise _corrupt(path, f"{size} bytes is too short for the 8-byte header length")
    header_len = int.from_bytes(buffer[:8], "little")
    if header_len > size - 8:
        raise _corrupt(path, f"header length {header_len} runs past the end of the file "
                             f"({size} bytes)")
    if header_len > MAX_HEADER:
        raise _corrupt(path, f"header length {header_len} exceeds {MAX_HEADER}")
    try:
        header = json.loads(bytes(buffer[8:8 + header_len]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"header is not UTF-8 JSON ({exc})") from None
    except RecursionError:
        raise _corrupt(path, "header JSON is nested too deeply") from None
    if not isinstance(header, dict):
        raise _corrupt(path, f"header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _corrupt(path, "__metadata__ must map strings to strings")
    data_start = 8 + header_len
    data_size = size - data_start
    entries = []
    for name, info in header.items():
        entries.append((name,) + _entry(info, name, data_size, path))
    entries.sort(key=lambda entry: entry[3])
    position = 0
    tensors: TensorTable = {}
    for name, dtype, shape, begin, end in entries:
        if begin < position:
            raise _corrupt(path, f"tensor {name!r} overlaps the tensor before it")
        if begin > position:
            raise _corrupt(path, f"{begin - position} bytes of data before tensor {name!r} "
                                 f"belong to no tensor")
        position = end
        tensors[name] = (dtype, shape, data_start + begin, end - begin)
    if position != data_size:
        raise _corrupt(path, f"{data_size - position} bytes at the end belong to no tensor")
    return tensors, metadata


def _entry(info: Any, name: str, data_size: int,
           path: str) -> tuple[np.dtype[Any], tuple[int, ...], int, int]:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise _corrupt(path, f"tensor {name!r} must have exactly dtype, shape, data_offsets")
    code = info["dtype"]
    if code in _NO_NUMPY_DTYPE:
        raise _corrupt(path, f"tensor {name!r} has dtype {code}, which NumPy cannot represent")
    if code not in DTYPES:
        raise _corrupt(path, f"tensor {name!r} has unknown dtype {code!r}")
    shape = info["shape"]
    if not isinstance(shape, list) or not all(
            type(n) is int and n >= 0 for n in shape):
        raise _corrupt(path, f"tensor {name!r} shape must be a list of ints >= 0, got {shape!r}")
    offsets = info["data_offsets"]
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(n) is int for n in offsets)):
        raise _corrupt(path, f"tensor {name!r} data_offsets must be [begin, end], got {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise _corrupt(path, f"tensor {name!r} data_offsets {offsets} lie outside the "
                             f"{data_size} bytes of data")
    dtype = DTYPES[code]
    count = math.prod(shape)
    if count * dtype.itemsize != end - begin:
        raise _corrupt(path, f"tensor {name!r}: shape {shape} of {code} needs "
                             f"{count * dtype.itemsize} bytes, data_offsets give {end - begin}")
    return dtype, tuple(shape), begin, end


def write(path: str | os.PathLike[str], tensors: Mapping[str, NDArray[Any]],
          metadata: Mapping[str, object] | None = None) -> None:
    """Write ``tensors`` (name -> ndarray of a :data:`DTYPES` dtype) as a
    safetensors file, in the given order, header padded to 8 bytes.

    The file is written beside ``path`` under a temporary name, then moved
    over ``path`` (``os.replace``): mappings of a file already there keep
    its old contents.  Rewriting it in place would change arrays handed out
    from them, or, with a shorter file, kill their readers with ``SIGBUS``.
    """
    codes = {dtype: code for code, dtype in DTYPES.items()}
    header: dict[str, Any] = {}
    offset, blobs = 0, []
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        code = codes.get(np.dtype(dtype))
        if code is None:
            raise TypeError(f"tensor {name!r}: dtype {array.dtype} has no safetensors code")
        blob = array.astype(dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-(8 + len(raw)) % 8)
    target = os.path.abspath(os.fsdecode(path))
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as file:
            file.write(len(raw).to_bytes(8, "little") + raw)
            for blob in blobs:
                file.write(blob)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
