"""examples/video_pipeline.py: the PP-OCRv4 detector (ONNX Runtime, from the
rapidocr-onnxruntime wheel) on a short video of scrolling text it renders."""
import io
import json

import pytest

pytest.importorskip("av")
pytest.importorskip("onnxruntime")
pytest.importorskip("rapidocr_onnxruntime")

from example_scripts import example  # noqa: E402


def test_every_frame_has_its_json_line_and_its_text(tmp_path):
    pipeline = example("video_pipeline")
    video = pipeline.render_video(str(tmp_path / "scrolling.mp4"), 12)
    out = io.StringIO()
    stats = pipeline.run(video, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    frames, summary = lines[:-1], lines[-1]["stats"]
    assert [f["index"] for f in frames] == list(range(12))
    # Six to eight lines of text are in view in every frame.
    assert all(5 <= f["text_regions"] <= 9 for f in frames), frames
    assert summary["processed"] == stats.processed == 12 and summary["dropped"] == 0


def test_latest_only_on_a_paced_source_drops_consistently(tmp_path):
    pipeline = example("video_pipeline")
    video = pipeline.render_video(str(tmp_path / "scrolling.mp4"), 24)
    out = io.StringIO()
    stats = pipeline.run(video, paced=True, policy="latest_only", out=out)
    indices = [json.loads(line)["index"] for line in out.getvalue().splitlines()[:-1]]
    assert indices == sorted(set(indices)) and indices[-1] == 23
    assert stats.read == 24 == stats.processed + stats.dropped + stats.discarded
