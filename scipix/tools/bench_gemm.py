"""``python -m scipix bench --kernels gemm``: the INT8 linear layer and the
weight quantizer against their peers.

``QuantizedLinear`` against PyTorch's dynamic INT8 ``Linear``
(``torch.ao.quantization.quantize_dynamic``, fbgemm), ONNX Runtime's
``MatMulInteger`` graph (``onnxruntime.quantization.quantize_dynamic`` of a
one-layer model) and NumPy's float32 ``x @ W.T + b``, on one thread and on
all; then ``quantize_weights`` against ``torch.aminmax`` +
``torch.quantize_per_tensor`` on one thread.  Rounds of all contenders are
interleaved in one process, and the median kept (the machine may be
shared).  Every runtime's idle workers sleep, as scipix's do by default
(PyTorch's OpenMP with ``OMP_WAIT_POLICY=PASSIVE`` unless the environment
sets it, ONNX Runtime with ``allow_spinning`` off): a worker that spins
after its own call holds a core the next contender's team needs, which
would measure the order of the contenders rather than their speed.
PyTorch and ONNX Runtime are optional: their columns say "not installed".
"""
import contextlib
import logging
import os
import tempfile
import warnings

import numpy as np

from .. import optimize
from ..optimize import quantize
from .timing import interleaved_medians

# (batch, in_features, out_features): one token, a batch, a transformer MLP
# block, a large projection.
SHAPES = [(1, 1024, 1024), (64, 1024, 1024), (256, 768, 3072), (8, 4096, 4096)]


def _torch(threads):
    # Read when torch's own OpenMP runtime starts (see the module docstring).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _torch_linear(torch, weight, bias):
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(layer), {torch.nn.Linear}, dtype=torch.qint8)

    def run(x):
        with torch.no_grad():
            return quantized(torch.from_numpy(x)).numpy()
    return run


