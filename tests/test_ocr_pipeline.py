"""examples/ocr_pipeline.py against stock RapidOCR 1.4.4 on pages rendered here:
the text (character error rate against the rendered truth), and each
preprocessing step's tensor against the stock step's.  Needs the ``ocr``
extra; skips cleanly without it."""
import json
import subprocess
import sys

import numpy as np
import pytest

for _module in ("onnxruntime", "rapidocr_onnxruntime", "PIL", "cv2"):
    pytest.importorskip(_module, reason="the ocr extra (see docs/guide/ocr.rst)")

from scipix.tools import bench_ocr  # noqa: E402

if bench_ocr.find_font() is None:
    pytest.skip("no TrueType font (apt-get install fonts-dejavu-core)", allow_module_level=True)

import cv2  # noqa: E402

# The recognizer input: crop_quads (cubic, as the example) against
# RapidOCR's cubic warp, rounded to uint8, then bilinear resize with 11-bit
# weights, at the same width; the mean |difference| per line and the
# largest, in gray levels (2 / 255 normalized).  Measured on these pages:
# lines up to 0.30, single values up to 1.2.
LINE_MEAN_BOUND = 0.5 * 2 / 255
PEAK_BOUND = 2 * 2 / 255
# The detector input: preprocess_batch's bilinear resize is within one
# level of cv2.resize (2 / 255 normalized), its float32 arithmetic within
# 1e-6 of RapidOCR's float64.
DET_INPUT_BOUND = 2 / 255 + 1e-6
# The example may not read worse than stock by more than this.
CER_MARGIN = 0.005
LINES = 12


@pytest.fixture(scope="module")
def pages():
    return bench_ocr.rendered_pages(lines=LINES)


@pytest.fixture(scope="module")
def example():
    return bench_ocr.load_example()


@pytest.fixture(scope="module")
def pipeline(example):
    with example.OcrPipeline(example.default_models()) as pipeline:
        yield pipeline


@pytest.fixture(scope="module")
def stock():
    return bench_ocr.stock_engine(2)


def test_cv2_is_the_headless_build():
    # rapidocr-onnxruntime depends on opencv-python; installed with
    # --no-deps, the cv2 here must be opencv-python-headless's.
    from importlib import metadata
    names = {dist.metadata["Name"].lower() for dist in metadata.distributions()}
    assert "opencv-python-headless" in names
    assert "opencv-python" not in names


def test_pipeline_leaves_the_float_mode_alone(pipeline):
    # Flushing denormals (ONNX Runtime's set_denormal_as_zero) would change
    # the arithmetic of the process that made the sessions.
    tiny = np.array([1e-40], np.float32)
    assert (tiny * np.float32(1.5))[0] > 0


def test_text_agrees_with_stock(pages, pipeline, stock, example):
    ours = [[line["text"] for line in done.lines]
            for done in pipeline.run(example.Page(str(i), page)
                                     for i, (page, _) in enumerate(pages))]
    theirs = [bench_ocr.stock_lines(stock, page) for page, _ in pages]
    our_cer = [bench_ocr.character_error_rate(lines, truth)
               for lines, (_, truth) in zip(ours, pages)]
    stock_cer = [bench_ocr.character_error_rate(lines, truth)
                 for lines, (_, truth) in zip(theirs, pages)]
    assert max(stock_cer) < 0.3, stock_cer  # the pages are readable: the bound means something
    assert np.mean(our_cer) <= np.mean(stock_cer) + CER_MARGIN, (our_cer, stock_cer)


def test_text_agrees_with_stock_at_300_dpi(pipeline, stock, example):
    # Larger than RapidOCR's 2000-pixel limit: the detector input is shrunk,
    # the lines are cut from the full-resolution page.
    page, truth = bench_ocr.render_page(4, dpi=300, angle=1.5, noise=5.0, lines=6)
    ours = [line["text"] for line in pipeline.recognize(
        pipeline.detect(example.Page("300dpi", page))).lines]
    our_cer = bench_ocr.character_error_rate(ours, truth)
    stock_cer = bench_ocr.character_error_rate(bench_ocr.stock_lines(stock, page), truth)
    assert stock_cer < 0.3, stock_cer
    assert our_cer <= stock_cer + CER_MARGIN, (our_cer, stock_cer)


