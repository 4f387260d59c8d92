"""scipix.video.VideoSource and stream on videos made here with PyAV's
encoders (MPEG-4, H.264; odd sizes; a per-frame marker, so a lost or
reordered frame shows): order, seeking, pacing, end of stream, broken
files, and each queue policy's drops, asserted on counts and order, never
on timings."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

av = pytest.importorskip("av")

from scipix.video import VideoSource, preprocess_yuv, stream  # noqa: E402

ROWS, COLS, FPS = 61, 97, 30
BITS = 8


def marker_image(index, rows=ROWS, cols=COLS):
    """An RGB frame whose top band holds ``index`` in BITS black/white blocks,
    over content that moves from frame to frame."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    image = np.empty((rows, cols, 3), np.uint8)
    image[...] = (96 + 40 * np.sin((xx + 3 * index) / 6.0 + yy / 9.0))[..., None]
    for bit in range(BITS):
        image[:16, bit * 12:(bit + 1) * 12] = 255 if index >> bit & 1 else 0
    return image


def read_marker(gray):
    """The index a (ROWS, COLS) gray frame carries."""
    return sum(1 << bit for bit in range(BITS)
               if gray[3:13, bit * 12 + 3:bit * 12 + 9].mean() > 128)


def make_video(path, n, codec="mpeg4", rows=ROWS, cols=COLS):
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=FPS)
        s.width, s.height, s.pix_fmt = cols, rows, "yuv420p"
        if codec == "mpeg4":
            s.bit_rate = 4_000_000
        for i in range(n):
            image = marker_image(i, rows, cols)
            for packet in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("video") / "markers.mp4", 72)


def gray_of(frame):
    return preprocess_yuv([frame.planes], frame.y.shape, yuv_layout=frame.yuv_layout,
                          color="gray", dtype=np.uint8)[0, 0]


