"""scipix.video.yuv_to_rgb and preprocess_yuv: the exact arithmetic gives
cvtColor's pixels exactly (BT.601 limited), the fast one is within one
level of it for every (Y, U, V); a NumPy oracle of each for every matrix
and range, the fused tensor equal to preprocess_batch of the converted
frame, bit for bit on every variant and thread count; the bad-input
contract."""
import shutil

import cv2
import numpy as np
import pytest
from hypothesis import given, strategies as st

from scipix.optimize import _dispatch, built_variants, local_thread_count
from scipix.optimize.parallel import preprocess_batch
from scipix.video import preprocess_yuv, yuv_to_rgb
from scipix.video._planes import yuv_matrix, yuv_planes
from test_dispatch import X86, disassembly
from variants import EVERY


def frame(rng, rows, cols, pad=0):
    """Random I420 planes of a (rows, cols) frame, each row padded by ``pad``
    bytes (strided views, as decoders hand them out)."""
    crows, ccols = (rows + 1) // 2, (cols + 1) // 2
    y = rng.integers(0, 256, (rows, cols + pad), dtype=np.uint8)[:, :cols]
    u = rng.integers(0, 256, (crows, ccols + pad), dtype=np.uint8)[:, :ccols]
    v = rng.integers(0, 256, (crows, ccols + pad), dtype=np.uint8)[:, :ccols]
    return y, u, v


