"""Kernels against NumPy / OpenCV references, on every variant this CPU runs."""

import numpy as np
import pytest

from scipix.optimize import OptLevel, opt_level
from scipix.optimize.simd import (fast_area_resize, simd_grayscale, simd_normalize,
                                  simd_resize_bilinear, simd_threshold)

from oracles import (OPENCV_LEVELS, area_reference, bilinear_reference, gray_reference,
                     strided_crop)
from variants import REFERENCE, RUNNABLE, family_modules, names

SHAPES = [(1, 1), (1, 17), (3, 1), (7, 33), (16, 16), (31, 257), (64, 1000), (513, 129)]
THREADS = [1, 2]


# ---------------------------------------------------------------- grayscale

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("channels", [4, 3])
@pytest.mark.parametrize("n_threads", THREADS)
def test_grayscale_exact(image_kernels, rng, shape, channels, n_threads):
    pixels = strided_crop(rng, shape, channels)
    out = np.empty(shape, np.uint8)
    image_kernels.grayscale(pixels, out, False, n_threads)
    np.testing.assert_array_equal(out, gray_reference(pixels))


@pytest.mark.parametrize("width", [32, 33, 34, 35, 36, 65, 66, 67, 98, 130])
@pytest.mark.parametrize("channels", [4, 3])
def test_grayscale_exact_rows_at_vector_step_edges(image_kernels, rng, width, channels):
    # Exactly sized rows, nothing after them: a vector step that read past
    # its last pixel would show under the sanitizers (the RGB step reads 4
    # bytes ahead and must stop early).
    pixels = rng.integers(0, 256, size=(2, width, channels), dtype=np.uint8)
    out = np.empty((2, width), np.uint8)
    image_kernels.grayscale(pixels, out, False, 1)
    np.testing.assert_array_equal(out, gray_reference(pixels))
    for row in range(2):  # one row at a time: the row ends the buffer
        single = pixels[row].copy()[None]
        image_kernels.grayscale(single, out[row:row + 1], False, 1)
        np.testing.assert_array_equal(out[row], gray_reference(pixels[row]))


def test_grayscale_large_parallel_spans(image_kernels, rng):
    # One long row is split across threads in spans; check every span edge.
    flat = rng.integers(0, 256, size=4 * 200_003, dtype=np.uint8)
    out = np.empty((1, 200_003), np.uint8)
    image_kernels.grayscale(flat.reshape(1, -1, 4), out, False, 2)
    np.testing.assert_array_equal(out[0], gray_reference(flat.reshape(-1, 4)))


# Outputs of at least 8 MiB (the kernels' STREAM_BYTES) are stored around the
# caches, from 32-byte aligned addresses after a few plain pixels per row.
LARGE = (2053, 4099)


def misaligned_out(shape):
    """A crop of a bigger zeroed buffer whose rows start at odd addresses."""
    rows, cols = shape
    frame = np.zeros((rows + 2, cols + 7), np.uint8)
    return frame, frame[1:1 + rows, 3:3 + cols]


def assert_frame_untouched(frame, shape):
    rows, cols = shape
    inside = np.zeros(frame.shape, bool)
    inside[1:1 + rows, 3:3 + cols] = True
    assert not frame[~inside].any()


@pytest.mark.parametrize("channels", [4, 3])
@pytest.mark.parametrize("n_threads", THREADS)
def test_grayscale_streamed_output(image_kernels, rng, channels, n_threads):
    reference = REFERENCE.image
    pixels = strided_crop(rng, LARGE, channels)
    frame, out = misaligned_out(LARGE)
    image_kernels.grayscale(pixels, out, False, n_threads)
    expected = np.empty(LARGE, np.uint8)
    reference.grayscale(pixels, expected, False, 1)
    np.testing.assert_array_equal(out, expected)
    assert_frame_untouched(frame, LARGE)
    np.testing.assert_array_equal(out[::97, ::89], gray_reference(pixels[::97, ::89]))


def test_grayscale_public_forms(rng):
    image = rng.integers(0, 256, size=(40, 50, 4), dtype=np.uint8)
    expected = gray_reference(image)
    np.testing.assert_array_equal(simd_grayscale(image), expected)
    np.testing.assert_array_equal(simd_grayscale(image.reshape(-1)), expected.reshape(-1))
    np.testing.assert_array_equal(simd_grayscale(bytes(image.reshape(-1))), expected.reshape(-1))
    np.testing.assert_array_equal(simd_grayscale(image[..., :3].copy()), expected)
    np.testing.assert_array_equal(simd_grayscale(image[::-1]), expected[::-1])  # negative row stride
    out = np.full((40, 50), 7, np.uint8)
    assert simd_grayscale(image, out=out) is out
    np.testing.assert_array_equal(out, expected)
    # out inside a larger array: strided rows
    big = np.zeros((60, 80), np.uint8)
    simd_grayscale(image, out=big[5:45, 10:60])
    np.testing.assert_array_equal(big[5:45, 10:60], expected)
    assert big[:5].sum() == 0 and big[:, :10].sum() == 0 and big[:, 60:].sum() == 0


