"""The OpenCV + NumPy code the suite compares scipix against."""
import numpy as np


def opencv_preprocess_batch(cv2, images, shape, out):
    """Best OpenCV + NumPy equivalent of ``preprocess_batch`` found so far.

    ``cv2.cvtColor`` to gray first (resizing RGBA first is slower), then
    ``cv2.resize(INTER_AREA)``, ``cv2.meanStdDev`` and a NumPy subtract and
    scale written straight into the preallocated batch (no ``np.stack``).

    Parameters
    ----------
    cv2 : module
        The imported OpenCV module.
    images : sequence of uint8 ndarray, shape (H, W, 4)
        RGBA images.
    shape : (int, int)
        (height, width) of the model input.
    out : float32 ndarray, shape (N, 1, height, width)

    Returns
    -------
    out
    """
    height, width = shape
    for i, image in enumerate(images):
        gray = cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY)
        small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
        mean, std = cv2.meanStdDev(small)
        target = out[i, 0]
        np.subtract(small, np.float32(mean[0, 0]), out=target, dtype=np.float32)
        target *= np.float32(1.0 / (std[0, 0] + 1e-8))
    return out


def numpy_quantize(x, scale, zero_point, out):
    """The fastest NumPy int8 quantizer found: in-place ops on one float32
    temporary, cast into ``out`` (int8 ndarray, ``x``'s shape)."""
    scaled = np.multiply(x, np.float32(1) / np.float32(scale))
    np.rint(scaled, out=scaled)
    scaled += np.float32(zero_point)
    np.clip(scaled, -128, 127, out=scaled)
    np.copyto(out, scaled, casting="unsafe")
    return out


def numpy_dequantize(q, scale, zero_point, out):
    """``(float32(q) - zero_point) * scale`` into ``out`` (float32 ndarray, ``q``'s shape)."""
    np.subtract(q, np.float32(zero_point), out=out, dtype=np.float32)
    out *= np.float32(scale)
    return out
