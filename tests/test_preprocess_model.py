"""preprocess_batch's model-input options: against a NumPy reference built on
the separate kernels, against OpenCV's blobFromImagesWithParams, across
variants, and on bad input."""
from dataclasses import replace

import numpy as np
import pytest

from scipix.optimize import _dispatch
from scipix.optimize.parallel import BatchResult, preprocess_batch

from oracles import blob_reference, strided_crop
from variants import REFERENCE, RUNNABLE, family_modules, names

cv2 = pytest.importorskip("cv2")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DNN_LAYOUT_NHWC = 4  # cv2.dnn.DataLayout; the Python binding exports no name for it


def colour_images(rng):
    """Different sizes and channel counts, strided crops, a flipped image."""
    return [strided_crop(rng, (97, 131), 3), strided_crop(rng, (40, 60), 4),
            strided_crop(rng, (60, 45)), rng.integers(0, 256, (64, 80, 3), np.uint8)[::-1]]


def fixed(mean, std, scale, channels=3):
    """The (shift, factor) preprocess_batch derives from mean, std and scale."""
    mean = np.broadcast_to(np.float64(mean), (channels,))
    std = np.broadcast_to(np.float64(std), (channels,))
    return (mean / scale).astype(np.float32), (scale / std).astype(np.float32)


def opencv_params(shape, mean, std, scale, *, swap_rb, layout="nchw", mode=None, border=None):
    """Image2BlobParams for (v * scale - mean) / std: OpenCV's (v - mean') * scalefactor."""
    params = cv2.dnn.Image2BlobParams()
    shift, factor = fixed(mean, std, scale)
    params.scalefactor = tuple(float(f) for f in factor)
    params.mean = tuple(float(s) for s in shift)
    params.size = (shape[1], shape[0])
    params.swapRB = swap_rb
    if layout == "nhwc":
        params.datalayout = DNN_LAYOUT_NHWC
    if mode is not None:
        params.paddingmode = mode
    if border is not None:
        params.borderValue = border
    return params


def use_image_kernels(monkeypatch, module):
    """Make ``module`` the image kernels that the public functions call."""
    monkeypatch.setattr(_dispatch, "KERNELS", replace(_dispatch.KERNELS, image=module))
    monkeypatch.setattr(_dispatch, "REFERENCE_KERNELS",
                        replace(_dispatch.REFERENCE_KERNELS, image=module))


def placement_of(result, images):
    """(rows, cols, top, left) of each image, from the reported transforms."""
    scale_x, scale_y, offset_x, offset_y = result.transforms.T
    rows = [round(im.shape[0] * s) for im, s in zip(images, scale_y)]
    cols = [round(im.shape[1] * s) for im, s in zip(images, scale_x)]
    return np.column_stack([rows, cols, offset_y, offset_x]).astype(np.int64)


# ------------------------------------------------------------ NumPy reference

@pytest.mark.parametrize("color, input_order", [("rgb", "rgb"), ("bgr", "rgb"), ("rgb", "bgr"),
                                                ("gray", "bgr"), ("gray", "rgb")])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("shape", [(48, 64), (130, 70), (1, 1)])
def test_fixed_normalization_matches_reference(rng, color, input_order, layout, shape):
    images = colour_images(rng)
    channels = 1 if color == "gray" else 3
    shift, factor = fixed(IMAGENET_MEAN[:channels], IMAGENET_STD[:channels], 1 / 255, channels)
    got = preprocess_batch(images, shape, color=color, input_order=input_order,
                           mean=IMAGENET_MEAN[:channels], std=IMAGENET_STD[:channels],
                           scale=1 / 255, layout=layout)
    expected = blob_reference(images, shape, color=color, input_order=input_order, shift=shift,
                              factor=factor, layout=layout)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("resize", ["letterbox", "crop_center"])
