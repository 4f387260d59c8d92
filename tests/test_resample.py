"""scipix.optimize.simd.resample against Pillow itself, bit for bit, on every
variant and thread count; its bad-input contract."""
import os
import platform
import re
import shutil

import numpy as np
import pytest
from hypothesis import given, strategies as st
from PIL import Image, ImageDraw

from scipix.optimize import _dispatch, _resampling, local_thread_count
from scipix.optimize.simd import resample
from test_dispatch import disassembly

PILLOW = {"nearest": Image.Resampling.NEAREST, "box": Image.Resampling.BOX,
          "bilinear": Image.Resampling.BILINEAR, "hamming": Image.Resampling.HAMMING,
          "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
# Pillow 13 added John Costella's "magic kernels".
PILLOW.update({name: getattr(Image.Resampling, name.upper())
               for name in ("mks2013", "mks2021") if hasattr(Image.Resampling, name.upper())})
PILLOW_13 = int(Image.__version__.split(".")[0]) >= 13
MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def pillow_resize(pixels, width, height, name, box=None, mode=None):
    """What Pillow gives for ``pixels`` (H, W[, C]) as a ``mode`` image."""
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    image = Image.frombytes(mode or MODES[channels], pixels.shape[1::-1],
                            np.ascontiguousarray(pixels).tobytes())
    return np.asarray(image.resize((width, height), PILLOW[name], box=box))


def photo(rng, rows, cols, channels=3):
    """Smooth gradients with fine detail and noise, as a photograph has."""
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    base = 128 + 60 * np.sin(x / 7.3 + y / 11.0) + 40 * np.cos(x * y / 900.0)
    planes = [base, 255 - base, base * 0.5 + 60, 200 - base * 0.3][:channels]
    image = np.stack(planes, -1) + rng.normal(0, 12, (rows, cols, channels))
    return np.clip(image, 0, 255).astype(np.uint8)


def text_page(rows=120, cols=300):
    """Rendered black text on white: hard edges that ring under bicubic."""
    image = Image.new("RGB", (cols, rows), "white")
    draw = ImageDraw.Draw(image)
    for line in range(rows // 20):
        draw.text((4, 3 + 20 * line), "Hello scipix 0123 resample", fill=(0, 0, 0))
    return np.asarray(image)


def random_case(rng, channels):
    rows, cols = (int(n) for n in rng.integers(1, 90, 2))
    if channels == 1:
        pixels = rng.integers(0, 256, (rows, cols), np.uint8)
    else:
        pixels = rng.integers(0, 256, (rows, cols, channels), np.uint8)
        if channels in (2, 4):  # transparent, opaque and partly opaque pixels
            pixels[..., -1] = rng.choice([0, 1, 128, 254, 255], (rows, cols))
    width, height = (int(n) for n in rng.integers(1, 130, 2))
    return pixels, width, height


@pytest.mark.parametrize("name", list(PILLOW))
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_random_sizes_equal_pillow(rng, name, channels):
    for _ in range(12):
        pixels, width, height = random_case(rng, channels)
        np.testing.assert_array_equal(resample(pixels, width, height, name),
                                      pillow_resize(pixels, width, height, name))


@pytest.mark.parametrize("name", list(PILLOW))
def test_boxes_equal_pillow(rng, name):
    for channels in (1, 3, 4):
        for _ in range(6):
            pixels, width, height = random_case(rng, channels)
            rows, cols = pixels.shape[:2]
            left, upper = rng.uniform(0, cols * 0.7), rng.uniform(0, rows * 0.7)
            box = (left, upper, rng.uniform(left + 0.05, cols), rng.uniform(upper + 0.05, rows))
            np.testing.assert_array_equal(resample(pixels, width, height, name, box=box),
                                          pillow_resize(pixels, width, height, name, box))


@pytest.mark.parametrize("name", list(PILLOW))
def test_integer_crops_and_identity_equal_pillow(rng, name):
    # Pillow crops when the box is whole pixels of the output's size; an
    # RGBA crop still goes through premultiplied alpha and back.
    pixels = rng.integers(0, 256, (40, 50, 4), np.uint8)
    pixels[..., 3] = rng.choice([0, 3, 128, 255], (40, 50))
    for box, size in [((5, 7, 25, 37), (20, 30)), ((0, 0, 50, 40), (50, 40)),
                      ([0, 0, 50, 40], (50, 40)), ((0.5, 0, 20.5, 40), (20, 40))]:
        np.testing.assert_array_equal(resample(pixels, *size, name, box=box),
                                      pillow_resize(pixels, *size, name, box))


@pytest.mark.parametrize("name", ["bilinear", "bicubic", "lanczos"])
def test_photographs_and_text_equal_pillow(rng, name):
    page, picture = text_page(), photo(rng, 301, 217)
    for pixels, sizes in [(page, [(224, 224), (97, 41), (640, 256), (300, 7)]),
                          (picture, [(224, 298), (73, 500), (1, 1), (434, 603)])]:
        for width, height in sizes:
            np.testing.assert_array_equal(resample(pixels, width, height, name),
                                          pillow_resize(pixels, width, height, name))


@pytest.mark.parametrize("name", ["box", "bilinear", "bicubic", "lanczos"])
def test_extreme_ratios_equal_pillow(rng, name):
    # A 1000x shrink (one output pixel sums 1000s of taps) and a 50x
    # enlargement, on each axis and on both.
    long_row = rng.integers(0, 256, (3, 3000, 3), np.uint8)
    tall = rng.integers(0, 256, (2000, 2), np.uint8)
    tiny = rng.integers(0, 256, (3, 4, 3), np.uint8)
    for pixels, width, height in [(long_row, 3, 3), (long_row, 3, 150), (tall, 100, 2),
                                  (tiny, 200, 150), (tiny, 1, 150), (tiny[:1, :1], 50, 50)]:
        np.testing.assert_array_equal(resample(pixels, width, height, name),
                                      pillow_resize(pixels, width, height, name))


@pytest.mark.skipif(not PILLOW_13, reason="Pillow < 13 runs the horizontal pass first always")
def test_pass_order_follows_pillow(rng):
    # The height shrinking by more than twice the width's pixels: Pillow 13
    # runs the vertical pass first, which rounds differently.
    pixels = photo(rng, 700, 63)
    for width, height in [(54, 7), (60, 300), (63, 100), (10, 600)]:
        np.testing.assert_array_equal(resample(pixels, width, height, "bicubic"),
                                      pillow_resize(pixels, width, height, "bicubic"))


def test_modes_and_channel_order(rng):
    rgba = rng.integers(0, 256, (33, 47, 4), np.uint8)
    # RGBX and RGBa: each channel on its own, no alpha premultiplication.
    for mode in ("RGBX", "RGBa"):
        np.testing.assert_array_equal(resample(rgba, 20, 61, "bicubic", mode=mode),
                                      pillow_resize(rgba, 20, 61, "bicubic", mode=mode))
    la = rgba[..., 2:].copy()
    np.testing.assert_array_equal(resample(la, 20, 61, "lanczos", mode="La"),
                                  pillow_resize(la, 20, 61, "lanczos", mode="La"))
    # BGR pixels come out BGR: the channels are independent.
    rgb = rgba[..., :3]
    np.testing.assert_array_equal(resample(rgb[..., ::-1].copy(), 20, 61, "hamming"),
                                  pillow_resize(rgb, 20, 61, "hamming")[..., ::-1])
    # Pillow images are read in their own mode.
    image = Image.fromarray(rgba, "RGBA")
    np.testing.assert_array_equal(resample(image, 20, 61, "bilinear"),
                                  np.asarray(image.resize((20, 61), PILLOW["bilinear"])))


def test_strided_views_out_and_filter_numbers(rng):
    big = photo(rng, 120, 150)
    view = big[7:99, 13:141]
    expected = pillow_resize(view, 55, 70, "bicubic")
    out = np.zeros((80, 90, 3), np.uint8)[3:73, 5:60]
    result = resample(view, 55, 70, Image.Resampling.BICUBIC, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)
    # out overlapping the image: the image is read before it is written.
    shared = big.copy()
    resample(shared[:, :75], 60, 50, "bilinear", out=shared[60:110, 80:140])
    np.testing.assert_array_equal(shared[60:110, 80:140],
                                  pillow_resize(big[:, :75], 60, 50, "bilinear"))


@pytest.mark.parametrize("name", list(PILLOW))
def test_every_variant_and_thread_count_equal(monkeypatch, rng, resample_kernels, name):
    kernels = _dispatch.Kernels(image=None, quantize=None, warp=None,
                                resample=resample_kernels, yuv=None)
    monkeypatch.setattr(_resampling, "current_kernels", lambda: kernels)
    cases = [(photo(rng, 517, 389), 224, 298), (photo(rng, 64, 300, 4), 301, 40),
             (photo(rng, 400, 21, 1)[..., 0], 37, 80), (photo(rng, 90, 90, 2), 90, 13)]
    for pixels, width, height in cases:
        expected = pillow_resize(pixels, width, height, name)
        for threads in (1, 2, 3):
            with local_thread_count(threads):
                np.testing.assert_array_equal(resample(pixels, width, height, name), expected)


X86 = platform.machine() in ("x86_64", "AMD64")
# What each variant's passes multiply with, in its widest registers: the
# horizontal pass bytes by signed-byte digits (VNNI's vpdpbusd) on AVX-512,
# 16-bit pairs (AVX-VNNI's vpdpwssd, else vpmaddwd) on AVX2, 32-bit products
# elsewhere; the vertical pass 32-bit products (baseline SSE2 has only
# pmuludq).
HORIZONTAL_PRODUCTS = {"avx512": ("vpdpbusd", "%zmm"), "avxvnni": ("vpdpwssd", "%ymm"),
                       "avx2": ("vpmaddwd", "%ymm"), "sse42": ("pmulld", "%xmm"),
                       "baseline": ("pmuludq", "%xmm")}
VERTICAL_PRODUCTS = {"avx512": ("vpmulld", "%zmm"), "avxvnni": ("vpmulld", "%ymm"),
                     "avx2": ("vpmulld", "%ymm"), "sse42": ("pmulld", "%xmm"),
                     "baseline": ("pmuludq", "%xmm")}


@pytest.mark.skipif(not (X86 and shutil.which("objdump")), reason="needs x86-64 objdump")
@pytest.mark.parametrize("variant", list(HORIZONTAL_PRODUCTS))
def test_resample_passes_are_vectorized(variant):
    if variant not in _dispatch.built_variants():
        pytest.skip(f"{variant} was not built")
    code = disassembly(_dispatch.module_names(variant)["resample"])
    if "__asan_" in code:
        pytest.skip("sanitized build (.ci/sanitize): instrumentation keeps loops scalar")
    for products in (HORIZONTAL_PRODUCTS, VERTICAL_PRODUCTS):
        mnemonic, register = products[variant]
        # AVX-VNNI's forms print as "{vex} vpdpwssd".
        assert any(re.search(rf"[\t ]{mnemonic} ", line) and register in line
                   for line in code.splitlines()), mnemonic


ARM64 = platform.machine() in ("aarch64", "arm64")


@pytest.mark.skipif(not (ARM64 and shutil.which("objdump")), reason="needs aarch64 objdump")
@pytest.mark.parametrize("variant", ["neoni8mm", "neondot", "neon"])
def test_resample_passes_are_vectorized_on_neon(variant):
    # The vertical pass's 32-bit multiply-adds of taps by weights: mla on .4s
    # lanes; the horizontal pass's the same on neon, sdot of pixel bytes by
    # weight digits where the dot product is.
    code = disassembly(_dispatch.module_names(variant)["resample"])
    if "__asan_" in code:
        pytest.skip("sanitized build: instrumentation keeps loops scalar")
    for mnemonic in ("mla", "sdot") if variant != "neon" else ("mla",):
        products = [line for line in code.splitlines()
                    if re.search(rf"\t{mnemonic}\s+v\d+\.4s", line)]
        assert len(products) >= 8, (mnemonic, len(products))


def test_bad_arguments_name_themselves_and_leave_out_untouched(rng):
    pixels = rng.integers(0, 256, (20, 30, 3), np.uint8)
    out = np.full((10, 15, 3), 9, np.uint8)
    bad = [({"filter": "cubic"}, ValueError, "filter"),
           ({"filter": 9}, ValueError, "filter"),
           ({"filter": 2.0}, TypeError, "filter"),
           ({"reference": "opencv"}, ValueError, "reference"),
           ({"reference": "torch", "filter": "lanczos"}, ValueError, "reference"),
           ({"reference": "torch", "box": (0, 0, 30, 20)}, ValueError, "box"),
           ({"box": (0, 0, 31, 20)}, ValueError, "box"),
           ({"box": (-1, 0, 30, 20)}, ValueError, "box"),
           ({"box": (5, 5, 5, 9)}, ValueError, "empty"),
           ({"box": (0, 0, 30)}, ValueError, "box"),
           ({"box": (0, 0, float("nan"), 20)}, ValueError, "box"),
           ({"box": (0, "0", 30, 20)}, TypeError, "box"),
           ({"mode": "RGBA"}, ValueError, "mode"),
           ({"out": np.zeros((10, 15), np.uint8)}, ValueError, "out"),
           ({"out": np.zeros((10, 15, 3), np.float32)}, TypeError, "out")]
    for kwargs, error, word in bad:
        with pytest.raises(error, match=word):
            resample(pixels, 15, 10, **{"out": out, **kwargs})
        assert (out == 9).all(), kwargs
    for width, height, word in [(0, 10, "width"), (15, -1, "height"), (True, 10, "width")]:
        with pytest.raises((ValueError, TypeError), match=word):
            resample(pixels, width, height)
    with pytest.raises(ValueError, match="packed"):
        resample(pixels[:, ::2], 15, 10)
    with pytest.raises(ValueError, match="mode 'P'"):
        resample(Image.new("P", (4, 4)), 2, 2)
    with pytest.raises(TypeError, match="uint8"):
        resample(pixels.astype(np.float32), 15, 10)


@pytest.mark.parametrize("name", ["bilinear", "bicubic"])
def test_torch_reference_equals_torch(rng, name):
    torch = pytest.importorskip("torch")
    cases = [((57, 203, 3), (224, 13)), ((300, 40, 1), (31, 97)), ((9, 3000, 4), (7, 3)),
             ((224, 224, 3), (512, 512)), ((1440, 1080, 3), (298, 224)), ((5, 4, 3), (1, 2))]
    for shape, size in cases:
        pixels = rng.integers(0, 256, shape, np.uint8)
        tensor = torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous(
            memory_format=torch.channels_last)
        expected = torch.nn.functional.interpolate(tensor, size, mode=name, antialias=True,
                                                   align_corners=False)[0].permute(1, 2, 0)
        result = resample(pixels, size[1], size[0], name, reference="torch")
        np.testing.assert_array_equal(result, expected.numpy())


def opencv_cases(rng):
    """Random, photo-like and text images; shrinks (vertical pass first),
    enlargements (horizontal pass first), 1-pixel sides and extreme ratios."""
    cases = [(photo(rng, 1080, 1440), 341, 256), (photo(rng, 48, 320), 1707, 256),
             (text_page(), 640, 256), (photo(rng, 1, 1), 5, 7), (photo(rng, 3, 2, 1), 1, 9),
             (photo(rng, 7, 500, 2), 3, 1000), (photo(rng, 900, 4, 4), 1, 1),
             (photo(rng, 2000, 30, 1)[..., 0], 30, 2)]
    for _ in range(12):
        rows, cols = (int(n) for n in rng.integers(1, 200, 2))
        channels = int(rng.integers(1, 5))
        width, height = (int(n) for n in rng.integers(1, 300, 2))
        cases.append((rng.integers(0, 256, (rows, cols, channels), np.uint8), width, height))
    return cases


def test_opencv_lanczos_equals_cv2(monkeypatch, rng, resample_kernels):
    cv2 = pytest.importorskip("cv2")
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("cv2.resize(INTER_LANCZOS4) itself trips AddressSanitizer (a report "
                    "inside OpenCV); test_variant_sweep runs scipix's kernel sanitized")
    kernels = _dispatch.Kernels(image=None, quantize=None, warp=None,
                                resample=resample_kernels, yuv=None)
    monkeypatch.setattr(_resampling, "current_kernels", lambda: kernels)
    for pixels, width, height in opencv_cases(rng):
        expected = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_LANCZOS4)
        for threads in (1, 2):
            with local_thread_count(threads):
                result = resample(pixels, width, height, "lanczos", reference="opencv")
            np.testing.assert_array_equal(result.reshape(expected.shape), expected,
                                          err_msg=f"{pixels.shape} -> {width}x{height}")


def test_opencv_reference_refuses_what_opencv_lacks(rng):
    pixels = rng.integers(0, 256, (20, 30, 4), np.uint8)
    for kwargs, word in [({"filter": "bicubic"}, "lanczos"), ({"box": (0, 0, 9, 9)}, "box"),
                         ({"mode": "RGBa"}, "mode")]:
        with pytest.raises(ValueError, match=word):
            resample(pixels, 15, 10, **{"filter": "lanczos", "reference": "opencv", **kwargs})


@given(rows=st.integers(1, 40), cols=st.integers(1, 40), channels=st.sampled_from([1, 2, 3, 4]),
       width=st.integers(1, 60), height=st.integers(1, 60), name=st.sampled_from(list(PILLOW)),
       box=st.one_of(st.none(), st.tuples(st.floats(0, 0.45), st.floats(0, 0.45),
                                          st.floats(0.55, 1), st.floats(0.55, 1))),
       seed=st.integers(0, 2**32 - 1))
def test_property_equals_pillow(rows, cols, channels, width, height, name, box, seed):
    rng = np.random.default_rng(seed)
    shape = (rows, cols) if channels == 1 else (rows, cols, channels)
    pixels = rng.integers(0, 256, shape, np.uint8)
    if box is not None:  # fractions of the image, as Pillow takes them in pixels
        box = (box[0] * cols, box[1] * rows, box[2] * cols, box[3] * rows)
    np.testing.assert_array_equal(resample(pixels, width, height, name, box=box),
                                  pillow_resize(pixels, width, height, name, box))
