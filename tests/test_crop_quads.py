"""crop_quads: against a float64 NumPy oracle of its definition (the upright
crop sampled from the page, then resized), against OpenCV's two steps
(perspective warp, then resize), bit-exact across variants, and its argument
checks."""
import math

import numpy as np
import pytest

from scipix.optimize import set_thread_count, get_thread_count
from scipix.optimize.parallel import crop_quads, crop_widths
from scipix.optimize.parallel import _crops

from variants import REFERENCE

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is a test dependency")

# Against OpenCV's warp + resize on rendered text lines, in gray levels:
# the mean |difference| over one line, over all lines, and any one value.
# OpenCV rounds the crop to 8 bits and resizes with 11-bit weights; scipix
# keeps float32 throughout.  (Measured on 200 random rotated lines: worst
# line 0.31, all lines 0.30, largest single value 1.24, bilinear and cubic
# alike.)
TWO_STEP_LINE_MEAN = 0.5
TWO_STEP_MEAN = 0.4
TWO_STEP_PEAK = 2.0
# The oracle differs by the float32 weights and sums only (measured: 6e-5
# bilinear, 3.4e-4 cubic).
ORACLE_ATOL = 1e-3


def text_page(rng, size=(260, 420), angle=3.0):
    """A BGR page of rendered text lines, rotated a little."""
    pil = pytest.importorskip("PIL.Image")
    draw_mod = pytest.importorskip("PIL.ImageDraw")
    font_mod = pytest.importorskip("PIL.ImageFont")
    try:
        font = font_mod.truetype("DejaVuSans.ttf", 20)
    except OSError:
        font = font_mod.load_default()
    page = pil.new("RGB", size[::-1], (250, 248, 240))
    draw = draw_mod.Draw(page)
    for i in range(size[0] // 40):
        draw.text((12, 10 + 40 * i), "Sphinx of black quartz 0123", fill=(20, 30, 60), font=font)
    page = page.rotate(angle, resample=pil.BICUBIC, fillcolor=(250, 248, 240))
    pixels = np.asarray(page)[:, :, ::-1].copy()
    noise = rng.normal(0, 4, pixels.shape)
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


def random_quads(rng, n, page_shape, tall=False):
    """Rotated rectangles with integer corners, some partly outside the page."""
    quads = []
    for _ in range(n):
        w, h = rng.uniform(30, 380), rng.uniform(10, 60)
        if tall:
            w, h = h, w
        angle = rng.uniform(-0.3, 0.3)
        c, s = math.cos(angle), math.sin(angle)
        corners = np.array([[0, 0], [w, 0], [w, h], [0, h]]) @ np.array([[c, s], [-s, c]])
        origin = [rng.uniform(-20, page_shape[1] - 60), rng.uniform(-10, page_shape[0] - 20)]
        quads.append(np.round(corners + origin))
    return np.array(quads, np.float32)


def crop_size(quad):
    """get_rotate_crop_image's crop size (RapidOCR 1.4.4)."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    return width, height


def two_step(image, quad, height, flag):
    """OpenCV's warp (RapidOCR's get_rotate_crop_image) then resize, float32 CHW."""
    width, crop_h = crop_size(quad)
    corners = np.float32([[0, 0], [width, 0], [width, crop_h], [0, crop_h]])
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), corners)
    crop = cv2.warpPerspective(image, matrix, (width, crop_h), flags=flag,
                               borderMode=cv2.BORDER_REPLICATE)
    if crop.shape[0] / crop.shape[1] >= 1.5:
        crop = np.rot90(crop)
    resized_w = math.ceil(height * (crop.shape[1] / crop.shape[0]))
    resized = cv2.resize(np.ascontiguousarray(crop), (resized_w, height))
    return resized.reshape(height, resized_w, -1).astype(np.float32).transpose(2, 0, 1)


def cubic_weights(t):
    a = -0.75
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1
    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def sample_page(pixels, sx, sy, cubic):
    """Bilinear or bicubic (clipped to [0, 255]) values of ``pixels`` at
    page positions (sx, sy), the border replicated, float64, shape (..., C)."""
    sx = np.clip(sx, -4, pixels.shape[1] + 3)
    sy = np.clip(sy, -4, pixels.shape[0] + 3)
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    if cubic:
        offsets, wx, wy = np.arange(-1, 3), cubic_weights(fx), cubic_weights(fy)
    else:
        offsets = np.arange(2)
        wx, wy = np.stack([1 - fx, fx], axis=-1), np.stack([1 - fy, fy], axis=-1)
    total = 0.0
    for j, dy in enumerate(offsets):
        rows = np.clip(y0 + dy, 0, pixels.shape[0] - 1).astype(int)
        for i, dx in enumerate(offsets):
            cols = np.clip(x0 + dx, 0, pixels.shape[1] - 1).astype(int)
            total = total + pixels[rows, cols] * (wx[..., i] * wy[..., j])[..., None]
    return np.clip(total, 0, 255) if cubic else total


def resize_taps(size, length):
    """cv2.resize's bilinear taps along one axis: indices and weights."""
    at = np.clip((np.arange(size) + 0.5) * (length / size) - 0.5, 0, length - 1)
    low = np.floor(at).astype(int)
    return low, np.minimum(low + 1, length - 1), at - low