@pytest.mark.parametrize("anchor", ["center", "top_left"])
@pytest.mark.parametrize("interpolation", ["auto", "bilinear"])
def test_aspect_keeping_modes_match_reference(rng, resize, anchor, interpolation):
    images = colour_images(rng)
    shape = (56, 72)
    result = preprocess_batch(images, shape, color="rgb", mean=0.5, std=0.5, scale=1 / 255,
                              resize=resize, anchor=anchor, pad_value=(114, 0, 255),
                              interpolation=interpolation, return_transforms=True)
    assert isinstance(result, BatchResult)
    placement = placement_of(result, images)
    if resize == "letterbox":
        # The whole image fits, touching two opposite sides.
        assert (placement[:, 2] >= 0).all() and (placement[:, 3] >= 0).all()
        assert ((placement[:, 0] == shape[0]) | (placement[:, 1] == shape[1])).all()
        if anchor == "top_left":
            assert (placement[:, 2:] == 0).all()
    else:
        assert (placement[:, 2:] <= 0).all()
        assert ((placement[:, 0] >= shape[0]) & (placement[:, 1] >= shape[1])).all()
    shift, factor = fixed(0.5, 0.5, 1 / 255)
    expected = blob_reference(images, shape, color="rgb", shift=shift, factor=factor,
                              placement=placement, pad=(114, 0, 255),
                              bilinear=interpolation == "bilinear")
    np.testing.assert_array_equal(result.tensor, expected)


def test_standardize_colour_matches_reference(rng):
    images = colour_images(rng)
    result = preprocess_batch(images, (40, 50), color="bgr", resize="letterbox",
                              return_transforms=True)
    expected = blob_reference(images, (40, 50), color="bgr",
                              placement=placement_of(result, images))
    np.testing.assert_array_equal(result.tensor, expected)


def test_default_is_gray_standardized(rng):
    images = colour_images(rng)
    np.testing.assert_array_equal(preprocess_batch(images, (30, 20)),
                                  blob_reference(images, (30, 20)))


# ------------------------------------------------------------ dtypes

@pytest.mark.parametrize("name, module", family_modules("image"),
                         ids=names(family_modules("image")))
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("scale", [1 / 255, 1e-7, 300.0])
def test_float16_is_float32_rounded_to_nearest_even(monkeypatch, name, module, rng, layout,
                                                   scale):
    # scale 1e-7 puts every value in float16's subnormal range, 300 beyond
    # its largest finite value (inf).
    use_image_kernels(monkeypatch, module)
    images = colour_images(rng)
    options = dict(color="rgb", mean=(0.1, 0.0, 1e-6), std=(1.0, 0.5, 2.0), scale=scale,
                   layout=layout, resize="letterbox", pad_value=7)
    wide = preprocess_batch(images, (33, 61), **options)
    half = preprocess_batch(images, (33, 61), dtype=np.float16, **options)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(half.view(np.uint16),
                                      wide.astype(np.float16).view(np.uint16))


def test_uint8_rounds_half_to_even_and_clamps(rng):
    images = colour_images(rng)
    raw = preprocess_batch(images, (20, 30), color="bgr", input_order="bgr", dtype=np.uint8,
                           layout="nhwc")
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, blob_reference(images, (20, 30), color="bgr",
                                                      input_order="bgr", shift=np.zeros(3),
                                                      factor=np.ones(3), layout="nhwc",
                                                      dtype=np.uint8))
    halved = preprocess_batch(images, (20, 30), color="rgb", dtype=np.uint8, scale=0.5,
                              mean=(-100, 0, 10))
    shift, factor = fixed((-100, 0, 10), 1, 0.5)
    np.testing.assert_array_equal(halved, blob_reference(images, (20, 30), color="rgb",
                                                         shift=shift, factor=factor,
                                                         dtype=np.uint8))


def test_same_size_uint8_nhwc_is_the_image(rng):
    image = strided_crop(rng, (30, 40), 3)
    out = preprocess_batch([image], (30, 40), color="bgr", input_order="bgr", layout="nhwc",
                           dtype=np.uint8)
    np.testing.assert_array_equal(out[0], image)


# ------------------------------------------------------------ OpenCV parity

