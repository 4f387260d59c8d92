"""INT8 matmul: exact integer sums on every variant, and the layer built on it."""
import pickle

import numpy as np
import pytest

from scipix.optimize import OptLevel, opt_level
from scipix.optimize.quantize import QuantizedLinear, QuantParams, quantized_matmul
from scipix.optimize.quantize._params import _minmax_params

F32 = np.float32


def reference_qgemm(a, w, a_zeros, a_scales, w_zero, w_scales, bias):
    """The kernel's contract with the sum taken in int64 by NumPy."""
    total = (a.astype(np.int64) - a_zeros[:, None]) @ (w.astype(np.int64) - w_zero).T
    out = total.astype(F32) * (a_scales[:, None] * w_scales[None, :])
    return out if bias is None else out + bias


def kernel_case(rng, m, n, k, seven_bit, w_zero):
    a = rng.integers(0, 128 if seven_bit else 256, (m, k)).astype(np.uint8)
    w = rng.integers(-128, 128, (n, k)).astype(np.int8)
    return (a, w, rng.integers(0, 256, m).astype(np.int32), rng.uniform(1e-3, 1e-2, m).astype(F32),
            w_zero, rng.uniform(1e-3, 1e-2, n).astype(F32), rng.standard_normal(n).astype(F32))


def pack(kernels, w):
    packed = np.empty(kernels.packed_size(*w.shape), np.int8)
    sums = np.empty(w.shape[0], np.int32)
    kernels.pack_weights(w, packed, sums)
    return packed, sums


