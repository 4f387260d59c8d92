"""INT8 quantization against its formulas (and PyTorch when installed)."""
import math
import subprocess
import sys

import numpy as np
import pytest

from scipix.optimize import get_thread_count, set_thread_count
from scipix.optimize.quantize import (DynamicQuantizer, PerChannelQuant, QuantizedLinear,
                                      QuantizedTensor,
                                      QuantParams, dequantize, dequantize_value,
                                      quantization_error, quantize_value, quantize_weights,
                                      quantize_with_params, sqnr)

from oracles import reference_quantize
from variants import REFERENCE, RUNNABLE, family_modules, names

F32 = np.float32


def reference_params(low, high):
    """PyTorch's MinMaxObserver(qint8) arithmetic, in NumPy float32."""
    low, high = F32(min(low, 0.0)), F32(max(high, 0.0))
    scale = max(F32(high - low) / F32(255), np.finfo(F32).eps)
    zero_point = -128 - int(np.rint(low / scale))
    return float(scale), min(max(zero_point, -128), 127)


SHAPES = [(1,), (7,), (33, 5), (4, 1, 9), (2, 3, 4, 5), (1000,), (70_001,)]


@pytest.mark.parametrize("shape", SHAPES)
def test_params_and_quantize_match_formulas(rng, shape):
    x = (rng.standard_normal(shape) * rng.uniform(0.01, 100) + rng.uniform(-5, 5)).astype(F32)
    q, params = quantize_weights(x)
    assert (params.scale, params.zero_point) == reference_params(x.min(), x.max())
    np.testing.assert_array_equal(q, reference_quantize(x, params.scale, params.zero_point))
    restored = dequantize(q, params)
    expected = (q.astype(F32) - F32(params.zero_point)) * F32(params.scale)
    np.testing.assert_array_equal(restored, expected)
    assert restored.dtype == np.float32 and restored.shape == x.shape


def test_ties_round_half_to_even_with_the_inverse_scale():
    params = QuantParams(0.5, 0)  # inverse 2: x * 2 lands on .5 exactly
    x = np.array([0.25, 0.75, 1.25, -0.25, -0.75, 63.75], F32)
    np.testing.assert_array_equal(quantize_with_params(x, params), [0, 2, 2, 0, -2, 127])
    # scale 0.1: x * float32(1/0.1) and x / 0.1 differ for some x; we multiply.
    params = QuantParams(0.1, 3)
    x = np.linspace(-12, 12, 200_001, dtype=F32)
    np.testing.assert_array_equal(quantize_with_params(x, params),
                                  reference_quantize(x, 0.1, 3))


def test_infinities_saturate_and_nan_is_refused():
    params = QuantParams(0.01, -5)
    x = np.array([np.inf, -np.inf, 3e38, -3e38, 0.0], F32)
    np.testing.assert_array_equal(quantize_with_params(x, params), [127, -128, 127, -128, -5])
    with pytest.raises(ValueError, match="NaN"):
        quantize_with_params(np.array([1.0, np.nan], F32), params, out=np.empty(2, np.int8))
    big = np.zeros(1_000_000, F32)
    big[-1] = np.nan  # found in the last span, on every thread count
    with pytest.raises(ValueError, match="NaN"):
        quantize_with_params(big, params)
    with pytest.raises(ValueError, match="NaN"):
        quantize_weights(np.array([1.0, np.nan], F32))


def test_params_edge_cases():
    constant = QuantParams.from_data(np.full(10, 3.5, F32))
    assert constant.zero_point == -128 and constant.scale == pytest.approx(3.5 / 255)
    zeros = QuantParams.from_data(np.zeros(4, F32))
    assert zeros.scale == np.finfo(F32).eps and zeros.zero_point == -128
    empty = QuantParams.from_data(np.zeros(0, F32))
    assert empty == zeros
    positive = QuantParams.from_range(2.0, 10.0)  # widened to [0, 10]: 0.0 is exact
    assert quantize_value(0.0, positive) == positive.zero_point
    assert dequantize_value(positive.zero_point, positive) == 0.0