@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize("swap_rb", [False, True])
def test_same_size_equals_opencv_blob(rng, layout, swap_rb):
    # No resize on either side: identical float32 arithmetic, identical bits.
    images = [rng.integers(0, 256, (45, 67, 3), np.uint8) for _ in range(3)]
    params = opencv_params((45, 67), IMAGENET_MEAN, IMAGENET_STD, 1 / 255, swap_rb=swap_rb,
                           layout=layout)
    ours = preprocess_batch(images, (45, 67), color="rgb" if swap_rb else "bgr",
                            input_order="bgr", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                            scale=1 / 255, layout=layout)
    np.testing.assert_array_equal(ours, cv2.dnn.blobFromImagesWithParams(images, params))


RESIZE_BOUND = 1.0  # pixel levels: our INTER_LINEAR is within 1 of OpenCV's


@pytest.mark.parametrize("mode, resize", [(None, "stretch"),
                                          ("DNN_PMODE_LETTERBOX", "letterbox"),
                                          ("DNN_PMODE_CROP_CENTER", "crop_center")])
@pytest.mark.parametrize("src_shape, shape", [((50, 70), (100, 90)), ((300, 200), (96, 128)),
                                              ((40, 80), (20, 20)), ((64, 64), (32, 32))])
def test_resized_within_one_level_of_opencv_blob(rng, mode, resize, src_shape, shape):
    """OpenCV resizes with INTER_LINEAR: interpolation="bilinear" is within
    one pixel level of it (times the channel's factor), plus float32
    rounding.  A centre crop resizes by OpenCV's float factor, ours by the
    size ratio: the cases here have the two equal."""
    images = [rng.integers(0, 256, src_shape + (3,), np.uint8) for _ in range(2)]
    border = (114, 20, 0)
    params = opencv_params(shape, IMAGENET_MEAN, IMAGENET_STD, 1 / 255, swap_rb=True,
                           mode=None if mode is None else getattr(cv2.dnn, mode),
                           border=border + (0,))
    ours = preprocess_batch(images, shape, color="rgb", input_order="bgr", mean=IMAGENET_MEAN,
                            std=IMAGENET_STD, scale=1 / 255, resize=resize,
                            pad_value=border[::-1], interpolation="bilinear")
    theirs = cv2.dnn.blobFromImagesWithParams(images, params)
    bound = RESIZE_BOUND * np.float32(1 / 255) / np.array(IMAGENET_STD)[:, None, None] + 1e-5
    assert ours.shape == theirs.shape
    assert (np.abs(ours - theirs) <= bound).all()


# ------------------------------------------------------------ variants, threads

@pytest.mark.parametrize("name, module", family_modules("image", RUNNABLE),
                         ids=names(RUNNABLE))
def test_options_bit_exact_across_variants(monkeypatch, name, module, rng):
    images = colour_images(rng)
    cases = [dict(color="rgb", mean=IMAGENET_MEAN, std=IMAGENET_STD, scale=1 / 255),
             dict(color="bgr", layout="nhwc", dtype=np.float16, resize="letterbox"),
             dict(color="gray", resize="crop_center", dtype=np.uint8, input_order="bgr")]
    for options in cases:
        results = []
        for kernels in (module, REFERENCE.image):
            use_image_kernels(monkeypatch, kernels)
            results.append(preprocess_batch(images, (37, 29), **options))
        np.testing.assert_array_equal(*results)


def test_images_per_thread_and_bands_agree(rng):
    images = [rng.integers(0, 256, (300, 400, 3), np.uint8) for _ in range(5)]
    options = dict(color="rgb", mean=0.5, std=0.25, scale=1 / 255, resize="letterbox",
                   layout="nhwc")
    together = preprocess_batch(images, (96, 96), **options)
    one_by_one = np.concatenate([preprocess_batch([im], (96, 96), **options) for im in images])
    np.testing.assert_array_equal(together, one_by_one)


def test_out_is_filled_and_returned(rng):
    images = colour_images(rng)
    out = np.full((4, 24, 24, 3), 9, np.float16)
    result = preprocess_batch(images, (24, 24), color="rgb", layout="nhwc", dtype=np.float16,
                              out=out)
    assert result is out
    np.testing.assert_array_equal(out, preprocess_batch(images, (24, 24), color="rgb",
                                                        layout="nhwc", dtype=np.float16))