def oracle(image, quad, height, cubic=False, upright=True, max_width=None):
    """crop_quads' definition in float64, gray levels, shape (C, height, width):
    the upright crop's pixels sampled from the page, then resized bilinearly.
    Only the crop pixels the resize reads are sampled (crops may be huge)."""
    pixels = image.reshape(image.shape[0], image.shape[1], -1).astype(np.float64)
    crop_w, crop_h = crop_size(quad)
    corners = np.float32([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]])
    to_crop = cv2.getPerspectiveTransform(quad.astype(np.float32), corners)
    to_page = np.linalg.inv(to_crop)
    turned = upright and crop_h / crop_w >= 1.5
    up_w, up_h = (crop_h, crop_w) if turned else (crop_w, crop_h)
    width = math.ceil(height * (up_w / up_h))
    if max_width is not None:
        width = min(width, max_width)
    left, right, a = resize_taps(width, up_w)
    top, bottom, b = resize_taps(height, up_h)

    def crop(rows, columns):
        u, v = np.meshgrid(columns.astype(np.float64), rows.astype(np.float64))
        x, y = (crop_w - 1 - v, u) if turned else (u, v)
        page = np.einsum("ij,jhw->ihw", to_page, np.stack([x, y, np.ones_like(x)]))
        return sample_page(pixels, page[0] / page[2], page[1] / page[2], cubic)

    def across(rows):
        return crop(rows, left) * (1 - a)[:, None] + crop(rows, right) * a[:, None]

    resized = across(top) * (1 - b)[:, None, None] + across(bottom) * b[:, None, None]
    return resized.transpose(2, 0, 1)


@pytest.fixture
def page(rng):
    return text_page(rng)


@pytest.mark.parametrize("interpolation", ["bilinear", "cubic"])
@pytest.mark.parametrize("height", [48, 5, 100])  # crops enlarged, reduced (taps skip rows)
def test_matches_oracle(rng, page, interpolation, height):
    quads = np.concatenate([random_quads(rng, 12, page.shape),
                            random_quads(rng, 4, page.shape, tall=True)])
    out, widths = crop_quads(page, quads, height, interpolation=interpolation, scale=1.0)
    for i, quad in enumerate(quads):
        expected = oracle(page, quad, height, cubic=interpolation == "cubic")
        assert widths[i] == expected.shape[2]
        np.testing.assert_allclose(out[i, :, :, :widths[i]], expected, rtol=0,
                                   atol=ORACLE_ATOL, err_msg=f"line {i}")
        assert not out[i, :, :, widths[i]:].any()


