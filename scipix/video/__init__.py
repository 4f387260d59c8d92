"""Video: decoded YUV frames to model input, frame sources, streaming.

- :func:`yuv_to_rgb`: one I420 / NV12 frame to packed RGB (within one level of
  cvtColor, or its pixels exactly with ``converter="opencv"``).
- :func:`preprocess_yuv`: frames straight to a model's input tensor, as
  :func:`~scipix.optimize.parallel.preprocess_batch` makes it, without
  full-size RGB in between.
- :class:`VideoSource`: frames decoded by PyAV (the ``video`` extra) on their
  own thread, as plane views with indices and timestamps; paced at the
  file's frame rate to simulate a camera.
- :func:`stream`: a source through preprocessing and a model, with a
  bounded queue and a policy for frames the model cannot keep up with.
"""
from ._convert import preprocess_yuv, yuv_to_rgb
from ._source import Frame, VideoSource
from ._stream import POLICIES, Stream, StreamResult, StreamStats, stream

__all__ = ["yuv_to_rgb", "preprocess_yuv", "VideoSource", "Frame", "stream", "Stream",
           "StreamResult", "StreamStats", "POLICIES"]