def test_detector_input_matches_stock(pages, example, stock):
    for page, _ in pages:
        expected = stock.text_det.get_preprocess(max(page.shape[:2]))(page)
        plan = example.detector_plan(*page.shape[:2])
        ours = example.detector_input(page, plan, np.empty((1, 3) + plan.shape, np.float32))
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours, expected, rtol=0, atol=DET_INPUT_BOUND)


def stock_plan(stock, rows, cols):
    """(scaled page size, letterbox rows, detector input size) of stock
    RapidOCR for a rows x cols page, from its own functions."""
    scaled, _, _ = stock.preprocess(np.zeros((rows, cols, 3), np.uint8))
    padded, record = stock.maybe_add_letterbox(scaled, {})
    shape = stock.text_det.get_preprocess(max(padded.shape[:2]))(padded).shape[2:]
    return scaled.shape[:2], record["padding_1"]["top"], tuple(shape)


@pytest.mark.parametrize("rows, cols", [(40, 1800), (20, 300), (25, 25), (31, 100), (100, 850),
                                        (1754, 1240), (3000, 1000), (1000, 3000), (500, 6000),
                                        (2500, 2400)])
def test_detector_plan_follows_every_stock_rule(example, stock, rows, cols):
    """Issue 27.2: the example scaled a 40 x 1800 strip to a 736 x 33120
    input; stock letterboxes such pages (wider than 8 times their height,
    or 30 rows or less) and enlarges a side under 30 first."""
    plan = example.detector_plan(rows, cols)
    assert (plan.scaled, plan.padding, plan.shape) == stock_plan(stock, rows, cols)


def render_strip(text, copies, size=(40, 1800), font_size=26):
    """A BGR strip of ``copies`` of ``text``, black on white."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(bench_ocr.find_font(), font_size)
    image = Image.new("RGB", size[::-1], (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i in range(copies):
        draw.text((30 + i * size[1] // copies, (size[0] - font_size) // 2), text, fill=(0, 0, 0),
                  font=font)
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def test_wide_strip_reads_as_stock(pipeline, stock, example):
    """Issue 27.2: a 40 x 1800 strip of "Hello scipix 123" three times came
    out as 15 fragments ("Hel", "ello", ...) from a 736 x 33120 input."""
    strip = render_strip("Hello scipix 123", 3)
    scaled, _, _ = stock.preprocess(strip)
    letterboxed, _ = stock.maybe_add_letterbox(scaled, {})
    expected = stock.text_det.get_preprocess(max(letterboxed.shape[:2]))(letterboxed)
    plan = example.detector_plan(*strip.shape[:2])
    ours = example.detector_input(strip, plan, np.empty((1, 3) + plan.shape, np.float32))
    np.testing.assert_allclose(ours, expected, rtol=0, atol=DET_INPUT_BOUND)
    ours = [line["text"] for line in pipeline.recognize(
        pipeline.detect(example.Page("strip", strip))).lines]
    theirs = bench_ocr.stock_lines(stock, strip)
    assert theirs == ["Hello scipix 123"] * 3  # the strip is readable
    assert ours == theirs
    for line in pipeline.detect(example.Page("strip", strip)).boxes:
        assert np.all((line >= 0) & (line <= [1800, 40]))  # page pixels, not letterboxed


@pytest.mark.parametrize("rows, cols", [(1999, 1), (4000, 50), (1, 1999), (1, 1)])
def test_detector_input_is_capped(pipeline, example, rows, cols):
    """Issue 27.3: a 1999 x 1 page got a 1471264 x 736 float32 detector
    input (12.1 GiB); the example caps the input's long side instead."""
    plan = example.detector_plan(rows, cols)
    assert max(plan.shape) <= example.DET_MAX_SIDE
    page = pipeline.detect(example.Page("thin", np.full((rows, cols, 3), 255, np.uint8)))
    assert page.boxes.shape[1:] == (4, 2)


FOLDED_BOX = [[451, 979], [749, 999], [749, 999], [450, 999]]


def test_cropping_quads_replaces_folded_boxes_and_skips_empty_ones(example):
    boxes = np.array([[[10, 10], [110, 10], [110, 40], [10, 40]], FOLDED_BOX,
                      [[5, 5], [50, 5], [50, 5], [5, 5]]], np.float32)
    quads, usable = example.cropping_quads(boxes)
    assert usable.tolist() == [True, True, False]
    np.testing.assert_array_equal(quads[0], boxes[0])
    rectangle = quads[1]
    from scipix.optimize.parallel import crop_widths
    crop_widths(rectangle[np.newaxis], 48)  # a quad crop_quads takes
    inside = cv2.pointPolygonTest(rectangle.astype(np.float32).reshape(-1, 1, 2),
                                  (600.0, 995.0), False)
    assert inside >= 0


