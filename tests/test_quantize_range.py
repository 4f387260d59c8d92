"""The range pass of quantize_weights: one read for min, max and NaN."""
import numpy as np
import pytest

from scipix.optimize.quantize import QuantParams, quantize_weights

F32 = np.float32


@pytest.mark.parametrize("n", [1, 31, 32, 33, 1000, (1 << 17) + 5])
def test_minmax_matches_numpy(quantize_kernels, rng, n):
    x = (rng.standard_normal(n) * 100).astype(F32)
    for threads in (1, 2):
        low, high, has_nan = quantize_kernels.minmax(x, threads)
        assert (low, high, has_nan) == (x.min(), x.max(), False)


@pytest.mark.parametrize("where", [0, 7, 40, -1])
def test_minmax_reports_nan_and_bounds_the_rest(quantize_kernels, rng, where):
    x = rng.standard_normal((1 << 17) + 100).astype(F32)
    x[where] = np.nan
    rest = np.delete(x, where % x.size)
    for threads in (1, 2):
        assert quantize_kernels.minmax(x, threads) == (rest.min(), rest.max(), True)
    with pytest.raises(ValueError, match="NaN"):
        quantize_weights(x)


def test_minmax_of_infinities(quantize_kernels):
    x = np.array([1, np.inf, -np.inf, 2] * 20, F32)
    assert quantize_kernels.minmax(x, 1) == (-np.inf, np.inf, False)


def test_quantize_weights_range_of_any_layout(rng):
    x = rng.standard_normal((300, 70)).astype(F32)
    for view in (x, np.asfortranarray(x), x[::2, ::3]):
        assert quantize_weights(view)[1] == QuantParams.from_range(view.min(), view.max())
