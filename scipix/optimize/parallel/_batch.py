"""Fused batch preprocessing: images into a model's input tensor in one call."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from .._dispatch import current_kernels
from .._validate import output_array, packed_pixels, pillow_order, positive_int, uint8_array
from ..config import kernel_threads
from ._pillow_geometry import check_interpolation, resampled, shortest_edge_placement

__all__ = ["preprocess_batch", "BatchResult"]

_DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.uint8): 2}
_COLORS = {"gray": 1, "rgb": 3, "bgr": 3}
_ORDERS = ("rgb", "bgr")
_RESIZES = ("stretch", "letterbox", "crop_center", "shortest_edge")
_ANCHORS = ("center", "top_left")
_NORMALIZE = ("standardize", "fixed", "none")
_LAYOUTS = ("nchw", "nhwc")


class BatchResult(NamedTuple):
    """What ``preprocess_batch(..., return_transforms=True)`` returns.

    Attributes
    ----------
    tensor : ndarray, shape (N, C, H, W) or (N, H, W, C)
        The model input (``out`` when given).
    transforms : float64 ndarray, shape (N, 4)
        Per image ``(scale_x, scale_y, offset_x, offset_y)``: a point at
        ``(x, y)`` in the image (pixel-edge coordinates: pixel ``(0, 0)``
        covers ``[0, 1)``) is at ``(x * scale_x + offset_x,
        y * scale_y + offset_y)`` in the tensor.  Map a box back with
        :meth:`to_image`.
    """

    tensor: NDArray[Any]
    transforms: NDArray[np.float64]

    def to_image(self, index: int, points: ArrayLike) -> NDArray[np.float64]:
        """Tensor coordinates ``points`` (..., 2) as ``(x, y)``, mapped back to
        image ``index``'s pixel coordinates."""
        scale_x, scale_y, offset_x, offset_y = self.transforms[index]
        xy = np.asarray(points, np.float64)
        mapped: NDArray[np.float64] = (xy - (offset_x, offset_y)) / (scale_x, scale_y)
        return mapped


def _as_pixels(image: ArrayLike, name: str, input_order: str) -> NDArray[np.uint8]:
    """A (rows, cols, channels) uint8 view of a gray, RGB or RGBA image."""
    order = pillow_order(image, name)
    if order is not None and order != input_order:
        raise ValueError(f"{name} is a Pillow image, stored {order.upper()}, but "
                         f"input_order is {input_order!r}")
    pixels = uint8_array(image, name)
    if pixels.ndim == 2:
        pixels = pixels[:, :, np.newaxis]
    elif pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"{name} must have shape (H, W), (H, W, 3) or (H, W, 4), "
                         f"got {pixels.shape}")
    return packed_pixels(pixels, name)


def _as_shape(shape: Any) -> tuple[int, int]:
    try:
        height, width = shape
    except (TypeError, ValueError):
        raise TypeError(f"shape must be a (height, width) pair, got {shape!r}") from None
    return positive_int(height, "shape[0]"), positive_int(width, "shape[1]")


def _choice(value: Any, name: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r}")
    return value


