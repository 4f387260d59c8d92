"""Image kernels: grayscale, threshold, normalize, resize, batch preprocessing.

This one source is compiled once per instruction-set variant (see setup.py)
into ``_image_<variant>``: ``scalar`` (vectorization off, the reference),
``baseline``, ``sse42``, ``avx2``, ``avx512`` and ``neon``.  Every hot loop
works on raw row pointers inside a ``noexcept nogil`` row function (stores
through a memoryview inside ``prange`` are not vectorized); the loops gcc
does not vectorize well on its own are written with intrinsics or vector
extensions in ``include/``.

Callers (``scipix.optimize.simd``, ``scipix.optimize.parallel``) validate
arguments; these functions re-check only what memory safety depends on.
Every function takes ``n_threads``: the OpenMP thread count, passed
explicitly to ``prange``.
"""
cimport numpy as cnp
from cython.parallel cimport prange, threadid
from libc.math cimport floor, isfinite, sqrt
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport calloc, free, malloc

from scipix.optimize._variant cimport SPAN, STREAM_BYTES, target_macro_names, team_size

cdef extern from "scipix_pixel.h":
    void scipix_threshold_row(const uint8_t* src, uint8_t* dst, Py_ssize_t n,
                              uint8_t thresh, int stream) noexcept nogil
    void scipix_store_fence() noexcept nogil

cdef extern from "scipix_scores.h":
    void scipix_threshold_f32_row(const float* src, uint8_t* dst, Py_ssize_t n,
                                  float thresh) noexcept nogil
    Py_ssize_t scipix_argmax_row(const float* x, Py_ssize_t n) noexcept nogil

cdef extern from "scipix_moments.h":
    ctypedef struct Moments "scipix_moments":
        double count
        double mean
        double m2
    Moments scipix_block_moments(const float* x, Py_ssize_t n) noexcept nogil

cdef extern from "scipix_blob.h":
    enum: BLOB_RUN "SCIPIX_BLOB_RUN"
    Py_ssize_t scipix_blob_item(int dtype) noexcept nogil
    void scipix_blob_run(const uint8_t* src, Py_ssize_t src_channels, const int32_t* pick,
                         Py_ssize_t channels, const float* shift, const float* factor,
                         Py_ssize_t n, void* dst, Py_ssize_t plane, int nhwc,
                         int dtype) noexcept nogil
    void scipix_blob_fill(const float* value, Py_ssize_t channels, Py_ssize_t n, void* dst,
                          Py_ssize_t plane, int nhwc, int dtype) noexcept nogil


cdef enum:
    # Floats per normalize block: summed in float32 lanes, blocks merged in
    # float64, which keeps large statistics to float32 rounding.
    BLOCK = 1024

cnp.import_array()


def target_macros():
    """The compiler's target macros this module was built with (tests check them)."""
    return target_macro_names()


include "_resize_rows.pxi"


# --------------------------------------------------------------------------
# Pixel-wise row kernels: grayscale and threshold

cdef enum RowMap:
    GRAY_ROWS
    THRESHOLD_ROWS


cdef void _map_tiles(RowMap op, const Image* src, const Plane* dst, uint8_t thresh,
                     Py_ssize_t first, Py_ssize_t last, bint stream) noexcept nogil:
    """Tiles [first, last) through ``op``: tile t is run t % spans of row t // spans."""
    cdef Py_ssize_t spans = (src.cols + SPAN - 1) // SPAN, tile, y, x0, n
    cdef const uint8_t* pixels
    cdef uint8_t* out
    for tile in range(first, last):
        y = tile // spans
        x0 = (tile % spans) * SPAN
        n = min(SPAN, src.cols - x0)
        pixels = src.data + y * src.stride + x0 * src.channels
        out = _out_row(dst, y) + x0
        if op == THRESHOLD_ROWS:
            scipix_threshold_row(pixels, out, n, thresh, stream)
        elif src.channels == 4:
            scipix_gray_rgba_row(pixels, out, n, stream, src.bgr)
        else:
            scipix_gray_rgb_row(pixels, out, n, stream, src.bgr)
    if stream:
        scipix_store_fence()


