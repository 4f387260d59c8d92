"""The ``model`` table of ``python -m scipix bench``: making model inputs.

Each row races scipix against the code a user would otherwise run, on one
thread each (scipix's kernels serial, ``cv2.setNumThreads(1)``), in
interleaved rounds (one call of each contestant per round, so that load
from elsewhere hits both alike), and prints the medians:

- ``blob``: 16 BGR 1024x768 images -> (16, 3, 384, 384) float32 NCHW RGB
  with ImageNet mean/std, against ``cv2.dnn.blobFromImagesWithParams``;
  scipix with its default resize (area when shrinking) and with OpenCV's
  (bilinear), and in float16;
- ``det``: PP-OCR detection input of a 2480x3508 page (RapidOCR's default
  limit, short side at least 736, sides multiples of 32), against
  RapidOCR 1.4.4's own NumPy code (float64 arithmetic, fresh buffers) and
  the fastest fused OpenCV / NumPy expressions found;
- ``resize``: packed RGB resizes against ``cv2.resize``;
- ``scores``: the float32 probability-map threshold and the CTC argmax.
"""
import numpy as np

from ..optimize import parallel, simd
from ..optimize.config import serial_kernels
from .timing import interleaved_medians

try:
    import cv2
except ImportError:
    cv2 = None

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _row(table, case, medians, ours, theirs):
    table.add(case=case, against=theirs, scipix=medians[ours], peer=medians[theirs],
              **{"scipix variant": ours})
    ratio = medians[theirs] / medians[ours]
    print(f"  {case:<34} {ours:<18} {medians[ours] * 1e3:9.2f} ms   {theirs:<20} "
          f"{medians[theirs] * 1e3:9.2f} ms   {ratio:6.2f}x")


def _blob_rows(table, rounds):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (768, 1024, 3), np.uint8) for _ in range(16)]
    out32 = np.ones((16, 3, 384, 384), np.float32)
    out16 = np.ones((16, 3, 384, 384), np.float16)
    options = dict(color="rgb", input_order="bgr", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                   scale=1 / 255)
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = tuple(1 / 255 / s for s in IMAGENET_STD)
    params.mean = tuple(255 * m for m in IMAGENET_MEAN)
    params.size = (384, 384)
    params.swapRB = True
    medians = interleaved_medians({
        "scipix area f32": lambda: parallel.preprocess_batch(images, (384, 384), out=out32,
                                                             **options),
        "scipix linear f32": lambda: parallel.preprocess_batch(
            images, (384, 384), out=out32, interpolation="bilinear", **options),
        "scipix area f16": lambda: parallel.preprocess_batch(
            images, (384, 384), out=out16, dtype=np.float16, **options),
        "cv2 blob": lambda: cv2.dnn.blobFromImagesWithParams(images, params),
    }, rounds)
    for ours in ("scipix area f32", "scipix linear f32", "scipix area f16"):
        _row(table, "16x 1024x768 -> 3x384x384 ImageNet", medians, ours, "cv2 blob")
    _row(table, "float16 against float32", medians, "scipix area f16", "scipix area f32")


def _rapidocr_det_input(page, limit_side=736, limit_type="min"):
    """RapidOCR 1.4.4's DetPreProcess, imported when installed."""
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
    return DetPreProcess(limit_side, limit_type)(page)


def _det_rows(table, rounds):
    rng = np.random.default_rng(1)
    page = rng.integers(0, 256, (3508, 2480, 3), np.uint8)
    height, width = parallel.detector_size(*page.shape[:2], limit_side=736, limit_type="min")
    out = np.ones((1, 3, height, width), np.float32)
    staged = np.ones((3, height, width), np.float32)

    def numpy_fused():
        resized = cv2.resize(page, (width, height))
        np.subtract(resized.transpose(2, 0, 1), np.float32(127.5), out=staged)
        np.multiply(staged, np.float32(1 / 127.5), out=staged)

    contestants = {
        "scipix": lambda: parallel.preprocess_batch(
            [page], (height, width), color="bgr", input_order="bgr", mean=0.5, std=0.5,
            scale=1 / 255, interpolation="bilinear", out=out),
        "cv2 blob fused": lambda: cv2.dnn.blobFromImage(page, 1 / 127.5, (width, height),
                                                        (127.5, 127.5, 127.5)),
        "numpy fused": numpy_fused,
    }
    try:
        _rapidocr_det_input(page[:64, :64])
        contestants["rapidocr stock"] = lambda: _rapidocr_det_input(page)
    except ImportError:
        print("  (rapidocr-onnxruntime not installed: no stock row)")
    medians = interleaved_medians(contestants, rounds)
    case = f"det 2480x3508 -> 3x{height}x{width}"
    for theirs in ("rapidocr stock", "cv2 blob fused", "numpy fused"):
        if theirs in medians:
            _row(table, case, medians, "scipix", theirs)


def _resize_rows(table, rounds):
    rng = np.random.default_rng(2)
    for side in (1024, 2048):
        image = rng.integers(0, 256, (side, side, 3), np.uint8)
        for target, ours_fn, flag in ((side * 3 // 4, simd.simd_resize_bilinear, "INTER_LINEAR"),
                                      (side * 3 // 4, simd.fast_area_resize, "INTER_AREA"),
                                      (side // 2, simd.fast_area_resize, "INTER_AREA")):
            out = np.ones((target, target, 3), np.uint8)
            medians = interleaved_medians({
                "scipix": lambda: ours_fn(image, target, target, out=out),
                "cv2.resize": lambda: cv2.resize(image, (target, target), dst=out,
                                                 interpolation=getattr(cv2, flag)),
            }, rounds)
            _row(table, f"RGB {side}^2 -> {target}^2 {flag[6:].lower()}", medians, "scipix",
                 "cv2.resize")


def _scores_rows(table, rounds):
    rng = np.random.default_rng(3)
    probability = rng.random((3520, 2496), dtype=np.float32)
    bitmap = np.ones(probability.shape, np.uint8)
    medians = interleaved_medians({
        "scipix": lambda: simd.simd_threshold(probability, 0.3, out=bitmap),
        "cv2.threshold": lambda: cv2.threshold(probability, 0.3, 255, cv2.THRESH_BINARY),
    }, rounds)
    _row(table, "threshold 3520x2496 float32", medians, "scipix", "cv2.threshold")
    logits = rng.random((16, 80, 6625), dtype=np.float32)
    medians = interleaved_medians({
        "scipix": lambda: simd.argmax_last(logits),
        "numpy argmax+max": lambda: (logits.argmax(-1), logits.max(-1)),
    }, rounds)
    _row(table, "CTC argmax (16, 80, 6625)", medians, "scipix", "numpy argmax+max")


def model_table(repeat, record):
    """Print the ``model`` table: ``repeat`` interleaved rounds per row;
    recorded in ``record`` (a :class:`.BenchRecord`)."""
    if cv2 is None:
        print("\nmodel inputs: OpenCV not installed, nothing to compare against")
        return
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    print(f"\nmodel inputs, 1 thread each, median of {repeat} interleaved rounds:")
    table = record.table("model", "Model inputs, 1 thread each: scipix against the code a "
                         "user would otherwise run", ["case", "scipix variant", "against"],
                         ["scipix", "peer"], ours="scipix", chart="speedup")
    try:
        with serial_kernels():
            _blob_rows(table, repeat)
            _det_rows(table, repeat)
            _resize_rows(table, repeat)
            _scores_rows(table, repeat)
    finally:
        cv2.setNumThreads(cv2_threads)