def test_grayscale_matches_opencv_on_gray_pixels(rng):
    cv2 = pytest.importorskip("cv2")
    # Both are BT.601; their fixed points differ (by at most 1) on colours.
    image = rng.integers(0, 256, size=(64, 64, 4), dtype=np.uint8)
    ours = simd_grayscale(image).astype(int)
    theirs = cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY).astype(int)
    assert np.abs(ours - theirs).max() <= 1


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((4, 4, 4), np.float32), TypeError, "rgba must have dtype uint8"),
    (np.zeros((4, 4, 2), np.uint8), ValueError, "rgba must have shape"),
    (np.zeros((4, 4), np.uint8), ValueError, "rgba must have shape"),
    (np.zeros(10, np.uint8), ValueError, "multiple of 4"),
    (np.zeros((0, 4, 4), np.uint8), ValueError, "rgba is empty"),
    (np.zeros((4, 8, 4), np.uint8)[:, ::2], ValueError, "packed pixels"),
    ([1, 2, 3, 4], TypeError, "buffer protocol"),
])
def test_grayscale_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        simd_grayscale(bad)


@pytest.mark.parametrize("out, error, match", [
    (np.zeros((4, 5), np.uint8), ValueError, "out must have shape"),
    (np.zeros((4, 4), np.int16), TypeError, "out must have dtype uint8"),
    (np.zeros((4, 8), np.uint8)[:, ::2], ValueError, "out must have contiguous rows"),
    ([0] * 16, TypeError, "out must be a numpy.ndarray"),
])
def test_grayscale_bad_out_is_untouched(out, error, match):
    with pytest.raises(error, match=match):
        simd_grayscale(np.zeros((4, 4, 4), np.uint8), out=out)


def test_grayscale_read_only_out():
    out = np.zeros((4, 4), np.uint8)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        simd_grayscale(np.zeros((4, 4, 4), np.uint8), out=out)


def test_grayscale_out_overlapping_input(rng):
    buffer = rng.integers(0, 256, size=4 * 64, dtype=np.uint8)
    expected = gray_reference(buffer.reshape(-1, 4))
    simd_grayscale(buffer, out=buffer[:64])
    np.testing.assert_array_equal(buffer[:64], expected)


@pytest.mark.parametrize("kernel", [
    lambda image: simd_grayscale(image),
    lambda image: simd_resize_bilinear(image, 3, 2),
    lambda image: fast_area_resize(image, 1, 1),
], ids=["grayscale", "bilinear", "area"])
def test_length_one_axes_with_any_stride_are_accepted(kernel):
    """Issue 27.13: a one-pixel RGB view of an RGBA image (strides (4, 4, 1),
    which NumPy calls C-contiguous) was refused with advice to call
    numpy.ascontiguousarray, which returns it unchanged; a length-1 axis
    has no stride to respect."""
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., :3] = (10, 200, 30)
    pixel = np.ascontiguousarray(rgba[:1, :1].copy()[:, :, :3])
    column = rgba[:, 2:3, :3]
    assert pixel.strides == (4, 4, 1) and pixel.flags.c_contiguous
    np.testing.assert_array_equal(kernel(pixel), kernel(np.array(pixel.tolist(), np.uint8)))
    np.testing.assert_array_equal(kernel(column), kernel(column.copy()))


# ---------------------------------------------------------------- threshold

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("thresh", [0, 1, 127, 128, 200, 254, 255])
@pytest.mark.parametrize("n_threads", THREADS)
def test_threshold_exact(image_kernels, rng, shape, thresh, n_threads):
    gray = strided_crop(rng, shape)
    out = np.empty(shape, np.uint8)
    image_kernels.threshold(gray, out, thresh, n_threads)
    np.testing.assert_array_equal(out, np.where(gray > thresh, 255, 0).astype(np.uint8))


def test_threshold_every_value(image_kernels):
    # All 256 inputs against all thresholds: the signed-compare trap.
    gray = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    for thresh in range(256):
        out = np.empty_like(gray)
        image_kernels.threshold(gray, out, thresh, 1)
        np.testing.assert_array_equal(out[0], np.where(np.arange(256) > thresh, 255, 0))


