"""Text-line crops by quadrilateral into a padded, normalized recognizer batch."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._dispatch import current_kernels
from .._validate import output_array, positive_int, unaliased
from ..config import kernel_threads
from ._batch import _as_pixels

__all__ = ["crop_quads", "crop_widths"]

# A crop at least this many times taller than wide is turned upright (as
# RapidOCR / PaddleOCR's get_rotate_crop_image).
UPRIGHT_RATIO = 1.5
# The longest crop side the kernel's 32-bit crop indices reach
# (SCIPIX_WARP_MAX_CROP_SIDE).
MAX_CROP_SIDE = 2**31 - 1
# The widest line a batch holds: its widths are int32.
MAX_LINE_WIDTH = 2**31 - 1
# BT.601 luma weights of R, G, B for gray output from colour input.
_LUMA = (0.299, 0.587, 0.114)
_COLORS = {"gray": 1, "rgb": 3, "bgr": 3}

Channels = Union[float, Sequence[float]]


def _per_channel(value: Channels, count: int, name: str) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(count, float(array))
    if array.shape != (count,):
        raise ValueError(f"{name} must be a number or {count} values (one per output "
                         f"channel), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array.tolist()}")
    return array


def _channel_mix(channels: int, color: str, input_order: str) -> NDArray[np.float64]:
    """(K, channels) weights from the input's channels to the output's."""
    if color not in _COLORS:
        raise ValueError(f"color must be 'gray', 'rgb' or 'bgr', got {color!r}")
    if input_order not in ("rgb", "bgr"):
        raise ValueError(f"input_order must be 'rgb' or 'bgr', got {input_order!r}")
    mix = np.zeros((_COLORS[color], channels))
    if channels == 1:
        mix[:, 0] = 1.0
        return mix
    rgb_index = (0, 1, 2) if input_order == "rgb" else (2, 1, 0)  # where R, G, B are
    if color == "gray":
        for weight, index in zip(_LUMA, rgb_index):
            mix[0, index] = weight
    else:
        wanted = rgb_index if color == "rgb" else rgb_index[::-1]
        for k, index in enumerate(wanted):
            mix[k, index] = 1.0
    return mix


def _as_quads(quads: ArrayLike) -> NDArray[np.float64]:
    try:
        array = np.asarray(quads, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("quads must be numbers of shape (N, 4, 2)") from None
    if array.ndim == 2 and array.shape == (4, 2):
        raise ValueError("quads must have shape (N, 4, 2); wrap a single quad as [quad]")
    if array.ndim != 3 or array.shape[1:] != (4, 2):
        raise ValueError(f"quads must have shape (N, 4, 2) (4 points each), got {array.shape}")
    bad = ~np.all(np.isfinite(array), axis=(1, 2))
    if bad.any():
        raise ValueError(f"quads[{int(np.argmax(bad))}] has a non-finite coordinate")
    return array


def _crop_sizes(quads: NDArray[np.float64]) -> Tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Crop width and height of each quad as get_rotate_crop_image computes them."""
    def edge(a: int, b: int) -> NDArray[np.float64]:
        return np.asarray(np.hypot(*(quads[:, a] - quads[:, b]).T))
    across, down = np.maximum(edge(0, 1), edge(2, 3)), np.maximum(edge(0, 3), edge(1, 2))
    too_large = np.maximum(across, down) >= MAX_CROP_SIDE + 1
    if too_large.any():
        i = int(np.argmax(too_large))
        raise ValueError(f"quads[{i}] is too large (crop {across[i]:.4g}x{down[i]:.4g} pixels, "
                         f"at most {MAX_CROP_SIDE} a side): {quads[i].tolist()}")
    widths, heights = across.astype(np.int64), down.astype(np.int64)
    # Relative to the first point: far from the origin (1e12), the
    # shoelace terms would cancel to 0 for a quad of a few pixels.
    x = quads[..., 0] - quads[:, :1, 0]
    y = quads[..., 1] - quads[:, :1, 1]
    area = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1))
    bad = (area == 0) | (widths < 1) | (heights < 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"quads[{i}] is degenerate (area {area[i]:g}, crop "
                         f"{widths[i]}x{heights[i]} pixels): {quads[i].tolist()}")
    return widths, heights