def _per_channel(value: Any, name: str, channels: int) -> NDArray[np.float64]:
    """A scalar or a sequence of ``channels`` finite numbers, as float64."""
    try:
        values = np.array(value, dtype=np.float64, ndmin=1)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a sequence of {channels} numbers, "
                        f"got {value!r}") from None
    if values.ndim != 1 or len(values) not in (1, channels):
        raise ValueError(f"{name} must have 1 or {channels} values (one per output channel), "
                         f"got {len(values) if values.ndim == 1 else values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    return np.broadcast_to(values, (channels,)).copy()


def _normalization(normalize: str | None, mean: Any, std: Any, scale: Any, channels: int,
                   dtype: np.dtype) -> tuple[bool, NDArray[np.float32], NDArray[np.float32]]:
    """(standardize, shift, factor): each channel becomes (v - shift) * factor."""
    fixed_given = mean is not None or std is not None or scale is not None
    if normalize is None:
        normalize = "fixed" if fixed_given else "none" if dtype == np.uint8 else "standardize"
    normalize = _choice(normalize, "normalize", _NORMALIZE)
    if normalize != "fixed" and fixed_given:
        raise ValueError(f"mean, std and scale apply to normalize='fixed', "
                         f"not normalize={normalize!r}")
    ones = np.ones(channels, np.float32)
    if normalize == "standardize":
        if dtype == np.uint8:
            raise ValueError("dtype uint8 cannot take normalize='standardize' "
                             "(values around 0); use float32 or float16")
        return True, np.zeros(channels, np.float32), ones
    if normalize == "none":
        return False, np.zeros(channels, np.float32), ones
    mean_values = _per_channel(0.0 if mean is None else mean, "mean", channels)
    std_values = _per_channel(1.0 if std is None else std, "std", channels)
    (factor_of_pixels,) = _per_channel(1.0 if scale is None else scale, "scale", 1)
    if (std_values <= 0).any():
        raise ValueError(f"std must be positive, got {std!r}")
    if factor_of_pixels == 0:
        raise ValueError("scale must be non-zero")
    # (v * scale - mean) / std == (v - mean / scale) * (scale / std): OpenCV's
    # (v - mean) * scalefactor, in the same float32 arithmetic.
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        shift = (mean_values / factor_of_pixels).astype(np.float32)
        factor = (factor_of_pixels / std_values).astype(np.float32)
        extremes = (np.array([[0.0], [255.0]], np.float32) - shift) * factor
    if not np.isfinite(shift).all():
        raise ValueError(f"mean / scale overflows float32 ({mean!r} / {scale!r} gives {shift}); "
                         f"it is the value subtracted from each pixel")
    if not np.isfinite(factor).all() or (factor == 0).any():
        raise ValueError(f"scale / std must be a finite non-zero float32 ({scale!r} / {std!r} "
                         f"gives {factor}); it multiplies each pixel")
    if not np.isfinite(extremes).all():
        raise ValueError(f"mean, std and scale ({mean!r}, {std!r}, {scale!r}) map pixel values "
                         f"in [0, 255] beyond float32's range")
    return False, shift, factor


def _placement(rows: int, cols: int, height: int, width: int, resize: str,
               anchor: str) -> tuple[int, int, int, int]:
    """(resized rows, resized cols, top, left) of one image, as OpenCV's
    blobFromImagesWithParams sizes its letterbox and centre crop."""
    if resize == "stretch":
        return height, width, 0, 0
    if resize == "letterbox":
        factor = min(np.float32(width) / np.float32(cols), np.float32(height) / np.float32(rows))
        fitted_rows = max(1, int(np.float32(rows) * factor))
        fitted_cols = max(1, int(np.float32(cols) * factor))
        if anchor == "top_left":
            return fitted_rows, fitted_cols, 0, 0
        return fitted_rows, fitted_cols, (height - fitted_rows) // 2, (width - fitted_cols) // 2
    cover = float(max(np.float32(width) / np.float32(cols),
                      np.float32(height) / np.float32(rows)))
    covering_rows = max(height, round(rows * cover))
    covering_cols = max(width, round(cols * cover))
    return (covering_rows, covering_cols, -((covering_rows - height) // 2),
            -((covering_cols - width) // 2))


class BatchOptions(NamedTuple):
    """preprocess_batch's checked options, shared with the callers that fill
    a tensor the same way from other sources (``scipix.video``)."""

    height: int
    width: int
    channels: int
    output_bgr: bool
    resize: str
    anchor: str
    edge: int
    interpolation: str
    layout: str
    dtype: np.dtype
    standardize: bool
    shift: NDArray[np.float32]
    factor: NDArray[np.float32]
    pad: NDArray[np.float32]


def batch_options(shape: Any, *, color: str, mean: Any, std: Any, scale: Any,
                  normalize: str | None, resize: str, anchor: str, pad_value: Any,
                  interpolation: str, layout: str, dtype: DTypeLike, reference: str,
                  edge: Any) -> BatchOptions:
    """Check preprocess_batch's options (see there), naming the bad one."""
    height, width = _as_shape(shape)
    color = _choice(color, "color", tuple(_COLORS))
    resize = _choice(resize, "resize", _RESIZES)
    anchor = _choice(anchor, "anchor", _ANCHORS)
    interpolation = check_interpolation(interpolation, reference)
    layout = _choice(layout, "layout", _LAYOUTS)
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32, float16 or uint8, got {dtype!r}") from None
    if out_dtype not in _DTYPE_CODES:
        raise TypeError(f"dtype must be float32, float16 or uint8, got {out_dtype}")
    channels = _COLORS[color]
    standardize, shift, factor = _normalization(normalize, mean, std, scale, channels,
                                                out_dtype)
    pad = _per_channel(pad_value, "pad_value", channels)
    if ((pad < 0) | (pad > 255)).any():
        raise ValueError(f"pad_value must be in [0, 255] (pixel values), got {pad_value!r}")
    edge = min(height, width) if edge is None else positive_int(edge, "edge")
    return BatchOptions(height, width, channels, color == "bgr", resize, anchor, edge,
                        interpolation, layout, out_dtype, standardize, shift, factor,
                        pad.astype(np.float32))


def placements(sizes: Sequence[tuple[int, int]], options: BatchOptions) -> NDArray[np.int64]:
    """(N, 4) int64: per image of (rows, cols) in ``sizes``, its resized
    (rows, cols) and where its pixel (0, 0) lands (top, left)."""
    height, width = options.height, options.width
    return np.array([shortest_edge_placement(rows, cols, height, width, options.edge)
                     if options.resize == "shortest_edge"
                     else _placement(rows, cols, height, width, options.resize, options.anchor)
                     for rows, cols in sizes], dtype=np.int64).reshape(-1, 4)


def output_tensor(out: NDArray[Any] | None, n: int, options: BatchOptions) -> NDArray[Any]:
    """``out`` checked for ``n`` images, or a new tensor."""
    expected = ((n, options.channels, options.height, options.width)
                if options.layout == "nchw"
                else (n, options.height, options.width, options.channels))
    if out is None:
        return np.empty(expected, dtype=options.dtype)
    output_array(out, expected, options.dtype)
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    return out


def fill_tensor(pixels: list[NDArray[np.uint8]], out: NDArray[Any],
                placement: NDArray[np.int64], options: BatchOptions, input_bgr: bool,
                bilinear: bool) -> None:
    """The image kernels' preprocess_batch (resize, normalize, store) with
    ``options``; ``pixels`` must not share memory with ``out``."""
    current_kernels().image.preprocess_batch(
        pixels, out, placement, options.channels, options.layout == "nhwc",
        _DTYPE_CODES[options.dtype], input_bgr, options.output_bgr, options.shift,
        options.factor, options.pad, options.standardize, bilinear, kernel_threads())


def transforms(placement: NDArray[np.int64], sizes: Sequence[tuple[int, int]]
               ) -> NDArray[np.float64]:
    """BatchResult.transforms of images of (rows, cols) ``sizes`` placed at ``placement``."""
    size = np.array(sizes, np.float64).reshape(-1, 2)
    return np.column_stack([placement[:, 1] / size[:, 1], placement[:, 0] / size[:, 0],
                            placement[:, 3], placement[:, 2]]).astype(np.float64)


def preprocess_batch(images: Iterable[ArrayLike], shape: tuple[int, int], *,
                     color: str = "gray", input_order: str = "rgb",
                     mean: Any = None, std: Any = None, scale: Any = None,
                     normalize: str | None = None, resize: str = "stretch",
                     anchor: str = "center", pad_value: Any = 0,
                     interpolation: str = "auto", layout: str = "nchw",
                     dtype: DTypeLike = np.float32, out: NDArray[Any] | None = None,
                     return_transforms: bool = False, reference: str = "opencv",
                     edge: Any = None) -> NDArray[Any] | BatchResult:
    """Resize, normalize and lay out images as one model input tensor.

    For each image, in one call: converted to gray (BT.601, as
    :func:`~scipix.optimize.simd.simd_grayscale`) when ``color="gray"``,
    resized and placed (``resize``), normalized per channel and stored in
    ``layout`` and ``dtype``.  The resize uses area averaging when
    shrinking both axes (as :func:`~scipix.optimize.simd.fast_area_resize`)
    and OpenCV's bilinear ``INTER_LINEAR`` otherwise (as
    :func:`~scipix.optimize.simd.simd_resize_bilinear`), or bilinear
    always with ``interpolation="bilinear"`` (what OpenCV's
    ``blobFromImage`` does); it keeps the resized pixels in a buffer of the
    output's size, never a full-size converted copy of the source.
    The defaults give what earlier versions gave: ``(N, 1, H, W)`` float32
    gray, standardized per image.

    Normalization, per output channel ``k`` of pixel value ``v`` in [0, 255]:

    - ``"fixed"`` (the default when ``mean``, ``std`` or ``scale`` is
      given): ``(v * scale - mean[k]) / std[k]``, computed as OpenCV does,
      ``(v - mean[k] / scale) * (scale / std[k])`` in float32;
    - ``"standardize"`` (the default otherwise): ``(v - m) / (s + 1e-8)``
      with the mean ``m`` and population std ``s`` of the image's resized
      colour values (all output channels together, alpha and padding left
      out), as :func:`~scipix.optimize.simd.simd_normalize` computes them;
    - ``"none"``: ``v`` itself (the default for ``dtype=uint8``).

    Parameters
    ----------
    images : sequence of N uint8 arrays (or Pillow images in mode L, RGB, RGBA)
        Each (H_i, W_i) gray, (H_i, W_i, 3) or (H_i, W_i, 4) colour; sizes
        may differ; rows may be strided (crops, used without copies),
        pixels packed.  A 4-D (N, H, W, C) array is taken as N images; any
        other ndarray raises (one image is ``[image]``).
    shape : (height, width)
        Output size, positive ints.
    color : {"gray", "rgb", "bgr"}
        Output channels: 1 gray, or 3 in that order.  Gray images give
        three equal channels.
    input_order : {"rgb", "bgr"}
        How colour images are stored (``cv2.imread`` gives BGR, Pillow
        RGB); alpha, if any, is ignored.  A Pillow RGB image with
        ``input_order="bgr"`` raises.
    mean, std : float or sequence of C floats, optional
        Per output channel, in output order; ``std > 0``.
    scale : float, optional
        Multiplies the pixel values first, e.g. ``1 / 255``; non-zero.
    normalize : {"standardize", "fixed", "none"}, optional
    resize : {"stretch", "letterbox", "crop_center", "shortest_edge"}
        ``"stretch"`` resizes to ``shape``; ``"letterbox"`` keeps the
        aspect ratio, fits the image inside and pads the rest with
        ``pad_value``; ``"crop_center"`` keeps the aspect ratio, covers the
        output and crops the middle.  Sizes and offsets are OpenCV's
        ``blobFromImagesWithParams`` ones (the covering size is rounded,
        the fitted size truncated).  ``"shortest_edge"`` resizes the short
        side to ``edge`` and the long side in proportion (truncated), then
        crops the middle ``shape`` (floor offsets; padded where the image is
        smaller, ceil before): Hugging Face's ``size={"shortest_edge":
        edge}`` with ``crop_size=shape``.
    edge : int, optional
        The short side's size for ``resize="shortest_edge"`` (default
        ``min(shape)``); timm's ``crop_pct`` is ``edge=floor(size /
        crop_pct)``.
    anchor : {"center", "top_left"}
        Where a letterboxed image sits.
    pad_value : float or sequence of C floats in [0, 255]
        Padding, in pixel values (normalized as the pixels are).
    interpolation : str
        With ``reference="opencv"``: ``"auto"`` or ``"bilinear"`` (above).
        With ``reference="pillow"``: a filter of
        :func:`~scipix.optimize.simd.resample` (``"bilinear"``,
        ``"bicubic"``, ``"lanczos"``, ...); with ``"torch"``: ``"bilinear"``
        or ``"bicubic"``.  Each image is then resized with that library's
        exact arithmetic (only the part that lands in the output), before
        the conversion to ``color`` and the normalization.
    reference : {"opencv", "pillow", "torch"}
        Whose resize ``interpolation`` names; ``"opencv"`` (the default)
        keeps the behaviour above.
    layout : {"nchw", "nhwc"}
    dtype : float32, float16 or uint8
        float16 rounds to nearest even; uint8 rounds half to even and
        clamps to [0, 255].
    out : ndarray, optional
        C-contiguous, of ``dtype`` and shape (N, C, H, W) or (N, H, W, C);
        written in place and returned.  Nothing is written when an argument
        is rejected.
    return_transforms : bool
        Also return where each image went (see :class:`BatchResult`).

    Returns
    -------
    out : ndarray, shape (N, C, height, width) or (N, height, width, C)
        Or a :class:`BatchResult` with ``return_transforms=True``.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: wrong dtypes or shapes, ``mean`` / ``std`` /
        ``pad_value`` of the wrong length or not finite, ``std <= 0``,
        ``scale == 0``, ``mean / scale`` or ``scale / std`` not finite (or
        ``scale / std`` zero) in float32, or pixel values it would map
        beyond float32's range, a normalization the dtype cannot hold, a Pillow
        image that is not pixel colours (mode P, 1, I;16, ...).

    Notes
    -----
    Work is spread over ``get_thread_count()`` OpenMP threads, whole images
    per thread when there are at least as many images as threads, row
    bands of each image otherwise.  The GIL is released throughout.
    """
    if isinstance(images, np.ndarray) and images.ndim != 4:
        # Iterating it would take its rows (or channels) as images.
        raise ValueError(f"images is one array of shape {images.shape}, not a batch: "
                         f"wrap one image as [image] (a stack of N images is a list or a "
                         f"4-D (N, H, W, C) array)")
    try:
        images = list(images)
    except TypeError:
        raise TypeError(f"images must be a sequence of arrays, "
                        f"got {type(images).__name__}") from None
    if not images:
        raise ValueError("images is empty")
    options = batch_options(shape, color=color, mean=mean, std=std, scale=scale,
                            normalize=normalize, resize=resize, anchor=anchor,
                            pad_value=pad_value, interpolation=interpolation, layout=layout,
                            dtype=dtype, reference=reference, edge=edge)
    input_order = _choice(input_order, "input_order", _ORDERS)
    pixels = [_as_pixels(image, f"images[{i}]", input_order) for i, image in enumerate(images)]
    sizes = [p.shape[:2] for p in pixels]
    placement = placements(sizes, options)
    transform_placement = placement
    if reference != "opencv":
        pixels, placement = resampled(pixels, placement, options.height, options.width,
                                      options.interpolation, reference)
    out = output_tensor(out, len(pixels), options)
    pixels = [p.copy() if np.may_share_memory(p, out) else p for p in pixels]
    fill_tensor(pixels, out, placement, options, input_order == "bgr",
                reference == "opencv" and options.interpolation == "bilinear")
    if not return_transforms:
        return out
    return BatchResult(out, transforms(transform_placement, sizes))