@pytest.mark.parametrize("interpolation, flag", [("bilinear", cv2.INTER_LINEAR),
                                                 ("cubic", cv2.INTER_CUBIC)])
def test_within_stated_bound_of_opencv_two_steps(rng, page, interpolation, flag):
    quads = np.concatenate([random_quads(rng, 30, page.shape),
                            random_quads(rng, 6, page.shape, tall=True)])
    out, widths = crop_quads(page, quads, 48, interpolation=interpolation, scale=1.0)
    means = []
    for i, quad in enumerate(quads):
        expected = two_step(page, quad, 48, flag)
        assert widths[i] == expected.shape[2]
        difference = np.abs(out[i, :, :, :widths[i]] - expected)
        assert difference.max() <= TWO_STEP_PEAK, f"line {i}"
        means.append(difference.mean())
    assert max(means) <= TWO_STEP_LINE_MEAN
    assert np.mean(means) <= TWO_STEP_MEAN


def test_pp_ocr_normalization_and_channel_order(rng, page):
    quads = random_quads(rng, 5, page.shape)
    plain, _ = crop_quads(page, quads, 48, scale=1.0)
    normalized, _ = crop_quads(page, quads, 48, mean=0.5, std=0.5)
    widths = crop_quads(page, quads, 48)[1]
    for i, w in enumerate(widths):
        np.testing.assert_allclose(normalized[i, :, :, :w], (plain[i, :, :, :w] / 255 - 0.5) / 0.5,
                                   rtol=1e-6, atol=1e-6)
    swapped, _ = crop_quads(page, quads, 48, scale=1.0, input_order="bgr", color="rgb")
    np.testing.assert_array_equal(swapped, plain[:, ::-1])
    gray, _ = crop_quads(page, quads, 48, scale=1.0, input_order="bgr", color="gray")
    luma = 0.114 * plain[:, 0] + 0.587 * plain[:, 1] + 0.299 * plain[:, 2]
    np.testing.assert_allclose(gray[:, 0], luma, atol=1e-3)
    single, _ = crop_quads(np.ascontiguousarray(page[:, :, 1]), quads, 48, scale=1.0)
    np.testing.assert_array_equal(single, np.repeat(plain[:, 1:2], 3, axis=1))
    per_channel, _ = crop_quads(page, quads, 48, mean=[0.1, 0.2, 0.3], std=[0.5, 1.0, 2.0])
    for c, (m, s) in enumerate([(0.1, 0.5), (0.2, 1.0), (0.3, 2.0)]):
        np.testing.assert_allclose(per_channel[0, c, :, :widths[0]],
                                   (plain[0, c, :, :widths[0]] / 255 - m) / s, atol=1e-5)


def test_orientation_and_upright(page):
    box = np.array([[40, 20], [300, 20], [300, 60], [40, 60]], np.float32)
    upright, _ = crop_quads(page, [box], 48, scale=1.0)
    # The same box from its bottom-right corner: the crop upside down (the
    # quad's far corners are at pixel w, h, so shifted by one pixel).
    flipped, widths = crop_quads(page, [box[[2, 3, 0, 1]]], 48, scale=1.0)
    np.testing.assert_allclose(flipped[0], oracle(page, box[[2, 3, 0, 1]], 48), atol=ORACLE_ATOL)
    assert np.abs(flipped[0, :, 2:-2, 2:-2] - upright[0, :, ::-1, ::-1][:, 2:-2, 2:-2]).mean() < 20
    # A tall box is turned: top-right, bottom-right, bottom-left, top-left
    # order walks the text upwards, so the turned crop reads as the line.
    tall = np.array([[60, 30], [100, 30], [100, 230], [60, 230]], np.float32)
    turned, widths = crop_quads(page, [tall], 48, scale=1.0)
    kept, kept_widths = crop_quads(page, [tall], 48, scale=1.0, upright=False)
    assert widths[0] == math.ceil(48 * 200 / 40) and kept_widths[0] == math.ceil(48 * 40 / 200)
    np.testing.assert_allclose(turned[0, :, :, :widths[0]], oracle(page, tall, 48),
                               atol=ORACLE_ATOL)
    np.testing.assert_allclose(kept[0, :, :, :kept_widths[0]],
                               oracle(page, tall, 48, upright=False), atol=ORACLE_ATOL)


