"""OCR end to end: rendered pages, stock RapidOCR against examples/ocr_pipeline.py.

``python -m scipix bench --kernels ocr`` prints the recognizer batch
construction table (crop + resize + normalize + pad of a page's lines) and
the end-to-end table (pages per second, character error rate, time per
stage); it takes minutes, so the default ``bench`` run leaves it out.  Both need the
``ocr`` extra (``rapidocr-onnxruntime`` installed with ``--no-deps``,
``onnxruntime``, Pillow); without it they say "not installed".

The page renderer and the error rate are shared with the tests
(tests/test_ocr_pipeline.py).
"""
from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time

import numpy as np

from .timing import interleaved_medians

# Words the pages are made of: letters, digits and punctuation.
_WORDS = ("the of and to in is was for on that with as by at from his an be this which "
          "or had are not but have were one all their they can has been more its also "
          "after into other two new first time years only than most between during "
          "invoice total amount 2024 12.50 No. 4711 page (see p. 17) A4 ISO-9001 e-mail "
          "Sphinx quartz judge vow; pack my box: five dozen liquor jugs! 0.25 mm 3,141").split()
FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "ocr_pipeline.py")


def find_font():
    """A TrueType font file this machine has, or None."""
    for path in FONTS:
        if os.path.exists(path):
            return path
    return None


def render_page(seed, dpi=150, angle=0.0, noise=0.0, jpeg_quality=None, lines=24):
    """An A4 page of text lines, BGR uint8, and the lines' text.

    Parameters
    ----------
    seed : int
        Chooses the words and the font size (10-12 pt).
    dpi : int
    angle : float
        Degrees the page is rotated (counter-clockwise).
    noise : float
        Standard deviation of Gaussian pixel noise.
    jpeg_quality : int, optional
        Round trip through JPEG at this quality (decoded by OpenCV, as
        ``cv2.imread`` would).

    Returns
    -------
    page : uint8 array, shape (H, W, 3), BGR
    text : list of str
    """
    from PIL import Image, ImageDraw, ImageFont
    import cv2

    rng = np.random.default_rng(seed)
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    font_path = find_font()
    size_pt = rng.uniform(10, 12)
    font = ImageFont.truetype(font_path, round(size_pt / 72 * dpi))
    image = Image.new("RGB", (width, height), (252, 250, 245))
    draw = ImageDraw.Draw(image)
    margin, step = round(0.9 * dpi), round(size_pt / 72 * dpi * 1.8)
    text = []
    y = margin
    for _ in range(lines):
        if y > height - margin:
            break
        line = ""
        while True:
            word = _WORDS[rng.integers(len(_WORDS))]
            candidate = (line + " " + word).strip()
            if draw.textlength(candidate, font=font) > width - 2 * margin:
                break
            line = candidate
        draw.text((margin, y), line, fill=(25, 25, 35), font=font)
        text.append(line)
        y += step
    if angle:
        image = image.rotate(angle, resample=Image.BICUBIC, fillcolor=(252, 250, 245))
    page = np.asarray(image)[:, :, ::-1].astype(np.float32)
    if noise:
        page += rng.normal(0.0, noise, page.shape)
    page = np.clip(page, 0, 255).astype(np.uint8)
    if jpeg_quality:
        ok, data = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        page = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(page), text


def rendered_pages(dpi=150, lines=24):
    """The pages the tests and the benchmark use: (page, text) each; one
    clean, one rotated with noise, one rotated, noisy and through JPEG."""
    return [render_page(1, dpi, lines=lines),
            render_page(2, dpi, angle=2.0, noise=6.0, lines=lines),
            render_page(3, dpi, angle=-3.0, noise=4.0, jpeg_quality=75, lines=lines)]


def edit_distance(a, b):
    """Levenshtein distance between strings ``a`` and ``b``."""
    if not a or not b:
        return len(a) + len(b)
    target = np.frombuffer(b.encode("utf-32-le"), np.uint32)
    positions = np.arange(len(b) + 1)
    row = positions.copy()
    for i, char in enumerate(a, 1):
        substitute = row[:-1] + (target != ord(char))
        best = np.minimum(row[1:] + 1, substitute)
        best = np.concatenate([[i], best])
        # Insertions along the row: best[j] = min_k best[k] + (j - k).
        row = np.minimum.accumulate(best - positions) + positions
    return int(row[-1])


def character_error_rate(lines, truth):
    """Edit distance of the recognized lines (joined by spaces, reading
    order) to the true lines, over the true text's length."""
    expected = " ".join(truth)
    return edit_distance(" ".join(lines), expected) / len(expected)