def test_symmetric():
    params = QuantParams.symmetric(2.54)
    assert params.zero_point == 0 and params.scale == float(F32(2.54) / F32(127))
    x = np.array([-10, -2.54, 0, 2.54, 10], F32)
    np.testing.assert_array_equal(quantize_with_params(x, params), [-127, -127, 0, 127, 127])
    tensor = QuantizedTensor.from_f32_symmetric(x, (5,))
    assert tensor.params.zero_point == 0 and tensor.data.min() == -127


@pytest.mark.parametrize("order", ["C", "F"])
def test_memory_orders_and_out(rng, order):
    x = np.asarray(rng.standard_normal((30, 40)), F32, order=order)
    params = QuantParams.from_data(x)
    q = quantize_with_params(x, params)
    assert q.flags[f"{order}_CONTIGUOUS"]
    np.testing.assert_array_equal(q, reference_quantize(x, params.scale, params.zero_point))
    out = np.empty((30, 40), np.int8, order=order)
    assert quantize_with_params(x, params, out=out) is out
    np.testing.assert_array_equal(out, q)
    strided = x[::2, ::3]
    np.testing.assert_array_equal(quantize_with_params(strided, params), q[::2, ::3])
    f_out = np.empty((30, 40), np.float32, order=order)
    assert dequantize(q, params, out=f_out) is f_out


@pytest.mark.parametrize("name, module", family_modules("quantize", RUNNABLE),
                         ids=names(RUNNABLE))
def test_variants_bit_exact_with_scalar_reference(name, module, rng):
    reference = REFERENCE.quantize
    # 2_097_165 floats (> 8 MiB) take the non-temporal dequantize path and
    # 8_388_621 (an 8 MiB int8 output) the non-temporal quantize path; the
    # outputs start 1 or 4 bytes past an alignment boundary.  Half-integer
    # products check that ties round to even; qmin -127 the byte clamp.
    for n in (1, 15, 17, 1000, 300_001, 2_097_165, 8_388_621):
        x = (rng.standard_normal(n) * 50).astype(F32)
        x[::97] = np.inf
        x[1::89] = (rng.integers(-300, 300, x[1::89].size) + 0.5) / F32(2.0)
        # Signed levels, symmetric ones, and uint8 levels (activations)
        # written through an int8 view.
        for zero_point, qmin, qmax in ((-3, -128, 127), (-3, -127, 127), (3, 0, 255),
                                       (3, 0, 127)):
            outs = [np.empty(n + 1, np.int8)[1:] for _ in range(2)]
            module.quantize(x, outs[0], F32(2.0), zero_point, qmin, qmax, 2)
            reference.quantize(x, outs[1], F32(2.0), zero_point, qmin, qmax, 1)
            np.testing.assert_array_equal(*outs)
            levels = np.rint(np.clip(x * F32(2.0), -256, 256)).astype(np.int64) + zero_point
            np.testing.assert_array_equal(outs[0].view(np.uint8) if qmin == 0 else outs[0],
                                          np.clip(levels, qmin, qmax))
        floats = [np.empty(n + 1, F32)[1:] for _ in range(2)]
        module.dequantize(outs[0], floats[0], F32(0.37), -3, 2)
        reference.dequantize(outs[0], floats[1], F32(0.37), -3, 1)
        np.testing.assert_array_equal(*floats)
        np.testing.assert_array_equal(floats[0], (outs[0].astype(F32) - F32(-3)) * F32(0.37))


@pytest.mark.parametrize("name, module", family_modules("quantize"),
                         ids=names(family_modules("quantize")))
def test_kernel_finds_nan_anywhere(name, module):
    # Before the aligned part, in the 32-value steps, in the tail, in a later span.
    for n, at in ((100, 0), (100, 40), (100, 99), (1000, 517), (9_000_000, 8_999_999)):
        x = np.zeros(n, F32)
        x[at] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            module.quantize(x, np.empty(n + 1, np.int8)[1:], F32(1.0), 0, -128, 127, 1)


