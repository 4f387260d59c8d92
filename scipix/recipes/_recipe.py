"""A model's input recipe: resizes, a window (crop or pad), per-value normalization.

:class:`Recipe` is what :func:`~scipix.recipes.from_hf` and
:func:`~scipix.recipes.from_timm` return.  Each image is converted to RGB,
resized with Pillow's (or torch's) exact arithmetic
(:func:`~scipix.optimize.simd.resample`), and only the part of the last
resize that lands in the output window is computed; the window is filled
where it passes the image.  The float values then depend only on each
8-bit value and channel, so they are read from a table built with the
reference's own float operations: bit-equal to it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from ..optimize._resampling import filter_name, resample_window
from ..optimize.parallel._pillow_geometry import hf_crop_offset
from ..optimize.config import kernel_threads, local_thread_count
from ._pillow_view import pillow_pixels

__all__ = ["Recipe", "Resize", "Window"]

SizeRule = Callable[[int, int], "tuple[int, int]"]


@dataclass(frozen=True)
class Resize:
    """One resize: ``size(height, width) -> (new_height, new_width)``.

    ``reducing_gap`` is Pillow's; a resize it would shrink first by
    ``Image.reduce`` goes through Pillow itself (scipix does not reproduce
    ``reduce``).
    """

    size: SizeRule
    filter: str
    reducing_gap: Optional[float] = None


@dataclass(frozen=True)
class Window:
    """The output's window onto the resized image: ``(height, width)``, and
    per axis the offset of the window's first pixel in the image (negative:
    the window starts with fill), from ``offset(image_side, window_side)``."""

    height: int
    width: int
    offset: Callable[[int, int], int]
    fill: tuple[int, int, int] = (0, 0, 0)


def pad_offset(side: int, target: int) -> int:
    """transformers' Donut/Nougat padding and torchvision's ``center_crop``
    padding: floor((target - side) / 2) before."""
    return -((target - side) // 2) if target > side else (side - target) // 2


def torchvision_crop_offset(side: int, crop: int) -> int:
    """torchvision's ``center_crop``: ``int(round((side - crop) / 2))`` (half
    to even); a larger crop pads floor((crop - side) / 2) before."""
    return int(round((side - crop) / 2.0)) if crop <= side else -((crop - side) // 2)


@dataclass
class Recipe:
    """A preprocessing recipe: callable on a batch of images.

    Call it as ``recipe(images, out=None)``: ``images`` a sequence of Pillow
    images, uint8 NumPy arrays (H, W, 3) in ``input_order``, or file paths
    (decoded with Pillow on worker threads); returns float32 (N, 3, H, W).

    Attributes
    ----------
    name : str
        What it reproduces (e.g. ``"CLIPImageProcessor"``).
    resizes : list of Resize
    window : Window or None
        Crop or pad after the last resize; None keeps its size.
    table : float32 ndarray, shape (3, 256)
        Output value of each 8-bit value, per output channel.
    channels : tuple of int
        Source channel of each output channel ((2, 1, 0) flips RGB to BGR).
    reference : {"pillow", "torch"}
    convert : callable
        Pillow image -> RGB Pillow image, as the reference converts.
    prepare : callable or None
        Steps before the resizes on the RGB array (Nougat's margin crop).
    """

    name: str
    resizes: list[Resize]
    window: Optional[Window]
    table: NDArray[np.float32]
    channels: tuple[int, int, int] = (0, 1, 2)
    reference: str = "pillow"
    convert: Callable[[Any], Any] = field(default=lambda image: image.convert("RGB"))
    prepare: Optional[Callable[[NDArray[np.uint8]], NDArray[np.uint8]]] = None

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) an image of this size comes out at."""
        for step in self.resizes:
            height, width = step.size(height, width)
        if self.window is not None:
            return self.window.height, self.window.width
        return height, width

    def __call__(self, images: Sequence[Any], out: Optional[NDArray[np.float32]] = None, *,
                 input_order: str = "rgb", draft: bool = False) -> NDArray[np.float32]:
        """Preprocess ``images`` into one float32 (N, 3, H, W) batch.

        Parameters
        ----------
        images : sequence of Pillow images, uint8 (H, W, 3) arrays or paths
        out : float32 ndarray, shape (N, 3, H, W), optional
            Written in place; left untouched when an image is refused.
        input_order : {"rgb", "bgr"}
            Channel order of NumPy images (``cv2.imread`` gives BGR).
        draft : bool
            Decode JPEG files with Pillow's ``draft`` mode: the DCT scales
            them down by 2, 4 or 8 to no less than twice the first resize's
            target, much faster, with different pixels (see the docs).
        """
        if isinstance(images, (np.ndarray, str, os.PathLike)) or not hasattr(images, "__len__"):
            raise TypeError("images must be a sequence of images (wrap one image as [image])")
        if input_order not in ("rgb", "bgr"):
            raise ValueError(f"input_order must be 'rgb' or 'bgr', got {input_order!r}")
        if len(images) == 0:
            raise ValueError("images is empty")
        # This thread's count (local_thread_count, OptLevel): the images are
        # spread over that many workers, each running its kernels on one
        # thread, or on their share when there are fewer images.
        threads = kernel_threads()
        with ThreadPoolExecutor(threads) as pool:
            pixels = list(pool.map(lambda item: self._rgb(item[1], item[0], input_order, draft),
                                   enumerate(images)))
        sizes = {self.output_size(*p.shape[:2]) for p in pixels}
        if len(sizes) != 1:
            raise ValueError(f"the images come out at different sizes {sorted(sizes)}; "
                             f"this recipe has no fixed output size")
        height, width = sizes.pop()
        shape = (len(pixels), 3, height, width)
        if out is None:
            out = np.empty(shape, np.float32)
        elif not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != shape:
            raise ValueError(f"out must be a float32 ndarray of shape {shape}")
        elif not out.flags.writeable:
            raise ValueError("out is read-only")
        per_thread = max(1, threads // len(pixels))

        def run(index: int) -> None:
            with local_thread_count(per_thread):
                canvas = self._canvas(pixels[index])
            for k, source in enumerate(self.channels):
                np.take(self.table[k], canvas[:, :, source], out=out[index, k])

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(len(pixels))))
        return out

    def _rgb(self, image: Any, index: int, input_order: str, draft: bool) -> NDArray[np.uint8]:
        """``images[index]`` as uint8 RGB (H, W, 3), or (H, W, 4) with a
        padding byte: a Pillow image's own memory, not copied."""
        if isinstance(image, (str, os.PathLike)):
            from PIL import Image  # noqa: PLC0415 (Pillow only for files and Pillow images)
            try:
                with Image.open(image) as opened:
                    if draft and opened.format == "JPEG":
                        target = self.resizes[0].size(opened.height, opened.width) \
                            if self.resizes else (opened.height, opened.width)
                        opened.draft("RGB", (2 * target[1], 2 * target[0]))
                    opened.load()  # decoded here; converted below, as any Pillow image
                    image = opened
            except OSError as error:  # missing, unreadable or not an image
                raise ValueError(f"images[{index}]: cannot read {os.fspath(image)!r} "
                                 f"({error})") from error
        if type(image).__module__.startswith("PIL."):
            # Converting RGB to RGB copies the pixels and changes none (a
            # colour key, info["transparency"], is what the references
            # composite over white).
            if image.mode != "RGB" or image.info.get("transparency") is not None:
                image = self.convert(image)
            if image.mode != "RGB":
                raise ValueError(f"images[{index}] is a Pillow image in mode {image.mode!r} "
                                 f"that {self.name} would not convert to RGB; convert it first")
            array = pillow_pixels(image) if self.prepare is None else None
            if array is None:
                array = np.asarray(image)
        else:
            array = np.asarray(image)
            if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
                raise ValueError(f"images[{index}] must be a uint8 (H, W, 3) array, got "
                                 f"{array.dtype} {array.shape}")
            if input_order == "bgr":
                array = array[:, :, ::-1]
        if min(array.shape[:2]) < 1:
            raise ValueError(f"images[{index}] is empty ({array.shape})")
        array = np.ascontiguousarray(array)
        return self.prepare(array) if self.prepare is not None else array

    def _canvas(self, pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The window's uint8 pixels: every resize but the last whole, the
        last one only where the window sees it."""
        for step in self.resizes[:-1]:
            pixels = self._resize(pixels, step, None)
        if self.resizes:
            return self._resize(pixels, self.resizes[-1], self.window)
        if self.window is None:
            return pixels

        def copy(out: NDArray[np.uint8], r: tuple[int, int], c: tuple[int, int]) -> None:
            np.copyto(out, pixels[r[0]:r[1], c[0]:c[1]])
        return self._place_window(pixels.shape[0], pixels.shape[1], pixels.shape[2], self.window,
                                  copy)

    def _resize(self, pixels: NDArray[np.uint8], step: Resize,
                window: Optional[Window]) -> NDArray[np.uint8]:
        rows, cols = pixels.shape[:2]
        height, width = step.size(rows, cols)
        if step.reducing_gap is not None and (cols / width >= 2 * step.reducing_gap
                                              or rows / height >= 2 * step.reducing_gap):
            from PIL import Image  # noqa: PLC0415 (Pillow's reduce(): not reproduced)
            image = Image.fromarray(np.ascontiguousarray(pixels[:, :, :3])).resize(
                (width, height), _pillow(step.filter), reducing_gap=step.reducing_gap)
            pixels, rows, cols = np.asarray(image), height, width
        name = filter_name(step.filter)

        def fill(out: NDArray[np.uint8], r: tuple[int, int], c: tuple[int, int]) -> None:
            if (height, width) == (rows, cols):
                np.copyto(out, pixels[r[0]:r[1], c[0]:c[1]])
            else:
                resample_window(pixels, height, width, name, self.reference, r, c, out)

        if window is None:
            canvas = np.empty((height, width, pixels.shape[2]), np.uint8)
            fill(canvas, (0, height), (0, width))
            return canvas
        return self._place_window(height, width, pixels.shape[2], window, fill)

    @staticmethod
    def _place_window(height: int, width: int, channels: int, window: Window,
                      fill: Callable[..., None]) -> NDArray[np.uint8]:
        """The window's canvas of `channels` (3, or 4: RGB and padding)."""
        top, left = window.offset(height, window.height), window.offset(width, window.width)
        canvas = np.empty((window.height, window.width, channels), np.uint8)
        rows = (max(0, top), min(height, top + window.height))
        cols = (max(0, left), min(width, left + window.width))
        inside = (slice(rows[0] - top, rows[1] - top), slice(cols[0] - left, cols[1] - left))
        if rows[1] - rows[0] < window.height or cols[1] - cols[0] < window.width:
            canvas[...] = window.fill + (0,) * (channels - 3)
        if rows[1] > rows[0] and cols[1] > cols[0]:
            fill(canvas[inside], rows, cols)
        return canvas


def _pillow(name: str) -> int:
    from PIL import Image  # noqa: PLC0415
    return int(getattr(Image.Resampling, filter_name(name).upper()))


def value_table(steps: Sequence[Callable[[NDArray[Any]], NDArray[Any]]]) -> NDArray[np.float32]:
    """The (3, 256) float32 output of each 8-bit value and channel, computed
    by ``steps`` applied in order to a (3, 256) uint8 ramp, the reference's
    own array operations."""
    values: NDArray[Any] = np.tile(np.arange(256, dtype=np.uint8), (3, 1))
    for step in steps:
        values = step(values)
    return np.ascontiguousarray(values, dtype=np.float32)