def test_transforms_map_points_back(rng):
    page = rng.integers(0, 256, (200, 100, 3), np.uint8)
    result = preprocess_batch([page], (64, 64), color="rgb", resize="letterbox",
                              return_transforms=True)
    scale_x, scale_y, offset_x, offset_y = result.transforms[0]
    assert scale_x == scale_y == 64 / 200 * 1.0 and offset_y == 0 and offset_x == 16
    np.testing.assert_allclose(result.to_image(0, [[16, 0], [48, 64]]), [[0, 0], [100, 200]])


# ------------------------------------------------------------ bad input

GOOD = np.zeros((8, 8, 3), np.uint8)


@pytest.mark.parametrize("options, error, match", [
    (dict(color="rgb", mean=(1, 2)), ValueError, "mean must have 1 or 3 values"),
    (dict(color="rgb", std=(1, 2, 3, 4)), ValueError, "std must have 1 or 3 values"),
    (dict(std=0), ValueError, "std must be positive"),
    (dict(color="rgb", std=(1, -1, 1)), ValueError, "std must be positive"),
    (dict(mean=float("nan")), ValueError, "mean must be finite"),
    (dict(scale=0), ValueError, "scale must be non-zero"),
    # Parameters whose float32 values overflow (issue 27.11).
    (dict(std=1e-39), ValueError, "scale / std must be a finite non-zero float32"),
    (dict(scale=1e-46), ValueError, "scale / std must be a finite non-zero float32"),
    (dict(scale=1e-39, mean=0.5), ValueError, "mean / scale overflows float32"),
    (dict(color="rgb", std=(1, 1, 1e-37)), ValueError,
     r"map pixel values in \[0, 255\] beyond float32's range"),
    (dict(mean="a"), TypeError, "mean must be a number"),
    (dict(normalize="standardize", mean=0.5), ValueError, "apply to normalize='fixed'"),
    (dict(normalize="zscore"), ValueError, "normalize must be one of"),
    (dict(dtype=np.uint8, normalize="standardize"), ValueError, "dtype uint8 cannot take"),
    (dict(dtype=np.float64), TypeError, "dtype must be float32, float16 or uint8"),
    (dict(dtype="banana"), TypeError, "dtype must be"),
    (dict(color="RGB"), ValueError, "color must be one of"),
    (dict(input_order="rbg"), ValueError, "input_order must be one of"),
    (dict(resize="fill"), ValueError, "resize must be one of"),
    (dict(anchor="bottom"), ValueError, "anchor must be one of"),
    (dict(layout="chw"), ValueError, "layout must be one of"),
    (dict(interpolation="cubic"), ValueError, "interpolation must be one of"),
    (dict(pad_value=256), ValueError, r"pad_value must be in \[0, 255\]"),
    (dict(color="rgb", pad_value=(1, 2)), ValueError, "pad_value must have 1 or 3 values"),
])
def test_bad_options_name_the_argument_and_leave_out_untouched(options, error, match):
    channels = 3 if options.get("color") in ("rgb", "bgr") else 1
    dtype = options.get("dtype", np.float32)
    try:
        out = np.full((1, channels, 4, 4), 3, dtype)
    except TypeError:
        out = None
    with pytest.raises(error, match=match):
        preprocess_batch([GOOD], (4, 4), out=out, **options)
    if out is not None:
        assert (out == 3).all()


@pytest.mark.parametrize("shape, match", [((0, 4), r"shape\[0\] must be positive"),
                                          ((4, 0), r"shape\[1\] must be positive")])
def test_zero_sizes_rejected(shape, match):
    with pytest.raises(ValueError, match=match):
        preprocess_batch([GOOD], shape)
    with pytest.raises(ValueError, match=r"images\[0\] is empty"):
        preprocess_batch([np.zeros((0, 5, 3), np.uint8)], (4, 4))


def test_out_of_the_wrong_layout_or_dtype_is_untouched():
    out = np.full((1, 4, 4, 3), 3, np.float32)
    with pytest.raises(ValueError, match=r"out must have shape \(1, 3, 4, 4\)"):
        preprocess_batch([GOOD], (4, 4), color="rgb", out=out)
    with pytest.raises(TypeError, match="out must have dtype float16"):
        preprocess_batch([GOOD], (4, 4), color="rgb", layout="nhwc", dtype=np.float16, out=out)
    assert (out == 3).all()