def _homographies(quads: NDArray[np.float64], widths: NDArray[np.int64],
                  heights: NDArray[np.int64]) -> NDArray[np.float64]:
    """(N, 3, 3) maps from crop pixel (x, y, 1) to page position (X, Y, Z).

    The crop's corners (0, 0), (w, 0), (w, h), (0, h) go to the quad's
    points in order, as ``cv2.getPerspectiveTransform(quad, corners)``'s
    inverse: the same 8 equations, solved in float64.
    """
    n = quads.shape[0]
    u = np.stack([np.zeros(n), widths, widths, np.zeros(n)], axis=1)
    v = np.stack([np.zeros(n), np.zeros(n), heights, heights], axis=1)
    x, y = quads[..., 0], quads[..., 1]
    zero, one = np.zeros_like(u), np.ones_like(u)
    rows_x = np.stack([u, v, one, zero, zero, zero, -u * x, -v * x], axis=2)
    rows_y = np.stack([zero, zero, zero, u, v, one, -u * y, -v * y], axis=2)
    system = np.concatenate([rows_x, rows_y], axis=1)
    targets = np.concatenate([x, y], axis=1)
    try:
        solution = np.linalg.solve(system, targets[..., np.newaxis])[..., 0]
    except np.linalg.LinAlgError:  # find which: the sign check below names it
        solution = np.full((n, 8), np.nan)
        for i in range(n):
            try:
                solution[i] = np.linalg.solve(system[i], targets[i])
            except np.linalg.LinAlgError:
                pass
    g = np.concatenate([solution, np.ones((n, 1))], axis=1).reshape(n, 3, 3)
    # A quadrilateral a perspective map reaches keeps Z of one sign over the
    # crop; a bow tie, a concave quad or three points on a line do not.
    corners = np.stack([u, v, one], axis=1)
    z = np.einsum("nk,nkc->nc", g[:, 2], corners)
    folded = ~(np.all(z > 0, axis=1) | np.all(z < 0, axis=1))
    if folded.any():
        i = int(np.argmax(folded))
        raise ValueError(f"quads[{i}] is not a convex quadrilateral (no perspective map "
                         f"reaches it): {quads[i].tolist()}")
    return g


def _line_maps(g: NDArray[np.float64], widths: NDArray[np.int64], heights: NDArray[np.int64],
               upright: NDArray[np.bool_], height: int,
               line_widths: NDArray[np.int64]) -> NDArray[np.float64]:
    """(N, 13) kernel maps: G composed with the upright turn, then the scales.

    Output pixel (ox, oy) of a line reads upright-crop position
    (u, v) = ((ox + 0.5) * sx - 0.5, (oy + 0.5) * sy - 0.5), clamped to the
    crop as a resize clamps; a turned crop's (u, v) is crop pixel
    (w - 1 - v, u) (``numpy.rot90``).
    """
    n = g.shape[0]
    turn = np.zeros((n, 3, 3))
    turn[:, 2, 2] = 1.0
    turn[~upright, 0, 0] = turn[~upright, 1, 1] = 1.0
    turn[upright, 0, 1] = -1.0
    turn[upright, 0, 2] = widths[upright] - 1.0
    turn[upright, 1, 0] = 1.0
    upright_w = np.where(upright, heights, widths)
    upright_h = np.where(upright, widths, heights)
    maps = np.empty((n, 13))
    maps[:, :9] = (g @ turn).reshape(n, 9)
    maps[:, 9] = upright_w / np.maximum(line_widths, 1)
    maps[:, 10] = upright_h / height
    maps[:, 11] = upright_w - 1.0
    maps[:, 12] = upright_h - 1.0
    return maps


