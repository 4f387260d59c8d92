"""Text detection on a video, frame by frame as it plays: scipix.video with
the PP-OCRv4 detector (ONNX Runtime) from the rapidocr-onnxruntime wheel.

    python examples/video_pipeline.py [VIDEO] [--frames N] [--paced]
                                      [--policy wait|drop_oldest|drop_latest|latest_only]
                                      [--batch-size N]

Without VIDEO it renders one first: scrolling lines of text, MPEG-4, 640x360
at 30 fps, into a temporary file.  Each processed frame prints a JSON line,
``{"index": ..., "time": ..., "latency_ms": ..., "text_regions": ...}`` (or
``"error"``), in frame order; the last line is the stream's statistics
(frames read, processed, dropped, latency percentiles, throughput).

The steps: ``VideoSource`` decodes on its own thread (``--paced``: at the
file's frame rate, as a camera would deliver it); ``stream`` keeps a
bounded queue with ``--policy`` for frames the model cannot keep up with,
turns each batch of YUV frames straight into the detector's input with
``preprocess_yuv`` (BGR, letterboxed into 352x640, ImageNet mean and std
as RapidOCR's detector takes them), and runs the detector; the text
regions of a frame are the connected regions of its probability map above
0.3.  Nothing is downloaded: the model is inside the wheel.
"""
import argparse
import json
import os
import sys
import tempfile

import cv2
import numpy as np

from scipix.video import VideoSource, stream

SHAPE = (352, 640)  # multiples of 32, as the detector needs
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LINES = ["scipix.video streams decoded frames", "straight into the model input",
         "without a full-size RGB copy", "PP-OCRv4 finds these lines",
         "as they scroll past the camera", "one JSON line per frame"]


def detector_path():
    import rapidocr_onnxruntime
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models",
                        "ch_PP-OCRv4_det_infer.onnx")


def render_video(path, frames, rows=360, cols=640, fps=30):
    """Scrolling lines of black text on white, written with PyAV's MPEG-4 encoder."""
    import av
    with av.open(path, "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = cols, rows, "yuv420p"
        video.bit_rate = 2_000_000
        for i in range(frames):
            page = np.full((rows, cols, 3), 255, np.uint8)
            for k, text in enumerate(LINES * 2):
                y = 40 + 60 * k - 4 * i
                if 20 < y < rows - 10:
                    cv2.putText(page, text, (20, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
            for packet in video.encode(av.VideoFrame.from_ndarray(page, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
    return path


class Detector:
    """The detector as stream()'s model: (N, 3, H, W) in, per frame the number
    of text regions out."""

    def __init__(self):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(detector_path(), options,
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, tensor):
        (maps,) = self.session.run(None, {self.input: tensor})
        return np.array([cv2.connectedComponents((m[0] > 0.3).astype(np.uint8))[0] - 1
                         for m in maps])


def run(video, frames=None, paced=False, policy="wait", batch_size=1, out=sys.stdout):
    """Stream ``video`` through the detector, printing JSON lines to ``out``;
    the stream's statistics."""
    source = VideoSource(video, paced=paced)
    with stream(source, Detector(), shape=SHAPE, policy=policy, batch_size=batch_size,
                color="bgr", mean=MEAN, std=STD, scale=1 / 255, resize="letterbox",
                anchor="top_left") as results:
        for result in results:
            line = {"index": result.index, "time": result.time,
                    "latency_ms": round(result.latency * 1e3, 2)}
            if result.error is None:
                line["text_regions"] = int(result.output)
            else:
                line["error"] = repr(result.error)
            print(json.dumps(line), file=out)
            if frames is not None and result.index + 1 >= frames:
                break
        stats = results.stats
    print(json.dumps({"stats": stats._asdict()}), file=out)
    return stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", help="a video file (default: render one)")
    parser.add_argument("--frames", type=int, default=90, help="frames to render or read")
    parser.add_argument("--paced", action="store_true", help="read at the file's frame rate")
    parser.add_argument("--policy", default="wait")
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video or render_video(os.path.join(tmp, "scrolling.mp4"), args.frames)
        run(video, args.frames, args.paced, args.policy, args.batch_size)


if __name__ == "__main__":
    main()