@pytest.mark.parametrize("n_threads", THREADS)
def test_threshold_streamed_output(image_kernels, rng, n_threads):
    gray = strided_crop(rng, LARGE)
    expected = np.where(gray > 140, 255, 0).astype(np.uint8)
    frame, out = misaligned_out(LARGE)
    image_kernels.threshold(gray, out, 140, n_threads)
    np.testing.assert_array_equal(out, expected)
    assert_frame_untouched(frame, LARGE)
    image_kernels.threshold(gray, gray, 140, n_threads)  # in place
    np.testing.assert_array_equal(gray, expected)


def test_threshold_in_place_and_1d(rng):
    gray = rng.integers(0, 256, size=(30, 41), dtype=np.uint8)
    expected = np.where(gray > 99, 255, 0).astype(np.uint8)
    assert simd_threshold(gray, 99, out=gray) is gray
    np.testing.assert_array_equal(gray, expected)
    line = rng.integers(0, 256, size=1001, dtype=np.uint8)
    np.testing.assert_array_equal(simd_threshold(line, np.uint8(10)),
                                  np.where(line > 10, 255, 0))


@pytest.mark.parametrize("thresh, error", [(-1, ValueError), (256, ValueError),
                                           (127.5, TypeError), ("128", TypeError)])
def test_threshold_bad_thresh(thresh, error):
    with pytest.raises(error, match="thresh"):
        simd_threshold(np.zeros((4, 4), np.uint8), thresh)


def test_threshold_bad_gray():
    with pytest.raises(ValueError, match="gray must be 2-D"):
        simd_threshold(np.zeros((2, 2, 2), np.uint8), 1)
    with pytest.raises(ValueError, match="gray must have contiguous rows"):
        simd_threshold(np.zeros((4, 8), np.uint8)[:, ::2], 1)
    with pytest.raises(TypeError, match="gray must have dtype uint8"):
        simd_threshold(np.zeros((4, 4), np.int8), 1)


@pytest.mark.parametrize("gray, dtype", [
    (np.zeros((4, 4), np.float64), "float64"),
    (np.zeros((4, 4), ">f4"), ">f4"),
    (memoryview(np.zeros((4, 4), np.float64)), "float64"),
    (np.zeros((4, 4), np.int8), "int8"),
], ids=["float64", "big-endian-float32", "float64-memoryview", "int8"])
def test_threshold_names_the_supported_dtypes(gray, dtype):
    with pytest.raises(TypeError, match=rf"gray must have dtype uint8 or float32 \(native "
                                        rf"byte order\), got {dtype}$"):
        simd_threshold(gray, 0.5)


def test_threshold_float32_buffer_as_array(rng):
    scores = rng.random((5, 7), dtype=np.float32)
    np.testing.assert_array_equal(simd_threshold(memoryview(scores), 0.5),
                                  simd_threshold(scores, 0.5))


# ---------------------------------------------------------------- normalize

@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 1023, 1024, 1025, 100_003])
def test_normalize_matches_float64(image_kernels, rng, n):
    data = (rng.standard_normal(n) * 3 + 7).astype(np.float32)
    wide = data.astype(np.float64)
    expected = (wide - wide.mean()) / (wide.std() + 1e-8)
    mean, std = image_kernels.normalize(data, 2)
    assert mean == pytest.approx(wide.mean(), rel=1e-7)
    assert std == pytest.approx(wide.std(), rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-5)


def test_normalize_16m_precision(rng):
    # Offset data: a naive float32 sum or E[x^2]-E[x]^2 would fail this.
    data = (rng.standard_normal(1 << 24) * 0.5 + 1000).astype(np.float32)
    wide = data.astype(np.float64)
    expected = (wide - wide.mean()) / (wide.std() + 1e-8)
    simd_normalize(data)
    np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-4)
    assert abs((data.astype(np.float64) - expected)).max() < 2e-4


def test_normalize_huge_values_use_float64(image_kernels):
    data = np.array([3e25, -3e25, 1e25, 0], np.float32)
    wide = data.astype(np.float64)
    expected = (wide - wide.mean()) / (wide.std() + 1e-8)
    image_kernels.normalize(data, 1)
    np.testing.assert_allclose(data, expected, rtol=1e-6)


@pytest.mark.parametrize("data", [[-3.4028235e38] + [5.67e37] * 6, [3.4e38, -3.4e38],
                                  [3.4e38, -3.4e38, 0.0, 1.0]])
def test_normalize_near_the_float32_range(image_kernels, data):
    # x - mean is past float32's range here: scaled first, no infinity.
    data = np.array(data, np.float32)
    wide = data.astype(np.float64)
    expected = (wide - wide.mean()) / (wide.std() + 1e-8)
    image_kernels.normalize(data, 1)
    np.testing.assert_allclose(data, expected, rtol=1e-5, atol=1e-6)


