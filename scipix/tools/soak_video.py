"""``python -m scipix soak --video MINUTES``: a live-paced 1080p30 stream
into a model slower than real time, for minutes.

A 1080p H.264 clip of that length is encoded first (PyAV's libx264,
preset ultrafast, a moving pattern), then read at its frame rate as a camera
would deliver it (``VideoSource(paced=True)``) into ``stream(...,
policy="latest_only")`` with a model that takes 1.5 frame periods.  The
report: latency percentiles against the model period (the goal: p99 below
two periods), frames processed and dropped, and resident memory sampled
every few seconds (flat after the first minute: no growth with the
stream's length).  Linux only (``/proc/self``).
"""
import os
import tempfile
import time

import numpy as np

from .soak import open_descriptors, resident_bytes

__all__ = ["encode_clip", "soak_video"]

ROWS, COLS, RATE = 1080, 1920, 30


def encode_clip(path, seconds, rate=RATE):
    """Write a 1080p H.264 clip of ``seconds`` at ``rate`` fps to ``path``."""
    import av
    cy, cx = np.mgrid[0:ROWS, 0:COLS].astype(np.float32)
    # 60 distinct frames, cycled: the encoder, not NumPy, sets the pace.
    frames = []
    for k in range(60):
        luma = 128 + 100 * np.sin((cx + 8 * k) / 37.0) * np.cos((cy - 5 * k) / 53.0)
        frame = av.VideoFrame.from_ndarray(np.clip(luma, 0, 255).astype(np.uint8),
                                           format="gray")
        frames.append(frame.reformat(format="yuv420p"))
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=rate,
                                     options={"preset": "ultrafast", "tune": "zerolatency"})
        video.width, video.height, video.pix_fmt = COLS, ROWS, "yuv420p"
        for i in range(int(seconds * rate)):
            frame = frames[i % len(frames)]
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())


def soak_video(minutes, *, sample_seconds=5.0, log=print):
    """Run the soak; return a dict of its figures (see the module doc)."""
    from ..video import VideoSource, stream
    period = 1.5 / RATE

    def model(batch):
        time.sleep(period)  # a model slower than the camera
        return batch[:, 0, 0, 0].copy()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "camera.mp4")
        start = time.perf_counter()
        encode_clip(path, minutes * 60)
        log(f"encoded {minutes} min of 1080p{RATE} H.264 in "
            f"{time.perf_counter() - start:.0f} s ({os.path.getsize(path) / 2**20:.1f} MiB)")
        fds = open_descriptors()
        samples = []   # (seconds into the stream, resident bytes)
        # Written in place (its pages touched now): the soak's own record
        # must not grow with the stream it measures.
        latencies = np.full(int(minutes * 60 * RATE) + 1, np.nan)
        processed = 0
        start = time.perf_counter()
        next_sample = 0.0
        with stream(VideoSource(path, paced=True), model, shape=(224, 224),
                    policy="latest_only", batch_size=1, scale=1 / 255) as results:
            for result in results:
                if result.error is not None:
                    raise result.error
                latencies[processed] = result.latency
                processed += 1
                now = time.perf_counter() - start
                if now >= next_sample:
                    samples.append((now, resident_bytes()))
                    next_sample += sample_seconds
                    if len(samples) % 12 == 1:
                        log(f"  {now:6.0f} s  RSS {samples[-1][1] / 2**20:7.1f} MiB  "
                            f"processed {processed}")
            stats = results.stats
        seconds = time.perf_counter() - start
    latencies_ms = latencies[:processed] * 1e3
    after_minute = [rss for t, rss in samples if t >= 60] or [samples[-1][1]]
    figures = {
        "minutes": minutes, "seconds": seconds, "model_period_ms": period * 1e3,
        "read": stats.read, "processed": stats.processed, "dropped": stats.dropped,
        "latency_p50_ms": float(np.percentile(latencies_ms, 50)),
        "latency_p99_ms": float(np.percentile(latencies_ms, 99)),
        "latency_max_ms": float(latencies_ms.max()),
        "rss_first_minute_mib": after_minute[0] / 2**20,
        "rss_end_mib": samples[-1][1] / 2**20,
        "rss_range_after_first_minute_mib": (max(after_minute) - min(after_minute)) / 2**20,
        "descriptors_left": open_descriptors() - fds,
    }
    log(f"{figures['read']} frames read in {seconds:.0f} s, {figures['processed']} processed, "
        f"{figures['dropped']} dropped (latest_only, model {period * 1e3:.0f} ms)")
    log(f"latency p50 {figures['latency_p50_ms']:.1f} ms, p99 {figures['latency_p99_ms']:.1f} ms "
        f"(two model periods: {2 * period * 1e3:.0f} ms), max {figures['latency_max_ms']:.1f} ms")
    log(f"RSS at 1 min {figures['rss_first_minute_mib']:.1f} MiB, at the end "
        f"{figures['rss_end_mib']:.1f} MiB, range after the first minute "
        f"{figures['rss_range_after_first_minute_mib']:.1f} MiB; descriptors left open: "
        f"{figures['descriptors_left']}")
    return figures