def run_kernel(kernels, a, w, a_zeros, a_scales, w_zero, w_scales, bias, seven_bit, threads):
    (m, k), n = a.shape, w.shape[0]
    padded = np.zeros((m, -(-k // 4) * 4), np.uint8)
    padded[:, :k] = a
    corrections = (a.sum(1, dtype=np.int64) - k * a_zeros.astype(np.int64)).astype(np.int32)
    packed, sums = pack(kernels, w)
    np.testing.assert_array_equal(sums, w.sum(1, dtype=np.int64))
    out = np.empty((m, n), F32)
    kernels.qgemm(padded, k, packed, sums, out, a_zeros, corrections, a_scales, w_zero, w_scales,
                  bias, seven_bit, threads)
    return out


# m = 1, below and past the 8-row block and the 64-row chunk; n below, at and
# past the 32-column panel and its 16-column halves; k not a multiple of 4
# or 64, and past the 1024-value K block.  The last two are large enough to
# run on two threads (split by rows, then by panels).
SIZES = [(1, 1, 1), (1, 32, 64), (2, 4, 64), (3, 5, 33), (7, 9, 100), (9, 47, 1030),
         (5, 13, 300), (64, 70, 1024), (130, 65, 2051), (70, 300, 1027)]


@pytest.mark.parametrize("seven_bit", [True, False])
@pytest.mark.parametrize("m, n, k", SIZES)
def test_kernel_exact_on_every_variant(quantize_kernels, rng, m, n, k, seven_bit):
    for w_zero in (0, -37):
        case = kernel_case(rng, m, n, k, seven_bit, w_zero)
        for bias in (case[-1], None):
            expected = reference_qgemm(*case[:-1], bias)
            for threads in (1, 2):
                got = run_kernel(quantize_kernels, *case[:-1], bias, seven_bit, threads)
                np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seven_bit", [True, False])
@pytest.mark.parametrize("w_zero", [0, 127])
def test_kernel_extremes_do_not_saturate(quantize_kernels, seven_bit, w_zero):
    # Every product at its largest: 127 (or 255) x -128 and x 127, where
    # vpmaddubsw's int16 pair sums would saturate for 8-bit activations;
    # with a weight zero point the sum leaves int32 (255 * 255 * 65536).
    k = 65536
    a = np.full((2, k), 127 if seven_bit else 255, np.uint8)
    w = np.empty((4, k), np.int8)
    w[0], w[1], w[2], w[3] = -128, 127, 0, -128
    w[3, 1::2] = 127
    zeros, ones = np.zeros(2, np.int32), np.ones(2, F32)
    got = run_kernel(quantize_kernels, a, w, zeros, ones, w_zero, np.ones(4, F32), None,
                     seven_bit, 2)
    expected = reference_qgemm(a, w, zeros, ones, w_zero, np.ones(4, F32), None)
    np.testing.assert_array_equal(got, expected)
    assert got[0, 0] == float(np.float32(-float(a[0, 0]) * (128 + w_zero) * k))


def test_pack_round_trip(quantize_kernels, rng):
    w = rng.integers(-128, 128, (45, 77)).astype(np.int8)
    packed, _ = pack(quantize_kernels, w)
    back = np.empty_like(w)
    quantize_kernels.unpack_weights(packed, back)
    np.testing.assert_array_equal(back, w)
    # A transposed view packs as its copy does.
    np.testing.assert_array_equal(pack(quantize_kernels, w.T.copy().T)[0], packed)


def test_quantized_matmul_matches_integer_reference(rng):
    a = rng.integers(-128, 128, (9, 200)).astype(np.int8)
    b_rows = rng.integers(-128, 128, (11, 200)).astype(np.int8)
    a_params, b_params = QuantParams(0.02, -7), QuantParams(0.5, 3)
    total = (a.astype(np.int64) + 7) @ (b_rows.astype(np.int64) - 3).T
    expected = total.astype(F32) * (F32(0.02) * F32(0.5))
    # b as a transposed view (no copy) and as a C-contiguous (k, n) array.
    for b in (b_rows.T, np.ascontiguousarray(b_rows.T)):
        np.testing.assert_array_equal(quantized_matmul(a, a_params, b, b_params), expected)
    with opt_level(OptLevel.NONE):
        np.testing.assert_array_equal(quantized_matmul(a, a_params, b_rows.T, b_params), expected)


def test_linear_layer_is_its_integer_formula(quantize_kernels, rng):
    weight = rng.standard_normal((37, 150)).astype(F32)
    bias = rng.standard_normal(37).astype(F32)
    x = (rng.standard_normal((6, 150)) * rng.uniform(0.1, 10, (6, 1))).astype(F32)
    for reduce_range in (True, False):
        layer = QuantizedLinear(weight, bias, reduce_range=reduce_range)
        q_max = 127 if reduce_range else 255
        scales, zero_points = layer.activation_params(x)
        low, high = np.minimum(x.min(1), 0), np.maximum(x.max(1), 0)
        np.testing.assert_array_equal(scales, np.maximum((high - low) / F32(q_max),
                                                         np.finfo(F32).eps))
        activations = np.clip(np.rint(x * (F32(1) / scales[:, None])) + zero_points[:, None],
                              0, q_max).astype(np.uint8)
        w_scales = np.maximum(np.abs(weight).max(1) / F32(127), np.finfo(F32).eps).astype(F32)
        np.testing.assert_array_equal(layer.weight_scales, w_scales)
        np.testing.assert_array_equal(
            layer.weight_q, np.clip(np.rint(weight * (F32(1) / w_scales[:, None])), -127, 127))
        expected = reference_qgemm(activations, layer.weight_q, zero_points, scales, 0,
                                   w_scales, bias)
        np.testing.assert_array_equal(layer(x), expected)
        np.testing.assert_array_equal(layer(x[2]), expected[2])


@pytest.mark.parametrize("reduce_range", [True, False])
def test_linear_layer_accuracy(rng, reduce_range):
    weight = rng.standard_normal((1024, 1024)).astype(F32)
    bias = rng.standard_normal(1024).astype(F32)
    x = rng.standard_normal((512, 1024)).astype(F32)
    layer = QuantizedLinear(weight, bias, reduce_range=reduce_range)
    exact = x @ weight.T + bias
    got = layer(x)
    # Measured 1.1 % (8-bit activations) and 1.7 % (7-bit) of the output's std.
    assert np.std(got - exact) < (0.02 if reduce_range else 0.0125) * np.std(exact)
    # Gaussian weights give 1024 logits whose top two are often closer than
    # int8 weights alone can resolve (those alone agree on ~98.8 %).
    assert np.mean(got.argmax(1) == exact.argmax(1)) >= 0.96
    assert layer.size_bytes() == 1024 * 1024 + 3 * 4 * 1024


@pytest.mark.parametrize("call, error, match", [
    (lambda: quantized_matmul(np.zeros((2, 3), np.int16), QuantParams(1, 0),
                              np.zeros((3, 2), np.int8), QuantParams(1, 0)), TypeError, "a_q"),
    (lambda: quantized_matmul(np.zeros((2, 3), np.int8), QuantParams(1, 0),
                              np.zeros((4, 2), np.int8), QuantParams(1, 0)), ValueError, "inner"),
    (lambda: quantized_matmul(np.zeros(3, np.int8), QuantParams(1, 0),
                              np.zeros((3, 2), np.int8), QuantParams(1, 0)), ValueError, "a_q"),
    (lambda: quantized_matmul(np.zeros((2, 3), np.int8), (1, 0),
                              np.zeros((3, 2), np.int8), QuantParams(1, 0)), TypeError, "a_params"),
    (lambda: quantized_matmul(np.zeros((1, 70_000), np.int8), QuantParams(1, 0),
                              np.zeros((70_000, 1), np.int8), QuantParams(1, 0)),
     ValueError, "65536"),
    (lambda: QuantizedLinear(np.zeros(4, F32)), ValueError, "weight"),
    (lambda: QuantizedLinear(np.array([[1, np.nan]], F32)), ValueError, "weight"),
    (lambda: QuantizedLinear(np.ones((2, 3), F32), np.ones(3, F32)), ValueError, "bias"),
    (lambda: QuantizedLinear(np.ones((2, 3), F32))(np.ones((4, 2), F32)), ValueError, "x"),
    (lambda: QuantizedLinear(np.ones((2, 3), F32))(np.array([[1, np.nan, 0]], F32)),
     ValueError, "NaN"),
    (lambda: QuantizedLinear(np.ones((2, 3), F32))(np.array([[1, np.inf, 0]], F32)),
     ValueError, "finite"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def reference_activations(x, q_max):
    """Per-row MinMaxObserver params from NumPy's formula and the levels."""
    scales, zero_points = _minmax_params(x.min(1), x.max(1), 0, q_max)
    levels = np.clip(np.rint(x * (F32(1) / scales[:, None])) + zero_points[:, None], 0, q_max)
    return scales, zero_points, levels.astype(np.uint8)


@pytest.mark.parametrize("q_max", [127, 255])
def test_row_params_are_the_observer_formula(quantize_kernels, rng, q_max):
    x = rng.standard_normal((9, 77)).astype(F32) * rng.uniform(1e-6, 1e6, (9, 1)).astype(F32)
    x[1] = np.abs(x[1])       # all positive: the range starts at 0
    x[2] = -np.abs(x[2])      # all negative
    x[3] = 0                  # scale eps
    x[4, :] = 1e-30           # below eps
    scales, zero_points = np.empty(9, F32), np.empty(9, np.int32)
    quantize_kernels.row_params(x, scales, zero_points, q_max)
    expected = reference_activations(x, q_max)
    np.testing.assert_array_equal(scales, expected[0])
    np.testing.assert_array_equal(zero_points, expected[1])


@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (1, 33, 70), (8, 32, 1024), (13, 47, 1030),
                                     (70, 65, 3)])
@pytest.mark.parametrize("q_max", [127, 255])
def test_linear_kernel_is_its_integer_formula(quantize_kernels, rng, m, n, k, q_max):
    x = (rng.standard_normal((m, k)) * rng.uniform(0.1, 10, (m, 1))).astype(F32)
    w = rng.integers(-127, 128, (n, k)).astype(np.int8)
    w_scales = rng.uniform(1e-3, 1e-2, n).astype(F32)
    bias = rng.standard_normal(n).astype(F32)
    packed, sums = pack(quantize_kernels, w)
    scales, zero_points, levels = reference_activations(x, q_max)
    for b in (bias, None):
        out = np.empty((m, n), F32)
        quantize_kernels.linear(x, packed, sums, w_scales, b, out, q_max, 2)
        np.testing.assert_array_equal(
            out, reference_qgemm(levels, w, zero_points, scales, 0, w_scales, b))


def test_linear_kernel_rejects_nan_and_infinity(quantize_kernels):
    packed, sums = pack(quantize_kernels, np.ones((2, 3), np.int8))
    for bad, match in ((np.nan, "NaN"), (np.inf, "finite"), (-np.inf, "finite")):
        x = np.zeros((70, 3), F32)
        x[69, 1] = bad
        with pytest.raises(ValueError, match=match):
            quantize_kernels.linear(x, packed, sums, np.ones(2, F32), None,
                                    np.empty((70, 2), F32), 255, 2)


def test_layer_pickles_with_its_packed_weights(rng):
    weight = rng.standard_normal((45, 70)).astype(F32)
    x = rng.standard_normal((3, 70)).astype(F32)
    for bias in (rng.standard_normal(45).astype(F32), None):
        layer = QuantizedLinear(weight, bias, reduce_range=False)
        restored = pickle.loads(pickle.dumps(layer))
        np.testing.assert_array_equal(restored(x), layer(x))
        np.testing.assert_array_equal(restored.weight_q, layer.weight_q)
        assert repr(restored) == repr(layer)


def test_layer_single_row_and_extremes(rng):
    # One row (M = 1); the widest int8 sums: activations at 0 and 255 against
    # weights at +-127 over a long K.
    weight = np.where(rng.random((33, 4099)) < 0.5, -1.0, 1.0).astype(F32)
    x = np.where(rng.random(4099) < 0.5, -5.0, 5.0).astype(F32)
    layer = QuantizedLinear(weight, reduce_range=False)
    scales, zero_points, levels = reference_activations(x[None], 255)
    assert set(np.unique(levels)) == {0, 255} and set(np.unique(layer.weight_q)) == {-127, 127}
    expected = reference_qgemm(levels, layer.weight_q, zero_points, scales, 0,
                               layer.weight_scales, None)
    np.testing.assert_array_equal(layer(x), expected[0])
    assert layer(x).shape == (33,)