def load_example():
    """The examples/ocr_pipeline.py module (not installed with the package)."""
    if "ocr_pipeline" in sys.modules:
        return sys.modules["ocr_pipeline"]
    spec = importlib.util.spec_from_file_location("ocr_pipeline", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ocr_pipeline"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def stock_engine(threads):
    """Stock RapidOCR with ``threads`` ONNX Runtime intra-op threads."""
    from rapidocr_onnxruntime import RapidOCR
    return RapidOCR(intra_op_num_threads=threads)


def stock_lines(engine, page):
    """Stock RapidOCR's text lines for a BGR page (no angle classifier)."""
    result, _ = engine(page, use_cls=False)
    return [text for _, text, _ in result or []]


def ocr_available():
    """None when the OCR stack is importable, else what is missing."""
    for module in ("rapidocr_onnxruntime", "onnxruntime", "PIL", "cv2"):
        if importlib.util.find_spec(module) is None:
            return module
    if find_font() is None:
        return "a TrueType font (fonts-dejavu-core)"
    return None


def _stock_batch(engine, page, boxes):
    """RapidOCR's recognizer input for ``boxes``: crops, then batches of 6."""
    crops = engine.get_crop_img_list(page, list(boxes))
    rec = engine.text_rec
    order = np.argsort([c.shape[1] / c.shape[0] for c in crops])
    batches = []
    for begin in range(0, len(crops), rec.rec_batch_num):
        chunk = [crops[i] for i in order[begin:begin + rec.rec_batch_num]]
        ratio = max(rec.rec_image_shape[2] / rec.rec_image_shape[1],
                    *(c.shape[1] / c.shape[0] for c in chunk))
        batches.append(np.concatenate([rec.resize_norm_img(c, ratio)[np.newaxis]
                                       for c in chunk]).astype(np.float32))
    return batches


def batch_table(record, repeat=15):
    """Recognizer batch construction for every line of each test page, one
    thread each (OpenCV's and scipix's kernels): scipix bilinear (its
    default) into a fresh array and into a reused one (``out=``, as the
    example does), and cubic (as RapidOCR's warp, and the example) into a
    reused one."""
    missing = ocr_available()
    print("\nOCR recognizer batch (crop + resize + normalize + pad, all lines of a page; "
          "1 thread each)")
    if missing:
        print(f"  not installed: {missing}")
        return
    import cv2
    from scipix.optimize.config import serial_kernels
    from scipix.optimize.parallel import crop_quads
    cv2.setNumThreads(1)
    example = load_example()
    engine = stock_engine(1)
    pipeline = example.OcrPipeline(example.default_models())
    print(f"{'':<14}{'RapidOCR':>10}{'scipix bilinear':>27}{'reused out':>18}"
          f"{'cubic, reused':>18}")
    print(f"{'page':<8}{'lines':>6}{'ms':>10}{'ms':>18}{'speedup':>9}{'ms':>9}{'speedup':>9}"
          f"{'ms':>9}{'speedup':>9}")
    options = dict(mean=0.5, std=0.5, input_order="bgr", color="bgr")
    table = record.table("ocr batch", "Recognizer batch construction, all lines of a rendered "
                         "page, 1 thread each: RapidOCR's crops + resize_norm_img against "
                         "crop_quads", ["page", "lines"],
                         ["RapidOCR", "bilinear", "bilinear reused out", "cubic reused out"],
                         ours="bilinear reused out", chart="speedup")
    for number, (page, _) in enumerate(rendered_pages()):
        boxes = pipeline.detect(example.Page("", page)).boxes
        buffer = np.empty_like(crop_quads(page, boxes, 48, **options)[0])
        fresh = lambda: crop_quads(page, boxes, 48, **options)
        reused = lambda: crop_quads(page, boxes, 48, out=buffer, **options)
        cubic = lambda: crop_quads(page, boxes, 48, out=buffer, interpolation="cubic",
                                   **options)
        theirs = lambda: _stock_batch(engine, page, boxes)
        with serial_kernels():
            medians = interleaved_medians({"stock": theirs, "fresh": fresh, "reused": reused,
                                           "cubic": cubic}, repeat, round_seconds=0)
        stock_s, *ours = medians.values()
        table.add(page=number, lines=len(boxes), **dict(zip(table.times, medians.values())))
        print(f"{number:<8}{len(boxes):>6}{stock_s * 1e3:>10.2f}"
              + "".join(f"{s * 1e3:>{9 if i else 18}.2f}{stock_s / s:>8.1f}x"
                        for i, s in enumerate(ours)))


def end_to_end_table(record, rounds=3):
    """Pages per second and error rate, stock RapidOCR (2 intra-op threads)
    against the example (two-stage pipeline; the detector on every core, one
    recognizer batch per core at once), the median of ``rounds`` interleaved
    runs over the pages."""
    missing = ocr_available()
    print("\nOCR end to end (PP-OCRv4 det + rec, 2 cores)")
    if missing:
        print(f"  not installed: {missing}")
        return
    example = load_example()
    pages = rendered_pages()
    engine = stock_engine(2)
    pipeline = example.OcrPipeline(example.default_models())
    stock_stages = _instrument_stock(engine)

    def run_stock(pages=pages):
        return [stock_lines(engine, page) for page, _ in pages]

    def run_scipix(pages=pages):
        return [[line["text"] for line in done.lines]
                for done in pipeline.run(example.Page(str(i), page)
                                         for i, (page, _) in enumerate(pages))]

    run_stock(pages[:1]), run_scipix(pages[:1])  # warm both sessions
    stock_stages.clear()
    pipeline.stage_seconds.clear()
    results = {}
    times = {"stock": [], "scipix": []}
    for _ in range(rounds):
        for name, fn in (("stock", run_stock), ("scipix", run_scipix)):
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    print(f"{'':<22}{'pages/s':>10}{'CER':>8}")
    pages_table = record.table("ocr end to end", f"PP-OCRv4 detection + recognition of "
                               f"{len(pages)} rendered pages: stock RapidOCR (2 intra-op "
                               f"threads) against examples/ocr_pipeline.py, median of "
                               f"{rounds} interleaved runs", ["engine"], ["per page"],
                               values=["pages/s", "CER"])
    for name in ("stock", "scipix"):
        cer = np.mean([character_error_rate(lines, truth)
                       for lines, (_, truth) in zip(results[name], pages)])
        print(f"{name:<22}{len(pages) / statistics.median(times[name]):>10.3f}{cer:>8.4f}")
        pages_table.add(engine=name, CER=float(cer),
                        **{"per page": statistics.median(times[name]) / len(pages),
                           "pages/s": len(pages) / statistics.median(times[name])})
    print(f"\n{'stage, ms per page':<22}{'stock':>10}{'scipix':>10}")
    count = rounds * len(pages)
    stages = record.table("ocr stages", "Time per OCR stage, seconds per page (scipix's "
                          "stages overlap and are summed over the threads that ran them)",
                          ["stage"], ["stock", "scipix"], ours="scipix", chart="stages")
    for stage in ("det_pre", "det_infer", "det_post", "rec_pre", "rec_infer", "rec_post"):
        stages.add(stage=stage, stock=stock_stages.get(stage, 0.0) / count,
                   scipix=pipeline.stage_seconds.get(stage, 0.0) / count)
        print(f"{stage:<22}{stock_stages.get(stage, 0.0) / count * 1e3:>10.1f}"
              f"{pipeline.stage_seconds.get(stage, 0.0) / count * 1e3:>10.1f}")
    print("  (scipix's stages overlap: detection beside recognition, a recognizer batch per core;\n"
          "   each stage's time is summed over the threads that ran it)")


def _instrument_stock(engine):
    """Wrap the stock engine's steps to sum their seconds per stage."""
    spent = {}

    def timed(stage, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - start
        return wrapper

    det, rec = engine.text_det, engine.text_rec
    original_preprocess = det.get_preprocess
    det.get_preprocess = lambda side: _wrap_call(original_preprocess(side), timed, "det_pre")
    det.infer = _wrap_call(det.infer, timed, "det_infer")
    det.postprocess_op = _wrap_call(det.postprocess_op, timed, "det_post")
    engine.get_crop_img_list = timed("rec_pre", engine.get_crop_img_list)
    rec.resize_norm_img = timed("rec_pre", rec.resize_norm_img)
    rec.session = _wrap_call(rec.session, timed, "rec_infer")
    rec.postprocess_op = _wrap_call(rec.postprocess_op, timed, "rec_post")
    return spent


class _wrap_call:
    """A callable object whose calls are timed; other attributes pass through."""

    def __init__(self, target, timed, stage):
        self._target = target
        self._call = timed(stage, target.__call__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._target, name)


def ocr_tables(repeat, record):
    batch_table(record, repeat)
    end_to_end_table(record)