def test_quads_outside_the_page_replicate_the_border(page):
    beyond = np.array([[-50, -30], [200, -30], [200, 20], [-50, 20]], np.float32)
    out, widths = crop_quads(page, [beyond], 32, scale=1.0)
    np.testing.assert_allclose(out[0, :, :, :widths[0]], oracle(page, beyond, 32),
                               atol=ORACLE_ATOL)
    far = np.array([[5000, 5000], [5100, 5000], [5100, 5020], [5000, 5020]], np.float32)
    out, _ = crop_quads(page, [far], 16, scale=1.0)
    np.testing.assert_allclose(out[0], np.broadcast_to(page[-1, -1].astype(np.float32)[:, None, None],
                                                       out[0].shape), atol=1e-3)


def test_bit_exact_across_variants_and_threads(warp_kernels, rng, page):
    quads = np.concatenate([random_quads(rng, 20, page.shape),
                            random_quads(rng, 5, page.shape, tall=True)])
    image = page[3:-5, 7:]  # strided rows
    for interpolation in ("bilinear", "cubic"):
        expected, _ = crop_quads(image, quads, 48, interpolation=interpolation,
                                 mean=0.5, std=0.5)
        args = _kernel_args(image, quads, 48, mean=0.5, std=0.5)
        for n_threads in (1, 2, 3):
            reference = np.full_like(expected, np.nan)
            REFERENCE.warp.crop_quads(*args, interpolation == "cubic", reference, n_threads)
            result = np.full_like(expected, np.nan)
            warp_kernels.crop_quads(*args, interpolation == "cubic", result, n_threads)
            np.testing.assert_array_equal(result, reference)
            np.testing.assert_array_equal(result, expected)


def _kernel_args(image, quads, height, mean, std):
    """The kernel's (image, maps, widths, mix, bias) as the facade builds them."""
    points = _crops._as_quads(quads)
    crop_w, crop_h = _crops._crop_sizes(points)
    turned = crop_h / crop_w >= _crops.UPRIGHT_RATIO
    up_w, up_h = np.where(turned, crop_h, crop_w), np.where(turned, crop_w, crop_h)
    widths = np.ceil(height * (up_w / up_h)).astype(np.int64)
    maps = _crops._line_maps(_crops._homographies(points, crop_w, crop_h), crop_w, crop_h,
                             turned, height, widths)
    mix = (np.eye(3) / 255 / std).astype(np.float32)
    bias = np.full(3, -mean / std, np.float32)
    return image, maps, widths.astype(np.int32), mix, bias


