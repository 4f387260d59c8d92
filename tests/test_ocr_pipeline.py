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
    pytest.importorskip(_module, reason="the ocr extra (see README: OCR end to end)")

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
    return example.OcrPipeline(example.default_models())


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
        shape = example.detector_input_size(*page.shape[:2])
        ours = example.detector_input(page, np.empty((1, 3) + shape, np.float32))
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours, expected, rtol=0, atol=DET_INPUT_BOUND)


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