# H.264 in 4:2:0 needs even sizes; MPEG-4 takes odd ones.
@pytest.mark.parametrize("codec, rows, cols", [("mpeg4", ROWS, COLS), ("libx264", 60, 96)])
def test_every_frame_in_order(tmp_path, codec, rows, cols):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV has no {codec}")
    path = make_video(tmp_path / f"{codec}.mp4", 40, codec, rows, cols)
    with VideoSource(path, threads=False) as source:
        frames = list(source)
        assert source.width == cols and source.height == rows and source.fps == FPS
    assert [f.index for f in frames] == list(range(40))
    assert [read_marker(gray_of(f)) for f in frames] == list(range(40))
    assert frames[3].time == pytest.approx(3 / FPS)
    first = frames[0]
    # Zero-copy: the planes are views of the decoder's buffers.
    assert not first.y.flags.owndata and not first.y.flags.writeable
    assert np.shares_memory(first.y, np.frombuffer(first.av_frame.planes[0], np.uint8))
    assert first.y.shape == (rows, cols) and first.u.shape == ((rows + 1) // 2, (cols + 1) // 2)


def test_seek_and_end_of_stream(video):
    with VideoSource(video) as source:
        source.seek(1.0)
        frame = source.read()
        assert frame.index == FPS and read_marker(gray_of(frame)) == FPS
        rest = list(source)
        assert [f.index for f in rest] == list(range(FPS + 1, 72))
        assert source.read() is None and source.read() is None
        source.seek(0)
        assert source.read().index == 0


def test_paced_source_hands_frames_out_when_due(video):
    with VideoSource(video, paced=True) as source:
        frames = []
        for frame in source:
            assert time.monotonic() >= frame.decoded  # never before it is due
            frames.append(frame)
            if len(frames) == 6:
                break
    due = np.array([f.decoded for f in frames])
    np.testing.assert_allclose(due - due[0], np.arange(6) / FPS, atol=1e-6)


def test_closed_source_and_bad_files(video, tmp_path):
    source = VideoSource(video)
    source.close()
    source.close()
    with pytest.raises(ValueError, match="closed"):
        source.read()
    with pytest.raises(ValueError, match="source is closed"):
        stream(source, lambda x: x, shape=(8, 8))
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(ValueError, match="notes.mp4"):
        VideoSource(text)
    with pytest.raises(TypeError, match="path_or_container"):
        VideoSource(42)


def test_truncated_and_corrupt_files(video, tmp_path):
    data = video.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[:len(data) * 2 // 3])
    corrupt = tmp_path / "corrupt.mp4"
    broken = bytearray(data)
    broken[len(data) // 2:len(data) // 2 + 400] = bytes(range(200)) * 2
    corrupt.write_bytes(bytes(broken))
    for path in (truncated, corrupt):
        try:
            source = VideoSource(path)
        except ValueError as error:
            assert path.name in str(error)
            continue
        indices = []
        with source:
            try:
                for frame in source:
                    indices.append(frame.index)
            except ValueError as error:
                assert path.name in str(error) and "corrupt or truncated" in str(error)
        # What was decoded came in order, without repeats.
        assert indices == sorted(set(indices))
        assert len(indices) < 72 or path is corrupt


# ---------------------------------------------------------------------------
# stream()

def marker_model(calls=None):
    def model(tensor):
        if calls is not None:
            calls.append(len(tensor))
        return np.array([read_marker(t[0]) for t in tensor])
    return model


GRAY = dict(color="gray", dtype=np.uint8)


def test_wait_processes_every_frame_in_order(video):
    calls = []
    with stream(VideoSource(video), marker_model(calls), shape=(ROWS, COLS), batch_size=4,
                **GRAY) as s:
        results = list(s)
        stats = s.stats
    assert [r.index for r in results] == list(range(72))
    assert [int(r.output) for r in results] == list(range(72))
    assert all(r.error is None and r.latency >= 0 for r in results)
    assert max(calls) <= 4 and sum(calls) == 72
    assert (stats.read, stats.processed, stats.dropped, stats.discarded) == (72, 72, 0, 0)


class Gated:
    """A video's frames, held back after the first until the model has it,
    and a model that then waits until the stream has read ``count`` frames:
    which frames the queue kept is then the policy's doing alone."""

    def __init__(self, path, count):
        self.source = VideoSource(path)
        self.count = count
        self.model_has_one = threading.Event()
        self.stream = None

    def __iter__(self):
        for frame in self.source:
            yield frame
            if frame.index == 0:
                assert self.model_has_one.wait(30)

    def close(self):
        self.source.close()

    def model(self, tensor):
        self.model_has_one.set()
        deadline = time.monotonic() + 30
        while self.stream.stats.read < self.count and time.monotonic() < deadline:
            time.sleep(0.005)
        return marker_model()(tensor)


# The frames each policy keeps of 72 with a queue of 3, when the model
# holds frame 0 while the rest are read.
KEPT = {"wait": list(range(72)), "drop_latest": [0, 1, 2, 3], "drop_oldest": [0, 69, 70, 71],
        "latest_only": [0, 71]}


@pytest.mark.parametrize("policy", list(KEPT))
def test_policies_keep_the_frames_they_promise(video, policy):
    # "wait" holds the reader back: it reads the queue's 3 frames, the one in
    # the model and the one it waits to queue.
    gated = Gated(video, 5 if policy == "wait" else 72)
    gated.stream = stream(gated, gated.model, shape=(ROWS, COLS), policy=policy,
                          queue_size=3, **GRAY)
    results = list(gated.stream)
    expected = KEPT[policy]
    assert [r.index for r in results] == expected
    assert [int(r.output) for r in results] == expected
    stats = gated.stream.stats
    assert stats.read == 72 and stats.processed == len(expected)
    assert stats.dropped == 72 - len(expected) and stats.discarded == 0


def test_a_raising_model_fails_only_its_frame(video):
    def model(tensor):
        markers = marker_model()(tensor)
        if 5 in markers:
            raise RuntimeError("frame 5 is bad")
        return markers
    results = list(stream(VideoSource(video), model, shape=(ROWS, COLS), batch_size=3,
                          **GRAY))
    assert [r.index for r in results] == list(range(72))
    failed = [r for r in results if r.error is not None]
    assert [r.index for r in failed] == [5] and failed[0].output is None
    assert "frame 5 is bad" in str(failed[0].error)
    with pytest.raises(RuntimeError, match="frame 5 is bad"):
        list(stream(VideoSource(video), model, shape=(ROWS, COLS), on_error="raise", **GRAY))


def test_closing_mid_stream_discards_queued_frames(video):
    s = stream(VideoSource(video), marker_model(), shape=(ROWS, COLS), queue_size=4, **GRAY)
    taken = []
    for result in s:
        taken.append(result.index)
        if len(taken) == 3:
            break
    s.close()
    stats = s.stats
    assert taken == [0, 1, 2]
    assert stats.read == stats.processed + stats.dropped + stats.discarded


def test_stream_bad_arguments(video):
    source = VideoSource(video)
    with pytest.raises(ValueError, match="policy must be one of"):
        stream(source, marker_model(), shape=(8, 8), policy="newest")
    with pytest.raises(TypeError, match="model must be callable"):
        stream(source, None, shape=(8, 8))
    with pytest.raises(ValueError, match="batch_size"):
        stream(source, marker_model(), shape=(8, 8), batch_size=0)
    with pytest.raises(ValueError, match="on_error"):
        stream(source, marker_model(), shape=(8, 8), on_error="ignore")
    with pytest.raises(ValueError, match="resize must be one of"):
        stream(source, marker_model(), shape=(8, 8), resize="fill")
    source.close()


SOAK = """
import os, sys, numpy as np
sys.path.insert(0, {tests!r})
from test_video_stream import GRAY, ROWS, COLS, marker_model
from scipix.video import VideoSource, stream
from scipix.tools.soak import resident_bytes

def run_once(policy):
    with stream(VideoSource({path!r}), marker_model(), shape=(ROWS, COLS), policy=policy,
                batch_size=2, **GRAY) as s:
        for _ in s:
            pass

for policy in ("wait", "latest_only"):
    run_once(policy)
before, fds = resident_bytes(), len(os.listdir("/proc/self/fd"))
for i in range(30):
    run_once(("wait", "drop_oldest", "latest_only")[i % 3])
print(resident_bytes() - before, len(os.listdir("/proc/self/fd")) - fds)
"""


@pytest.mark.soak
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_streams_leave_memory_and_descriptors_flat(video):
    # 30 streams of 72 frames each (decode threads, queues, tensors, files):
    # resident memory within 2 MiB, no descriptor left open.
    code = SOAK.format(tests=os.path.dirname(__file__), path=str(video))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    growth, fds = map(int, done.stdout.split())
    assert growth < 2 << 20 and fds == 0, (growth, fds)


@pytest.mark.soak
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_video_soak_accounts_for_every_frame():
    # `python -m scipix soak --video MINUTES`, for 3 seconds: every frame of
    # the paced camera read, each processed or dropped by latest_only, the
    # figures reported (their values depend on the machine: not checked).
    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV has no libx264")
    from scipix.tools.soak_video import soak_video
    lines = []
    figures = soak_video(0.05, sample_seconds=0.5, log=lines.append)
    assert figures["read"] == 90
    assert figures["processed"] + figures["dropped"] == 90 and figures["processed"] > 0
    assert figures["latency_p50_ms"] <= figures["latency_p99_ms"] <= figures["latency_max_ms"]
    assert figures["latency_p50_ms"] >= figures["model_period_ms"]  # it includes the model
    assert figures["descriptors_left"] == 0
    assert any("latency p50" in line for line in lines)
