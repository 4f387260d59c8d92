"""Fuzzing MmapModel's .npy and .safetensors readers.

The corpus is written by the official writers (``numpy.save`` /
``numpy.lib.format`` and, when installed, the ``safetensors`` package) and
mutated by hypothesis: byte flips, truncation, insertions, a rewritten
header length, and JSON headers with random dtypes, shapes and offsets.
Every file either opens with every tensor lying inside the mapping, or
raises ValueError naming the file; nothing else, and no crash.
"""
import contextlib
import io
import json
import os
import tempfile

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scipix.optimize.memory import MmapModel
from scipix.optimize.memory._safetensors import write as write_safetensors

# Files are cheap to try: twice the profile's cases.
FUZZ = settings(max_examples=2 * settings.default.max_examples)


def _npy_bytes(array, version=None):
    stream = io.BytesIO()
    np.lib.format.write_array(stream, array, version=version)
    return stream.getvalue()


def _safetensors_bytes(tensors, official):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.safetensors")
        if official:
            from safetensors.numpy import save_file
            save_file(tensors, path, metadata={"format": "np"})
        else:
            write_safetensors(path, tensors)
        with open(path, "rb") as file:
            return file.read()


def _corpus():
    rng = np.random.default_rng(7)
    npy = [_npy_bytes(rng.standard_normal((3, 5)).astype(np.float32)),
           _npy_bytes(np.asfortranarray(rng.integers(0, 9, (4, 6), dtype=np.int16))),
           _npy_bytes(np.arange(7, dtype=">f8"), version=(2, 0)),
           _npy_bytes(np.zeros((0, 3), np.uint8))]
    tensors = {"weight": rng.standard_normal((4, 3)).astype(np.float32),
               "bias": np.arange(4, dtype=np.int64),
               "empty": np.zeros((0,), np.float16),
               "mask": np.array([True, False, True])}
    official = []
    try:
        import safetensors  # noqa: F401  (optional test dependency)
        official.append(_safetensors_bytes(tensors, official=True))
    except ImportError:
        pass
    safetensors_files = official + [_safetensors_bytes(tensors, official=False)]
    return [(".npy", data) for data in npy] + [(".safetensors", data) for data in safetensors_files]


CORPUS = _corpus()


@contextlib.contextmanager
def _model_file(suffix, data):
    """The path of a temporary file holding ``data``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model" + suffix)
        with open(path, "wb") as file:
            file.write(data)
        yield path


def _open_and_read(suffix, data):
    """Open ``data`` as a model file; every tensor must lie inside the mapping."""
    with _model_file(suffix, data) as path:
        try:
            model = MmapModel.from_file(path)
        except ValueError as exc:  # only an empty file is refused here
            assert path in str(exc) and not data
            return
        try:
            tensors = model.tensors()
        except ValueError as exc:
            assert path in str(exc)
            model.close()
            return
        mapping = np.frombuffer(model.as_slice(), np.uint8)
        start, end = mapping.ctypes.data, mapping.ctypes.data + mapping.size
        for name in list(tensors):
            array = tensors.pop(name)
            assert not array.flags.writeable
            if array.size:
                first = array.__array_interface__["data"][0]
                assert start <= first and first + array.nbytes <= end
                array.tobytes()  # touch every byte: an over-read would fault here
            del array
        del mapping
        model.close()


@FUZZ
@given(st.sampled_from(CORPUS), st.data())
def test_mutated_files_open_cleanly_or_raise(case, data):
    suffix, original = case
    raw = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete", "length"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)), label="at")
        if kind == "flip" and raw:
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "truncate":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del raw[at:at + data.draw(st.integers(1, 16))]
        elif kind == "length" and suffix == ".safetensors" and len(raw) >= 8:
            value = data.draw(st.integers(0, 2 ** 64 - 1))
            raw[:8] = value.to_bytes(8, "little")
    _open_and_read(suffix, bytes(raw))


entry = st.fixed_dictionaries({
    "dtype": st.sampled_from(["F32", "I8", "U8", "F64", "BOOL", "BF16", "X9", 3]),
    "shape": st.one_of(st.lists(st.integers(-2, 40), max_size=3), st.integers(), st.none()),
    "data_offsets": st.one_of(st.lists(st.integers(-10, 300), min_size=0, max_size=3),
                              st.tuples(st.integers(0, 2 ** 64), st.integers(0, 2 ** 64)).map(list)),
})


@FUZZ
@given(st.dictionaries(st.text(max_size=8), entry, max_size=4),
       st.integers(0, 300), st.booleans())
def test_random_safetensors_headers(header, data_size, metadata):
    if metadata:
        header = dict(header, __metadata__={"format": "pt"})
    raw = json.dumps(header).encode()
    _open_and_read(".safetensors", len(raw).to_bytes(8, "little") + raw + bytes(data_size))


def test_corpus_files_open():
    # The unmutated corpus is valid: the fuzzing starts from real files.
    for suffix, data in CORPUS:
        with _model_file(suffix, data) as path, MmapModel.from_file(path) as model:
            assert len(model.names()) >= 1
