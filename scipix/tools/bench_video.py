"""The ``video`` table of ``python -m scipix bench``: decoded YUV frames to
model input, one thread, interleaved rounds.

- 1080p I420 -> (3, 224, 224) float32 with ImageNet's mean and std:
  :func:`scipix.video.preprocess_yuv` against (a) PyAV's
  ``to_ndarray(format="rgb24")`` (FFmpeg's swscale) + ``cv2.resize``
  (``INTER_AREA``) + NumPy normalization and (b) ``cv2.cvtColor`` on the
  planes + the same resize and normalization;
- 720p I420 -> (3, 640, 640) letterboxed, scaled by 1 / 255, likewise;
- 1080p ``yuv_to_rgb`` against ``cv2.cvtColor(COLOR_YUV2RGB_I420)``;
- the share of a frame's time that decoding 1080p H.264 (made here with
  PyAV's libx264) takes, FFmpeg's threads on and off.

Needs OpenCV and PyAV; a part whose library is missing is left out.
"""
import os
import tempfile
import time

import numpy as np

from ..optimize import local_thread_count
from .timing import interleaved_medians, speedup_row

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def yuv_frame(rows, cols, seed=0):
    """I420 planes of a photograph-like frame, and the planes as one buffer."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    luma = 120 + 70 * np.sin(xx / 9.1 + yy / 13.0) + rng.normal(0, 8, (rows, cols))
    cy, cx = np.mgrid[0:rows // 2, 0:cols // 2].astype(np.float32)
    u = 128 + 50 * np.cos(cx / 5.0 - cy / 7.0)
    v = 128 + 45 * np.sin(cy / 6.0 + cx / 11.0)
    planes = tuple(np.clip(p, 0, 255).astype(np.uint8) for p in (luma, u, v))
    buffer = np.concatenate([p.ravel() for p in planes]).reshape(-1, cols)
    return planes, buffer


def _letterbox(rgb, size, cv2):
    """OpenCV letterbox: area-resized to fit, centred on 114 grey, scaled."""
    rows, cols = rgb.shape[:2]
    factor = min(size / rows, size / cols)
    fitted = cv2.resize(rgb, (int(cols * factor), int(rows * factor)),
                        interpolation=cv2.INTER_AREA)
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = (size - fitted.shape[0]) // 2, (size - fitted.shape[1]) // 2
    canvas[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return (canvas.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)


def _conversion_rows(repeat, cv2, av, table):
    from ..video import preprocess_yuv, yuv_to_rgb
    planes, buffer = yuv_frame(1080, 1920)
    frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p") if av else None
    tensor = np.empty((1, 3, 224, 224), np.float32)
    mean, std = MEAN * 255, STD * 255

    def imagenet(rgb):
        small = cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_AREA)
        return ((small.astype(np.float32) - mean) / std).transpose(2, 0, 1)

    contenders = {"scipix": lambda: preprocess_yuv([planes], (224, 224), mean=MEAN, std=STD,
                                                   scale=1 / 255, out=tensor)}
    if av:
        contenders["PyAV+cv2"] = lambda: imagenet(frame.to_ndarray(format="rgb24"))
    contenders["cv2"] = lambda: imagenet(cv2.cvtColor(buffer, cv2.COLOR_YUV2RGB_I420))
    speedup_row(table, "1080p -> (3, 224, 224)", interleaved_medians(contenders, repeat))

    planes, buffer = yuv_frame(720, 1280)
    frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p") if av else None
    tensor = np.empty((1, 3, 640, 640), np.float32)
    contenders = {"scipix": lambda: preprocess_yuv([planes], (640, 640), resize="letterbox",
                                                   pad_value=114, scale=1 / 255, out=tensor)}
    if av:
        contenders["PyAV+cv2"] = lambda: _letterbox(frame.to_ndarray(format="rgb24"), 640, cv2)
    contenders["cv2"] = lambda: _letterbox(cv2.cvtColor(buffer, cv2.COLOR_YUV2RGB_I420), 640,
                                           cv2)
    speedup_row(table, "720p -> 640x640 letterbox", interleaved_medians(contenders, repeat))

    planes, buffer = yuv_frame(1080, 1920)
    rgb = np.empty((1080, 1920, 3), np.uint8)
    speedup_row(table, "1080p yuv_to_rgb", interleaved_medians({
        "scipix": lambda: yuv_to_rgb(*planes, out=rgb),
        "cv2": lambda: cv2.cvtColor(buffer, cv2.COLOR_YUV2RGB_I420, dst=rgb)}, repeat))


def _decode_share(av, frames=48):
    """Decode milliseconds per 1080p H.264 frame, FFmpeg's threads off and on,
    against preprocess_yuv's to (3, 224, 224)."""
    from ..video import VideoSource, preprocess_yuv
    if "libx264" not in av.codecs_available:
        print("  decode share: this PyAV has no libx264")
        return
    planes, buffer = yuv_frame(1080, 1920)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "moving.mp4")
        with av.open(path, "w") as out:
            stream = out.add_stream("libx264", rate=30, options={"preset": "veryfast"})
            stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
            for i in range(frames):
                moved = np.roll(buffer, 8 * i, axis=1)
                for packet in stream.encode(av.VideoFrame.from_ndarray(moved,
                                                                       format="yuv420p")):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        tensor = np.empty((1, 3, 224, 224), np.float32)
        for threads in (False, True):
            with VideoSource(path, threads=threads) as source:
                start = time.perf_counter()
                decoded = list(source)
                decode = (time.perf_counter() - start) / len(decoded)
                start = time.perf_counter()
                for frame in decoded:
                    preprocess_yuv([frame.av_frame], (224, 224), mean=MEAN, std=STD,
                                   scale=1 / 255, out=tensor)
                convert = (time.perf_counter() - start) / len(decoded)
            print(f"  decode 1080p H.264, FFmpeg threads {'on ' if threads else 'off'}: "
                  f"{decode * 1e3:6.2f} ms/frame, preprocess_yuv {convert * 1e3:5.2f} ms/frame: "
                  f"decode is {decode / (decode + convert):.0%} of the frame's time")


def video_table(repeat, record):
    try:
        import cv2
    except ImportError:
        print("\nvideo: needs OpenCV (opencv-python-headless)")
        return
    try:
        import av
    except ImportError:
        av = None
    print(f"\nvideo (decoded I420 to model input), one thread; scipix, then "
          f"{'PyAV ' + av.__version__ + ' rgb24 + ' if av else ''}OpenCV {cv2.__version__} "
          f"(times and scipix's speed-up)")
    table = record.table("video", "Decoded I420 frames to model input, one thread, against "
                         "PyAV's rgb24 conversion + OpenCV and cv2.cvtColor + OpenCV",
                         ["case"], ["scipix", "PyAV+cv2", "cv2"], ours="scipix",
                         chart="speedup")
    with local_thread_count(1):
        _conversion_rows(repeat, cv2, av, table)
        if av is not None:
            _decode_share(av)