def _onnx_linear(weight, bias, threads):
    """ONNX Runtime's dynamically quantized one-layer model, or None."""
    try:
        import onnx
        import onnxruntime
        from onnx import TensorProto, helper, numpy_helper
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return None
    out_features, in_features = weight.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", in_features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", out_features])],
        [numpy_helper.from_array(np.ascontiguousarray(weight.T), "w"),
         numpy_helper.from_array(bias, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    with tempfile.TemporaryDirectory() as folder:
        plain, quantized = os.path.join(folder, "f32.onnx"), os.path.join(folder, "int8.onnx")
        onnx.save(model, plain)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to pre-process the model
        try:
            quantize_dynamic(plain, quantized, weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        session = onnxruntime.InferenceSession(quantized, options,
                                               providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


@contextlib.contextmanager
def _threads(count):
    """scipix's kernels on ``count`` threads for the block."""
    before = optimize.get_thread_count()
    optimize.set_thread_count(count)
    try:
        yield
    finally:
        optimize.set_thread_count(before)


def _blas_threads(count):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(count)


def _linear_rows(threads, rounds):
    torch = _torch(threads)
    rng = np.random.default_rng(5)
    for batch, in_features, out_features in SHAPES:
        weight = rng.standard_normal((out_features, in_features)).astype(np.float32)
        bias = rng.standard_normal(out_features).astype(np.float32)
        x = rng.standard_normal((batch, in_features)).astype(np.float32)
        layer = quantize.QuantizedLinear(weight, bias)
        contenders = {"scipix": lambda: layer(x),
                      "numpy": lambda: x @ weight.T + bias}
        if torch is not None:
            torch_layer = _torch_linear(torch, weight, bias)
            contenders["torch"] = lambda: torch_layer(x)
        onnx_layer = _onnx_linear(weight, bias, threads)
        if onnx_layer is not None:
            contenders["onnxruntime"] = lambda: onnx_layer(x)
        with _blas_threads(threads):
            times = interleaved_medians(contenders, rounds, round_seconds=0.03,
                                        settle_seconds=0.005)
        yield f"{batch} x {in_features} -> {out_features}", times


def _ratio(times, other):
    return f"{times[other] / times['scipix']:.2f}x" if other in times else "-"


def linear_table(record, rounds=15):
    threads = optimize.get_thread_count()
    torch = _torch(1)
    try:
        import onnxruntime
        onnx_version = onnxruntime.__version__
    except ImportError:
        onnx_version = None
    variant = optimize.active_variant()
    print(f"\nQuantizedLinear against INT8 peers, variant {variant}, median of {rounds} "
          f"interleaved rounds, milliseconds; torch "
          f"{torch.__version__ + ' quantize_dynamic' if torch else 'not installed'}, "
          f"onnxruntime {onnx_version + ' MatMulInteger' if onnx_version else 'not installed'}")
    header = (f"{'batch x in -> out':<22}{'threads':>8}{'scipix':>9}{'torch':>9}{'onnxrt':>9}"
              f"{'numpy':>9}  {'vs torch':>8}{'vs onnxrt':>10}{'vs numpy':>9}")
    print(header)
    print("-" * len(header))
    table = record.table("gemm", "QuantizedLinear against PyTorch's dynamic INT8 Linear "
                         "(fbgemm), ONNX Runtime's MatMulInteger and NumPy float32, "
                         "interleaved rounds", ["batch x in -> out", "threads"],
                         ["scipix", "torch", "onnxruntime", "numpy"], ours="scipix",
                         chart="speedup")
    for thread_count in sorted({1, threads}):
        with _threads(thread_count):
            for shape, times in _linear_rows(thread_count, rounds):
                table.add(threads=thread_count, **{"batch x in -> out": shape}, **{
                    name: times.get(name) for name in ("scipix", "torch", "onnxruntime",
                                                       "numpy")})
                cells = "".join(f"{times[name] * 1e3:>9.3f}" if name in times else f"{'n/a':>9}"
                                for name in ("scipix", "torch", "onnxruntime", "numpy"))
                print(f"{shape:<22}{thread_count:>8}{cells}  {_ratio(times, 'torch'):>8}"
                      f"{_ratio(times, 'onnxruntime'):>10}{_ratio(times, 'numpy'):>9}")
    _agreement_row(torch, record)


def _agreement_row(torch, record, rows=2048, features=1024):
    """Top-1 agreement with the float64 layer on gaussian data, scipix and torch."""
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((features, features)).astype(np.float32)
    bias = np.zeros(features, np.float32)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    top = (x.astype(np.float64) @ weight.T.astype(np.float64)).argmax(1)
    ours = np.mean(quantize.QuantizedLinear(weight, bias)(x).argmax(1) == top)
    agreement = (float(np.mean(_torch_linear(torch, weight, bias)(x).argmax(1) == top))
                 if torch else None)
    theirs = f"{agreement:.1%}" if torch else "not installed"
    record.table("gemm accuracy", f"Top-1 agreement with the float64 layer, {rows} gaussian "
                 f"rows, {features} -> {features}", ["rows"], [],
                 values=["scipix", "torch"]).add(rows=rows, scipix=float(ours),
                                                 torch=agreement)
    print(f"top-1 agreement with float, {rows} gaussian rows, {features} -> {features}: "
          f"scipix {ours:.1%}, torch {theirs}")


def quantize_weights_table(record, rounds=15, n=1 << 24):
    """quantize_weights on n floats against torch's range + quantize, one thread."""
    torch = _torch(1)
    x = (np.random.default_rng(7).standard_normal(n) * 3).astype(np.float32)
    contenders = {"scipix": lambda: quantize.quantize_weights(x), "copy": x.copy}
    if torch is not None:
        tensor = torch.from_numpy(x)

        def torch_quantize():
            low, high = torch.aminmax(tensor)
            params = quantize.QuantParams.from_range(float(low), float(high))
            torch.quantize_per_tensor(tensor, params.scale, params.zero_point, torch.qint8)
        contenders["torch"] = torch_quantize
    with _threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = interleaved_medians(contenders, rounds, round_seconds=0.03, settle_seconds=0.005)
    record.table("quantize_weights", f"quantize_weights of {n} float32 on 1 thread against "
                 f"torch.aminmax + quantize_per_tensor, and a copy of the input", ["n"],
                 ["scipix", "torch", "copy"], ours="scipix", chart="speedup").add(
        n=n, scipix=times["scipix"], torch=times.get("torch"), copy=times["copy"])
    print(f"\nquantize_weights, {n} float32 on 1 thread, milliseconds: scipix "
          f"{times['scipix'] * 1e3:.2f}, torch aminmax + quantize_per_tensor "
          + (f"{times['torch'] * 1e3:.2f} ({_ratio(times, 'torch')})" if torch else "not installed")
          + f", a copy of the input {times['copy'] * 1e3:.2f}")


def gemm_tables(rounds, record):
    linear_table(record, rounds)
    quantize_weights_table(record, rounds)
