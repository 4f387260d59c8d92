"""What crosses a process boundary: mapped models and tensors by path,
exceptions with their attributes, and a clear refusal for native memory."""
import copy
import os
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from scipix.optimize.memory import (Arena, BufferPool, ByteBuffer, GlobalPools, ImageView,
                                    MmapModel)
from scipix.optimize.parallel import Pipeline, PipelineError
from scipix.optimize.quantize import QuantizedTensor, QuantParams


@pytest.fixture(scope="module")
def pool():
    with ProcessPoolExecutor(1) as executor:
        yield executor


def mapped_file_of(array):
    """(path, first data byte's address) of the mapping holding ``array``."""
    start = array.__array_interface__["data"][0]
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            low, high = (int(n, 16) for n in fields[0].split("-"))
            if low <= start < high and len(fields) >= 6:
                return fields[5]
    return None


def sum_in_worker(model):
    """Runs in the worker: the tensor must come from a mapping of the file."""
    weight = model.tensor("weight")
    return float(weight.sum()), mapped_file_of(weight), weight.flags.writeable


def tensor_in_worker(tensor):
    return tensor.data.copy(), tensor.params, mapped_file_of(tensor.data)


def failing_pipeline(items):
    return Pipeline(lambda x: 1 // x).execute_batch(items)


@pytest.fixture
def npy_model(tmp_path, rng):
    array = rng.standard_normal((64, 32)).astype(np.float32)
    path = tmp_path / "weight.npy"
    np.save(path, array)
    return path, array


def test_model_pickles_by_path_and_remaps(npy_model):
    path, array = npy_model
    model = MmapModel.from_file(path)
    data = pickle.dumps(model)
    assert len(data) < 1024 < array.nbytes  # the path, not the pages
    copy_ = pickle.loads(data)
    assert copy_.path == os.path.abspath(path)
    np.testing.assert_array_equal(copy_.tensor("weight"), array)
    assert mapped_file_of(copy_.tensor("weight")) == os.path.abspath(path)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc")
def test_model_remaps_in_a_worker_process(npy_model, pool):
    path, array = npy_model
    with MmapModel.from_file(path) as model:
        total, mapped, writeable = pool.submit(sum_in_worker, model).result()
    assert total == pytest.approx(float(array.sum()), rel=1e-5)
    assert mapped == os.path.abspath(path) and not writeable


def replace_npy(path, array):
    """Save ``array`` over ``path`` as a new file (rewriting a mapped file in
    place would kill this process with SIGBUS)."""
    np.save(str(path) + ".new.npy", array)
    os.replace(str(path) + ".new.npy", path)


def test_unpickling_refuses_a_changed_file(npy_model, rng):
    path, array = npy_model
    model = MmapModel.from_file(path)
    data = pickle.dumps(model)
    before = os.stat(path)
    # Same size, same modification time: only the content hash tells.
    replace_npy(path, array[::-1].copy())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.path.getsize(path) == before.st_size
    with pytest.raises(ValueError, match="changed since the model was pickled.*head_sha256"):
        pickle.loads(data)
    replace_npy(path, array[:10])  # shorter
    with pytest.raises(ValueError, match=r"weight\.npy: the file changed.*size"):
        pickle.loads(data)
    os.remove(path)
    with pytest.raises(FileNotFoundError):
        pickle.loads(data)
    np.testing.assert_array_equal(model.tensor("weight"), array)  # the old mapping is intact


def test_closed_model_does_not_pickle(npy_model):
    model = MmapModel.from_file(npy_model[0])
    model.close()
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(model)


def test_loaded_quantized_tensor_pickles_by_path(tmp_path, rng, pool):
    values = rng.standard_normal((256, 64)).astype(np.float32)
    tensor = QuantizedTensor.from_f32(values, values.shape)
    path = tmp_path / "q.safetensors"
    tensor.save(path)
    loaded = QuantizedTensor.load(path)
    data = pickle.dumps(loaded)
    assert len(data) < 1024 < tensor.data.nbytes
    again = pickle.loads(data)
    np.testing.assert_array_equal(again.data, tensor.data)
    assert again.params == tensor.params and not again.data.flags.writeable
    remote, params, mapped = pool.submit(tensor_in_worker, loaded).result()
    np.testing.assert_array_equal(remote, tensor.data)
    assert params == tensor.params
    if os.path.exists("/proc/self/maps"):
        assert mapped == os.path.abspath(path)
    # In memory, or given other data than the file's since: pickled by value.
    changed = QuantizedTensor.load(path)
    changed.data = changed.data[:3]
    for by_value in [tensor, changed]:
        assert len(pickle.dumps(by_value)) > by_value.data.nbytes
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(by_value)).data, by_value.data)


def test_pipeline_error_pickles_with_its_attributes(pool):
    error = PipelineError(2, 7, ZeroDivisionError("division by zero"))
    error.add_note("while testing")
    again = pickle.loads(pickle.dumps(error))
    assert (again.stage, again.index, again.__notes__) == (2, 7, ["while testing"])
    assert repr(again.cause) == repr(error.cause) and str(again) == str(error)
    with pytest.raises(PipelineError) as raised:
        pool.submit(failing_pipeline, [3, 2, 0, 1]).result()
    assert (raised.value.stage, raised.value.index) == (1, 2)
    assert isinstance(raised.value.cause, ZeroDivisionError)


def test_pipeline_error_with_an_unpicklable_cause_still_travels():
    class Holder(Exception):
        pass
    error = PipelineError(1, 0, Holder(threading.Lock()))
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again.cause, RuntimeError) and "Holder" in str(again.cause)


@pytest.mark.parametrize("make, instead", [
    (lambda: ByteBuffer(8), "extend a ByteBuffer"),
    (lambda: BufferPool(bytearray), "a pool in each process"),
    (lambda: BufferPool(bytearray).acquire(), "acquire from a pool"),
    (lambda: Arena(64), "one per thread or per request"),
    (lambda: Arena(64).alloc(8), r"bytes\(block\)"),
    (GlobalPools.get, r"GlobalPools.get\(\) in the receiving process"),
])
def test_native_memory_refuses_to_travel(make, instead):
    obj = make()
    for send in (pickle.dumps, copy.copy):
        with pytest.raises(TypeError, match=f"{type(obj).__name__} cannot be pickled.*{instead}"):
            send(obj)


def test_small_values_pickle(rng):
    params = QuantParams(0.25, 3, -127)
    assert pickle.loads(pickle.dumps(params)) == params
    view = ImageView(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8), 6, 4, 3)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(view)).data, view.data)
