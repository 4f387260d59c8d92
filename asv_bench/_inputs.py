"""Synthetic inputs for the suite: page images and a sparse model file."""
import json
import struct

import numpy as np


def page_rgba(height, width, seed=0):
    """A scanned-page-like RGBA image: paper texture, dark text strokes.

    Parameters
    ----------
    height, width : int
    seed : int

    Returns
    -------
    uint8 ndarray, shape (height, width, 4)
    """
    rng = np.random.default_rng(seed)
    page = np.empty((height, width, 4), dtype=np.uint8)
    paper = rng.integers(215, 250, size=(height, width), dtype=np.uint8)
    page[..., 0] = paper
    page[..., 1] = paper
    page[..., 2] = np.clip(paper.astype(np.int16) - 12, 0, 255)
    page[..., 3] = 255
    line_height = max(height // 24, 2)
    for top in range(line_height, height - line_height, 2 * line_height):
        x = int(rng.integers(0, max(width // 10, 1)))
        while x < width * 0.9:
            word = int(rng.integers(max(width // 40, 1), max(width // 12, 2)))
            ink = int(rng.integers(10, 60))
            page[top:top + line_height, x:x + word, :3] = ink
            x += word + max(width // 60, 1)
    return page


def sparse_safetensors(path, big=1 << 30, small=4096):
    """Write a ``big``-byte safetensors file with one small tensor at its end.

    The file is sparse on disk: only the header is written.

    Parameters
    ----------
    path : str
    big, small : int
        Sizes in bytes of the uint8 tensors ``weights`` and ``bias``.
    """
    header = json.dumps({
        "weights": {"dtype": "U8", "shape": [big], "data_offsets": [0, big]},
        "bias": {"dtype": "U8", "shape": [small], "data_offsets": [big, big + small]},
    }).encode()
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(header)) + header)
        file.truncate(8 + len(header) + big + small)