# Images that take each of the kernel's paths: 1, 3 and 4 channels into 1
# or 3 planes, rows stored bottom-up (a negative stride) or one row repeated
# (stride 0), and images too small for the vector path's 8-byte loads
# (every tap clamped), down to one pixel.
LAYOUTS = {
    "gray": lambda page: (page[:, :, 1:2].copy(), "gray"),
    "gray_to_rgb": lambda page: (page[:, :, 1:2].copy(), "rgb"),
    "rgba": lambda page: (np.dstack([page, page[:, :, :1]]), "bgr"),
    "rgb_to_gray": lambda page: (page, "gray"),
    "rows_bottom_up": lambda page: (page[::-1], "bgr"),
    "tiny": lambda page: (page[:2, :2], "bgr"),
    "one_row": lambda page: (page[:1], "bgr"),
    "three_columns": lambda page: (page[:, :3], "bgr"),
    "one_pixel": lambda page: (page[:1, :1], "bgr"),
    "one_column": lambda page: (page[:, :1], "bgr"),
    "three_by_three_gray": lambda page: (page[:3, :3, 1:2].copy(), "gray"),
    "rows_repeated": lambda page: (np.broadcast_to(page[:1], page.shape), "bgr"),  # stride 0
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_bit_exact_across_variants_on_every_layout(warp_kernels, rng, page, layout):
    image, color = LAYOUTS[layout](page)
    quads = np.concatenate([random_quads(rng, 12, page.shape),
                            random_quads(rng, 3, page.shape, tall=True)])
    points = _crops._as_quads(quads)
    crop_w, crop_h, turned, widths = _crops._line_geometry(points, 48, None, True)
    maps = _crops._line_maps(_crops._homographies(points, crop_w, crop_h), crop_w, crop_h,
                             turned, 48, widths)
    mix = (_crops._channel_mix(image.shape[2], color, "bgr") / 127.5).astype(np.float32)
    bias = np.full(mix.shape[0], -1.0, np.float32)
    args = (image, maps, widths.astype(np.int32), mix, bias)
    shape = (len(quads), mix.shape[0], 48, int(widths.max()))
    for cubic in (False, True):
        reference = np.full(shape, np.nan, np.float32)
        REFERENCE.warp.crop_quads(*args, cubic, reference, 1)
        result = np.full(shape, np.nan, np.float32)
        warp_kernels.crop_quads(*args, cubic, result, 1)
        assert not np.isnan(reference).any()
        np.testing.assert_array_equal(result, reference)


# Lines at the edges of the kernel's paths, on the 260 x 420 test page:
# (quads, height, max_width).  Output rows of 1 to 3 (one or two crop rows
# read), crops of one pixel, one column (turned upright) or one row, lines
# capped by max_width, extreme perspective, quads far outside the page, and
# quads so large that only a few of their crop pixels are read, up to the
# largest crop the kernel's 32-bit indices reach.
_LINE = [[40, 20], [300, 24], [298, 60], [38, 57]]
_TALL = [[60, 30], [100, 30], [100, 230], [60, 230]]
_LIMIT = 2**31 - 128  # a crop side just under 2**31, exact in float32 (as cv2 takes quads)
GEOMETRIES = {
    "height_1": ([_LINE, _TALL], 1, None),
    "height_2": ([_LINE, _TALL], 2, None),
    "height_3": ([_LINE, _TALL], 3, None),
    "one_pixel_crop": ([[[10, 10], [11, 10], [11, 11], [10, 11]]], 48, None),
    "one_column_crop": ([[[10, 3], [11, 3], [11, 200], [10, 200]]], 32, 500),
    "one_row_crop": ([[[2, 10], [400, 10], [400, 11], [2, 11]]], 32, 500),
    "capped": ([_LINE, _TALL, [[0, 0], [419, 0], [419, 3], [0, 3]]], 48, 40),
    "capped_to_one_column": ([_LINE, _TALL], 48, 1),
    "perspective": ([[[0, 0], [419, 100], [419, 101], [0, 259]],
                     [[200, 0], [201, 0], [419, 259], [0, 259]]], 24, None),
    "far_outside": ([[[-5000, -3000], [-4000, -3000], [-4000, -2970], [-5000, -2970]],
                     [[1e5, 1e5], [1e5 + 300, 1e5], [1e5 + 300, 1e5 + 20], [1e5, 1e5 + 20]]],
                    24, None),
    "page_inside_the_quad": ([[[-1e6, -5e5], [1e6, -5e5], [1e6, 5e5], [-1e6, 5e5]]], 24, 64),
    "largest_crop": ([[[-2**30, -2**29], [_LIMIT - 2**30, -2**29],
                       [_LIMIT - 2**30, 2**29], [-2**30, 2**29]]], 24, 64),
}


@pytest.mark.parametrize("interpolation", ["bilinear", "cubic"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_edge_geometry_matches_oracle(page, geometry, interpolation):
    quads, height, max_width = GEOMETRIES[geometry]
    quads = np.array(quads, np.float64)
    cubic = interpolation == "cubic"
    out, widths = crop_quads(page, quads, height, max_width=max_width,
                             interpolation=interpolation, scale=1.0)
    for i, quad in enumerate(quads):
        expected = oracle(page, quad, height, cubic=cubic, max_width=max_width)
        assert widths[i] == expected.shape[2]
        np.testing.assert_allclose(out[i, :, :, :widths[i]], expected, rtol=0,
                                   atol=ORACLE_ATOL, err_msg=f"line {i}")
        assert not out[i, :, :, widths[i]:].any()


@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_bit_exact_across_variants_on_edge_geometry(warp_kernels, page, geometry):
    quads, height, max_width = GEOMETRIES[geometry]
    maps, widths = _line_args(np.array(quads, np.float64), height, max_width)
    mix = (np.eye(3) / 127.5).astype(np.float32)
    bias = np.full(3, -1.0, np.float32)
    shape = (len(quads), 3, height, max_width or int(widths.max()))
    for cubic in (False, True):
        reference = np.full(shape, np.nan, np.float32)
        REFERENCE.warp.crop_quads(page, maps, widths, mix, bias, cubic, reference, 1)
        for n_threads in (1, 2):
            result = np.full(shape, np.nan, np.float32)
            warp_kernels.crop_quads(page, maps, widths, mix, bias, cubic, result, n_threads)
            np.testing.assert_array_equal(result, reference)


def test_streamed_batch_bit_exact_across_variants(warp_kernels, page):
    # Over the kernel's streaming threshold (8 MiB), rows of an odd width so
    # that most start unaligned; into an out= that already holds a batch.
    quads = np.array([_LINE, _TALL, [[0, 10], [419, 12], [419, 15], [0, 13]]] * 10, np.float64)
    maps, widths = _line_args(quads, 47, 1499)
    mix = (np.eye(3) / 255).astype(np.float32)
    bias = np.zeros(3, np.float32)
    shape = (len(quads), 3, 47, 1499)
    assert np.prod(shape) * 4 >= 8 << 20
    for cubic in (False, True):
        reference = np.full(shape, np.nan, np.float32)
        REFERENCE.warp.crop_quads(page, maps, widths, mix, bias, cubic, reference, 1)
        result = np.full(shape, np.nan, np.float32)
        for n_threads in (1, 2):
            warp_kernels.crop_quads(page, maps, widths, mix, bias, cubic, result, n_threads)
            np.testing.assert_array_equal(result, reference)


def _line_args(quads, height, max_width):
    """The kernel's maps and widths for ``quads``, as the facade builds them."""
    crop_w, crop_h, turned, widths = _crops._line_geometry(quads, height, max_width, True)
    maps = _crops._line_maps(_crops._homographies(quads, crop_w, crop_h), crop_w, crop_h,
                             turned, height, widths)
    return maps, widths.astype(np.int32)


def test_kernel_rejects_sizes_beyond_its_32_bit_indices(warp_kernels, page):
    maps, widths = _line_args(np.array([_LINE], np.float64), 16, None)
    mix, bias = np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
    out = np.zeros((1, 3, 16, int(widths[0])), np.float32)
    for column, side in [(11, 2.0**31), (12, 2.0**31), (11, np.nan), (12, -1.0)]:
        bad = maps.copy()
        bad[0, column] = side - 1  # u_max or v_max: a crop side less one
        with pytest.raises(ValueError, match=r"maps\[0\] has a crop"):
            warp_kernels.crop_quads(page, bad, widths, mix, bias, False, out, 1)
    tall = np.broadcast_to(page[:1], (2**31, page.shape[1], 3))
    with pytest.raises(ValueError, match="image must have at most"):
        warp_kernels.crop_quads(tall, maps, widths, mix, bias, False, out, 1)
    assert not out.any()


def test_thread_count_does_not_change_the_result(rng, page):
    quads = random_quads(rng, 9, page.shape)
    before = get_thread_count()
    try:
        set_thread_count(1)
        one, _ = crop_quads(page, quads, 48)
        set_thread_count(2)
        two, _ = crop_quads(page, quads, 48)
    finally:
        set_thread_count(before)
    np.testing.assert_array_equal(one, two)


def test_out_and_max_width(rng, page):
    quads = random_quads(rng, 6, page.shape)
    fresh, widths = crop_quads(page, quads, 48)
    out = np.full((6, 3, 48, int(widths.max()) + 40), np.nan, np.float32)
    result, same_widths = crop_quads(page, quads, 48, out=out)
    assert result is out
    np.testing.assert_array_equal(same_widths, widths)
    np.testing.assert_array_equal(out[..., :fresh.shape[3]], fresh)
    assert not out[..., fresh.shape[3]:].any()
    capped, capped_widths = crop_quads(page, quads, 48, max_width=100)
    assert capped.shape == (6, 3, 48, 100)
    np.testing.assert_array_equal(capped_widths, np.minimum(widths, 100))
    empty, no_widths = crop_quads(page, np.zeros((0, 4, 2)), 48, max_width=64)
    assert empty.shape == (0, 3, 48, 64) and no_widths.shape == (0,)


BOX = [[10, 10], [110, 10], [110, 40], [10, 40]]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"quads": [[[0, 0], [1, 0], [1, 1]]]}, ValueError, "quads must have shape"),
    ({"quads": BOX}, ValueError, "wrap a single quad"),
    ({"quads": [BOX[:2] + [[np.nan, 1], [0, 1]]]}, ValueError, "non-finite"),
    ({"quads": [BOX, [[5, 5], [50, 5], [50, 5], [5, 5]]]}, ValueError, r"quads\[1\] is degenerate"),
    ({"quads": [BOX, [[5, 5], [5, 5], [5, 5], [5, 5]]]}, ValueError, r"quads\[1\] is degenerate"),
    ({"quads": [[[10, 10], [110, 40], [110, 10], [30, 45]]]}, ValueError, "not a convex"),
    ({"quads": [[[0, 0], [100, 0], [50, 0.001], [0, 40]]]}, ValueError, "not a convex"),
    ({"quads": "abc"}, TypeError, "quads"),
    ({"quads": [[[0, 0], [3e9, 0], [3e9, 10], [0, 10]]]}, ValueError, r"quads\[0\] is too large"),
    ({"quads": [BOX, [[0, 0], [1e20, 0], [1e20, 1e19], [0, 1e19]]]}, ValueError,
     r"quads\[1\] is too large"),
    ({"quads": [BOX, [[0, 0], [1e8, 0], [1e8, 1], [0, 1]]]}, ValueError,
     r"quads\[1\] gives a line 3200000000 columns wide at height 32.*max_width"),
    ({"height": 0}, ValueError, "height"),
    ({"height": 2.5}, TypeError, "height"),
    ({"max_width": 0}, ValueError, "max_width"),
    ({"mean": [0.5, 0.5]}, ValueError, "mean must be"),
    ({"std": [0.5, 0.5, 0.5, 0.5]}, ValueError, "std must be"),
    ({"std": 0.0}, ValueError, "std must be positive"),
    ({"std": [0.5, -1, 0.5]}, ValueError, "std must be positive"),
    ({"mean": np.inf}, ValueError, "mean must be finite"),
    ({"scale": 0.0}, ValueError, "scale"),
    ({"scale": "x"}, TypeError, "scale"),
    ({"interpolation": "nearest"}, ValueError, "interpolation"),
    ({"color": "rgba"}, ValueError, "color"),
    ({"input_order": "gbr"}, ValueError, "input_order"),
    ({"image": np.zeros((20, 20, 2), np.uint8)}, ValueError, "image"),
    ({"image": np.zeros((20, 20, 3), np.float32)}, TypeError, "image"),
    ({"image": np.broadcast_to(np.zeros((1, 20, 3), np.uint8), (2**31, 20, 3))}, ValueError,
     "image must have at most"),
])
def test_bad_input_names_the_argument_and_writes_nothing(page, kwargs, error, match):
    arguments = {"image": page, "quads": [BOX], "height": 32}
    arguments.update(kwargs)
    out = np.full((1, 3, 32, 200), 7.0, np.float32)
    with pytest.raises(error, match=match):
        crop_quads(arguments.pop("image"), arguments.pop("quads"), arguments.pop("height"),
                   out=out, **arguments)
    assert np.all(out == 7.0)


