"""Kernels over model outputs: float32 threshold maps and argmax_last."""
import numpy as np
import pytest

from scipix.optimize.simd import argmax_last, simd_threshold

from variants import REFERENCE, RUNNABLE, family_modules, names


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (64, 1000), (513, 129), (1000,)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_float_threshold_is_strict_and_nan_is_zero(image_kernels, rng, shape, n_threads):
    scores = rng.random(shape, dtype=np.float32)
    scores.flat[::7] = np.float32(0.3)             # exactly at the threshold: 0
    scores.flat[::11] = np.nan
    scores.flat[::13] = np.inf
    rows = scores.reshape(-1, shape[-1])
    out = np.empty(rows.shape, np.uint8)
    image_kernels.threshold_f32(rows, out, np.float32(0.3), n_threads)
    expected = np.where(rows > np.float32(0.3), 255, 0).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_float_threshold_matches_opencv(rng):
    cv2 = pytest.importorskip("cv2")
    scores = rng.random((96, 130), dtype=np.float32)
    scores[::5, ::3] = np.float32(0.3)
    _, theirs = cv2.threshold(scores, 0.3, 255, cv2.THRESH_BINARY)
    np.testing.assert_array_equal(simd_threshold(scores, 0.3), theirs.astype(np.uint8))
    crop = scores[10:50, 20:90]                    # strided rows, no copy needed
    np.testing.assert_array_equal(simd_threshold(crop, 0.3), theirs[10:50, 20:90])


def test_float_threshold_out_and_bad_input(rng):
    scores = rng.random((8, 8), dtype=np.float32)
    out = np.zeros((8, 8), np.uint8)
    assert simd_threshold(scores, 0.5, out=out) is out
    with pytest.raises(ValueError, match="thresh must not be NaN"):
        simd_threshold(scores, float("nan"))
    with pytest.raises(TypeError, match="thresh must be a real number"):
        simd_threshold(scores, "0.5")
    with pytest.raises(TypeError, match="thresh must be a real number"):
        simd_threshold(scores, True)
    with pytest.raises(ValueError, match="contiguous rows"):
        simd_threshold(scores[:, ::2], 0.5)
    with pytest.raises(ValueError, match="out must have shape"):
        simd_threshold(scores, 0.5, out=np.zeros((8, 7), np.uint8))


@pytest.mark.parametrize("shape", [(1, 1), (3, 17, 6625), (2, 5, 31), (1000, 3), (4, 1)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_argmax_rows_matches_numpy(image_kernels, rng, shape, n_threads):
    scores = rng.standard_normal(shape).astype(np.float32)
    rows = scores.reshape(-1, shape[-1])
    rows[::3, -1] = rows[::3].max(axis=1)          # ties: the first one wins
    index = np.empty(rows.shape[0], np.int64)
    value = np.empty(rows.shape[0], np.float32)
    image_kernels.argmax_rows(rows, index, value, n_threads)
    np.testing.assert_array_equal(index, rows.argmax(axis=1))
    np.testing.assert_array_equal(value, rows.max(axis=1))


@pytest.mark.parametrize("n", [31, 32, 33, 47, 63, 64, 65, 96, 100, 257])
def test_argmax_rows_ties_at_every_lane(image_kernels, rng, n):
    # Few levels: every row has its maximum many times, in lanes of both
    # accumulators and in the tail; signed zeros tie with each other.
    rows = rng.integers(-3, 2, (400, n)).astype(np.float32)
    rows[rows == 0] = rng.choice(np.array([0.0, -0.0], np.float32), int((rows == 0).sum()))
    rows[::7, -1] = 5.0                              # the maximum only in the tail
    index = np.empty(rows.shape[0], np.int64)
    value = np.empty(rows.shape[0], np.float32)
    image_kernels.argmax_rows(rows, index, value, 1)
    expected = rows.argmax(axis=1)
    np.testing.assert_array_equal(index, expected)
    np.testing.assert_array_equal(value.view(np.int32),
                                  rows[np.arange(len(rows)), expected].view(np.int32))


def test_argmax_nan_inf_and_signed_zeros(image_kernels):
    rows = np.zeros((5, 40), np.float32)
    rows[0, [5, 30]] = np.nan
    rows[1, 20] = np.inf
    rows[2] = -np.inf
    rows[3, :] = -0.0
    rows[3, 7] = 0.0
    rows[4, 39] = np.nan
    index = np.empty(5, np.int64)
    value = np.empty(5, np.float32)
    image_kernels.argmax_rows(rows, index, value, 1)
    np.testing.assert_array_equal(index, rows.argmax(axis=1))
    np.testing.assert_array_equal(value.view(np.int32),
                                  rows[np.arange(5), rows.argmax(axis=1)].view(np.int32))


def test_argmax_last_public_forms(rng):
    scores = rng.standard_normal((2, 9, 50)).astype(np.float32)
    index, value = argmax_last(scores)
    assert index.shape == value.shape == (2, 9) and index.dtype == np.int64
    np.testing.assert_array_equal(index, scores.argmax(-1))
    np.testing.assert_array_equal(value, scores.max(-1))
    transposed = scores.transpose(2, 1, 0)         # last axis strided: copied
    np.testing.assert_array_equal(argmax_last(transposed)[0], transposed.argmax(-1))
    with pytest.raises(TypeError, match="scores must have dtype float32"):
        argmax_last(scores.astype(np.float64))
    with pytest.raises(ValueError, match="non-empty last axis"):
        argmax_last(np.zeros((3, 0), np.float32))


@pytest.mark.parametrize("name, module", family_modules("image", RUNNABLE), ids=names(RUNNABLE))
def test_score_kernels_bit_exact_across_variants(name, module, rng):
    scores = rng.random((37, 6625), dtype=np.float32)
    outs = [np.empty(scores.shape, np.uint8) for _ in range(2)]
    for out, kernels in zip(outs, (module, REFERENCE.image)):
        kernels.threshold_f32(scores, out, np.float32(0.5), 2)
    np.testing.assert_array_equal(*outs)
    results = []
    for kernels in (module, REFERENCE.image):
        index, value = np.empty(37, np.int64), np.empty(37, np.float32)
        kernels.argmax_rows(scores, index, value, 2)
        results.append((index, value))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