@pytest.mark.parametrize("name, module", family_modules("quantize", RUNNABLE),
                         ids=names(RUNNABLE))
def test_quantize_rows_bit_exact_with_scalar_reference(name, module, rng):
    reference = REFERENCE.quantize
    for rows, cols in ((1, 1), (3, 17), (64, 1000), (257, 33)):
        x = (rng.standard_normal((rows, cols)) * 20).astype(F32)
        inv_scales = rng.uniform(0.1, 10, rows).astype(F32)
        zero_points = rng.integers(-128, 128, rows).astype(np.int32)
        outs = [np.empty((rows, cols), np.int8) for _ in range(2)]
        module.quantize_rows(x, outs[0], inv_scales, zero_points, -128, 127, 2)
        reference.quantize_rows(x, outs[1], inv_scales, zero_points, -128, 127, 1)
        np.testing.assert_array_equal(*outs)
        expected = np.clip(np.rint(x * inv_scales[:, None]) + zero_points[:, None], -128, 127)
        np.testing.assert_array_equal(outs[0], expected.astype(np.int8))


def outlier_matrix(rng):
    """Gaussian 1024 x 1024 with four x10 outliers per row."""
    w = rng.standard_normal((1024, 1024)).astype(F32)
    for _ in range(4):
        w[np.arange(1024), rng.integers(0, 1024, 1024)] *= 10
    return w


def test_per_channel_and_percentile_beat_per_tensor(rng):
    w = outlier_matrix(rng)
    q, params = quantize_weights(w)
    per_tensor = sqnr(w, q, params)
    channels = PerChannelQuant.from_f32(w, w.shape, axis=0)
    restored = channels.to_f32().astype(np.float64)
    per_channel = 10 * math.log10(np.sum(w.astype(np.float64) ** 2)
                                  / np.sum((restored - w) ** 2))
    assert per_channel >= per_tensor + 10
    q_pct, p_pct = DynamicQuantizer(99.99).quantize(w)
    assert sqnr(w, q_pct, p_pct) > per_tensor


def test_per_channel_matches_per_slice_quantization(rng):
    w = rng.standard_normal((6, 5, 4)).astype(F32) * np.arange(1, 6, dtype=F32)[None, :, None]
    channels = PerChannelQuant.from_f32(w.ravel(), w.shape, axis=1)
    for c in range(5):
        params = QuantParams.from_data(w[:, c])
        assert channels.params(c) == params
        np.testing.assert_array_equal(channels.data[:, c], quantize_with_params(w[:, c], params))
    np.testing.assert_array_equal(
        channels.to_f32()[:, 2], dequantize(np.ascontiguousarray(channels.data[:, 2]),
                                            channels.params(2)))


def test_percentile_tails():
    data = np.arange(10_000, dtype=F32)
    rng = np.random.default_rng(1)
    rng.shuffle(data)
    assert DynamicQuantizer(99).range_of(data) == (100.0, 9899.0)
    assert DynamicQuantizer(100).range_of(data) == (0.0, 9999.0)
    q, params = DynamicQuantizer(99).quantize(data)
    assert params == QuantParams.from_range(100.0, 9899.0)


def test_quantized_tensor_round_trip(tmp_path, rng):
    data = rng.standard_normal(2 * 3 * 4 * 5).astype(F32)
    tensor = QuantizedTensor.from_f32(data, [2, 3, 4, 5])
    assert tensor.shape == (2, 3, 4, 5) and tensor.compression_ratio() == 4.0
    assert tensor.size_bytes() == 120
    np.testing.assert_allclose(tensor.to_f32().ravel(), data, atol=tensor.params.scale / 2 + 1e-7)
    path = tmp_path / "t.safetensors"
    tensor.save(path)
    loaded = QuantizedTensor.load(path)
    np.testing.assert_array_equal(loaded.data, tensor.data)
    assert loaded.params == tensor.params and not loaded.data.flags.writeable
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    assert safetensors_numpy.load_file(str(path))["data"].dtype == np.int8