def test_normalize_constant_gives_zeros():
    data = np.full((5, 7), 3.25, np.float32)
    simd_normalize(data)
    assert not data.any()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_normalize_rejects_non_finite_and_keeps_data(value):
    data = np.arange(5000, dtype=np.float32)
    data[1234] = value
    before = data.copy()
    with pytest.raises(ValueError, match="data contains NaN or infinity"):
        simd_normalize(data)
    np.testing.assert_array_equal(data, before)


def test_normalize_fortran_and_shapes(rng):
    data = np.asfortranarray(rng.standard_normal((30, 20)).astype(np.float32))
    wide = data.astype(np.float64)
    simd_normalize(data)
    np.testing.assert_allclose(data, (wide - wide.mean()) / wide.std(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, error, match", [
    ([1.0, 2.0], TypeError, "data must be a float32 numpy.ndarray"),
    (np.zeros(4, np.float64), TypeError, "data must have dtype float32"),
    (np.zeros(0, np.float32), ValueError, "data is empty"),
    (np.zeros(8, np.float32)[::2], ValueError, "data must be contiguous"),
])
def test_normalize_bad_input(bad, error, match):
    with pytest.raises(error, match=match):
        simd_normalize(bad)


def test_normalize_read_only():
    data = np.zeros(4, np.float32)
    data.flags.writeable = False
    with pytest.raises(ValueError, match="data is read-only"):
        simd_normalize(data)


# ---------------------------------------------------------------- resize

RESIZES = [((1, 1), (1, 1)), ((1, 1), (5, 3)), ((7, 9), (7, 9)), ((20, 30), (10, 15)),
           ((37, 53), (20, 21)), ((20, 30), (45, 71)), ((64, 64), (13, 64)),
           ((100, 3), (7, 2)), ((256, 300), (97, 181)), ((5, 400), (9, 11)),
           # Wide rows: the 8-output blocks of the horizontal pass take the
           # 16-byte window (scale >= ~1/2), the gather (smaller scales) or
           # the plain loop near the row's end; widths around 16 at the edges.
           ((4, 1000), (3, 750)), ((4, 1000), (3, 999)), ((4, 1000), (3, 501)),
           ((4, 1000), (3, 499)), ((4, 1000), (3, 333)), ((4, 37), (3, 200)),
           ((3, 16), (3, 8)), ((3, 17), (3, 9)), ((3, 15), (3, 11)), ((3, 24), (3, 16))]


@pytest.mark.parametrize("src_shape, dst_shape", RESIZES)
@pytest.mark.parametrize("n_threads", THREADS)
def test_bilinear_exact_fixed_point(image_kernels, rng, src_shape, dst_shape, n_threads):
    src = strided_crop(rng, src_shape)
    out = np.empty(dst_shape, np.uint8)
    image_kernels.resize_bilinear(src, out, n_threads)
    np.testing.assert_array_equal(out, bilinear_reference(src, dst_shape[1], dst_shape[0]))


@pytest.mark.parametrize("src_shape, dst_shape", RESIZES + [((512, 512), (256, 256)),
                                                            ((300, 200), (150, 100))])