def test_tiny_images_in_aspect_modes(rng):
    # A 1-pixel-high strip letterboxed into a square still covers one row.
    strip = rng.integers(0, 256, (1, 500, 3), np.uint8)
    result = preprocess_batch([strip], (10, 10), color="rgb", resize="letterbox",
                              return_transforms=True)
    assert np.isfinite(result.tensor).all()
    result = preprocess_batch([strip], (10, 10), color="rgb", resize="crop_center",
                              return_transforms=True)
    assert np.isfinite(result.tensor).all()


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_same_size_reads_crops_and_flipped_images_in_place(rng, layout):
    # No resize: the kernel reads the source rows themselves (row strides
    # larger than the row, or negative).
    images = [strided_crop(rng, (30, 40), 3), rng.integers(0, 256, (30, 40, 4), np.uint8)[::-1],
              strided_crop(rng, (30, 40))]
    shift, factor = fixed(0.5, 0.25, 1 / 255)
    got = preprocess_batch(images, (30, 40), color="bgr", input_order="bgr", mean=0.5,
                           std=0.25, scale=1 / 255, layout=layout)
    np.testing.assert_array_equal(got, blob_reference(images, (30, 40), color="bgr",
                                                      input_order="bgr", shift=shift,
                                                      factor=factor, layout=layout))


@pytest.mark.parametrize("src_shape, shape, interpolation", [
    ((1, 200, 3), (40, 40), "auto"),       # enlarged: bilinear window
    ((300, 400, 3), (50, 50), "auto"),     # shrunk by 6: general area window
    ((200, 400, 4), (50, 50), "auto"),     # shrunk by 4: whole-factor area window
    ((100, 200, 3), (50, 50), "bilinear"),  # exact 2x: the 2x2 area path
    ((90, 70), (40, 30), "auto"),          # gray
])
def test_crop_center_is_the_full_resize_cropped(rng, src_shape, shape, interpolation):
    # Only the part that lands in the output is resized (issue 27.14): each
    # value as the whole covering resize gives it.
    from scipix.optimize.simd import fast_area_resize, simd_resize_bilinear
    image = rng.integers(0, 256, src_shape, np.uint8)
    color = "gray" if image.ndim == 2 else "rgb"
    result = preprocess_batch([image], shape, color=color, resize="crop_center",
                              interpolation=interpolation, dtype=np.uint8, layout="nhwc",
                              return_transforms=True)
    rows, cols = round(src_shape[0] * result.transforms[0, 1]), round(
        src_shape[1] * result.transforms[0, 0])
    top, left = -int(result.transforms[0, 3]), -int(result.transforms[0, 2])
    shrink = rows <= src_shape[0] and cols <= src_shape[1] and interpolation == "auto"
    covering = (fast_area_resize if shrink else simd_resize_bilinear)(image, cols, rows)
    expected = covering[top:top + shape[0], left:left + shape[1]]
    if expected.ndim == 2:
        expected = expected[:, :, None]
    np.testing.assert_array_equal(result.tensor[0], expected[:, :, :1 if color == "gray" else 3])


def test_crop_center_memory_is_the_output_size():
    # A 1 x 200 RGB strip to (512, 512) covers 512 x 102400 pixels (157 MB);
    # the output is 3 MB.  Peak resident memory in a fresh process.
    script = """
import resource
import numpy as np
from scipix.optimize.parallel import preprocess_batch
strip = np.zeros((1, 200, 3), np.uint8)
preprocess_batch([strip], (8, 8), color="rgb", resize="crop_center")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
preprocess_batch([strip], (512, 512), color="rgb", resize="crop_center")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    import subprocess
    import sys
    grown_kib = int(subprocess.run([sys.executable, "-c", script], check=True,
                                   capture_output=True, text=True).stdout)
    assert grown_kib < 40_000, f"peak memory grew by {grown_kib} KiB"
