"""Kernels that read colour: packed RGB/RGBA resizes, grayscale's channel
order, and the Pillow modes every kernel refuses."""
import numpy as np
import pytest

from scipix.optimize.parallel import preprocess_batch
from scipix.optimize.simd import fast_area_resize, simd_grayscale, simd_resize_bilinear

from oracles import OPENCV_LEVELS, area_reference, bilinear_reference, gray_reference, strided_crop

# (source, output) sizes as (rows, cols): whole factors (2x2 included),
# fractional shrinks (by up to 3x, 3x to 4x and beyond: 3 to 7 area taps),
# growth, one axis each way, single rows and columns.
RESIZES = [((64, 64), (32, 32)), ((31, 47), (15, 23)), ((90, 120), (30, 40)),
           ((97, 131), (40, 57)), ((50, 70), (100, 90)), ((40, 30), (20, 61)),
           ((1, 40), (1, 17)), ((33, 1), (9, 1)), ((300, 17), (128, 16)), ((5, 9), (5, 9)),
           ((61, 230), (20, 65)), ((50, 300), (11, 57))]


def per_channel(resize, pixels, rows, cols):
    return np.stack([resize(np.ascontiguousarray(pixels[:, :, c]), cols, rows)
                     for c in range(pixels.shape[2])], axis=2)


@pytest.mark.parametrize("src_shape, dst_shape", RESIZES)
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_packed_bilinear_is_the_gray_kernel_per_channel(image_kernels, rng, src_shape,
                                                        dst_shape, channels, n_threads):
    pixels = strided_crop(rng, src_shape, channels)
    out = np.empty(dst_shape + (channels,), np.uint8)
    image_kernels.resize_packed(pixels, out, True, n_threads)
    np.testing.assert_array_equal(
        out, per_channel(lambda p, w, h: bilinear_reference(p, w, h), pixels, *dst_shape))


@pytest.mark.parametrize("src_shape, dst_shape",
                         [(s, d) for s, d in RESIZES if d[0] <= s[0] and d[1] <= s[1]])
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_packed_area_is_the_gray_kernel_per_channel(image_kernels, rng, src_shape, dst_shape,
                                                    channels, n_threads):
    pixels = strided_crop(rng, src_shape, channels)
    out = np.empty(dst_shape + (channels,), np.uint8)
    image_kernels.resize_packed(pixels, out, False, n_threads)
    np.testing.assert_array_equal(out, per_channel(fast_area_resize, pixels, *dst_shape))
    if src_shape[0] % dst_shape[0] or src_shape[1] % dst_shape[1]:
        np.testing.assert_array_equal(out, per_channel(area_reference, pixels, *dst_shape))


@pytest.mark.parametrize("size", [256, 1024])
@pytest.mark.parametrize("scale", [0.5, 0.75, 0.3, 1.25])
@pytest.mark.parametrize("channels", [3, 4])
def test_packed_resizes_within_one_of_opencv(rng, size, scale, channels):
    cv2 = pytest.importorskip("cv2")
    image = rng.integers(0, 256, (size, size + 8, channels), np.uint8)
    width, height = int((size + 8) * scale), int(size * scale)
    ours = simd_resize_bilinear(image, width, height).astype(int)
    theirs = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.abs(ours - theirs).max() <= OPENCV_LEVELS
    if scale < 1:
        ours = fast_area_resize(image, width, height).astype(int)
        theirs = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA).astype(int)
        assert np.abs(ours - theirs).max() <= OPENCV_LEVELS


def test_packed_resize_keeps_channel_order_and_out(rng):
    image = rng.integers(0, 256, (40, 60, 3), np.uint8)
    out = np.zeros((20, 30, 3), np.uint8)
    assert fast_area_resize(image, 30, 20, out=out) is out
    np.testing.assert_array_equal(fast_area_resize(image[:, :, ::-1].copy(), 30, 20),
                                  out[:, :, ::-1])


# ---------------------------------------------------------------- channel order

@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (31, 257), (64, 1000)])
def test_grayscale_bgr_is_rgb_of_the_swapped_pixels(image_kernels, rng, channels, shape):
    pixels = strided_crop(rng, shape, channels)
    swapped = pixels.copy()
    swapped[:, :, [0, 2]] = pixels[:, :, [2, 0]]
    out = np.empty(shape, np.uint8)
    image_kernels.grayscale(pixels, out, True, 2)
    np.testing.assert_array_equal(out, gray_reference(swapped))
    np.testing.assert_array_equal(image_kernels.grayscale_plain(pixels, None, True, 2),
                                  gray_reference(swapped))


def test_grayscale_bgr_matches_opencv_bgr2gray(rng):
    cv2 = pytest.importorskip("cv2")
    image = rng.integers(0, 256, (64, 64, 3), np.uint8)
    theirs = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(int)
    assert np.abs(simd_grayscale(image, order="bgr").astype(int) - theirs).max() <= 1
    # The mistake order= exists to prevent: BGR read as RGB.
    assert np.abs(simd_grayscale(image).astype(int) - theirs).max() > 10


def test_grayscale_bad_order():
    with pytest.raises(ValueError, match="order must be 'rgb' or 'bgr'"):
        simd_grayscale(np.zeros((4, 4, 3), np.uint8), order="RGB")


# ---------------------------------------------------------------- Pillow

@pytest.mark.parametrize("mode", ["P", "1", "I;16", "CMYK", "YCbCr", "LA", "I", "F"])
def test_pillow_modes_that_are_not_pixels_are_refused(mode):
    Image = pytest.importorskip("PIL.Image")
    image = Image.new(mode, (8, 6))
    with pytest.raises(ValueError, match=rf"mode '{mode}'.*convert"):
        simd_grayscale(image)
    with pytest.raises(ValueError, match=rf"images\[0\] is a Pillow image in mode '{mode}'"):
        preprocess_batch([image], (4, 4))
    with pytest.raises(ValueError, match="convert"):
        simd_resize_bilinear(image, 4, 4)


def test_pillow_pixel_modes_are_read(rng):
    Image = pytest.importorskip("PIL.Image")
    pixels = rng.integers(0, 256, (6, 8, 3), np.uint8)
    image = Image.fromarray(pixels, "RGB")
    np.testing.assert_array_equal(simd_grayscale(image), gray_reference(pixels))
    np.testing.assert_array_equal(preprocess_batch([image], (6, 8), color="rgb",
                                                   normalize="none")[0],
                                  pixels.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="stored RGB, but order is 'bgr'"):
        simd_grayscale(image, order="bgr")
    with pytest.raises(ValueError, match="stored RGB, but input_order is 'bgr'"):
        preprocess_batch([image], (4, 4), input_order="bgr")
    gray = Image.fromarray(pixels[:, :, 0], "L")
    np.testing.assert_array_equal(preprocess_batch([gray], (6, 8), normalize="none",
                                                   input_order="bgr")[0, 0], pixels[:, :, 0])


def test_rows_beyond_int32_tap_indices_are_refused():
    # 2**29 RGBA pixels make a row of 2**31 values: refused, not wrapped.
    # (np.zeros maps untouched zero pages: nothing here reads them.)
    wide = np.zeros((1, 1 << 29, 4), np.uint8)
    with pytest.raises(ValueError, match="src has rows of 2147483648 values"):
        simd_resize_bilinear(wide, 3, 1)
    with pytest.raises(ValueError, match=r"images\[0\] has rows of 2147483648 values"):
        preprocess_batch([wide], (1, 3), color="rgb")