cdef void _map_rows(RowMap op, const Image* src, const Plane* dst, uint8_t thresh,
                    int n_threads) noexcept nogil:
    """``op`` over every pixel; ``thresh`` is read by THRESHOLD_ROWS only."""
    cdef Py_ssize_t tiles = src.rows * ((src.cols + SPAN - 1) // SPAN), part
    cdef int team = team_size(src.rows * src.cols, n_threads)
    cdef bint stream = src.rows * src.cols >= STREAM_BYTES
    if team == 1:
        _map_tiles(op, src, dst, thresh, 0, tiles, stream)
    else:
        # One contiguous run of tiles per thread, each fenced once.
        for part in prange(team, num_threads=team, schedule="static"):
            _map_tiles(op, src, dst, thresh, part * tiles // team, (part + 1) * tiles // team,
                       stream)


# --------------------------------------------------------------------------
# Grayscale

def grayscale(const uint8_t[:, :, :] src, uint8_t[:, :] dst, bint bgr, int n_threads):
    """BT.601 luma ``(77 R + 150 G + 29 B) >> 8``, written into ``dst``.

    Parameters
    ----------
    src : uint8 memoryview, shape (rows, cols, 3 or 4)
        Pixels packed within a row (strides ``(any, channels, 1)``), stored
        R, G, B (A), or B, G, R (A) when ``bgr``.
    dst : uint8 memoryview, shape (rows, cols)
        Contiguous within a row; any row stride.
    bgr : bool
    n_threads : int
    """
    cdef Py_ssize_t rows = src.shape[0], cols = src.shape[1], channels = src.shape[2]
    if channels not in (3, 4) or src.strides[2] != 1 or src.strides[1] != channels:
        raise ValueError("src must have 3 or 4 packed channels")
    if dst.shape[0] != rows or dst.shape[1] != cols or dst.strides[1] != 1:
        raise ValueError("dst must be (rows, cols) with contiguous rows")
    cdef Image image = _color_image(src, bgr)
    cdef Plane plane = _plane(dst)
    with nogil:
        _map_rows(GRAY_ROWS, &image, &plane, 0, n_threads)


# --------------------------------------------------------------------------
# Threshold

def threshold(const uint8_t[:, :] src, uint8_t[:, :] dst, uint8_t thresh, int n_threads):
    """``dst = 255 where src > thresh else 0`` (unsigned, strict).

    Parameters
    ----------
    src, dst : uint8 memoryviews, shape (rows, cols)
        Contiguous within a row; any row stride.  ``dst`` may be ``src``.
    thresh : int in [0, 255]
    n_threads : int
    """
    if src.strides[1] != 1 or dst.strides[1] != 1 or dst.shape[0] != src.shape[0] \
            or dst.shape[1] != src.shape[1]:
        raise ValueError("src and dst must have the same shape and contiguous rows")
    cdef Image image = _gray_image(src)
    cdef Plane plane = _plane(dst)
    with nogil:
        _map_rows(THRESHOLD_ROWS, &image, &plane, thresh, n_threads)


def threshold_f32(const float[:, :] src, uint8_t[:, :] dst, float thresh, int n_threads):
    """``dst = 255 where src > thresh else 0`` for float32 scores (strict;
    NaN gives 0), as ``cv2.threshold(..., THRESH_BINARY)`` with maxval 255.

    Parameters
    ----------
    src : float32 memoryview, shape (rows, cols), contiguous rows
    dst : uint8 memoryview, shape (rows, cols), contiguous rows
    thresh : float
    n_threads : int
    """
    cdef Py_ssize_t rows = src.shape[0], cols = src.shape[1], y, band
    if src.strides[1] != 4 or dst.strides[1] != 1 or dst.shape[0] != rows \
            or dst.shape[1] != cols:
        raise ValueError("src and dst must have the same shape and contiguous rows")
    if rows == 0 or cols == 0:
        return
    cdef int bands = _row_chunks(rows, cols, n_threads)
    with nogil:
        if bands == 1:
            for y in range(rows):
                scipix_threshold_f32_row(&src[y, 0], &dst[y, 0], cols, thresh)
        else:
            for band in prange(bands, num_threads=bands, schedule="static"):
                for y in range(band * rows // bands, (band + 1) * rows // bands):
                    scipix_threshold_f32_row(&src[y, 0], &dst[y, 0], cols, thresh)


def argmax_rows(const float[:, :] scores, int64_t[::1] index, float[::1] value,
                int n_threads):
    """Per row of ``scores``: the index of its largest value (the first among
    equals; the first NaN if any, as ``numpy.argmax``) and that value, in one
    pass over memory.

    Parameters
    ----------
    scores : float32 memoryview, shape (rows, n >= 1), contiguous rows
    index : int64 memoryview, shape (rows,)
    value : float32 memoryview, shape (rows,)
    n_threads : int
    """
    cdef Py_ssize_t rows = scores.shape[0], n = scores.shape[1], y, at
    if scores.strides[1] != 4 or n < 1 or index.shape[0] != rows or value.shape[0] != rows:
        raise ValueError("scores must have contiguous rows of n >= 1, index and value one "
                         "entry per row")
    cdef int team = team_size(rows * n, n_threads)
    with nogil:
        if team == 1:
            for y in range(rows):
                at = scipix_argmax_row(&scores[y, 0], n)
                index[y] = at
                value[y] = scores[y, at]
        else:
            for y in prange(rows, num_threads=team, schedule="static"):
                at = scipix_argmax_row(&scores[y, 0], n)
                index[y] = at
                value[y] = scores[y, at]


# --------------------------------------------------------------------------
# Normalize

cdef inline Moments _block_moments_f64(const float* x, Py_ssize_t n) noexcept nogil:
    """Float64 two-pass moments: the fallback when float32 squares overflow."""
    cdef Py_ssize_t i
    cdef double total = 0.0, m2 = 0.0, d
    cdef Moments result
    for i in range(n):
        total += x[i]
    result.count = n
    result.mean = total / n
    for i in range(n):
        d = x[i] - result.mean
        m2 += d * d
    result.m2 = m2
    return result


cdef inline Moments _merge(Moments a, Moments b) noexcept nogil:
    """Combine two blocks' moments (Chan et al.'s parallel formula)."""
    cdef Moments out
    cdef double delta = b.mean - a.mean
    out.count = a.count + b.count
    out.mean = a.mean + delta * (b.count / out.count)
    out.m2 = a.m2 + b.m2 + delta * delta * (a.count * b.count / out.count)
    return out


cdef inline void _scale_block(float* x, Py_ssize_t n, float shift, float factor,
                              bint scale_first) noexcept nogil:
    cdef Py_ssize_t i
    cdef float offset = shift * factor
    if scale_first:
        for i in range(n):
            x[i] = x[i] * factor - offset
    else:
        for i in range(n):
            x[i] = (x[i] - shift) * factor


cdef inline Moments _block(const float* x, Py_ssize_t n, Py_ssize_t b, bint exact) noexcept nogil:
    """Moments of block ``b`` of ``x[:n]``."""
    cdef Py_ssize_t start = b * BLOCK, size = min(BLOCK, n - b * BLOCK)
    if exact:
        return _block_moments_f64(x + start, size)
    return scipix_block_moments(x + start, size)


cdef Moments _moments(float* x, Py_ssize_t n, int team, bint exact) noexcept nogil:
    cdef Py_ssize_t blocks = (n + BLOCK - 1) // BLOCK, b
    cdef Moments total
    cdef Moments* per_block = <Moments*>malloc(blocks * sizeof(Moments))
    if per_block == NULL:
        total.count = -1
        return total
    if team == 1:
        for b in range(blocks):
            per_block[b] = _block(x, n, b, exact)
    else:
        for b in prange(blocks, num_threads=team, schedule="static"):
            per_block[b] = _block(x, n, b, exact)
    # Merged serially in block order: the result is the same for any team.
    total = per_block[0]
    for b in range(1, blocks):
        total = _merge(total, per_block[b])
    free(per_block)
    return total


def normalize(float[::1] data, int n_threads):
    """In place ``data = (data - mean) / (std + 1e-8)`` (population std).

    The division is a multiplication by the float32 reciprocal.

    Parameters
    ----------
    data : float32 memoryview, shape (n,), contiguous, n >= 1
    n_threads : int

    Returns
    -------
    mean, std : float
        The statistics used, in float64.

    Raises
    ------
    ValueError
        If ``data`` holds NaN or infinity (``data`` is then left unchanged).
    MemoryError
    """
    cdef Py_ssize_t n = data.shape[0], blocks = (n + BLOCK - 1) // BLOCK, b
    if n == 0:
        raise ValueError("data is empty")
    cdef int team = team_size(n, n_threads)
    cdef Moments total
    cdef double std
    cdef float shift, factor
    cdef bint scale_first
    with nogil:
        total = _moments(&data[0], n, team, False)
        if total.count > 0 and not (isfinite(total.mean) and isfinite(total.m2)):
            # float32 squares overflow beyond ~1e19; NaN/inf stay non-finite.
            total = _moments(&data[0], n, team, True)
    if total.count < 0:
        raise MemoryError()
    if not (isfinite(total.mean) and isfinite(total.m2)):
        raise ValueError("data contains NaN or infinity")
    std = sqrt(max(total.m2, 0.0) / n)
    shift = <float>total.mean
    factor = <float>(1.0 / (std + 1e-8))
    # No value lies further than sqrt(n) * std from the mean; beyond about
    # half of float32's range x - mean could overflow, so such data is
    # scaled before the mean is taken off.
    scale_first = sqrt(<double>n) * std > 1.0e38
    with nogil:
        if team == 1:
            _scale_block(&data[0], n, shift, factor, scale_first)
        else:
            for b in prange(blocks, num_threads=team, schedule="static"):
                _scale_block(&data[b * BLOCK], min(BLOCK, n - b * BLOCK), shift, factor,
                             scale_first)
    return total.mean, std



cdef int _run_resize(ResizeMode mode, const Image* src, const Plane* dst,
                     int n_threads) except -1:
    _check_row_values(src.cols * src.channels, "src")
    _check_row_count(src.rows, "src")
    _check_row_values(dst.cols * dst.channels, "out")
    # Work per output row, which sets how many threads are worth waking: the
    # source pixels it reads (area), or a bilinear row's few operations per pixel.
    cdef Py_ssize_t work_per_row = (4 * dst.cols if mode == BILINEAR
                                    else src.cols * src.rows // dst.rows)
    cdef int bands = _row_chunks(dst.rows, work_per_row, n_threads), failed
    with nogil:
        failed = _resize(mode, src, dst, bands)
    if failed:
        raise MemoryError()
    return 0


cdef int _resize_gray(ResizeMode mode, const uint8_t[:, :] src, uint8_t[:, :] dst,
                      int n_threads) except -1:
    """Run a resize on memoryviews the caller has checked (``_check_resize``)."""
    cdef Image image = _gray_image(src)
    cdef Plane plane = _plane(dst)
    return _run_resize(mode, &image, &plane, n_threads)


def resize_area_integer(const uint8_t[:, :] src, uint8_t[:, :] dst, int n_threads):
    """Area downscale by integer factors ``kx = src_w / dst_w``, ``ky = src_h / dst_h``.

    Matches OpenCV's INTER_AREA exactly: ``(sum + 2) >> 2`` for 2x2 blocks,
    ``rint(sum * (1.f / (kx * ky)))`` otherwise.

    Parameters
    ----------
    src : uint8 memoryview, shape (dst_h * ky, dst_w * kx), contiguous rows
    dst : uint8 memoryview, shape (dst_h, dst_w), contiguous rows
    n_threads : int
    """
    _check_resize(src, dst)
    if src.shape[0] % dst.shape[0] or src.shape[1] % dst.shape[1]:
        raise ValueError("src's shape must be a whole multiple of dst's")
    _resize_gray(AREA_INTEGER, src, dst, n_threads)


def resize_area(const uint8_t[:, :] src, uint8_t[:, :] dst, int n_threads):
    """Area (pixel-coverage) downscale by any factors, in float32.

    Each output row is the weighted sum of its source rows (coverage
    weights, in tap order), then each output pixel the weighted sum of its
    columns of that row, rounded half to even.

    Parameters
    ----------
    src : uint8 memoryview, shape (src_h, src_w), contiguous rows
    dst : uint8 memoryview, shape (dst_h <= src_h, dst_w <= src_w), contiguous rows
    n_threads : int
    """
    _check_resize(src, dst)
    if dst.shape[0] > src.shape[0] or dst.shape[1] > src.shape[1]:
        raise ValueError("area resize only shrinks")
    _resize_gray(AREA, src, dst, n_threads)


def resize_bilinear(const uint8_t[:, :] src, uint8_t[:, :] dst, int n_threads):
    """Bilinear resize with OpenCV's INTER_LINEAR convention and fixed point.

    Parameters
    ----------
    src : uint8 memoryview, shape (src_h, src_w), contiguous rows
    dst : uint8 memoryview, shape (dst_h, dst_w), contiguous rows
    n_threads : int
    """
    _check_resize(src, dst)
    _resize_gray(BILINEAR, src, dst, n_threads)


# --------------------------------------------------------------------------
# Plain calls
#
# Acquiring a typed memoryview and the argument checks of scipix.optimize.simd
# cost more than OpenCV spends on a whole call for a small image (the README
# has the figures).  These entry points take the common call -- uint8
# ndarrays with packed rows, valid sizes, ``out`` None or not overlapping the
# input -- from the ndarrays' own fields and run the same row loops as above.
# For anything else they return None and simd.py takes its general path,
# which converts, copies overlapping input, checks and raises.

cdef inline bint _plain_u8(object obj) noexcept:
    """A non-empty uint8 ndarray (not a subclass)."""
    return (cnp.PyArray_CheckExact(obj) and cnp.PyArray_TYPE(<cnp.ndarray>obj) == cnp.NPY_UINT8
            and cnp.PyArray_SIZE(<cnp.ndarray>obj) > 0)


cdef inline bint _plain_gray(object obj, Image* image) noexcept:
    """Fill ``image`` from a uint8 (rows, cols) or (cols,) ndarray with packed rows."""
    if not _plain_u8(obj):
        return False
    cdef cnp.ndarray array = <cnp.ndarray>obj
    cdef int ndim = cnp.PyArray_NDIM(array)
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(array)
    cdef cnp.npy_intp* strides = cnp.PyArray_STRIDES(array)
    if not (ndim == 1 or ndim == 2) or strides[ndim - 1] != 1:
        return False
    image.data = <const uint8_t*>cnp.PyArray_DATA(array)
    image.rows = shape[0] if ndim == 2 else 1
    image.cols = shape[ndim - 1]
    image.stride = strides[0] if ndim == 2 else 0
    image.channels = 1
    image.bgr = 0
    image.make_row = NULL
    image.source = NULL
    image.row0 = image.col0 = 0
    return True


cdef inline bint _plain_int(object value, Py_ssize_t low, Py_ssize_t high) noexcept:
    """An int in [low, high] by the rule of ``_validate.integer``: a Python int
    or a NumPy integer scalar (``bool`` is neither ``int`` exactly nor, like
    ``numpy.bool_``, a ``numpy.integer``)."""
    return (type(value) is int or isinstance(value, cnp.integer)) and low <= value <= high


cdef inline bint _disjoint(const Image* src, const Plane* dst) noexcept:
    """True when no byte of ``src`` is a byte of ``dst`` (row strides may be
    negative)."""
    cdef Py_ssize_t src_span = (src.rows - 1) * src.stride
    cdef Py_ssize_t dst_span = (dst.rows - 1) * dst.stride
    cdef const uint8_t* src_first = src.data + min(<Py_ssize_t>0, src_span)
    cdef const uint8_t* src_end = src.data + max(<Py_ssize_t>0, src_span) + src.cols * src.channels
    cdef const uint8_t* dst_first = dst.data + min(<Py_ssize_t>0, dst_span)
    cdef const uint8_t* dst_end = dst.data + max(<Py_ssize_t>0, dst_span) + dst.cols
    return src_end <= dst_first or dst_end <= src_first


cdef inline object _plain_plane(object out, int ndim, Py_ssize_t rows, Py_ssize_t cols,
                                Plane* plane):
    """``out`` as ``plane`` when it is a writeable uint8 ndarray of (rows, cols)
    (or (cols,) for ndim 1) with packed rows, a new such array when it is
    None; None for anything else."""
    cdef cnp.npy_intp dims[2]
    dims[0] = rows if ndim == 2 else cols
    dims[1] = cols
    if out is None:
        out = cnp.PyArray_EMPTY(ndim, dims, cnp.NPY_UINT8, 0)
    elif not (_plain_u8(out) and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)
              and cnp.PyArray_NDIM(<cnp.ndarray>out) == ndim):
        return None
    cdef cnp.ndarray array = <cnp.ndarray>out
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(array)
    cdef cnp.npy_intp* strides = cnp.PyArray_STRIDES(array)
    if shape[0] != dims[0] or (ndim == 2 and shape[1] != cols) or strides[ndim - 1] != 1:
        return None
    plane.data = <uint8_t*>cnp.PyArray_DATA(array)
    plane.rows = rows
    plane.cols = cols
    plane.stride = strides[0] if ndim == 2 else 0
    plane.channels = 1
    return out


def grayscale_plain(object rgba, object out, bint bgr, int n_threads):
    """``grayscale`` of a uint8 (H, W, 3 or 4) ndarray with packed pixels or a
    contiguous flat (4 N,) one, into ``out`` or a new (H, W) or (N,) array;
    None when the call is not plain."""
    if not _plain_u8(rgba):
        return None
    cdef cnp.ndarray array = <cnp.ndarray>rgba
    cdef int ndim = cnp.PyArray_NDIM(array)
    cdef cnp.npy_intp* shape = cnp.PyArray_DIMS(array)
    cdef cnp.npy_intp* strides = cnp.PyArray_STRIDES(array)
    cdef Image image
    cdef Plane plane
    image.data = <const uint8_t*>cnp.PyArray_DATA(array)
    image.bgr = bgr
    image.make_row = NULL
    image.source = NULL
    image.row0 = image.col0 = 0
    if ndim == 3 and (shape[2] == 3 or shape[2] == 4) and strides[2] == 1 \
            and strides[1] == shape[2]:
        image.rows, image.cols, image.stride, image.channels = shape[0], shape[1], strides[0], shape[2]
    elif ndim == 1 and shape[0] % 4 == 0 and strides[0] == 1:
        image.rows, image.cols, image.stride, image.channels = 1, shape[0] // 4, 0, 4
    else:
        return None
    out = _plain_plane(out, ndim - 1 if ndim == 3 else 1, image.rows, image.cols, &plane)
    if out is None or not _disjoint(&image, &plane):
        return None
    with nogil:
        _map_rows(GRAY_ROWS, &image, &plane, 0, n_threads)
    return out


def threshold_plain(object gray, object thresh, object out, int n_threads):
    """``threshold`` of a uint8 (H, W) or (N,) ndarray with packed rows and an
    int ``thresh`` in [0, 255], into ``out`` (which may be ``gray`` itself) or
    a new array; None when the call is not plain."""
    cdef Image image
    cdef Plane plane
    if not _plain_gray(gray, &image) or not _plain_int(thresh, 0, 255):
        return None
    cdef uint8_t level = thresh
    out = _plain_plane(out, cnp.PyArray_NDIM(<cnp.ndarray>gray), image.rows, image.cols, &plane)
    if out is None:
        return None
    if not _disjoint(&image, &plane) and not (image.data == plane.data
                                              and image.stride == plane.stride):
        return None
    with nogil:
        _map_rows(THRESHOLD_ROWS, &image, &plane, level, n_threads)
    return out


cdef object _resize_plain(ResizeMode mode, object src, object width, object height,
                          object out, int n_threads):
    cdef Image image
    cdef Plane plane
    if not _plain_gray(src, &image) or cnp.PyArray_NDIM(<cnp.ndarray>src) != 2:
        return None
    # Sizes beyond the source (area) or the int32 taps' reach go to the
    # general path, which raises before allocating.
    cdef Py_ssize_t limit_w = image.cols if mode == AREA else (1 << 31) - 1
    cdef Py_ssize_t limit_h = image.rows if mode == AREA else (1 << 31) - 1
    if not _plain_int(width, 1, limit_w) or not _plain_int(height, 1, limit_h):
        return None
    out = _plain_plane(out, 2, height, width, &plane)
    if out is None or not _disjoint(&image, &plane):
        return None
    _run_resize(_area_mode(&image, plane.rows, plane.cols) if mode == AREA else mode, &image, &plane,
                n_threads)
    return out


def resize_bilinear_plain(object src, object width, object height, object out,
                          int n_threads):
    """``resize_bilinear`` of a uint8 (H, W) ndarray with packed rows to an int
    ``width`` x ``height``, into ``out`` or a new array; None when the call is
    not plain."""
    return _resize_plain(BILINEAR, src, width, height, out, n_threads)


def resize_area_plain(object src, object width, object height, object out, int n_threads):
    """``resize_area`` (or ``resize_area_integer`` for whole factors) of a uint8
    (H, W) ndarray with packed rows to an int ``width`` <= W x ``height`` <= H,
    into ``out`` or a new array; None when the call is not plain."""
    return _resize_plain(AREA, src, width, height, out, n_threads)


# --------------------------------------------------------------------------
# Packed colour resizes

def resize_packed(const uint8_t[:, :, :] src, uint8_t[:, :, :] dst, bint bilinear,
                  int n_threads):
    """Resize packed pixels channel by channel, keeping the channels.

    ``bilinear``: as ``resize_bilinear``; else as ``resize_area_integer``
    when the factors are whole numbers, ``resize_area`` otherwise.  Each
    channel gets exactly the arithmetic of the gray kernels.

    Parameters
    ----------
    src : uint8 memoryview, shape (src_h, src_w, channels), channels 1, 3 or 4
        Pixels packed (strides ``(any, channels, 1)``).
    dst : uint8 memoryview, shape (dst_h, dst_w, channels), packed likewise
        No larger than ``src`` unless ``bilinear``.
    bilinear : bool
    n_threads : int
    """
    cdef Py_ssize_t channels = src.shape[2]
    if channels not in (1, 3, 4) or dst.shape[2] != channels:
        raise ValueError("src and dst must have the same channel count, 1, 3 or 4")
    if (src.strides[1] != channels or dst.strides[1] != channels
            or src.strides[2] != 1 or dst.strides[2] != 1):
        raise ValueError("src and dst must have packed pixels")
    if src.shape[0] < 1 or src.shape[1] < 1 or dst.shape[0] < 1 or dst.shape[1] < 1:
        raise ValueError("src and dst must be non-empty")
    if not bilinear and (dst.shape[0] > src.shape[0] or dst.shape[1] > src.shape[1]):
        raise ValueError("area resize only shrinks")
    cdef Image image = _color_image(src, 0)
    cdef Plane plane = _packed_plane(dst)
    _run_resize(BILINEAR if bilinear else _area_mode(&image, plane.rows, plane.cols), &image, &plane,
                n_threads)


# --------------------------------------------------------------------------
# Fused batch preprocessing: (gray) -> resize -> normalize -> model tensor

cdef enum:
    # Pixels per exact uint32 partial sum of squares (4096 * 255**2 < 2**32).
    MOMENT_CHUNK = 4096


cdef void _u8_sums(const uint8_t* x, Py_ssize_t n, int64_t* total,
                   int64_t* squares) noexcept nogil:
    """Add the sum and the sum of squares of ``x[:n]``, exact integers."""
    cdef Py_ssize_t chunk, start, i, stop
    cdef uint32_t s, q
    for chunk in range((n + MOMENT_CHUNK - 1) // MOMENT_CHUNK):
        s = 0
        q = 0
        start = chunk * MOMENT_CHUNK
        stop = min(start + MOMENT_CHUNK, n)
        for i in range(start, stop):
            s = s + x[i]
            q = q + <uint32_t>x[i] * x[i]
        total[0] += s
        squares[0] += q


cdef struct Window:
    # The part of a resized image that lands in the output: output rows
    # [y0, y1) and columns [x0, x1); output (y, x) is resized pixel
    # (y - top, x - left).
    Py_ssize_t y0, y1, x0, x1, top, left


cdef void _window_moments(const Plane* resized, const Window* w, double* mean,
                          double* std) noexcept nogil:
    """Mean and population std of the window's colour values (alpha left
    out), from exact integer sums."""
    cdef Py_ssize_t y, x, c, used = 3 if resized.channels == 4 else resized.channels
    cdef Py_ssize_t cols = w.x1 - w.x0, n = (w.y1 - w.y0) * cols * used
    cdef int64_t total = 0, squares = 0
    cdef const uint8_t* row
    cdef double m2
    for y in range(w.y0, w.y1):
        row = resized.data + (y - w.top) * resized.stride + (w.x0 - w.left) * resized.channels
        if resized.channels == 4:
            for x in range(cols):
                for c in range(3):
                    total += row[4 * x + c]
                    squares += <int64_t>row[4 * x + c] * row[4 * x + c]
        else:
            _u8_sums(row, cols * used, &total, &squares)
    mean[0] = <double>total / n
    m2 = <double>squares - <double>total * mean[0]
    std[0] = sqrt(max(m2, 0.0) / n)


cdef struct Blob:
    # The output tensor and how to fill it (see preprocess_batch).
    char* data
    Py_ssize_t rows, cols, channels, item
    int nhwc, dtype, output_bgr, standardize, bilinear
    float shift[3]
    float factor[3]
    float pad[3]


cdef struct Affine:
    # One image's per-output-channel arithmetic.
    float shift[3]
    float factor[3]
    float pad[3]      # the pad value, already normalized
    int32_t pick[3]   # resized channel of each output channel


cdef inline void* _blob_at(const Blob* blob, Py_ssize_t index, Py_ssize_t y,
                           Py_ssize_t x) noexcept nogil:
    """Image ``index``'s element (channel 0, y, x)."""
    if blob.nhwc:
        return blob.data + ((index * blob.rows + y) * blob.cols + x) * blob.channels * blob.item
    return blob.data + ((index * blob.channels * blob.rows + y) * blob.cols + x) * blob.item


cdef void _blob_rows(const Plane* resized, const Window* w, const Blob* blob,
                     const Affine* affine, Py_ssize_t index, Py_ssize_t y0,
                     Py_ssize_t y1) noexcept nogil:
    """Output rows [y0, y1) of image ``index``: pad outside the window, the
    resized pixels inside, normalized and stored run by run."""
    cdef Py_ssize_t y, x, run, plane = blob.rows * blob.cols, cs = resized.channels
    cdef const uint8_t* row
    for y in range(y0, y1):
        if y < w.y0 or y >= w.y1:
            scipix_blob_fill(affine.pad, blob.channels, blob.cols, _blob_at(blob, index, y, 0),
                             plane, blob.nhwc, blob.dtype)
            continue
        if w.x0 > 0:
            scipix_blob_fill(affine.pad, blob.channels, w.x0, _blob_at(blob, index, y, 0),
                             plane, blob.nhwc, blob.dtype)
        row = resized.data + (y - w.top) * resized.stride + (w.x0 - w.left) * cs
        x = w.x0
        while x < w.x1:
            run = min(<Py_ssize_t>BLOB_RUN, w.x1 - x)
            scipix_blob_run(row + (x - w.x0) * cs, cs, affine.pick, blob.channels, affine.shift,
                            affine.factor, run, _blob_at(blob, index, y, x), plane, blob.nhwc,
                            blob.dtype)
            x += run
        if w.x1 < blob.cols:
            scipix_blob_fill(affine.pad, blob.channels, blob.cols - w.x1,
                             _blob_at(blob, index, y, w.x1), plane, blob.nhwc, blob.dtype)


cdef int _preprocess_one(const Image* src, const int64_t* place, const Blob* blob,
                         Py_ssize_t index, uint8_t* scratch, int bands) noexcept nogil:
    """Image ``index`` into the tensor; 1 if out of memory, else 0.

    ``place`` is (rows, cols, top, left): the image is resized to (rows,
    cols) and its pixel (0, 0) lands on output (top, left), which may lie
    outside the output (a centre crop).  Only the part that lands in the
    output is resized, into ``scratch``."""
    cdef Py_ssize_t k, band, rows = blob.rows
    cdef Plane resized
    cdef Window w
    cdef Affine affine
    cdef ResizeMode mode
    cdef double mean, std
    w.y0 = max(<Py_ssize_t>0, place[2])
    w.y1 = min(rows, place[2] + place[0])
    w.x0 = max(<Py_ssize_t>0, place[3])
    w.x1 = min(blob.cols, place[3] + place[1])
    # ``resized`` holds the window alone: its pixel (0, 0) is output (y0, x0).
    w.top = w.y0
    w.left = w.x0
    resized.rows = w.y1 - w.y0
    resized.cols = w.x1 - w.x0
    resized.channels = 1 if blob.channels == 1 else src.channels
    resized.stride = resized.cols * resized.channels
    resized.data = scratch
    if place[0] == src.rows and place[1] == src.cols and resized.channels == src.channels:
        # Nothing to resize or convert: read the source in place.
        resized.data = <uint8_t*>(src.data + (w.y0 - place[2]) * src.stride
                                  + (w.x0 - place[3]) * src.channels)
        resized.stride = src.stride
    else:
        if blob.bilinear or place[0] > src.rows or place[1] > src.cols:
            mode = BILINEAR
        else:
            mode = _area_mode(src, place[0], place[1])
        if _resize_window(mode, src, &resized, bands, w.y0 - place[2], w.x0 - place[3],
                          place[0], place[1]) != 0:
            return 1
    if blob.standardize:
        _window_moments(&resized, &w, &mean, &std)
    for k in range(blob.channels):
        if blob.standardize:
            # As normalize(): subtract the float32 mean, multiply by the reciprocal.
            affine.shift[k] = <float>mean
            affine.factor[k] = <float>(1.0 / (std + 1e-8))
        else:
            affine.shift[k] = blob.shift[k]
            affine.factor[k] = blob.factor[k]
        affine.pad[k] = (blob.pad[k] - affine.shift[k]) * affine.factor[k]
        if resized.channels == 1:
            affine.pick[k] = 0
        else:
            affine.pick[k] = <int32_t>(k if blob.output_bgr == src.bgr else 2 - k)
    if bands == 1:
        _blob_rows(&resized, &w, blob, &affine, index, 0, rows)
    else:
        for band in prange(bands, num_threads=bands, schedule="static"):
            _blob_rows(&resized, &w, blob, &affine, index, band * rows // bands,
                       (band + 1) * rows // bands)
    return 0


def preprocess_batch(list images, cnp.ndarray out, const int64_t[:, ::1] placement,
                     int channels, bint nhwc, int dtype, bint input_bgr, bint output_bgr,
                     const float[::1] shift, const float[::1] factor, const float[::1] pad,
                     bint standardize, bint bilinear, int n_threads):
    """Resize, normalize and store each image into one model input tensor.

    Per image ``i``: resized to ``placement[i, :2]`` (area averaging when
    shrinking both axes, bilinear otherwise or when ``bilinear``; gray
    first when ``channels`` is 1, converted row by row as the resize reads
    them), giving the same uint8 pixels as ``resize_packed`` (or the gray
    kernels); resized pixel (0, 0) lands on output ``placement[i, 2:]``
    (row, column; negative for a crop), and only the part that lands in
    the output is resized.  Output pixels the image does not
    cover take ``pad``.  Each output channel k is then
    ``(v - shift[k]) * factor[k]`` in float32, or, with ``standardize``,
    ``(v - mean) / (std + 1e-8)`` with the float32 mean and reciprocal of
    the covered values' exact mean and population std (alpha left out), as
    ``normalize`` computes them; the pad value takes the same arithmetic.
    float16 rounds to nearest even, uint8 rounds half to even and clamps
    to [0, 255].

    Parameters
    ----------
    images : list of N uint8 memoryviews, shape (rows, cols, 1, 3 or 4)
        Pixels packed within a row, any row stride; colour stored R, G, B
        (A) or, with ``input_bgr``, B, G, R (A).
    out : ndarray, C-contiguous, shape (N, channels, H, W) or, with ``nhwc``,
        (N, H, W, channels); dtype float32, float16 or uint8 (``dtype`` 0, 1, 2)
    placement : int64 memoryview, shape (N, 4)
        Per image (rows >= 1, cols >= 1, top, left).
    channels : int, 1 or 3
        Gray, or colour in R, G, B order (B, G, R with ``output_bgr``).
    shift, factor, pad : float32 memoryviews, shape (channels,)
    n_threads : int
        With at least as many images as threads, each thread takes whole
        images; otherwise each image is split into bands of rows.
    """
    cdef Py_ssize_t n = len(images), i, k, pixels = 0, scratch_bytes = 0, window
    cdef int failed = 0, team, bands
    cdef bint per_thread
    cdef uint8_t* scratch = NULL
    cdef Blob blob
    if channels not in (1, 3) or dtype not in (0, 1, 2):
        raise ValueError("channels must be 1 or 3 and dtype 0, 1 or 2")
    if out.ndim != 4 or not cnp.PyArray_IS_C_CONTIGUOUS(out) or out.shape[0] != n \
            or out.shape[3 if nhwc else 1] != channels:
        raise ValueError(f"out must be a C-contiguous ({n}, ...) tensor of {channels} channels")
    if out.itemsize != scipix_blob_item(dtype) or not cnp.PyArray_ISWRITEABLE(out):
        raise ValueError("out must be writeable, with the dtype's item size")
    if placement.shape[0] != n or placement.shape[1] != 4:
        raise ValueError(f"placement must have shape ({n}, 4)")
    if shift.shape[0] < channels or factor.shape[0] < channels or pad.shape[0] < channels:
        raise ValueError("shift, factor and pad need a value per channel")
    blob.data = <char*>cnp.PyArray_DATA(out)
    blob.rows = out.shape[1 if nhwc else 2]
    blob.cols = out.shape[2 if nhwc else 3]
    blob.channels = channels
    blob.item = out.itemsize
    blob.nhwc = nhwc
    blob.dtype = dtype
    blob.output_bgr = output_bgr
    blob.standardize = standardize
    blob.bilinear = bilinear
    for k in range(channels):
        blob.shift[k] = shift[k]
        blob.factor[k] = factor[k]
        blob.pad[k] = pad[k]
    if n == 0 or blob.rows < 1 or blob.cols < 1:
        raise ValueError("images and out must be non-empty")
    for i in range(n):
        if placement[i, 0] < 1 or placement[i, 1] < 1:
            raise ValueError(f"placement[{i}] must have a positive size")
        if not (placement[i, 2] < blob.rows and placement[i, 2] + placement[i, 0] > 0
                and placement[i, 3] < blob.cols and placement[i, 3] + placement[i, 1] > 0):
            raise ValueError(f"placement[{i}] must overlap the output")
    cdef const uint8_t[:, :, :] view
    cdef list held = []  # keeps every buffer exported while the GIL is released
    cdef Image* sources = <Image*>malloc(n * sizeof(Image))
    if sources == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            view = images[i]
            if (view.shape[2] not in (1, 3, 4) or view.strides[1] != view.shape[2]
                    or (view.shape[2] > 1 and view.strides[2] != 1)):
                raise ValueError(f"images[{i}] must have 1, 3 or 4 packed channels")
            if view.shape[0] < 1 or view.shape[1] < 1:
                raise ValueError(f"images[{i}] is empty")
            _check_row_values(view.shape[1] * view.shape[2], f"images[{i}]")
            _check_row_count(view.shape[0], f"images[{i}]")
            _check_row_values(placement[i, 1] * view.shape[2], f"images[{i}] resized")
            held.append(view)
            sources[i] = _color_image(view, input_bgr)
            pixels += max(view.shape[0] * view.shape[1], placement[i, 0] * placement[i, 1])
            # The part of the resized image that lands in the output.
            window = ((min(blob.rows, placement[i, 2] + placement[i, 0]) - max(0, placement[i, 2]))
                      * (min(blob.cols, placement[i, 3] + placement[i, 1])
                         - max(0, placement[i, 3])))
            scratch_bytes = max(scratch_bytes, window * (1 if channels == 1 else view.shape[2]))
        team = team_size(pixels, n_threads)
        per_thread = team > 1 and n >= team
        # One resize buffer per thread for the whole call: a fresh one per
        # image costs its page faults again each time.
        scratch = <uint8_t*>malloc((team if per_thread else 1) * scratch_bytes)
        if scratch == NULL:
            raise MemoryError()
        with nogil:
            if per_thread:
                for i in prange(n, num_threads=team, schedule="dynamic"):
                    failed += _preprocess_one(&sources[i], &placement[i, 0], &blob, i,
                                              scratch + threadid() * scratch_bytes, 1)
            else:
                for i in range(n):
                    bands = _row_chunks(blob.rows, sources[i].cols * sources[i].rows // blob.rows,
                                        team)
                    failed += _preprocess_one(&sources[i], &placement[i, 0], &blob, i, scratch,
                                              bands)
    finally:
        free(scratch)
        free(sources)
    if failed:
        raise MemoryError()
