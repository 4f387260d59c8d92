"""preprocess_batch against the separate kernels, on every variant."""
import numpy as np
import pytest

from scipix.optimize import OptLevel, opt_level
from scipix.optimize.parallel import preprocess_batch
from scipix.optimize.simd import simd_grayscale, simd_resize_bilinear

from variants import REFERENCE, RUNNABLE, family_modules, names
from oracles import ATOL, RTOL, separate_kernels, strided_crop

def default_kernel_call(module, pixels, out, n_threads):
    """The kernel as preprocess_batch's defaults call it: gray, stretched, standardized."""
    n, _, height, width = out.shape
    placement = np.tile(np.array([height, width, 0, 0], np.int64), (n, 1))
    zero, one = np.zeros(1, np.float32), np.ones(1, np.float32)
    module.preprocess_batch(pixels, out, placement, 1, False, 0, False, False, zero, one, zero,
                            True, False, n_threads)


def mixed_images(rng):
    """Different sizes, channel counts, strided crops and a flipped image."""
    return [strided_crop(rng, (97, 131), 4), strided_crop(rng, (40, 60), 3),
            strided_crop(rng, (200, 90)), rng.integers(0, 256, (64, 64, 4), np.uint8)[::-1],
            rng.integers(0, 256, (33, 47, 1), np.uint8), strided_crop(rng, (13, 7), 4)]


@pytest.mark.parametrize("shape", [(32, 32), (20, 30), (64, 48), (150, 200), (1, 1), (7, 300)])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("name, module", family_modules("image"),
                         ids=names(family_modules("image")))
def test_matches_separate_kernels(name, module, rng, shape, n_threads):
    images = mixed_images(rng)
    out = np.full((len(images), 1) + shape, np.nan, np.float32)
    pixels = [im if im.ndim == 3 else im[:, :, None] for im in images]
    default_kernel_call(module, pixels, out, n_threads)
    for i, image in enumerate(images):
        image = image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image
        np.testing.assert_allclose(out[i, 0], separate_kernels(image, shape), rtol=RTOL,
                                   atol=ATOL, err_msg=f"image {i}")


