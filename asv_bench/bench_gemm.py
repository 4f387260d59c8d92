"""The INT8 linear layer at the shapes of issue 20 (one token, a batch, a
transformer MLP block, a large projection) on 1 and 2 threads, PyTorch's
dynamic INT8 Linear at the same shapes where torch is installed, and
quantize_weights on 16 M floats.  Public API only, so that it runs on old
commits (where an API is missing, setup skips)."""
import warnings

import numpy as np

import scipix.optimize as optimize

SHAPES = ["1x1024x1024", "64x1024x1024", "256x768x3072", "8x4096x4096"]
THREADS = [1, 2]


def _case(shape):
    """(x, weight, bias) float32 for "batch x in x out"."""
    batch, in_features, out_features = (int(n) for n in shape.split("x"))
    rng = np.random.default_rng(5)
    return (rng.standard_normal((batch, in_features)).astype(np.float32),
            rng.standard_normal((out_features, in_features)).astype(np.float32),
            rng.standard_normal(out_features).astype(np.float32))


def _quantize_module():
    quantize = getattr(optimize, "quantize", None)
    if quantize is None or not hasattr(quantize, "QuantizedLinear"):
        raise NotImplementedError("no QuantizedLinear at this commit")
    return quantize


class QuantizedLinear:
    """``QuantizedLinear(weight, bias)(x)`` with its default activation bits."""

    params = (SHAPES, THREADS)
    param_names = ["batch_in_out", "threads"]

    def setup(self, shape, threads):
        quantize = _quantize_module()
        self.x, weight, bias = _case(shape)
        self.layer = quantize.QuantizedLinear(weight, bias)
        optimize.set_thread_count(threads)

    def teardown(self, shape, threads):
        optimize.set_thread_count(None)

    def time_forward(self, shape, threads):
        self.layer(self.x)

    def track_top1_agreement(self, shape, threads):
        """Rows whose largest output is the float layer's, in percent."""
        weight, bias = _case(shape)[1:]
        x = np.random.default_rng(6).standard_normal((64, weight.shape[1])).astype(np.float32)
        exact = (x.astype(np.float64) @ weight.T.astype(np.float64) + bias).argmax(1)
        return 100.0 * float(np.mean(self.layer(x).argmax(1) == exact))

    track_top1_agreement.unit = "%"


class TorchDynamicLinear:
    """PyTorch's ``quantize_dynamic`` INT8 Linear (fbgemm), the peer."""

    params = (SHAPES, THREADS)
    param_names = ["batch_in_out", "threads"]

    def setup(self, shape, threads):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        x, weight, bias = _case(shape)
        layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.layer = torch.ao.quantization.quantize_dynamic(
                torch.nn.Sequential(layer), {torch.nn.Linear}, dtype=torch.qint8)
        self.x = torch.from_numpy(x)
        self.torch = torch
        torch.set_num_threads(threads)

    def time_forward(self, shape, threads):
        with self.torch.no_grad():
            self.layer(self.x)


class QuantizeWeights:
    """``quantize_weights`` (range pass, then quantize) of 16 M float32 on one thread."""

    def setup(self):
        self.quantize = _quantize_module()
        self.x = (np.random.default_rng(7).standard_normal(1 << 24) * 3).astype(np.float32)
        optimize.set_thread_count(1)

    def teardown(self):
        optimize.set_thread_count(None)

    def time_quantize_weights(self):
        self.quantize.quantize_weights(self.x)
