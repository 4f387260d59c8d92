"""Recognizer batch construction: scipix's crop_quads against RapidOCR's steps.

All text lines of a rendered 150 dpi page, rotated 2 degrees, into a
PP-OCR recognizer batch (crop by quadrilateral, resize to height 48,
normalize, pad): ``crop_quads`` (bilinear, its default, and cubic)
against RapidOCR 1.4.4's ``get_rotate_crop_image`` (cubic) +
``resize_norm_img`` + ``numpy.concatenate``.
Self-contained (public scipix API only); skipped where ``crop_quads``,
RapidOCR, Pillow or a DejaVu font is missing.
"""
import math
import os

import numpy as np

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
DPI = 150
LINES = 30
ANGLE = 2.0


def _page_and_quads():
    """A BGR page of text lines and each line's quad (rotated with the page)."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(8.27 * DPI), round(11.69 * DPI)
    font = ImageFont.truetype(FONT, round(11 / 72 * DPI))
    image = Image.new("RGB", (width, height), (252, 250, 245))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(0)
    boxes = []
    for i in range(LINES):
        words = rng.choice(["invoice", "total", "12.50", "quartz", "the", "of", "page"],
                           rng.integers(3, 12))
        left, top, right, bottom = draw.textbbox((100, 120 + 46 * i), " ".join(words), font=font)
        draw.text((100, 120 + 46 * i), " ".join(words), fill=(25, 25, 35), font=font)
        boxes.append([[left - 4, top - 4], [right + 4, top - 4], [right + 4, bottom + 4],
                      [left - 4, bottom + 4]])
    image = image.rotate(ANGLE, resample=Image.BICUBIC, fillcolor=(252, 250, 245))
    # PIL rotates counter-clockwise about the centre: move the boxes with it.
    angle = math.radians(ANGLE)
    centre = np.array([width / 2, height / 2])
    turn = np.array([[math.cos(angle), math.sin(angle)], [-math.sin(angle), math.cos(angle)]])
    quads = (np.array(boxes, np.float64) - centre) @ turn + centre
    page = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
    return page, np.round(quads).astype(np.float32)


class RecognizerBatch:
    """All lines of a page -> (N, 3, 48, W) float32, PP-OCR normalization."""

    params = (["scipix", "scipix_cubic", "rapidocr"],)
    param_names = ["implementation"]
    timeout = 120

    def setup(self, implementation):
        if not os.path.exists(FONT):
            raise NotImplementedError("no DejaVu font")
        try:
            from scipix.optimize.parallel import crop_quads
            import PIL  # noqa: F401
        except ImportError:
            raise NotImplementedError("needs crop_quads and Pillow")
        self.page, self.quads = _page_and_quads()
        if implementation.startswith("scipix"):
            interpolation = "cubic" if implementation == "scipix_cubic" else "bilinear"
            self.run = lambda: crop_quads(self.page, self.quads, 48, mean=0.5, std=0.5,
                                          interpolation=interpolation, input_order="bgr",
                                          color="bgr")
            return
        try:
            import cv2
            from rapidocr_onnxruntime.ch_ppocr_rec.text_recognize import TextRecognizer
            from rapidocr_onnxruntime.main import RapidOCR
        except ImportError:
            raise NotImplementedError("needs rapidocr-onnxruntime")
        cv2.setNumThreads(1)
        recognizer = TextRecognizer.__new__(TextRecognizer)  # the steps use no model
        recognizer.rec_image_shape = [3, 48, 320]
        boxes = list(self.quads)

        def stock():
            crops = RapidOCR.get_crop_img_list(None, self.page, boxes)
            ratio = max(c.shape[1] / c.shape[0] for c in crops)
            return np.concatenate([recognizer.resize_norm_img(c, ratio)[np.newaxis]
                                   for c in crops]).astype(np.float32)
        self.run = stock

    def time_batch(self, implementation):
        self.run()
