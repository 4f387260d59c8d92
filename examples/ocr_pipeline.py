"""PP-OCRv4 text detection and recognition with ONNX Runtime, the CPU side with scipix.

    python examples/ocr_pipeline.py [--models DIR] [--det-threads N] [--rec-workers N]
                                    --json IMAGE...

prints one JSON object per image, ``{"path": ..., "lines": [{"text": ...,
"box": [[x, y] x 4], "score": ...}]}``, in input order, and pages per second
on stderr.  An image that cannot be read is named on stderr and the others
are still printed; the exit status is then 1.  ``--models`` defaults to the
models inside an installed ``rapidocr-onnxruntime`` wheel (PP-OCRv4
detection and recognition); nothing is downloaded.

Steps, per page (the models, thresholds and box rules are RapidOCR 1.4.4's;
its text-direction classifier is not run):

1. detector input (``detector_plan``), RapidOCR's rules in its order: a
   page longer than 2000 pixels is scaled down to that, one with a side
   under 30 up to 30; a page then 30 rows or less, or more than 8 times
   wider than high, gets black rows above and below (RapidOCR's
   letterbox: a 40 x 1800 strip is detected as 450 x 1800, not stretched
   to 736 x 33120); the short side is then scaled to at least 736, both
   sides to multiples of 32 (``detector_size``).  One rule is this
   example's own: the detector input's long side is capped at 4096, so
   a page more than about 5.6 times taller than wide (a till receipt), or
   one with a side of a few pixels, is detected smaller than RapidOCR
   would (its text smaller: small text on it may be missed) instead of
   exhausting memory (by RapidOCR's rules a 1999 x 1 page gets a
   1379264 x 736 input, 12 GB in float32; here 4096 x 32).
   ``preprocess_batch`` resizes the BGR page, ``(x / 255 - 0.5) / 0.5``
   per channel, NCHW float32, into a reused buffer;
2. detector (ONNX Runtime) -> probability map -> bitmap (``simd_threshold``
   on the float32 map, ``> 0.3``);
3. boxes: DB post-processing with RapidOCR's own code (OpenCV contours and
   minimum-area rectangles, pyclipper unclipping, its box ordering), mapped
   back to page pixels;
4. ``crop_quads``: every line cut by its quadrilateral (bicubic, as
   RapidOCR's warp: the bilinear default reads a little worse), turned
   upright, resized to height 48 and normalized straight into a recognizer
   batch.  A box RapidOCR's clipping to the page has folded (two corners
   on one point: not a convex quadrilateral, which ``crop_quads`` refuses)
   is cut by the minimum-area rectangle around its points instead, and a
   box with nothing inside is skipped (``cropping_quads``);
   lines are grouped by width (multiples of 32) by the runtime's
   ``BatchedModel`` so little padding is computed, each width with its own
   reused buffer per session;
5. recognizer (ONNX Runtime) -> CTC greedy decoding (``argmax_last``: the
   best class and its probability in one pass).

Pages overlap in a ``StagePipeline`` of ``scipix.runtime``: the detector
works on one page while the recognizer works on the one before, so both
cores stay busy, and a page whose stage fails is reported, not lost.  The
detector is a ``Model`` with one session on every core; the recognizer a
``Model`` pool (one single-threaded session per core) behind a
``BatchedModel``: lines are grouped by padded width, each batch written
by ``crop_quads`` straight into its session's reused buffer.  The
runtime's sessions keep the memory arena on (RapidOCR turns it off) and
let idle workers sleep (a spinning one holds a core the other stage
needs).  (ONNX Runtime's ``session.set_denormal_as_zero`` is left off: it
flushes denormals in the thread that creates the session, i.e. in the
caller's own NumPy code too.)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from rapidocr_onnxruntime.ch_ppocr_det.text_detect import TextDetector
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess
from rapidocr_onnxruntime.main import RapidOCR

from scipix.optimize.batch import BatchConfig
from scipix.optimize.parallel import crop_quads, crop_widths, detector_size, preprocess_batch
from scipix.optimize.simd import argmax_last, simd_resize_bilinear, simd_threshold
from scipix.runtime import BatchedModel, Model, StagePipeline

DET_MODEL = "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = "ch_PP-OCRv4_rec_infer.onnx"
# RapidOCR 1.4.4's defaults (config.yaml).
MAX_SIDE = 2000          # pages larger than this are shrunk for detection
MIN_PAGE_SIDE = 30       # pages with a shorter side are enlarged to it first
LETTERBOX_HEIGHT = 30    # pages this short or shorter are letterboxed,
LETTERBOX_RATIO = 8      # as are pages wider than this times their height
MIN_SIDE = 736           # detector input's short side at least this
SIDE_MULTIPLE = 32
# This example's own: the detector input's long side at most this (the
# process peaked at 0.6 GB detecting a blank 4096 x 736 input; RapidOCR has
# no limit).
DET_MAX_SIDE = 4096
DET_THRESHOLD = 0.3
LINE_HEIGHT = 48
TEXT_SCORE = 0.5         # lines recognized with a lower mean score are dropped
# Width buckets of the recognizer batches: the model reads 8 columns a step.
BUCKET = 32
MAX_BATCH = 16
# RapidOCR's box helpers (corner order, clipping), which use no state.
BOX_RULES = TextDetector.__new__(TextDetector)


def default_models() -> str:
    """The models directory of an installed rapidocr_onnxruntime."""
    import rapidocr_onnxruntime
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models")


@dataclass(frozen=True)
class DetectorPlan:
    """How a page becomes the detector input (see :func:`detector_plan`).

    Attributes
    ----------
    scaled : (rows, cols)
        The page's size after RapidOCR's side limits.
    padding : int
        Black rows above and below the scaled page (RapidOCR's letterbox).
    shape : (height, width)
        The detector input's size, multiples of 32.
    """

    scaled: Tuple[int, int]
    padding: int
    shape: Tuple[int, int]

    def page_positions(self, boxes: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """(N, 4, 2) boxes in the letterboxed, scaled page -> page pixels,
        clipped to the page (as RapidOCR's ``_get_origin_points``)."""
        scaled_rows, scaled_cols = self.scaled
        x = np.clip(boxes[..., 0] * (cols / scaled_cols), 0, cols)
        y = np.clip((boxes[..., 1] - self.padding) * (rows / scaled_rows), 0, rows)
        return np.stack([x, y], axis=-1).astype(np.float32)


def detector_plan(rows: int, cols: int) -> DetectorPlan:
    """The detector input of a ``rows`` x ``cols`` page by RapidOCR 1.4.4's
    rules (``RapidOCR.preprocess``, ``maybe_add_letterbox``,
    ``DetPreProcess``), the input's long side capped at ``DET_MAX_SIDE``."""
    if max(rows, cols) > MAX_SIDE:
        rows, cols = detector_size(rows, cols, limit_side=MAX_SIDE, limit_type="max",
                                   multiple=SIDE_MULTIPLE)
    if min(rows, cols) < MIN_PAGE_SIDE:
        rows, cols = detector_size(rows, cols, limit_side=MIN_PAGE_SIDE, limit_type="min",
                                   multiple=SIDE_MULTIPLE)
    padding = 0
    if rows <= LETTERBOX_HEIGHT or cols / rows > LETTERBOX_RATIO:
        padded_rows = max(int(cols / LETTERBOX_RATIO), LETTERBOX_HEIGHT) * 2
        padding = int(abs(padded_rows - rows) / 2)
    shape = detector_size(rows + 2 * padding, cols, limit_side=MIN_SIDE, limit_type="min",
                          multiple=SIDE_MULTIPLE)
    shape = detector_size(*shape, limit_side=DET_MAX_SIDE, limit_type="max",
                          multiple=SIDE_MULTIPLE)
    return DetectorPlan((rows, cols), padding, shape)


def detector_input(page: np.ndarray, plan: DetectorPlan, out: np.ndarray) -> np.ndarray:
    """The BGR page into ``out`` (1, 3, H, W) as ``plan`` says: resized
    bilinearly (as ``cv2.resize``), ``(x / 255 - 0.5) / 0.5`` per channel.

    A letterboxed page is padded at its scaled size, then resized, as
    RapidOCR does, unless the padded page would be larger than the input
    (a page with a side under 30 pixels, enlarged first: a 1 x 1999 page
    pads to 14992 x 59968 pixels, 2.7 GB); such a page is resized to its
    rows of the input first and padded there, its edges rounded to whole
    input rows.  Without a letterbox the page is resized once.
    """
    if plan.padding:
        (rows, cols), (height, width) = plan.scaled, plan.shape
        padded_rows = rows + 2 * plan.padding
        if padded_rows * cols <= height * width:
            if page.shape[:2] != (rows, cols):
                page = simd_resize_bilinear(page, cols, rows)
            top = bottom = plan.padding
        else:
            page_rows = max(1, round(rows * height / padded_rows))
            page = simd_resize_bilinear(page, width, page_rows)
            top = min(round(plan.padding * height / padded_rows), height - page_rows)
            bottom = height - top - page_rows
        page = np.pad(page, ((top, bottom), (0, 0), (0, 0)))
    return preprocess_batch([page], out.shape[2:], color="bgr", input_order="bgr", mean=0.5,
                            std=0.5, scale=1 / 255, interpolation="bilinear", out=out)


def cropping_quads(boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The quad each line is cut by, and which lines are cut.

    A box that is not a strictly convex quadrilateral (RapidOCR clips its
    rotated boxes to the page, which can put two corners on one point)
    is cut by the minimum-area rectangle around its points, in RapidOCR's
    corner order; a box whose rectangle is less than a pixel thick holds
    no text and is skipped.
    """
    quads = boxes.astype(np.float64)
    edges = np.roll(quads, -1, axis=1) - quads
    following = np.roll(edges, -1, axis=1)
    turns = edges[..., 0] * following[..., 1] - edges[..., 1] * following[..., 0]
    convex = np.all(turns > 0, axis=1) | np.all(turns < 0, axis=1)
    usable = convex.copy()
    for i in np.flatnonzero(~convex):
        rectangle = cv2.boxPoints(cv2.minAreaRect(boxes[i].astype(np.float32)))
        rectangle = BOX_RULES.order_points_clockwise(rectangle)
        sides = np.hypot(*(np.roll(rectangle, -1, axis=0) - rectangle).T)
        if sides.min() >= 1:
            quads[i], usable[i] = rectangle, True
    return quads, usable


@dataclass
class Page:
    """One page on its way through the pipeline; ``error`` says why a page
    that could not be read has no ``image`` (the stages pass it on)."""

    path: str
    image: Optional[np.ndarray]            # BGR uint8
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float32))
    lines: List[dict] = field(default_factory=list)
    error: Optional[str] = None


class CtcDecoder:
    """Greedy CTC decoding as RapidOCR's CTCLabelDecode: best class per
    step, repeats merged, blanks (class 0) dropped, score the mean
    probability of the kept steps."""

    def __init__(self, characters: Sequence[str]) -> None:
        self.characters = ["blank", *characters, " "]

    def __call__(self, probabilities: np.ndarray) -> List[Tuple[str, float]]:
        best, best_p = argmax_last(probabilities)
        results = []
        for classes, p in zip(best, best_p):
            keep = classes != 0
            keep[1:] &= classes[1:] != classes[:-1]
            text = "".join(self.characters[c] for c in classes[keep])
            results.append((text, float(p[keep].mean()) if keep.any() else 0.0))
        return results


class OcrPipeline:
    """Detection and recognition of pages, the CPU side with scipix.

    Parameters
    ----------
    models : str
        Directory with the PP-OCRv4 detection and recognition ONNX models.
    det_threads : int, optional
        ONNX Runtime intra-op threads of the detector (default: scipix's
        thread count, every core).
    rec_workers : int, optional
        Recognizer batches run at once, each on one thread (default: one
        per core).
    """

    def __init__(self, models: str, det_threads: Optional[int] = None,
                 rec_workers: Optional[int] = None) -> None:
        self.det = Model(os.path.join(models, DET_MODEL), execution="shared", threads=det_threads)
        self.rec = Model(os.path.join(models, REC_MODEL), execution="pool", threads=rec_workers)
        self.decode = CtcDecoder(self.rec.metadata["character"].splitlines())
        self.lines = BatchedModel(
            self.rec, config=BatchConfig(max_batch_size=MAX_BATCH, max_wait_ms=1,
                                         preferred_batch_size=1),
            shape_of=lambda line: (3, LINE_HEIGHT, -(-line[2] // BUCKET) * BUCKET),
            unpadded_shape=lambda line: (3, LINE_HEIGHT, line[2]),
            prepare=self._crop_lines, finish=self._decode_lines)
        self.post = DBPostProcess(thresh=DET_THRESHOLD, box_thresh=0.5, max_candidates=1000,
                                  unclip_ratio=1.6, score_mode="fast", use_dilation=True)
        # The detector stage's reused input and output, per input size.
        self._det_buffers: Dict[Tuple[int, int], List[np.ndarray]] = {}
        self._batch_clock = threading.local()  # when a recognizer batch's input was done
        self.stage_seconds: Dict[str, float] = {}
        self._stage_lock = threading.Lock()

    def _timed(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        with self._stage_lock:
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + now - start
        return now

    # ----------------------------------------------------------- detection

    def detect(self, page: Page) -> Page:
        """Page -> text-line quads in page pixels, in reading order."""
        if page.image is None:
            return page
        start = time.perf_counter()
        rows, cols = page.image.shape[:2]
        plan = detector_plan(rows, cols)
        buffers = self._det_buffers.get(plan.shape)
        if buffers is None:
            buffers = self._det_buffers[plan.shape] = [
                np.empty((1, 3) + plan.shape, np.float32), np.empty((1, 1) + plan.shape, np.float32)]
        batch, probability = buffers
        detector_input(page.image, plan, batch)
        start = self._timed("det_pre", start)
        self.det.run(batch, out=[probability])
        start = self._timed("det_infer", start)
        probability = probability[0, 0]
        bitmap = simd_threshold(probability, DET_THRESHOLD)  # 255 where > 0.3
        mask = cv2.dilate(bitmap, self.post.dilation_kernel.astype(np.uint8))
        np.bitwise_and(mask, 1, out=mask)  # RapidOCR's boxes_from_bitmap takes 0 / 1
        # Boxes in the letterboxed, scaled page, where RapidOCR filters and orders them.
        scaled_rows, scaled_cols = plan.scaled
        padded_rows = scaled_rows + 2 * plan.padding
        boxes, _ = self.post.boxes_from_bitmap(probability, mask, scaled_cols, padded_rows)
        boxes = BOX_RULES.filter_tag_det_res(boxes, (padded_rows, scaled_cols))
        if len(boxes):
            page.boxes = plan.page_positions(np.array(RapidOCR.sorted_boxes(boxes)), rows, cols)
        self._timed("det_post", start)
        return page

    # --------------------------------------------------------- recognition

    def recognize(self, page: Page) -> Page:
        """Quads -> text: one request per line to the batched recognizer."""
        boxes, requests = self.line_requests(page)
        return self.add_lines(page, boxes, self.lines(requests))

    def line_requests(self, page: Page) -> Tuple[np.ndarray, List[Tuple[np.ndarray, np.ndarray,
                                                                          int]]]:
        """The boxes of the lines to read and a recognizer request per line
        (``self.lines.infer(request)`` from a coroutine, as a server does)."""
        if page.image is None or not len(page.boxes):
            return page.boxes[:0], []
        quads, usable = cropping_quads(page.boxes)
        widths = crop_widths(quads[usable], LINE_HEIGHT)
        return page.boxes[usable], [(page.image, quad, int(width))
                                    for quad, width in zip(quads[usable], widths)]

    @staticmethod
    def add_lines(page: Page, boxes: np.ndarray,
                  results: Sequence[Tuple[str, float]]) -> Page:
        """The recognized lines scoring at least ``TEXT_SCORE`` into ``page.lines``."""
        for box, (text, score) in zip(boxes, results):
            if score >= TEXT_SCORE:
                page.lines.append({"text": text, "box": box.tolist(), "score": score})
        return page

    def _crop_lines(self, lines: List[Tuple[np.ndarray, np.ndarray, int]],
                    out: np.ndarray) -> None:
        """A recognizer batch: each page's lines cut straight into ``out``."""
        start = time.perf_counter()
        first = 0
        while first < len(lines):
            image = lines[first][0]
            last = first + 1
            while last < len(lines) and lines[last][0] is image:
                last += 1
            crop_quads(image, np.array([line[1] for line in lines[first:last]]), LINE_HEIGHT,
                       mean=0.5, std=0.5, interpolation="cubic", input_order="bgr",
                       color="bgr", out=out[first:last])
            first = last
        self._batch_clock.ready = self._timed("rec_pre", start)

    def _decode_lines(self, outputs: List[np.ndarray],
                      lines: List[object]) -> List[Tuple[str, float]]:
        start = self._timed("rec_infer", self._batch_clock.ready)
        results = self.decode(outputs[0])
        self._timed("rec_post", start)
        return results

    # ------------------------------------------------------------- driving

    def run(self, pages: Iterable[Page]) -> Iterator[Page]:
        """Pages in, recognized pages out (input order), two pages in flight;
        a page a stage failed on comes out with ``error`` set."""
        for result in StagePipeline(self.detect, self.recognize).stream(pages):
            if not result.ok:
                result.value.error = f"stage {result.stage} failed: {result.error!r}"
            yield result.value

    def close(self) -> None:
        self.lines.close()
        self.rec.close()
        self.det.close()

    def __enter__(self) -> "OcrPipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_pages(paths: Iterable[str]) -> Iterator[Page]:
    """A page per path; one that cannot be read has ``error`` set instead
    of an image (raising here would drop the pages in flight)."""
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            yield Page(path, None, error="cannot read the image (missing, or not an image "
                                         "OpenCV can decode)")
        else:
            yield Page(path, image)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--models", default=None,
                        help="directory of the ONNX models (default: rapidocr_onnxruntime's)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per image")
    parser.add_argument("--det-threads", type=int, default=None,
                        help="detector threads (default: every core)")
    parser.add_argument("--rec-workers", type=int, default=None,
                        help="recognizer batches run at once (default: one per core)")
    args = parser.parse_args(argv)
    count = failed = 0
    with OcrPipeline(args.models or default_models(), args.det_threads,
                     args.rec_workers) as pipeline:
        start = time.perf_counter()
        for page in pipeline.run(load_pages(args.images)):
            if page.error is not None:
                failed += 1
                print(f"{page.path}: {page.error}", file=sys.stderr)
                continue
            count += 1
            if args.json:
                print(json.dumps({"path": page.path, "lines": page.lines}, ensure_ascii=False))
            else:
                print(page.path)
                for line in page.lines:
                    print(f"  {line['score']:.3f}  {line['text']}")
        elapsed = time.perf_counter() - start
    print(f"{count} pages in {elapsed:.2f} s: {count / elapsed:.3f} pages/s", file=sys.stderr)
    if failed:
        print(f"{failed} of {failed + count} images could not be read", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