@pytest.mark.parametrize("out, match", [
    (np.zeros((1, 3, 32, 10), np.float32), "line 0 is 107 wide"),
    (np.zeros((1, 3, 32, 200), np.float64), "dtype float32"),
    (np.zeros((2, 3, 32, 200), np.float32), "shape"),
    (np.zeros((1, 1, 32, 200), np.float32), "shape"),
    (np.zeros((3, 32, 200), np.float32), "4-D"),
    (np.zeros((1, 3, 32, 400), np.float32)[..., ::2], "C-contiguous"),
])
def test_bad_out(page, out, match):
    before = out.copy()
    with pytest.raises((TypeError, ValueError), match=match):
        crop_quads(page, [BOX], 32, out=out)
    np.testing.assert_array_equal(out, before)


def test_crop_widths_past_int32_raise_instead_of_wrapping():
    """Issue 27.7: a quad 5e7 pixels long at height 48 gave -1894967296
    (the int64 width cast to int32 unchecked)."""
    long_quad = [[[0, 0], [5e7, 0], [5e7, 1], [0, 1]]]
    with pytest.raises(ValueError, match=r"quads\[0\] gives a line 2400000000 columns wide"):
        crop_widths(long_quad, 48)
    np.testing.assert_array_equal(crop_widths(long_quad, 48, max_width=100), [100])
    assert crop_widths([[[0, 0], [44739242, 0], [44739242, 1], [0, 1]]], 48)[0] == 2**31 - 1 - 31