def _line_geometry(points: NDArray[np.float64], height: int, max_width: Optional[int],
                   upright: bool) -> Tuple[NDArray[np.int64], NDArray[np.int64],
                                           NDArray[np.bool_], NDArray[np.int64]]:
    """Crop sizes, which crops turn, and each line's width in the batch."""
    if points.shape[0] == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, bool), empty
    crop_w, crop_h = _crop_sizes(points)
    turned = crop_h / crop_w >= UPRIGHT_RATIO if upright else np.zeros(len(points), bool)
    upright_w = np.where(turned, crop_h, crop_w)
    upright_h = np.where(turned, crop_w, crop_h)
    # In get_rotate_crop_image + resize_norm_img's order: the ratio first.
    line_widths = np.ceil(height * (upright_w / upright_h)).astype(np.int64)
    if max_width is not None:
        line_widths = np.minimum(line_widths, max_width)
    too_wide = line_widths > MAX_LINE_WIDTH
    if too_wide.any():
        i = int(np.argmax(too_wide))
        raise ValueError(f"quads[{i}] gives a line {line_widths[i]} columns wide at height "
                         f"{height} (at most {MAX_LINE_WIDTH}); pass max_width to cap it: "
                         f"{points[i].tolist()}")
    return crop_w, crop_h, turned, line_widths


def crop_widths(quads: ArrayLike, height: int, *, max_width: Optional[int] = None,
                upright: bool = True) -> NDArray[np.int32]:
    """Each line's width in :func:`crop_quads`' batch, without cropping.

    For choosing batch widths (e.g. width buckets) before cropping; the
    arguments mean what they mean to :func:`crop_quads`, and are checked
    the same way.

    Returns
    -------
    widths : int32 array, shape (N,)

    Raises
    ------
    TypeError, ValueError
        As :func:`crop_quads` for ``quads``, ``height`` and ``max_width``.
    """
    points = _as_quads(quads)
    height = positive_int(height, "height")
    if max_width is not None:
        max_width = positive_int(max_width, "max_width")
    return _line_geometry(points, height, max_width, upright)[3].astype(np.int32)


