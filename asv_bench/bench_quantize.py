"""INT8 quantization at each optimization level against NumPy (the spec's
"Model Quantization"; sizes 1024, 4096, 16384 as there, and 16 M floats)."""
import numpy as np

from ._api import public, set_opt_level
from ._baselines import numpy_dequantize, numpy_quantize

SIZES = [1024, 4096, 16384, 1 << 24]
LEVELS = ["NONE", "SIMD", "FULL"]


def _per_tensor_inputs(bench, n):
    bench.quantize = public("scipix.optimize.quantize")
    bench.x = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
    bench.qparams = bench.quantize.QuantParams.from_data(bench.x)
    bench.q = bench.quantize.quantize_with_params(bench.x, bench.qparams)
    bench.restored = np.empty(n, np.float32)


class PerTensor:
    """quantize / dequantize n float32 values with fixed params."""

    params = (SIZES, LEVELS)
    param_names = ["n", "opt_level"]

    def setup(self, n, level):
        _per_tensor_inputs(self, n)
        set_opt_level(level)

    def teardown(self, n, level):
        set_opt_level("FULL")

    def time_quantize(self, n, level):
        self.quantize.quantize_with_params(self.x, self.qparams, out=self.q)

    def time_dequantize(self, n, level):
        self.quantize.dequantize(self.q, self.qparams, out=self.restored)


class NumPyPerTensor:
    """The same with the NumPy expressions of ``asv_bench._baselines``."""

    params = SIZES
    param_names = ["n"]

    def setup(self, n):
        _per_tensor_inputs(self, n)

    def time_quantize(self, n):
        numpy_quantize(self.x, self.qparams.scale, self.qparams.zero_point, self.q)

    def time_dequantize(self, n):
        numpy_dequantize(self.q, self.qparams.scale, self.qparams.zero_point, self.restored)


class PerChannel:
    """PerChannelQuant of a (rows, 64) weight matrix, as the spec's benchmark."""

    params = [256, 1024, 4096]
    param_names = ["rows"]

    def setup(self, rows):
        self.per_channel = public("scipix.optimize.quantize.PerChannelQuant")
        self.w = np.random.default_rng(1).standard_normal((rows, 64)).astype(np.float32)

    def time_from_f32(self, rows):
        self.per_channel.from_f32(self.w, self.w.shape)


class Linear:
    """QuantizedLinear at batch 64, 1024 -> 1024 against NumPy's float32
    ``x @ W.T + b`` (BLAS, on all its threads)."""

    params = (["int8 7-bit", "int8 8-bit", "numpy float32"], LEVELS[1:])
    param_names = ["layer", "opt_level"]

    def setup(self, layer, level):
        set_opt_level(level)
        rng = np.random.default_rng(2)
        self.weight = rng.standard_normal((1024, 1024)).astype(np.float32)
        self.bias = rng.standard_normal(1024).astype(np.float32)
        self.x = rng.standard_normal((64, 1024)).astype(np.float32)
        if layer == "numpy float32":
            self.layer = lambda x: x @ self.weight.T + self.bias
        else:
            quantized_linear = public("scipix.optimize.quantize.QuantizedLinear")
            self.layer = quantized_linear(self.weight, self.bias,
                                          reduce_range=layer == "int8 7-bit")

    def teardown(self, layer, level):
        set_opt_level("FULL")

    def time_forward(self, layer, level):
        self.layer(self.x)