def test_out_sharing_memory_with_the_page_gives_the_same_crops(rng, page):
    """Issue 27.8: out overlapping the page gave wrong crops (the kernel
    read page bytes it had already overwritten with lines)."""
    quads = random_quads(rng, 4, page.shape)
    expected, widths = crop_quads(page, quads, 32)
    batch_bytes = expected.nbytes
    memory = np.zeros(batch_bytes + page.nbytes, np.uint8)
    shared_page = memory[:page.nbytes].reshape(page.shape)  # the batch overwrites it
    shared_page[...] = page
    out = memory[:batch_bytes].view(np.float32).reshape(expected.shape)
    result, _ = crop_quads(shared_page, quads, 32, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)


def test_small_quad_far_from_the_origin_is_not_called_degenerate(page):
    """Issue 27.13: a 20x5 quad at 1e12 was 'degenerate (area 0)': the
    shoelace terms, about 1e24 each, cancelled."""
    far = np.array([[[0, 0], [20, 0], [20, 5], [0, 5]]]) + 1e12
    batch, widths = crop_quads(page, far, 8)
    assert widths.tolist() == [32]
    assert np.isfinite(batch).all()


def test_one_pixel_view_with_any_strides_is_accepted():
    """Issue 27.13: a one-pixel RGB view of an RGBA image (strides (4, 4, 1),
    C-contiguous to NumPy) was refused with advice to call
    numpy.ascontiguousarray, which returns it unchanged."""
    rgba = np.full((1, 1, 4), (10, 200, 30, 255), np.uint8)
    pixel = np.ascontiguousarray(rgba[:, :, :3])
    assert pixel.strides == (4, 4, 1)
    quads = [[[0, 0], [1, 0], [1, 1], [0, 1]]]
    np.testing.assert_array_equal(crop_quads(pixel, quads, 4)[0],
                                  crop_quads(np.array([[[10, 200, 30]]], np.uint8), quads, 4)[0])