def test_a_folded_box_does_not_lose_the_page(pipeline, example):
    """Issue 27.5: RapidOCR's box filter can keep a box folded into a
    triangle at the page edge; crop_quads refused it and the page's other
    lines were lost."""
    page, _ = bench_ocr.render_page(5, lines=3)
    detected = pipeline.detect(example.Page("p", page))
    expected = [line["text"] for line in pipeline.recognize(
        example.Page("p", page, boxes=detected.boxes)).lines]
    assert expected
    with_folded = np.concatenate([detected.boxes, np.array([FOLDED_BOX], np.float32)])
    lines = pipeline.recognize(example.Page("p", page, boxes=with_folded)).lines
    assert [line["text"] for line in lines if line["box"] != FOLDED_BOX] == expected


def test_boxes_match_stock(pages, example, pipeline, stock):
    for number, (page, _) in enumerate(pages):
        ours = pipeline.detect(example.Page("", page)).boxes
        theirs, _ = stock.auto_text_det(page)
        assert len(ours) == len(theirs), number
        np.testing.assert_allclose(ours, np.array(theirs), atol=1.0, err_msg=f"page {number}")


def test_recognizer_batch_matches_stock(pages, example, pipeline, stock):
    from scipix.optimize.parallel import crop_quads
    rec = stock.text_rec
    for number, (page, _) in enumerate(pages):
        boxes = pipeline.detect(example.Page("", page)).boxes
        crops = stock.get_crop_img_list(page, list(boxes))
        batch, widths = crop_quads(page, boxes, 48, mean=0.5, std=0.5, interpolation="cubic",
                                   input_order="bgr", color="bgr")
        for i, crop in enumerate(crops):
            # In a batch as wide as this line, RapidOCR resizes it to the
            # same width (alone it would truncate where crop_quads rounds up).
            expected = rec.resize_norm_img(crop, (widths[i] + 0.5) / 48)
            assert expected.shape[2] == widths[i]
            difference = np.abs(batch[i, :, :, :widths[i]] - expected)
            assert difference.mean() <= LINE_MEAN_BOUND, (number, i, difference.mean())
            assert difference.max() <= PEAK_BOUND, (number, i, difference.max())


def test_ctc_decoding_matches_stock(example, pipeline, stock, rng):
    logits = rng.standard_normal((4, 40, len(pipeline.decode.characters))).astype(np.float32)
    logits[:, ::3, 0] += 6.0  # blanks between characters, as a real output has
    logits[1, :, 0] += 20.0   # a line of blanks only
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    ours = pipeline.decode(probabilities)
    theirs = stock.text_rec.postprocess_op(probabilities)
    assert [text for text, _ in ours] == [text for text, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-6)


def test_command_line_prints_every_readable_page_and_names_the_others(tmp_path):
    """Issue 27.4: an unreadable image raised SystemExit inside the
    pipeline's input iterator, which dropped the pages in flight."""
    paths = []
    for seed in (5, 6):
        page, _ = bench_ocr.render_page(seed, lines=2)
        paths.append(str(tmp_path / f"page{seed}.png"))
        cv2.imwrite(paths[-1], page)
    broken = tmp_path / "broken.png"
    broken.write_bytes(open(paths[0], "rb").read()[:200])
    missing = str(tmp_path / "missing.png")
    result = subprocess.run([sys.executable, bench_ocr.EXAMPLE, "--json", paths[0], str(broken),
                             paths[1], missing], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["path"] for record in records] == paths
    assert all(record["lines"] for record in records)
    assert f"{broken}: cannot read" in result.stderr and f"{missing}: cannot read" in result.stderr
    assert "2 of 4 images could not be read" in result.stderr


def test_command_line_prints_json(tmp_path):
    page, truth = bench_ocr.render_page(5, lines=3)
    path = str(tmp_path / "page.png")
    cv2.imwrite(path, page)
    result = subprocess.run([sys.executable, bench_ocr.EXAMPLE, "--json", path],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["path"] == path
    assert [line["text"] for line in record["lines"]]
    for line in record["lines"]:
        assert np.array(line["box"]).shape == (4, 2) and 0 <= line["score"] <= 1
    assert bench_ocr.character_error_rate([l["text"] for l in record["lines"]], truth) < 0.3
    assert "pages/s" in result.stderr