def test_save_over_a_loaded_file_leaves_the_loaded_tensor_intact(tmp_path, rng):
    # Same size: rewriting in place silently changed the loaded tensor.
    path = tmp_path / "t.safetensors"
    first = QuantizedTensor.from_f32(rng.standard_normal(4096).astype(F32), (64, 64))
    first.save(path)
    loaded = QuantizedTensor.load(path)
    QuantizedTensor.from_f32(rng.standard_normal(4096).astype(F32), (64, 64)).save(path)
    np.testing.assert_array_equal(loaded.data, first.data)
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]  # no temporary left


def test_save_of_a_shorter_tensor_over_a_loaded_file_does_not_crash(tmp_path):
    # A shorter file rewritten in place: the next read of the old tensor was
    # a SIGBUS.  In a child, so that a crash fails this test, not the run.
    code = """if True:
        import sys
        import numpy as np
        from scipix.optimize.quantize import QuantizedTensor
        path = sys.argv[1]
        big = QuantizedTensor.from_f32(np.linspace(-1, 1, 1 << 20), (1024, 1024))
        big.save(path)
        loaded = QuantizedTensor.load(path)
        QuantizedTensor.from_f32(np.ones(16), (4, 4)).save(path)
        assert (loaded.data == big.data).all()
        print(int(loaded.data.astype(np.int64).sum()), QuantizedTensor.load(path).shape)
    """
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.safetensors")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["(4,", "4)"]


def test_save_leaves_no_temporary_when_writing_fails(tmp_path):
    tensor = QuantizedTensor.from_f32(np.ones(4, F32), (4,))
    with pytest.raises(FileNotFoundError):
        tensor.save(tmp_path / "missing-folder" / "t.safetensors")
    tensor.data = np.zeros(4, np.complex64)  # no safetensors code: fails before writing
    with pytest.raises(TypeError, match="no safetensors code"):
        tensor.save(tmp_path / "t.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threads", [1, 2])
def test_out_overlapping_the_input(threads):
    # The int8 output over the float32 input's bytes (and the reverse): the
    # kernels would read bytes already written.
    before = get_thread_count()
    set_thread_count(threads)
    try:
        values = np.linspace(-5, 5, 1 << 20).astype(F32)
        params = QuantParams.from_data(values)
        expected = quantize_with_params(values, params)
        for start in [0, 1000, 4 * len(values) - len(values)]:
            buffer = values.copy()
            out = buffer.view(np.int8)[start:start + len(values)]
            assert quantize_with_params(buffer, params, out=out) is out
            np.testing.assert_array_equal(out, expected, err_msg=f"start {start}")
        restored = dequantize(expected, params)
        for start in [0, 1000, 3 * len(values)]:
            storage = np.zeros(4 * len(values) + 4, np.int8)
            q = storage[start:start + len(values)]
            q[:] = expected
            out = storage[:4 * len(values)].view(F32)
            assert dequantize(q, params, out=out) is out
            np.testing.assert_array_equal(out, restored, err_msg=f"start {start}")
    finally:
        set_thread_count(before)


@pytest.mark.parametrize("scale, stored", [
    (1e-50, "stored as float32 0.0"), (1e39, "stored as float32 inf"),
    (1e-45, "with inverse inf"), (2.9e-39, "with inverse inf"),
])
def test_params_check_the_float32_values_they_keep(scale, stored):
    with pytest.raises(ValueError, match=f"scale must be positive and finite as a float32.*{stored}"):
        QuantParams(scale, 0)


def test_smallest_and_largest_float32_scales_quantize_correctly():
    for scale in [3e-39, 1e-38, 3.4e38]:
        params = QuantParams(scale, 0)
        assert math.isfinite(params.scale) and np.isfinite(params.inv_scale)
        assert quantize_value(0.0, params) == 0
        assert quantize_value(params.scale, params) == 1
        assert quantize_value(-params.scale, params) == -1