def test_outlier_pixel_far_from_zero():
    # Hypothesis' case: one bright pixel upscaled normalizes to ~20.4, where
    # the two paths' float32 statistics differ by more than ATOL alone.
    image = np.zeros((19, 15, 3), np.uint8)
    image[0, 0, 0] = 10
    result = preprocess_batch([image], (21, 22))[0, 0]
    resized = simd_resize_bilinear(simd_grayscale(image), 22, 21).astype(np.float64)
    exact = (resized - resized.mean()) / (resized.std() + 1e-8)
    assert exact.max() > 20
    np.testing.assert_allclose(result, separate_kernels(image, (21, 22)), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(result, exact, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, module", family_modules("image", RUNNABLE),
                         ids=names(RUNNABLE))
def test_variants_bit_exact_with_scalar_reference(name, module, rng):
    reference = REFERENCE.image
    for trial in range(10):
        images = mixed_images(rng)
        shape = tuple(int(v) for v in rng.integers(1, 120, size=2))
        outs = [np.empty((len(images), 1) + shape, np.float32) for _ in range(2)]
        pixels = [im if im.ndim == 3 else im[:, :, None] for im in images]
        default_kernel_call(module, pixels, outs[0], 2)
        default_kernel_call(reference, pixels, outs[1], 1)
        np.testing.assert_array_equal(*outs)


def test_whole_images_per_thread_and_bands_agree(rng):
    """Many images (one per thread) and one image (row bands) give the same."""
    images = [rng.integers(0, 256, (300, 400, 4), np.uint8) for _ in range(5)]
    together = preprocess_batch(images, (96, 128))
    one_by_one = np.concatenate([preprocess_batch([im], (96, 128)) for im in images])
    np.testing.assert_array_equal(together, one_by_one)


def test_public_forms(rng):
    stack = rng.integers(0, 256, (3, 50, 40, 4), np.uint8)
    out = np.empty((3, 1, 25, 20), np.float32)
    assert preprocess_batch(stack, (25, 20), out=out) is out
    np.testing.assert_array_equal(out, preprocess_batch(tuple(stack), [25, 20]))
    normalized = out[1, 0]
    assert abs(normalized.mean()) < 1e-5 and abs(normalized.std() - 1) < 1e-4


def test_constant_image_gives_zeros():
    out = preprocess_batch([np.full((30, 30, 4), 77, np.uint8)], (10, 10))
    assert (out == 0).all()


def test_out_overlapping_an_image_is_safe(rng):
    # Image 1 lives in out[0]'s memory: writing image 0's result must not
    # change what image 1 reads.
    buffer = np.zeros(1600, np.float32)
    shared = buffer.view(np.uint8).reshape(40, 40, 4)
    shared[:] = rng.integers(0, 256, shared.shape, np.uint8)
    images = [rng.integers(0, 256, (40, 40, 4), np.uint8), shared]
    expected = preprocess_batch([im.copy() for im in images], (20, 20))
    out = buffer[:800].reshape(2, 1, 20, 20)
    with opt_level(OptLevel.SIMD):  # one thread: image 0 is written first
        preprocess_batch(images, (20, 20), out=out)
    np.testing.assert_array_equal(out, expected)


def test_levels_agree(rng):
    images = mixed_images(rng)
    results = []
    for level in OptLevel:
        with opt_level(level):
            results.append(preprocess_batch(images, (33, 44)))
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


GOOD = np.zeros((8, 8, 4), np.uint8)
FLOAT = GOOD.astype(np.float32)
TWO_CHANNELS = np.zeros((8, 8, 2), np.uint8)


@pytest.mark.parametrize("images, shape, out, error, match", [
    ([], (4, 4), None, ValueError, "images is empty"),
    (5, (4, 4), None, TypeError, "images must be a sequence"),
    ([GOOD, FLOAT], (4, 4), None, TypeError, r"images\[1\] must have dtype uint8"),
    ([GOOD, TWO_CHANNELS], (4, 4), None, ValueError, r"images\[1\] must have shape"),
    ([GOOD[:, ::2]], (4, 4), None, ValueError, r"images\[0\] must have packed pixels"),
    ([np.zeros((0, 8), np.uint8)], (4, 4), None, ValueError, r"images\[0\] is empty"),
    ([GOOD], (0, 4), None, ValueError, r"shape\[0\] must be positive"),
    ([GOOD], (4, -1), None, ValueError, r"shape\[1\] must be positive"),
    ([GOOD], (4.0, 4), None, TypeError, r"shape\[0\] must be an int"),
    ([GOOD], 4, None, TypeError, "shape must be a"),
    ([GOOD], (4, 4), np.zeros((1, 1, 4, 5), np.float32), ValueError, "out must have shape"),
    ([GOOD], (4, 4), np.zeros((1, 1, 4, 4), np.float64), TypeError, "out must have dtype float32"),
    ([GOOD], (4, 4), np.zeros((1, 1, 4, 8), np.float32)[..., ::2], ValueError, "C-contiguous"),
    ([GOOD], (4, 4), [[0.0]], TypeError, "out must be a numpy.ndarray"),
    # One image as the batch was taken row by row (issue 27.10).
    (np.zeros((48, 64, 3), np.uint8), (4, 4), None, ValueError,
     r"images is one array of shape \(48, 64, 3\), not a batch: wrap one image as \[image\]"),
    (np.zeros((48, 64), np.uint8), (4, 4), None, ValueError, "wrap one image as"),
    (np.zeros(64, np.uint8), (4, 4), None, ValueError, "wrap one image as"),
    # More rows than the resizes' int32 row taps reach (issue 27.1); a
    # broadcast view, nothing allocated.
    ([np.broadcast_to(GOOD[:1], (3 * 2**30 + 5, 8, 4))], (4, 4), None, ValueError,
     r"images\[0\] has 3221225477 rows; at most 2\*\*31 - 1 are supported"),
])
def test_bad_input(images, shape, out, error, match):
    with pytest.raises(error, match=match):
        preprocess_batch(images, shape, out=out)


def test_read_only_out():
    out = np.zeros((1, 1, 4, 4), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        preprocess_batch([GOOD], (4, 4), out=out)


# Pillow's and torch's filters (reference=): the placed pixels are the
# library's own, bit for bit; the normalization and layout are the kernel's.
def _pillow_placed(image, size, name, crop=None):
    from PIL import Image
    resized = np.asarray(Image.fromarray(image).resize(
        size, getattr(Image.Resampling, name.upper())))
    if crop is None:
        return resized
    top, left = (resized.shape[0] - crop[0]) // 2, (resized.shape[1] - crop[1]) // 2
    return resized[top:top + crop[0], left:left + crop[1]]


@pytest.mark.parametrize("name", ["nearest", "bilinear", "bicubic", "lanczos", "box"])
def test_pillow_filters_place_pillows_pixels(rng, name):
    images = [rng.integers(0, 256, shape, np.uint8) for shape in
              [(300, 200, 3), (97, 500, 3), (224, 224, 3), (5, 3, 3)]]
    stretched = preprocess_batch(images, (64, 80), color="rgb", normalize="none",
                                 dtype=np.uint8, layout="nhwc", interpolation=name,
                                 reference="pillow")
    cropped = preprocess_batch(images, (224, 224), color="rgb", normalize="none",
                               dtype=np.uint8, layout="nhwc", interpolation=name,
                               reference="pillow", resize="shortest_edge", edge=256)
    for i, image in enumerate(images):
        np.testing.assert_array_equal(stretched[i], _pillow_placed(image, (80, 64), name))
        rows, cols = image.shape[:2]
        size = ((256, int(256 * rows / cols)) if cols <= rows
                else (int(256 * cols / rows), 256))
        np.testing.assert_array_equal(cropped[i], _pillow_placed(image, size, name, (224, 224)))


def test_pillow_filters_normalize_and_map_back(rng):
    image = rng.integers(0, 256, (120, 90, 3), np.uint8)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    result = preprocess_batch([image], (48, 48), color="bgr", mean=mean, std=std,
                              scale=1 / 255, interpolation="bicubic", reference="pillow",
                              resize="shortest_edge", return_transforms=True)
    pixels = _pillow_placed(image, (48, 64), "bicubic", (48, 48))[:, :, ::-1]
    expected = (pixels / 255 - np.array(mean)) / np.array(std)  # mean, std in output order
    np.testing.assert_allclose(result.tensor[0].transpose(1, 2, 0), expected, atol=1e-5)
    # The transform maps the tensor back onto the whole image.
    np.testing.assert_allclose(result.to_image(0, [[0, 0], [48, 48]]),
                               [[0, 15], [90, 105]])


def test_reference_and_interpolation_checked():
    with pytest.raises(ValueError, match="reference"):
        preprocess_batch([GOOD], (4, 4), reference="cv2")
    with pytest.raises(ValueError, match="interpolation"):
        preprocess_batch([GOOD], (4, 4), interpolation="lanczos")
    with pytest.raises(ValueError, match="interpolation"):
        preprocess_batch([GOOD], (4, 4), interpolation="lanczos", reference="torch")
    with pytest.raises(ValueError, match="edge"):
        preprocess_batch([GOOD], (4, 4), resize="shortest_edge", edge=0)