def test_bilinear_within_one_of_opencv(rng, src_shape, dst_shape):
    cv2 = pytest.importorskip("cv2")
    src = rng.integers(0, 256, size=src_shape, dtype=np.uint8)
    ours = simd_resize_bilinear(src, dst_shape[1], dst_shape[0]).astype(int)
    theirs = cv2.resize(src, dst_shape[::-1], interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.abs(ours - theirs).max() <= OPENCV_LEVELS
    np.testing.assert_array_equal(ours, bilinear_reference(src, dst_shape[1], dst_shape[0]))


AREA_INTEGER = [((2, 2), (1, 1)), ((64, 64), (32, 32)), ((60, 90), (30, 45)),
                ((6, 2 * 45), (3, 45)), ((2, 2 * 33), (1, 33)), ((4, 2 * 131), (2, 131)),
                ((90, 60), (30, 30)), ((120, 120), (30, 30)), ((128, 96), (16, 12)),
                ((45, 50), (9, 10)), ((7, 7), (7, 7)), ((64, 200), (64, 100))]


@pytest.mark.parametrize("src_shape, dst_shape", AREA_INTEGER)
@pytest.mark.parametrize("n_threads", THREADS)
def test_area_integer_exact(image_kernels, rng, src_shape, dst_shape, n_threads):
    src = strided_crop(rng, src_shape)
    ky, kx = src_shape[0] // dst_shape[0], src_shape[1] // dst_shape[1]
    sums = src.reshape(dst_shape[0], ky, dst_shape[1], kx).astype(np.int64).sum(axis=(1, 3))
    if (kx, ky) == (2, 2):
        expected = (sums + 2) >> 2
    else:
        expected = np.rint(sums.astype(np.float32) * np.float32(1.0 / (kx * ky)))
    out = np.empty(dst_shape, np.uint8)
    image_kernels.resize_area_integer(src, out, n_threads)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


@pytest.mark.parametrize("src_shape, dst_shape", AREA_INTEGER)
def test_area_integer_equals_opencv(rng, src_shape, dst_shape):
    cv2 = pytest.importorskip("cv2")
    src = rng.integers(0, 256, size=src_shape, dtype=np.uint8)
    np.testing.assert_array_equal(
        fast_area_resize(src, dst_shape[1], dst_shape[0]),
        cv2.resize(src, dst_shape[::-1], interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize("block", [(98, 29), (106, 49), (116, 103), (2, 2)])
@pytest.mark.parametrize("channels", [None, 3])
def test_area_exact_half_means_round_half_to_even_within_one_of_opencv(block, channels):
    """Issue 27.12: at a mean of exactly n + 0.5, OpenCV's float32
    sum * (1 / area) lands on either side, so the README no longer calls
    whole-number factors identical to INTER_AREA: scipix rounds such a
    mean half to even (the 2x2 mean half up, as OpenCV) and stays within 1."""
    cv2 = pytest.importorskip("cv2")
    rows, cols = block
    area = rows * cols
    for base in (127, 128, 129):
        src = np.full((rows, cols) + ((channels,) if channels else ()), base, np.uint8)
        src.reshape(area, -1)[:area // 2] += 1  # mean base + 0.5
        ours = fast_area_resize(src, 1, 1).astype(int)
        expected = base + 1 if area == 4 else round(base + 0.5)  # round() is half to even
        assert np.all(ours == expected)
        assert np.all(np.abs(ours - cv2.resize(src, (1, 1), interpolation=cv2.INTER_AREA)) <= 1)


AREA_GENERAL = [((10, 10), (3, 7)), ((37, 53), (20, 21)), ((256, 300), (97, 181)),
                ((100, 100), (99, 1)), ((1, 500), (1, 7)), ((333, 333), (100, 100)),
                ((1000, 90), (3, 89))]


@pytest.mark.parametrize("src_shape, dst_shape", AREA_GENERAL + [((768, 1024), (384, 384)),
                                                                ((19, 23), (19, 5))])
@pytest.mark.parametrize("n_threads", THREADS)
def test_area_general_exact(image_kernels, rng, src_shape, dst_shape, n_threads):
    src = strided_crop(rng, src_shape)
    out = np.empty(dst_shape, np.uint8)
    image_kernels.resize_area(src, out, n_threads)
    np.testing.assert_array_equal(out, area_reference(src, dst_shape[1], dst_shape[0]))


@pytest.mark.parametrize("src_shape, dst_shape", AREA_GENERAL)
def test_area_general_within_one_of_opencv(rng, src_shape, dst_shape):
    cv2 = pytest.importorskip("cv2")
    src = rng.integers(0, 256, size=src_shape, dtype=np.uint8)
    ours = fast_area_resize(src, dst_shape[1], dst_shape[0]).astype(int)
    theirs = cv2.resize(src, dst_shape[::-1], interpolation=cv2.INTER_AREA).astype(int)
    assert np.abs(ours - theirs).max() <= 1


@pytest.mark.parametrize("src_shape, dst_shape", AREA_GENERAL)
def test_area_general_preserves_flat_images(image_kernels, src_shape, dst_shape):
    src = np.full(src_shape, 173, np.uint8)
    out = np.empty(dst_shape, np.uint8)
    image_kernels.resize_area(src, out, 2)
    assert (out == 173).all()


@pytest.mark.parametrize("function", [simd_resize_bilinear, fast_area_resize])
def test_resize_bad_input(function):
    src = np.zeros((8, 8), np.uint8)
    with pytest.raises(ValueError, match="width must be positive"):
        function(src, 0, 4)
    with pytest.raises(ValueError, match="height must be positive"):
        function(src, 4, -3)
    with pytest.raises(TypeError, match="width must be an int"):
        function(src, 4.0, 4)
    with pytest.raises(ValueError, match=r"src must be a gray image \(H, W\) or packed"):
        function(np.zeros((8, 8, 2), np.uint8), 4, 4)
    with pytest.raises(ValueError, match="src must have packed pixels"):
        function(np.zeros((8, 16, 3), np.uint8)[:, ::2], 4, 4)
    with pytest.raises(ValueError, match="out must have shape"):
        function(np.zeros((8, 8, 3), np.uint8), 4, 4, out=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="out must have shape"):
        function(src, 4, 4, out=np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="src is empty"):
        function(np.zeros((0, 8), np.uint8), 4, 4)


@pytest.mark.parametrize("flag", [True, False, np.bool_(True)])
def test_bools_are_not_ints(flag):
    gray = np.zeros((8, 8), np.uint8)
    with pytest.raises(TypeError, match="thresh must be an int, not a bool"):
        simd_threshold(gray, flag)
    for function in (simd_resize_bilinear, fast_area_resize):
        with pytest.raises(TypeError, match="width must be an int, not a bool"):
            function(gray, flag, 4)
        with pytest.raises(TypeError, match="height must be an int, not a bool"):
            function(gray, 4, flag)


def test_numpy_integer_scalars_are_ints(rng):
    gray = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    expected = simd_threshold(gray, 128)
    for thresh in [np.uint8(128), np.int64(128), np.uint64(128), np.int16(128)]:
        np.testing.assert_array_equal(simd_threshold(gray, thresh), expected)
        np.testing.assert_array_equal(simd_threshold(memoryview(gray), thresh), expected)
    for function in (simd_resize_bilinear, fast_area_resize):
        np.testing.assert_array_equal(function(gray, np.int32(8), np.uint8(4)),
                                      function(gray, 8, 4))
    with pytest.raises(ValueError, match=r"thresh must be in \[0, 255\], got 256"):
        simd_threshold(gray, np.int64(256))


def test_area_only_shrinks():
    with pytest.raises(ValueError, match="only shrinks"):
        fast_area_resize(np.zeros((8, 8), np.uint8), 9, 4)


# ---------------------------------------------------------------- variants agree

@pytest.mark.parametrize("name, module", family_modules("image", RUNNABLE),
                         ids=names(RUNNABLE))
def test_variants_bit_exact_with_scalar_reference(name, module, rng):
    reference = REFERENCE.image
    for trial in range(25):
        rows, cols = rng.integers(1, 300, size=2)
        rgba = strided_crop(rng, (rows, cols), 4)
        outs = [np.empty((rows, cols), np.uint8) for _ in range(2)]
        for out, variant in zip(outs, (module, reference)):
            variant.grayscale(rgba, out, False, 2)
        np.testing.assert_array_equal(*outs)
        thresh = int(rng.integers(0, 256))
        for out, variant in zip(outs, (module, reference)):
            variant.threshold(np.ascontiguousarray(rgba[..., 1]), out, thresh, 2)
        np.testing.assert_array_equal(*outs)
        dst = (int(rng.integers(1, 2 * rows)), int(rng.integers(1, 2 * cols)))
        small = (max(rows // 3, 1), max(cols // 2, 1))
        half = (max(rows // 2, 1), max(cols // 2, 1))
        for op, shape in (("resize_bilinear", dst), ("resize_area", small),
                          ("resize_bilinear", half)):
            results = [np.empty(shape, np.uint8) for _ in range(2)]
            for out, variant in zip(results, (module, reference)):
                getattr(variant, op)(np.ascontiguousarray(rgba[..., 0]), out, 2)
            np.testing.assert_array_equal(*results, err_msg=op)
        data = (rng.standard_normal(int(rng.integers(1, 50_000))) * 10).astype(np.float32)
        copies = [data.copy(), data.copy()]
        stats = [variant.normalize(copy, 2)
                 for copy, variant in zip(copies, (module, reference))]
        assert stats[0] == stats[1]
        np.testing.assert_array_equal(*copies)


def test_opt_levels_give_identical_results(rng):
    rgba = rng.integers(0, 256, size=(300, 301, 4), dtype=np.uint8)
    results = []
    for level in OptLevel:
        with opt_level(level):
            gray = simd_grayscale(rgba)
            results.append((gray, simd_threshold(gray, 77),
                            simd_resize_bilinear(gray, 123, 77), fast_area_resize(gray, 100, 90)))
    for result in results[1:]:
        for a, b in zip(result, results[0]):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- plain calls

def plain_layouts(rng, shape, channels=None):
    """The layouts the plain entry points take: C order, a row-strided crop
    and flipped rows (negative row stride)."""
    tail = () if channels is None else (channels,)
    c_order = rng.integers(0, 256, size=shape + tail, dtype=np.uint8)
    return {"C": c_order, "crop": strided_crop(rng, shape, channels), "flipped": c_order[::-1]}


def outputs(shape):
    """None (allocate), a C array and one written through flipped rows."""
    return {"new": None, "C": np.empty(shape, np.uint8),
            "flipped": np.empty(shape, np.uint8)[::-1]}


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (64, 1000)])
@pytest.mark.parametrize("channels", [4, 3])
def test_grayscale_plain_equals_kernel(image_kernels, rng, shape, channels):
    for layout, pixels in plain_layouts(rng, shape, channels).items():
        for kind, out in outputs(shape).items():
            result = image_kernels.grayscale_plain(pixels, out, False, 2)
            assert result is not None, (layout, kind)
            assert out is None or result is out
            np.testing.assert_array_equal(result, gray_reference(pixels), err_msg=layout + kind)
    flat = rng.integers(0, 256, size=4 * 1001, dtype=np.uint8)
    np.testing.assert_array_equal(image_kernels.grayscale_plain(flat, None, False, 1),
                                  gray_reference(flat.reshape(-1, 4)))


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (64, 1000)])
def test_threshold_plain_equals_kernel(image_kernels, rng, shape):
    for layout, gray in plain_layouts(rng, shape).items():
        expected = np.where(gray > 200, 255, 0).astype(np.uint8)
        for kind, out in outputs(shape).items():
            result = image_kernels.threshold_plain(gray, 200, out, 2)
            assert result is not None and (out is None or result is out), (layout, kind)
            np.testing.assert_array_equal(result, expected, err_msg=layout + kind)
        in_place = gray.copy()
        assert image_kernels.threshold_plain(in_place, 200, in_place, 1) is in_place
        np.testing.assert_array_equal(in_place, expected)
    line = rng.integers(0, 256, size=1001, dtype=np.uint8)
    np.testing.assert_array_equal(image_kernels.threshold_plain(line, 0, None, 1),
                                  np.where(line > 0, 255, 0))


@pytest.mark.parametrize("src_shape, dst_shape", RESIZES[::2] + AREA_INTEGER[::2])
def test_resize_plain_equals_kernel(image_kernels, rng, src_shape, dst_shape):
    for layout, src in plain_layouts(rng, src_shape).items():
        for kind, out in outputs(dst_shape).items():
            result = image_kernels.resize_bilinear_plain(src, dst_shape[1], dst_shape[0], out, 2)
            assert result is not None and (out is None or result is out)
            np.testing.assert_array_equal(result, bilinear_reference(src, *dst_shape[::-1]),
                                          err_msg=layout + kind)
            if dst_shape[0] > src_shape[0] or dst_shape[1] > src_shape[1]:
                continue
            expected = np.empty(dst_shape, np.uint8)
            whole = src_shape[0] % dst_shape[0] == 0 and src_shape[1] % dst_shape[1] == 0
            (image_kernels.resize_area_integer if whole else image_kernels.resize_area)(src, expected, 1)
            result = image_kernels.resize_area_plain(src, dst_shape[1], dst_shape[0], out, 2)
            assert result is not None and (out is None or result is out)
            np.testing.assert_array_equal(result, expected, err_msg=layout + kind)


INT_CANDIDATES = [0, 1, 4, 8, 128, 255, np.uint8(128), np.int64(7), np.uint64(200), np.int8(-1),
                  np.int16(4), -1, 9, 256, np.int64(256), np.uint64(2**64 - 1), 2**70, True,
                  False, np.bool_(True), np.bool_(False), 3.0, np.float32(3), "3", None]


def general_or_none(function, *args):
    """``function(*args)`` on the general path (a memoryview is never plain),
    or None when it refuses the arguments."""
    try:
        return function(*args)
    except (TypeError, ValueError):
        return None


def test_plain_and_general_paths_accept_the_same_ints(image_kernels):
    """A value takes the plain path exactly when the general path accepts it
    (for an array the plain path takes), with the same result."""
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3
    for value in INT_CANDIDATES:
        plain = image_kernels.threshold_plain(gray, value, None, 1)
        general = general_or_none(simd_threshold, memoryview(gray), value)
        assert (plain is None) == (general is None), repr(value)
        if plain is not None:
            np.testing.assert_array_equal(plain, general)
        for plain_entry, function in [(image_kernels.resize_area_plain, fast_area_resize),
                                      (image_kernels.resize_bilinear_plain, simd_resize_bilinear)]:
            if (function is simd_resize_bilinear and isinstance(value, (int, np.integer))
                    and value > 4096):
                continue  # the general path would try to allocate it
            for width, height in [(value, 4), (4, value)]:
                plain = plain_entry(gray, width, height, None, 1)
                general = general_or_none(function, memoryview(gray), width, height)
                assert (plain is None) == (general is None), (function.__name__, width, height)
                if plain is not None:
                    np.testing.assert_array_equal(plain, general)


def test_plain_calls_decline_what_the_general_path_handles(image_kernels):
    """Each returns None, leaving conversion, copies and errors to simd.py."""
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    rgba = np.zeros((8, 8, 4), np.uint8)
    read_only = np.empty((8, 8), np.uint8)
    read_only.flags.writeable = False
    declined_inputs = [gray.tolist(), memoryview(gray), gray.astype(np.int16),
                       np.zeros((0, 8), np.uint8), np.asfortranarray(gray),
                       gray[:, ::2], np.zeros((2, 2, 2), np.uint8), np.array(7, np.uint8)]
    for bad in declined_inputs:
        assert image_kernels.threshold_plain(bad, 1, None, 1) is None
        assert image_kernels.resize_bilinear_plain(bad, 4, 4, None, 1) is None
        assert image_kernels.resize_area_plain(bad, 1, 1, None, 1) is None
    for bad in [rgba.tolist(), rgba[:, ::2], rgba[..., :2], np.zeros(6, np.uint8),
                np.zeros((0, 4, 4), np.uint8), rgba.astype(np.float32), np.array(7, np.uint8)]:
        assert image_kernels.grayscale_plain(bad, None, False, 1) is None
    for thresh in [-1, 256, np.int64(256), 3.0, True, np.bool_(True), "3", 2**70]:
        assert image_kernels.threshold_plain(gray, thresh, None, 1) is None
    for bad_out in [read_only, np.empty((8, 9), np.uint8), np.empty((8, 8), np.int8),
                    np.empty((8, 16), np.uint8)[:, ::2], np.empty(64, np.uint8), [0] * 64]:
        assert image_kernels.threshold_plain(gray, 1, bad_out, 1) is None
        assert image_kernels.grayscale_plain(rgba, bad_out, False, 1) is None
    # Out overlapping the input other than element for element: simd.py copies.
    buffer = np.zeros((9, 8), np.uint8)
    assert image_kernels.threshold_plain(buffer[1:], 1, buffer[:-1], 1) is None
    assert image_kernels.resize_bilinear_plain(buffer, 4, 4, buffer[:4, :4], 1) is None
    flat = np.zeros(4 * 64, np.uint8)
    assert image_kernels.grayscale_plain(flat, flat[:64], False, 1) is None
    for width, height in [(0, 4), (4, -1), (9, 4), (4, 9), (4.0, 4), (True, 4), (2**70, 4),
                          (np.bool_(True), 4), (4, np.uint8(9))]:
        assert image_kernels.resize_area_plain(gray, width, height, None, 1) is None
    for width, height in [(0, 4), (4, -1), (4.0, 4), (2**31 + 1, 1)]:
        assert image_kernels.resize_bilinear_plain(gray, width, height, None, 1) is None


# ---------------------------------------------------------------- sizes beyond int32

_HUGE = 3 * 2**30 + 5  # more values than an int32 index reaches (issue 27.1)


def _huge_view(shape, strides, value=0, writeable=False):
    """A view of 64 bytes that claims ``shape``: nothing is allocated, and a
    kernel that read (or wrote) it all would fault, so it must refuse first."""
    return np.lib.stride_tricks.as_strided(np.full(64, value, np.uint8), shape, strides,
                                           writeable=writeable)


@pytest.mark.parametrize("function", [simd_resize_bilinear, fast_area_resize])
@pytest.mark.parametrize("shape, strides, match", [
    ((1, _HUGE), (0, 1), f"src has rows of {_HUGE} values"),
    ((2, _HUGE), (0, 1), f"src has rows of {_HUGE} values"),
    ((1, 2**30, 3), (0, 3, 1), f"src has rows of {3 * 2**30} values"),
    ((_HUGE, 1), (0, 1), f"src has {_HUGE} rows"),
    ((_HUGE, 1, 4), (0, 4, 1), f"src has {_HUGE} rows"),
], ids=["gray-row", "gray-rows", "packed-row", "gray-column", "packed-column"])
@pytest.mark.parametrize("path", [np.asarray, memoryview], ids=["plain", "general"])
def test_resize_refuses_sizes_beyond_int32(function, shape, strides, match, path):
    src = path(_huge_view(shape, strides))
    with pytest.raises(ValueError, match=match):
        function(src, 1, 1)


@pytest.mark.parametrize("channels", [1, 3])
def test_resize_refuses_output_rows_beyond_int32(channels):
    shape = (1, 2**31 // channels + 1) + ((channels,) if channels > 1 else ())
    out = _huge_view(shape, (0, channels, 1)[:len(shape)], writeable=True)
    src = np.zeros((2, 2) + shape[2:], np.uint8)
    with pytest.raises(ValueError, match=r"width \d+ gives output rows of \d+ values"):
        simd_resize_bilinear(src, shape[1], 1, out=out)


@pytest.mark.parametrize("shape, strides", [((1, 9_000_000), (9_000_000, 1)),
                                            ((9_000_000, 1), (0, 1)),
                                            ((9_000_000, 1, 3), (0, 3, 1))],
                         ids=["wide", "tall", "tall-packed"])
def test_area_blocks_beyond_int32_sums(shape, strides):
    # A whole-factor block of 9e6 pixels of 255 sums past 2**31 in int32
    # (the result was 34): such blocks take the float path.
    if strides[0]:
        src = np.full(shape, 255, np.uint8)
    else:
        src = _huge_view(shape, strides, value=255)
    assert (fast_area_resize(src, 1, 1) == 255).all()