@pytest.mark.parametrize("call, error, match", [
    (lambda: QuantParams(0.1, True), TypeError, "zero_point must be an int, not a bool"),
    (lambda: QuantParams(0.1, np.bool_(False)), TypeError, "zero_point must be an int, not a bool"),
    (lambda: QuantParams(True, 0), TypeError, "scale must be a real number"),
    (lambda: QuantParams("0.5", 0), TypeError, "scale must be a real number"),
    (lambda: QuantParams(0.1, 0, qmin=-127.0), TypeError, "qmin must be an int"),
    (lambda: QuantParams.from_range(False, 1.0), TypeError, "min_val must be a real number"),
    (lambda: QuantParams.from_range(-1e39, 1.0), ValueError, "finite in float32"),
    (lambda: QuantParams.symmetric(1e39), ValueError, "finite in float32"),
    (lambda: QuantizedTensor.from_f32(np.zeros(4, F32), (2, True)), TypeError,
     r"shape\[1\] must be an int, not a bool"),
    (lambda: PerChannelQuant.from_f32(np.zeros(4, F32), (2, 2), axis=True), TypeError,
     "axis must be an int, not a bool"),
    (lambda: DynamicQuantizer("99"), TypeError, "percentile must be a real number"),
])
def test_bools_and_strings_are_not_numbers(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_numpy_integer_scalars_are_ints():
    params = QuantParams(np.float32(0.5), np.int8(-3), np.int64(-127))
    assert (params.zero_point, params.qmin) == (-3, -127)
    assert type(params.zero_point) is int and type(params.qmin) is int
    tensor = PerChannelQuant.from_f32(np.ones(6, F32), (np.uint8(2), np.int32(3)),
                                      axis=np.int16(1))
    assert tensor.axis == 1 and tensor.shape == (2, 3)


def test_quantize_weights_on_infinity_says_what_to_do():
    # Min-max params have no finite range to take; explicit params saturate.
    data = np.array([1.0, np.inf, -2.0], F32)
    with pytest.raises(ValueError, match="data contains infinity.*quantize_with_params saturates"):
        quantize_weights(data)
    np.testing.assert_array_equal(quantize_with_params(data, QuantParams(0.1, 0)), [10, 127, -20])


def test_ranges_beyond_float32_keep_a_finite_scale():
    params = QuantParams.from_range(-3e38, 3e38)
    assert math.isfinite(params.scale) and params.scale == pytest.approx(6e38 / 255, rel=1e-6)
    q = quantize_with_params(np.array([-3e38, 0.0, 3e38], F32), params)
    assert q[1] == params.zero_point and q[0] == -128 and q[2] == 127


def test_linear_layer_on_rows_near_the_float32_limits(rng):
    # The per-row range (3e38 - -3e38) overflowed float32: NaN everywhere.
    weight = (rng.standard_normal((8, 64)) * 0.01).astype(F32)
    x = rng.standard_normal((3, 64)).astype(F32)
    x[0, 5], x[0, 7], x[1, 0] = 3e38, -3e38, 3e38
    y = QuantizedLinear(weight, reduce_range=False)(x)
    assert np.isfinite(y).all()
    reference = x.astype(np.float64) @ weight.T.astype(np.float64)
    for row in range(2):  # the big rows: within a few levels of the row's scale
        scale = (x[row].astype(np.float64).max() - min(x[row].min(), 0)) / 255
        tolerance = 2 * scale * np.abs(weight).sum(axis=1).max()
        np.testing.assert_allclose(y[row], reference[row], atol=tolerance, rtol=0)
    np.testing.assert_allclose(y[2], reference[2], atol=0.05)


def test_metrics():
    params = QuantParams(0.5, 0)
    exact = np.array([0.5, -1.0, 2.0], F32)
    q = quantize_with_params(exact, params)
    assert quantization_error(exact, q, params) == 0.0 and sqnr(exact, q, params) == math.inf
    off = np.array([0.6, -1.0, 2.0], F32)
    mse = quantization_error(off, quantize_with_params(off, params), params)
    assert mse == pytest.approx((0.5 - float(F32(0.6))) ** 2 / 3)


@pytest.mark.parametrize("call, error, match", [
    (lambda: QuantParams(0.0, 0), ValueError, "scale must be positive"),
    (lambda: QuantParams(float("inf"), 0), ValueError, "scale must be positive"),
    (lambda: QuantParams(0.1, 128), ValueError, "zero_point must be in"),
    (lambda: QuantParams(0.1, 1.5), TypeError, "zero_point must be an int"),
    (lambda: QuantParams.from_range(1.0, -1.0), ValueError, "min_val"),
    (lambda: QuantParams.from_range(0.0, float("inf")), ValueError, "finite"),
    (lambda: QuantizedTensor.from_f32(np.zeros(6, F32), (4, 2)), ValueError, "holds 8 values"),
    (lambda: QuantizedTensor.from_f32(np.zeros(0, F32), (0,)), ValueError, "zero-size"),
    (lambda: PerChannelQuant.from_f32(np.zeros(6, F32), (2, 3), axis=2), ValueError,
     "axis 2 is out of range"),
    (lambda: DynamicQuantizer(50), ValueError, r"percentile must be in \(50, 100\]"),
    (lambda: DynamicQuantizer(100.5), ValueError, "percentile"),
    (lambda: quantize_with_params(np.zeros(3, F32), "p"), TypeError, "QuantParams"),
    (lambda: quantize_weights(np.array(["a"])), TypeError, "real numbers"),
    (lambda: dequantize(np.zeros(3, np.int16), QuantParams(1.0, 0)), TypeError, "int8"),
    (lambda: quantize_with_params(np.zeros(3, F32), QuantParams(1.0, 0),
                                  out=np.zeros(4, np.int8)), ValueError, "out must have shape"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_matches_pytorch_when_installed(rng):
    torch = pytest.importorskip("torch")
    for shape in SHAPES:
        x = (rng.standard_normal(shape) * 7).astype(F32)
        params = QuantParams.from_data(x)
        observer = torch.ao.quantization.MinMaxObserver(dtype=torch.qint8)
        observer(torch.from_numpy(x))
        scale, zero_point = observer.calculate_qparams()
        assert (params.scale, params.zero_point) == (float(scale), int(zero_point))
        expected = torch.quantize_per_tensor(torch.from_numpy(x), params.scale,
                                             params.zero_point, torch.qint8).int_repr().numpy()
        np.testing.assert_array_equal(quantize_with_params(x, params), expected)


GOOD_PARTS = {"data": np.zeros(4, np.int8), "scale": np.array([0.5], F32),
              "zero_point": np.array([0], np.int32)}


@pytest.mark.parametrize("parts, metadata, match", [
    ({"scale": np.zeros(0, F32)}, None, "scale must be one number, got float32 of shape \\(0,\\)"),
    ({"zero_point": np.zeros((2, 1), np.int32)}, None, "zero_point must be one number"),
    ({"scale": np.array([-1.0], F32)}, None, "scale must be positive"),
    ({"zero_point": np.array([np.nan], F32)}, None, "not a valid QuantizedTensor"),
    ({}, {"qmin": "low"}, "not a valid QuantizedTensor"),
    ({}, {"qmin": "0"}, "qmin must be -128 or -127"),
    ({"data": np.zeros(4, np.uint8)}, None, "data must be I8"),
])
def test_load_format_errors_are_value_errors_naming_the_file(tmp_path, parts, metadata, match):
    """Issue 27.13: an empty scale raised IndexError, and the other format
    errors (a bad scale, zero point or qmin) did not name the file."""
    from scipix.optimize.memory._safetensors import write
    path = tmp_path / "bad.safetensors"
    write(path, {**GOOD_PARTS, **parts}, metadata)
    with pytest.raises(ValueError, match=match) as caught:
        QuantizedTensor.load(path)
    assert str(path) in str(caught.value)