def smooth_frame(rng, rows, cols):
    """I420 planes of a photograph-like frame: gradients, detail and noise."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    luma = 120 + 70 * np.sin(xx / 9.1 + yy / 13.0) + rng.normal(0, 8, (rows, cols))
    cy, cx = np.mgrid[0:(rows + 1) // 2, 0:(cols + 1) // 2].astype(np.float64)
    u = 128 + 50 * np.cos(cx / 5.0 - cy / 7.0)
    v = 128 + 45 * np.sin(cy / 6.0 + cx / 11.0)
    return tuple(np.clip(p, 0, 255).astype(np.uint8) for p in (luma, u, v))


def nv12(y, u, v):
    uv = np.empty((u.shape[0], 2 * u.shape[1]), np.uint8)
    uv[:, 0::2], uv[:, 1::2] = u, v
    return y, uv, None


def _replicated(y, u, v):
    rows, cols = y.shape
    cu = np.repeat(np.repeat(u.astype(np.int64) - 128, 2, 0), 2, 1)[:rows, :cols]
    cv = np.repeat(np.repeat(v.astype(np.int64) - 128, 2, 0), 2, 1)[:rows, :cols]
    return cu, cv


def exact_oracle(y, u, v, matrix="bt601", full_range=False):
    """cvtColor's fixed-point formula (20 fractional bits) in int64 NumPy,
    chroma replicated."""
    ys, yo, vr, ug, vg, ub = (int(c) for c in yuv_matrix(matrix, full_range))
    cu, cv = _replicated(y, u, v)
    luma = np.maximum(y.astype(np.int64) - yo, 0) * ys + (1 << 19)
    rgb = np.stack([luma + vr * cv, luma + ug * cu + vg * cv, luma + ub * cu], -1) >> 20
    return np.clip(rgb, 0, 255).astype(np.uint8)


def fast_oracle(y, u, v, matrix="bt601", full_range=False):
    """The fast 16-bit formula in int64 NumPy: coefficients rounded to 13
    fractional bits, each product floored to 5, the sum rounded once."""
    ys, yo, vr, ug, vg, ub = ((int(c) + 64) >> 7 for c in yuv_matrix(matrix, full_range))
    yo = int(yuv_matrix(matrix, full_range)[1])
    cu, cv = _replicated(y, u, v)
    luma = ((np.maximum(y.astype(np.int64) - yo, 0) * ys) >> 8) + 16
    rgb = np.stack([luma + (vr * cv >> 8), luma + (ug * cu >> 8) + (vg * cv >> 8),
                    luma + (ub * cu >> 8)], -1) >> 5
    return np.clip(rgb, 0, 255).astype(np.uint8)


ORACLES = {True: exact_oracle, False: fast_oracle}


def i420_buffer(y, u, v):
    """The planes as one (3 H / 2, W) buffer, as cvtColor reads I420."""
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, y.shape[1])


def kernel_rgb(kernels, y, u, v, layout="i420", matrix="bt601", full_range=False, bgr=False,
               n_threads=1, exact=True):
    planes = yuv_planes(y, u, v, layout)
    out = np.empty(y.shape + (3,), np.uint8)
    kernels.yuv_to_rgb(planes.y, planes.u, planes.v, planes.step,
                       yuv_matrix(matrix, full_range), exact, out, bgr, n_threads)
    return out


@pytest.mark.parametrize("rows, cols", [(2, 2), (48, 64), (480, 640), (36, 1922)])
def test_exact_arithmetic_matches_cvtcolor_exactly(yuv_kernels, rng, rows, cols):
    y, u, v = frame(rng, rows, cols)
    expected = cv2.cvtColor(i420_buffer(y, u, v), cv2.COLOR_YUV2RGB_I420)
    np.testing.assert_array_equal(kernel_rgb(yuv_kernels, y, u, v), expected)
    nv_y, uv, _ = nv12(y, u, v)
    np.testing.assert_array_equal(
        kernel_rgb(yuv_kernels, nv_y, uv, None, layout="nv12"),
        cv2.cvtColor(np.vstack([nv_y, uv]), cv2.COLOR_YUV2RGB_NV12))
    np.testing.assert_array_equal(kernel_rgb(yuv_kernels, y, u, v, bgr=True),
                                  cv2.cvtColor(i420_buffer(y, u, v), cv2.COLOR_YUV2BGR_I420))
    np.testing.assert_array_equal(yuv_to_rgb(y, u, v, converter="opencv"), expected)


def every_triple():
    """I420 planes of a (16384, 1024) frame holding every (Y, U, V) once:
    chroma row a + 128 k, column c is the pair a * 512 + c (U its high
    byte), and its 2x2 block of luma takes 4 k, 4 k + 1 (top) and 4 k + 2,
    4 k + 3 (bottom)."""
    pairs = np.tile(np.arange(1 << 16).reshape(128, 512), (64, 1))
    u, v = (pairs >> 8).astype(np.uint8), (pairs & 255).astype(np.uint8)
    rows, cols = np.ogrid[0:16384, 0:1024]
    y = (4 * (rows // 256) + 2 * (rows % 2) + cols % 2).astype(np.uint8)
    return y, u, v


@pytest.fixture(scope="module")
def triples():
    return every_triple()


def test_every_triple_is_there(triples):
    y, u, v = triples
    cu, cv = _replicated(y, u, v)
    codes = (y.astype(np.int64) << 16) | ((cu + 128) << 8) | (cv + 128)
    assert np.unique(codes).size == 1 << 24


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full_range", [False, True])
def test_fast_arithmetic_is_within_one_level_for_every_triple(triples, matrix, full_range):
    # Every (Y, U, V): the fast path's bytes are its NumPy oracle's on every
    # variant, and within one level of the exact arithmetic (cvtColor's own
    # pixels for BT.601 limited range).
    y, u, v = triples
    expected = fast_oracle(y, u, v, matrix, full_range)
    for name, kernels in EVERY:
        np.testing.assert_array_equal(
            kernel_rgb(kernels.yuv, y, u, v, matrix=matrix, full_range=full_range,
                       exact=False), expected, err_msg=name)
    exact = kernel_rgb(EVERY[0][1].yuv, y, u, v, matrix=matrix, full_range=full_range)
    np.testing.assert_array_equal(exact, exact_oracle(y, u, v, matrix, full_range))
    if (matrix, full_range) == ("bt601", False):
        np.testing.assert_array_equal(
            exact, cv2.cvtColor(i420_buffer(y, u, v), cv2.COLOR_YUV2RGB_I420))
    difference = np.abs(expected.astype(np.int16) - exact)
    assert difference.max() == 1
    assert np.count_nonzero(difference) < 0.02 * difference.size


def test_fast_halving_of_every_triple_is_the_halving_of_the_converted_frame(triples):
    # Each 2x2 block holds four luma values under one chroma sample: the
    # fused halving must average the four converted pixels, clamps included.
    y, u, v = triples
    rgb = fast_oracle(y, u, v)
    expected = ((rgb[0::2, 0::2].astype(np.uint16) + rgb[0::2, 1::2] + rgb[1::2, 0::2]
                 + rgb[1::2, 1::2] + 2) >> 2).astype(np.uint8)
    planes = yuv_planes(y, u, v, "i420")
    for name, kernels in EVERY:
        window = np.empty((8192, 512, 3), np.uint8)
        kernels.yuv.resize_window(planes.y, planes.u, planes.v, 1, yuv_matrix("bt601", False),
                                  False, window, 8192, 512, 0, 0, False, 2)
        np.testing.assert_array_equal(window, expected, err_msg=name)


@pytest.mark.skipif(not (X86 and shutil.which("objdump")), reason="needs x86-64 objdump")
@pytest.mark.parametrize("variant", ["avx2", "avxvnni", "avx512"])
def test_fast_arithmetic_is_16_bit_high_products_in_ymm(variant):
    # The fast step's products: unsigned (luma) and signed (chroma) 16-bit
    # high multiplies, 16 lanes a register.
    if variant not in built_variants():
        pytest.skip(f"{variant} was not built")
    code = disassembly(_dispatch.module_names(variant)["yuv"])
    if "__asan_" in code:
        pytest.skip("sanitized build (.ci/sanitize): instrumentation keeps loops scalar")
    lines = code.splitlines()
    assert any("\tvpmulhuw " in line and "%ymm" in line for line in lines)
    assert any("\tvpmulhw " in line and "%ymm" in line for line in lines)


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("rows, cols", [(1, 1), (3, 5), (17, 31), (64, 257)])
def test_every_matrix_matches_the_oracle(yuv_kernels, rng, matrix, full_range, rows, cols,
                                         exact):
    y, u, v = frame(rng, rows, cols, pad=7)
    expected = ORACLES[exact](y, u, v, matrix, full_range)
    for n_threads in (1, 2, 3):
        np.testing.assert_array_equal(
            kernel_rgb(yuv_kernels, y, u, v, "i420", matrix, full_range, n_threads=n_threads,
                       exact=exact), expected)
    np.testing.assert_array_equal(
        kernel_rgb(yuv_kernels, *nv12(y, u, v), "nv12", matrix, full_range, exact=exact),
        expected)
    np.testing.assert_array_equal(
        kernel_rgb(yuv_kernels, y, u, v, "i420", matrix, full_range, bgr=True, exact=exact),
        expected[:, :, ::-1])


def test_bt709_and_full_range_are_the_standard_matrices():
    # Grey stays grey; full-range white is 255; BT.709 red's luma weight is 0.2126.
    for matrix in ("bt601", "bt709"):
        for full_range, white in ((False, 235), (True, 255)):
            y = np.full((2, 2), white, np.uint8)
            c = np.full((1, 1), 128, np.uint8)
            assert (yuv_to_rgb(y, c, c, matrix=matrix, full_range=full_range) == 255).all()
    red = np.array([[255, 0, 0]], np.float64) / 255
    kr, kb = 0.2126, 0.0722
    luma = kr * red[0, 0]
    u = (red[0, 2] - luma) / (2 * (1 - kb))
    v = (red[0, 0] - luma) / (2 * (1 - kr))
    planes = [np.full((2, 2), round(luma * 255), np.uint8),
              np.full((1, 1), round(128 + u * 255), np.uint8),
              np.full((1, 1), min(255, round(128 + v * 255)), np.uint8)]
    rgb = yuv_to_rgb(*planes, matrix="bt709", full_range=True)[0, 0].astype(int)
    assert abs(rgb[0] - 255) <= 1 and rgb[1] <= 1 and rgb[2] <= 1


@given(rows=st.integers(1, 40), cols=st.integers(1, 70), pad=st.integers(0, 9),
       seed=st.integers(0, 2**32 - 1))
def test_odd_sizes_and_strides_match_the_oracle(rows, cols, pad, seed):
    y, u, v = frame(np.random.default_rng(seed), rows, cols, pad)
    np.testing.assert_array_equal(yuv_to_rgb(y, u, v), fast_oracle(y, u, v))
    np.testing.assert_array_equal(yuv_to_rgb(y, u, v, converter="opencv"), exact_oracle(y, u, v))


def test_out_and_order(rng):
    y, u, v = frame(rng, 10, 12)
    holder = np.zeros((10, 20, 3), np.uint8)
    out = holder[:, 4:16]
    assert yuv_to_rgb(y, u, v, out=out, order="bgr") is out
    np.testing.assert_array_equal(out, fast_oracle(y, u, v)[:, :, ::-1])
    assert (holder[:, :4] == 0).all() and (holder[:, 16:] == 0).all()


# ---------------------------------------------------------------------------
# The fused tensor: preprocess_batch of the converted frame, bit for bit

@pytest.mark.parametrize("src, dst", [((64, 96), (20, 30)), ((60, 90), (30, 45)),
                                      ((64, 166), (32, 83)),
                                      ((45, 67), (45, 67)), ((33, 47), (70, 90)),
                                      ((40, 80), (10, 20)), ((31, 29), (13, 11))])
@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("kernels", [k for _, k in EVERY], ids=[n for n, _ in EVERY])
def test_resize_window_is_the_resize_of_the_converted_frame(kernels, rng, src, dst, bilinear,
                                                            exact):
    # The variant's own image resize of the converted frame, cut to the window.
    image_kernels, yuv_kernels = kernels.image, kernels.yuv
    y, u, v = smooth_frame(rng, *src)
    rgb = ORACLES[exact](y, u, v)
    planes = yuv_planes(y, u, v, "i420")
    interleaved = yuv_planes(*nv12(y, u, v), "nv12")
    rows, cols = dst
    for top, left, h, w in ((0, 0, rows, cols), (rows // 3, cols // 4, rows - rows // 3,
                                                  cols // 2)):
        full = np.empty((rows, cols, 3), np.uint8)
        image_kernels.resize_packed(rgb, full, bilinear or rows > src[0] or cols > src[1], 1)
        for n_threads in (1, 2):
            window = np.empty((h, w, 3), np.uint8)
            yuv_kernels.resize_window(planes.y, planes.u, planes.v, 1, yuv_matrix("bt601", False),
                                      exact, window, rows, cols, top, left, bilinear,
                                      n_threads)
            np.testing.assert_array_equal(window, full[top:top + h, left:left + w])
            yuv_kernels.resize_window(interleaved.y, interleaved.u, interleaved.v, 2,
                                      yuv_matrix("bt601", False), exact, window, rows, cols,
                                      top, left, bilinear, n_threads)
            np.testing.assert_array_equal(window, full[top:top + h, left:left + w])


OPTIONS = [dict(), dict(color="bgr", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                        scale=1 / 255),
           dict(color="gray"), dict(resize="letterbox", pad_value=114, scale=1 / 255),
           dict(resize="crop_center", layout="nhwc", dtype=np.uint8),
           dict(resize="shortest_edge", edge=40, dtype=np.float16),
           dict(interpolation="bilinear", resize="letterbox", anchor="top_left"),
           dict(normalize="standardize")]


@pytest.mark.parametrize("converter", ["scipix", "opencv"])
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("shape", [(32, 32), (48, 80), (120, 100)])
def test_preprocess_yuv_is_preprocess_batch_of_the_rgb_frames(rng, options, shape, converter):
    frames = [smooth_frame(rng, 90, 160), smooth_frame(rng, 45, 61), frame(rng, 64, 64, 3)]
    rgb = [yuv_to_rgb(*f, converter=converter) for f in frames]
    for n_threads in (1, 2):
        with local_thread_count(n_threads):
            fused = preprocess_yuv(frames, shape, return_transforms=True, converter=converter,
                                   **options)
            expected = preprocess_batch(rgb, shape, return_transforms=True,
                                        **{"color": "rgb", **options})
        np.testing.assert_array_equal(fused.tensor, expected.tensor)
        np.testing.assert_array_equal(fused.transforms, expected.transforms)


def test_preprocess_yuv_nv12_and_out(rng):
    frames = [smooth_frame(rng, 50, 70) for _ in range(2)]
    out = np.empty((2, 3, 24, 24), np.float32)
    assert preprocess_yuv([nv12(*f) for f in frames], (24, 24), yuv_layout="nv12",
                          out=out) is out
    np.testing.assert_array_equal(out, preprocess_yuv(frames, (24, 24)))


# ---------------------------------------------------------------------------
# Bad input

@pytest.mark.parametrize("args, kwargs, error, words", [
    ((np.zeros((4, 4), np.float32), np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)), {},
     TypeError, "y must have dtype uint8"),
    ((np.zeros((4, 4), np.uint8), np.zeros((1, 2), np.uint8), np.zeros((2, 2), np.uint8)), {},
     ValueError, "u must be a (2, 2) plane"),
    ((np.zeros((5, 5), np.uint8), np.zeros((3, 3), np.uint8), np.zeros((3, 2), np.uint8)), {},
     ValueError, "v must be a (3, 3) plane"),
    ((np.zeros((4, 4), np.uint8), np.zeros((2, 2), np.uint8)), {},
     ValueError, "v is None"),
    ((np.zeros((4, 4), np.uint8), np.zeros((2, 4), np.uint8), np.zeros((2, 2), np.uint8)),
     {"layout": "nv12"}, ValueError, "v must be None"),
    ((np.zeros((4, 4), np.uint8), np.zeros((2, 3), np.uint8)), {"layout": "nv12"},
     ValueError, "u must be the (2, 4) interleaved UV plane"),
    ((np.zeros((4, 4), np.uint8)[:, ::2], np.zeros((1, 1), np.uint8),
      np.zeros((1, 1), np.uint8)), {}, ValueError, "y must have contiguous rows"),
    ((np.zeros((4, 4, 1), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8)),
     {}, ValueError, "y must be a 2-D plane"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"layout": "yv12"}, ValueError, "layout must be one"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"matrix": "bt2020"}, ValueError, "matrix must be one"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"full_range": "yes"}, TypeError, "full_range"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"order": "rgba"}, ValueError, "order"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"converter": "swscale"}, ValueError,
     "converter must be 'scipix', 'opencv' or 'ffmpeg'"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"out": np.zeros((4, 4, 3), np.float32)},
     TypeError, "out must have dtype uint8"),
    ((np.zeros((4, 4), np.uint8),) * 3, {"out": np.zeros((4, 4, 3), np.uint8)[:, :, ::-1]},
     ValueError, "out must hold packed pixels"),
])
def test_yuv_to_rgb_bad_input(args, kwargs, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        yuv_to_rgb(*args, **kwargs)


def test_preprocess_yuv_bad_input(rng):
    good = frame(rng, 8, 8)
    with pytest.raises(ValueError, match=r"frames\[1\].u must be a \(4, 4\) plane"):
        preprocess_yuv([good, (good[0], good[1][:2], good[2])], (4, 4))
    with pytest.raises(ValueError, match="one .y, u, v. tuple"):
        preprocess_yuv(good, (4, 4))
    with pytest.raises(TypeError, match=r"frames\[0\] must be a \(y, u, v\) tuple"):
        preprocess_yuv([good[0]], (4, 4))
    with pytest.raises(ValueError, match="frames is empty"):
        preprocess_yuv([], (4, 4))
    with pytest.raises(ValueError, match="interpolation"):
        preprocess_yuv([good], (4, 4), interpolation="bicubic")
    with pytest.raises(ValueError, match="std must be positive"):
        preprocess_yuv([good], (4, 4), mean=0, std=0)


def test_remembered_options_are_checked_as_the_first_time(rng):
    # The options of recent calls are remembered; a value the checks tell
    # apart from a remembered one (True from 1) is checked afresh.
    from scipix.video._convert import _key
    assert len({_key(1), _key(1.0), _key(True), _key((1,)), _key((True,))}) == 5
    assert _key([1]) is None and _key((1, [1])) is None
    good = frame(rng, 8, 8)
    first = preprocess_yuv([good], (4, 4), mean=0.5, std=(1, 1, 1), scale=1 / 255)
    np.testing.assert_array_equal(
        preprocess_yuv([good], (4, 4), mean=0.5, std=(1, 1, 1), scale=1 / 255), first)
    with pytest.raises(ValueError, match="std must be positive"):
        preprocess_yuv([good], (4, 4), mean=0.5, std=(1, 1, 0), scale=1 / 255)


# ---------------------------------------------------------------------------
# FFmpeg's conversion: what it differs by, and the option to get its pixels

def test_ffmpeg_truncates_where_scipix_rounds(rng):
    av = pytest.importorskip("av")
    y, u, v = smooth_frame(rng, 120, 160)
    frame = av.VideoFrame.from_ndarray(i420_buffer(y, u, v), format="yuv420p")
    swscale = frame.to_ndarray(format="rgb24").astype(int)
    ours = yuv_to_rgb(y, u, v, converter="opencv").astype(int)
    # swscale's fast path rounds down (truncating 16-bit products): within a
    # few levels, and lower on average by about one.
    assert np.abs(ours - swscale).max() <= 3
    assert 0.5 < (ours - swscale).mean() < 1.5
    np.testing.assert_array_equal(yuv_to_rgb(y, u, v, converter="ffmpeg"), swscale)
    # FFmpeg takes another path for NV12 (its pixels differ from its I420
    # ones): the option gives that path's pixels.
    nv_y, uv, _ = nv12(y, u, v)
    nv_frame = av.VideoFrame.from_ndarray(np.vstack([nv_y, uv]), format="nv12")
    np.testing.assert_array_equal(
        yuv_to_rgb(nv_y, uv, layout="nv12", converter="ffmpeg", order="bgr"),
        nv_frame.to_ndarray(format="rgb24")[:, :, ::-1])


def test_preprocess_yuv_with_ffmpeg_is_preprocess_batch_of_to_ndarray(rng):
    av = pytest.importorskip("av")
    frames = [smooth_frame(rng, 90, 160), smooth_frame(rng, 64, 48)]
    decoded = [av.VideoFrame.from_ndarray(i420_buffer(*f), format="yuv420p") for f in frames]
    options = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), scale=1 / 255,
                   resize="letterbox")
    np.testing.assert_array_equal(
        preprocess_yuv(decoded, (40, 40), converter="ffmpeg", **options),
        preprocess_batch([d.to_ndarray(format="rgb24") for d in decoded], (40, 40),
                         color="rgb", **options))
    # A decoded frame is read in place: the same tensor as its planes give.
    np.testing.assert_array_equal(preprocess_yuv(decoded, (40, 40), **options),
                                  preprocess_yuv(frames, (40, 40), **options))


def test_the_guide_examples_run():
    import doctest
    import os
    guide = os.path.join(os.path.dirname(__file__), "..", "docs", "guide", "video.rst")
    if not os.path.exists(guide):
        pytest.skip("the docs are not in this tree (an installed wheel)")
    result = doctest.testfile(guide, module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