def crop_quads(image: ArrayLike, quads: ArrayLike, height: int, *,
               max_width: Optional[int] = None, interpolation: str = "bilinear",
               upright: bool = True, mean: Channels = 0.0, std: Channels = 1.0,
               scale: float = 1.0 / 255.0, color: str = "rgb", input_order: str = "rgb",
               out: Optional[NDArray[np.float32]] = None,
               ) -> Tuple[NDArray[np.float32], NDArray[np.int32]]:
    """Cut text lines out of a page by quadrilateral into a recognizer batch.

    Each quad's crop is the perspective warp of
    ``cv2.getPerspectiveTransform(quad, [(0, 0), (w, 0), (w, h), (0, h)])``
    with ``BORDER_REPLICATE``, sized as RapidOCR's ``get_rotate_crop_image``
    sizes it (``w`` the longer of the top and bottom edges, ``h`` of the
    left and right, truncated to ints); with ``upright``, a crop with
    ``h / w >= 1.5`` is turned 90 degrees counter-clockwise
    (``numpy.rot90``).  It is then resized to ``height`` rows keeping its
    aspect ratio (``ceil(height * w / h)`` columns, capped at the batch
    width) and normalized ``(x * scale - mean) / std`` per channel.

    The two steps are OpenCV's (``cv2.warpPerspective`` at the crop's own
    size, then ``cv2.resize`` bilinear, pixel centres clamped to the crop),
    computed in float32 without rounding the crop to 8 bits, and without
    the whole crop in memory: only the crop rows and columns the resize
    reads are sampled.  With ``interpolation="cubic"`` (as RapidOCR's
    ``get_rotate_crop_image``) the batch is within about 0.3 gray levels
    of RapidOCR's own on average (docs/guide/parallel.rst has the
    bounds).  Page positions are computed in float64, interpolation
    weights and values in float32; every variant gives bit-identical
    results.

    Lines are spread over ``get_thread_count()`` OpenMP threads; the GIL is
    released.

    Parameters
    ----------
    image : uint8 array, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        The page; rows may be strided, pixels packed.  Alpha is ignored.
    quads : array_like, shape (N, 4, 2)
        Each line's corners (x, y) in page pixels: top-left, top-right,
        bottom-right, bottom-left of the text, any orientation, convex;
        points may lie outside the page (its border is replicated).
    height : int >= 1
        Rows of every line (48 for PP-OCR recognizers).
    max_width : int >= 1, optional
        The batch width ``W`` and cap of every line's width; default the
        widest line.  A line wider than ``2**31 - 1`` columns needs it.
    interpolation : {"bilinear", "cubic"}
        How the crop is sampled from the page; cubic is OpenCV's
        (A = -0.75), clamped to [0, 255], and about twice as slow.  The
        resize to ``height`` is bilinear either way.
    upright : bool
        Turn tall crops upright (see above).
    mean, std : float or sequence of K floats
        Per output channel, in output order; ``std`` positive.
    scale : float > 0
        Multiplies the 0..255 pixel values first (default 1/255).
    color : {"rgb", "bgr", "gray"}
        Output channels and their order; gray is BT.601 of the
        interpolated colour values.  A gray image gives its value in every
        channel.
    input_order : {"rgb", "bgr"}
        Channel order of a colour image (``cv2.imread`` gives BGR).  When
        it equals ``color`` the channels pass through unchanged.
    out : float32 array, shape (N, K, height, W), C-contiguous, optional
        The batch to write; its ``W`` is the batch width (every line must
        fit, or pass ``max_width``).  Nothing is written when an argument
        is rejected.  If it shares memory with ``image``, the page is
        copied first.

    Returns
    -------
    out : float32 array, shape (N, K, height, W)
        Line ``i`` in ``out[i, :, :, :widths[i]]``, zeros to its right.
    widths : int32 array, shape (N,)
        Columns of each line.

    Raises
    ------
    TypeError, ValueError
        Naming the argument: a quad that is not 4 points, degenerate (zero
        area), not convex or with a crop side over ``2**31 - 1`` pixels,
        a line over ``2**31 - 1`` columns without ``max_width``, ``height``
        0, ``mean`` / ``std`` of the wrong length, a zero or negative
        ``std``, a line wider than ``out``.
    """
    pixels = _as_pixels(image, "image", input_order)
    points = _as_quads(quads)
    height = positive_int(height, "height")
    if max_width is not None:
        max_width = positive_int(max_width, "max_width")
    if interpolation not in ("bilinear", "cubic"):
        raise ValueError(f"interpolation must be 'bilinear' or 'cubic', got {interpolation!r}")
    mix = _channel_mix(pixels.shape[2], color, input_order)
    k = mix.shape[0]
    mean_values = _per_channel(mean, k, "mean")
    std_values = _per_channel(std, k, "std")
    if not np.all(std_values > 0):
        raise ValueError(f"std must be positive, got {std_values.tolist()}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.floating, np.integer)):
        raise TypeError(f"scale must be a number, got {type(scale).__name__}")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive and finite, got {scale}")

    n = points.shape[0]
    crop_w, crop_h, turned, line_widths = _line_geometry(points, height, max_width, upright)
    if out is not None:
        if not (isinstance(out, np.ndarray) and out.ndim == 4):
            raise ValueError(f"out must be a 4-D array of shape ({n}, {k}, {height}, W)")
        output_array(out, (n, k, height, out.shape[3]), np.float32)
        if not out.flags.c_contiguous:
            raise ValueError("out must be C-contiguous")
        batch_width = out.shape[3]
        if max_width is not None and batch_width != max_width:
            raise ValueError(f"out has width {batch_width} but max_width is {max_width}")
        too_wide = line_widths > batch_width
        if too_wide.any():
            i = int(np.argmax(too_wide))
            raise ValueError(f"line {i} is {line_widths[i]} wide but out has width "
                             f"{batch_width}; pass max_width to cap the lines")
    else:
        batch_width = max_width if max_width is not None else int(line_widths.max(initial=0))
        out = np.empty((n, k, height, batch_width), dtype=np.float32)
    widths = line_widths.astype(np.int32)
    if n == 0:
        return out, widths

    maps = _line_maps(_homographies(points, crop_w, crop_h), crop_w, crop_h, turned, height,
                      line_widths)
    pixels = unaliased(pixels, out)  # the kernel writes lines while it reads the page
    weights = (mix * (scale / std_values)[:, np.newaxis]).astype(np.float32)
    bias = (-mean_values / std_values).astype(np.float32)
    current_kernels().warp.crop_quads(pixels, maps, widths, weights, bias,
                                      interpolation == "cubic", out, kernel_threads())
    return out, widths
