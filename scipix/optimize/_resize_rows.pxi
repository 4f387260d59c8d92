# The resize engine shared by the kernel rooms that resize 8-bit pixels
# (``_image.pyx``, ``_yuv.pyx``): images as raw row pointers, the rows a
# resize reads (stored, converted to gray, or made on demand by a row
# source), OpenCV's area and bilinear resizes by output row bands.
# Included, not cimported: each variant module compiles it with its own flags.
from cython.parallel cimport prange
from libc.math cimport floor
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc

from scipix.optimize._variant cimport team_size

cdef extern from "scipix_pixel.h":
    void scipix_gray_rgba_row(const uint8_t* src, uint8_t* dst, Py_ssize_t n,
                              int stream, int bgr) noexcept nogil
    void scipix_gray_rgb_row(const uint8_t* src, uint8_t* dst, Py_ssize_t n,
                             int stream, int bgr) noexcept nogil

cdef extern from "scipix_resize.h":
    enum: TILE "SCIPIX_TILE"
    enum: WINDOW_BYTES "SCIPIX_WINDOW_BYTES"
    void scipix_area2x2_row(const uint8_t* a, const uint8_t* b, uint8_t* dst,
                            Py_ssize_t n) noexcept nogil
    void scipix_area2x2_packed_row(const uint8_t* a, const uint8_t* b, uint8_t* dst,
                                   Py_ssize_t n, Py_ssize_t channels) noexcept nogil
    void scipix_linear_windows(const int32_t* first, Py_ssize_t n, Py_ssize_t n_in,
                               uint8_t* windows) noexcept nogil
    void scipix_linear_hrow(const uint8_t* row, Py_ssize_t n_in, int32_t* out,
                            const int32_t* first, const int32_t* second, const int32_t* w_first,
                            const int32_t* w_second, const int32_t* w_pair,
                            const uint8_t* windows, Py_ssize_t n,
                            Py_ssize_t channels) noexcept nogil
    void scipix_area_htile(const float* acc_t, uint8_t* dst, Py_ssize_t dst_stride,
                           Py_ssize_t rows, Py_ssize_t cols, const int32_t* start,
                           const float* weight, Py_ssize_t taps) noexcept nogil
    void scipix_area_packed_hrow(const float* acc, float* out, Py_ssize_t cols,
                                 Py_ssize_t channels, const int32_t* start,
                                 const float* weight, Py_ssize_t taps) noexcept nogil
    enum: AREA_SPARE "SCIPIX_AREA_SPARE"
    void scipix_area_round_row(const float* sums, uint8_t* dst, Py_ssize_t n) noexcept nogil

cdef enum:
    # Fixed-point bilinear weights, as OpenCV's INTER_RESIZE_COEF_BITS.
    COEF_BITS = 11
    COEF_ONE = 1 << COEF_BITS
    # Largest block the integer-factor area path sums in int32 (255 per pixel);
    # larger blocks take the general (float) path.
    AREA_INT_MAX_BLOCK = 8421504


# --------------------------------------------------------------------------
# Images as raw pointers: what the row loops work on, built from a typed
# memoryview or (in the plain entry points) from an ndarray's own fields.

# Writes pixels [x0, x0 + n) of row y of a made image into ``row`` (packed).
ctypedef void (*RowMaker)(const void* source, Py_ssize_t y, Py_ssize_t x0, Py_ssize_t n,
                          uint8_t* row) noexcept nogil


cdef struct Image:
    # A read-only 8-bit image: gray (channels == 1), or packed RGB / RGBA
    # pixels (BGR / BGRA when ``bgr``), which the resizes either keep or
    # convert to gray row by row as they read them.  A made image
    # (``make_row`` set, ``data`` unused) has no stored pixels: its rows are
    # made as the resizes read them, e.g. from YUV planes; its pixel (y, x)
    # is the maker's (row0 + y, col0 + x).
    const uint8_t* data
    Py_ssize_t rows, cols, stride, channels
    int bgr
    RowMaker make_row
    const void* source
    Py_ssize_t row0, col0


cdef struct Plane:
    # A writable 8-bit image: gray (channels == 1) or packed pixels of as
    # many channels as the Image resized into it.
    uint8_t* data
    Py_ssize_t rows, cols, stride, channels


cdef inline Image _gray_image(const uint8_t[:, :] img) noexcept nogil:
    cdef Image image
    image.data = &img[0, 0]
    image.rows = img.shape[0]
    image.cols = img.shape[1]
    image.stride = img.strides[0]
    image.channels = 1
    image.bgr = 0
    image.make_row = NULL
    image.source = NULL
    image.row0 = image.col0 = 0
    return image


cdef inline Plane _plane(uint8_t[:, :] img) noexcept nogil:
    cdef Plane plane
    plane.data = &img[0, 0]
    plane.rows = img.shape[0]
    plane.cols = img.shape[1]
    plane.stride = img.strides[0]
    plane.channels = 1
    return plane


cdef inline Plane _packed_plane(uint8_t[:, :, :] img) noexcept nogil:
    cdef Plane plane
    plane.data = &img[0, 0, 0]
    plane.rows = img.shape[0]
    plane.cols = img.shape[1]
    plane.stride = img.strides[0]
    plane.channels = img.shape[2]
    return plane


cdef inline uint8_t* _out_row(const Plane* plane, Py_ssize_t y) noexcept nogil:
    return plane.data + y * plane.stride


cdef inline Image _color_image(const uint8_t[:, :, :] img, int bgr) noexcept nogil:
    cdef Image image
    image.data = &img[0, 0, 0]
    image.rows = img.shape[0]
    image.cols = img.shape[1]
    image.stride = img.strides[0]
    image.channels = img.shape[2]
    image.bgr = bgr
    image.make_row = NULL
    image.source = NULL
    image.row0 = image.col0 = 0
    return image


# --------------------------------------------------------------------------
# Resize: shared pieces

cdef struct GrayRows:
    # One thread's view of the rows a resize reads from an Image: its own
    # rows when the output keeps its channels (``keep``), else its gray
    # rows.  Colour rows are converted into a two-row ring, row y in slot
    # y % 2: the resizes read rows in increasing order, at most two (y,
    # y + 1) at a time.  A made image's rows are made into a ring of their
    # own (``made``) the same way.
    const Image* image
    uint8_t* ring
    Py_ssize_t held[2]
    uint8_t* made
    Py_ssize_t made_held[2]
    bint keep


cdef int _gray_rows_open(GrayRows* rows, const Image* image, Py_ssize_t channels) noexcept nogil:
    """Set up ``rows`` over ``image`` for an output of ``channels`` (1: gray,
    else the image's own); -1 when out of memory."""
    rows.image = image
    rows.held[0] = rows.held[1] = -1
    rows.made_held[0] = rows.made_held[1] = -1
    rows.ring = NULL
    rows.made = NULL
    rows.keep = channels > 1
    if image.channels != 1 and not rows.keep:
        rows.ring = <uint8_t*>malloc(2 * image.cols)
        if rows.ring == NULL:
            return -1
    if image.make_row != NULL:
        rows.made = <uint8_t*>malloc(2 * image.cols * image.channels)
        if rows.made == NULL:
            return -1
    return 0


cdef void _gray_rows_close(GrayRows* rows) noexcept nogil:
    free(rows.ring)
    free(rows.made)


cdef inline const uint8_t* _stored_row(GrayRows* rows, Py_ssize_t y) noexcept nogil:
    """Row ``y`` of the image as stored (or made); a made row is valid until
    row ``y + 2`` (same parity) is asked for."""
    cdef const Image* image = rows.image
    if image.make_row == NULL:
        return image.data + y * image.stride
    cdef Py_ssize_t slot = y & 1
    cdef uint8_t* row = rows.made + slot * image.cols * image.channels
    if rows.made_held[slot] != y:
        image.make_row(image.source, image.row0 + y, image.col0, image.cols, row)
        rows.made_held[slot] = y
    return row


cdef inline const uint8_t* _gray_row(GrayRows* rows, Py_ssize_t y) noexcept nogil:
    """Row ``y`` in gray; valid until row ``y + 2`` (same parity) is asked for."""
    cdef const Image* image = rows.image
    if image.channels == 1 or rows.keep:
        return _stored_row(rows, y)
    cdef Py_ssize_t slot = y & 1
    cdef uint8_t* gray = rows.ring + slot * image.cols
    cdef const uint8_t* pixels
    if rows.held[slot] != y:
        pixels = _stored_row(rows, y)
        if image.channels == 4:
            scipix_gray_rgba_row(pixels, gray, image.cols, 0, image.bgr)
        else:
            scipix_gray_rgb_row(pixels, gray, image.cols, 0, image.bgr)
        rows.held[slot] = y
    return gray


# Computes output rows [y0, y1) from per-axis parameters (tap tables or
# factors); returns -1 when out of memory, else 0.
ctypedef int (*RowsFn)(GrayRows* src, const Plane* dst, const void* tx, const void* ty,
                       Py_ssize_t y0, Py_ssize_t y1) noexcept nogil


cdef int _band(RowsFn rows_fn, const Image* src, const Plane* dst, const void* tx,
               const void* ty, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Output rows [y0, y1) with this thread's own gray rows; 1 if out of memory."""
    cdef GrayRows rows
    cdef int failed = _gray_rows_open(&rows, src, dst.channels) != 0
    if not failed:
        failed = rows_fn(&rows, dst, tx, ty, y0, y1) != 0
    _gray_rows_close(&rows)
    return failed


cdef int _in_bands(RowsFn rows_fn, const Image* src, const Plane* dst,
                   const void* tx, const void* ty, int bands) noexcept nogil:
    """Run ``rows_fn`` over ``bands`` contiguous bands of output rows, one per
    thread; the number of bands that failed for lack of memory."""
    cdef Py_ssize_t band, rows = dst.rows
    cdef int failed = 0
    if bands == 1:
        return _band(rows_fn, src, dst, tx, ty, 0, rows)
    for band in prange(bands, num_threads=bands, schedule="static"):
        failed += _band(rows_fn, src, dst, tx, ty, band * rows // bands,
                        (band + 1) * rows // bands)
    return failed


cdef inline int _row_chunks(Py_ssize_t rows, Py_ssize_t cols, int n_threads) noexcept nogil:
    """How many contiguous bands of output rows to hand out, one per thread."""
    cdef int team = team_size(rows * cols, n_threads)
    return <int>min(<Py_ssize_t>team, rows)


cdef inline int32_t _round_half_even(float value) noexcept nogil:
    """``rint(value)`` for 0 <= value < 2**22, by the 1.5 * 2**23 trick.

    It vectorizes on every target (SSE2 has no rounding instruction) and
    rounds ties to even as OpenCV's ``saturate_cast<uchar>(float)`` does.
    """
    cdef float magic = 12582912.0  # float, not double: the trick needs float adds
    return <int32_t>((value + magic) - magic)


cdef void _check_resize(const uint8_t[:, :] src, uint8_t[:, :] dst) except *:
    if src.shape[0] < 1 or src.shape[1] < 1 or dst.shape[0] < 1 or dst.shape[1] < 1:
        raise ValueError("src and dst must be non-empty")
    if src.strides[1] != 1 or dst.strides[1] != 1:
        raise ValueError("src and dst must have contiguous rows")


# --------------------------------------------------------------------------
# Area resize by integer factors (OpenCV's INTER_AREA fast path)

cdef int _area2x2_rows(GrayRows* src, const Plane* dst, const void* unused_x,
                       const void* unused_y, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    cdef Py_ssize_t y
    for y in range(y0, y1):
        if dst.channels == 1:
            scipix_area2x2_row(_gray_row(src, 2 * y), _gray_row(src, 2 * y + 1),
                               _out_row(dst, y), dst.cols)
        else:
            scipix_area2x2_packed_row(_gray_row(src, 2 * y), _gray_row(src, 2 * y + 1),
                                      _out_row(dst, y), dst.cols, dst.channels)
    return 0


cdef inline void _add_row(const uint8_t* row, int32_t* sums, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t x
    for x in range(n):
        sums[x] += row[x]


cdef inline void _area_int_row(const int32_t* sums, uint8_t* dst, Py_ssize_t n,
                               Py_ssize_t kx, Py_ssize_t channels, float scale) noexcept nogil:
    """Output pixel x, channel c: the ``kx`` column sums of its block, scaled."""
    cdef Py_ssize_t x, i, c
    cdef int32_t total
    for x in range(n):
        for c in range(channels):
            total = 0
            for i in range(kx):
                total = total + sums[(x * kx + i) * channels + c]
            dst[x * channels + c] = <uint8_t>_round_half_even(<float>total * scale)


cdef int _area_int_rows(GrayRows* src, const Plane* dst, const void* x_factor,
                        const void* y_factor, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Rows [y0, y1) of an integer-factor area downscale; -1 when out of memory."""
    cdef Py_ssize_t kx = (<const Py_ssize_t*>x_factor)[0], ky = (<const Py_ssize_t*>y_factor)[0]
    cdef Py_ssize_t y, j, x, cols = dst.cols * kx * dst.channels
    # OpenCV: scale = 1.f / area, result = saturate_cast<uchar>(sum * scale).
    cdef float scale = 1.0 / <float>(kx * ky)
    cdef int32_t* sums = <int32_t*>malloc(cols * sizeof(int32_t))
    if sums == NULL:
        return -1
    for y in range(y0, y1):
        for x in range(cols):
            sums[x] = 0
        for j in range(ky):
            _add_row(_gray_row(src, y * ky + j), sums, cols)
        _area_int_row(sums, _out_row(dst, y), dst.cols, kx, dst.channels, scale)
    free(sums)
    return 0


# --------------------------------------------------------------------------
# Area resize by any factor <= 1 (OpenCV's INTER_AREA general path)

cdef struct AreaTaps:
    Py_ssize_t taps        # taps per output pixel, zero-weight padded at the end
    int32_t* start         # (n_out,) source index of each output's first tap
    float* weight          # (n_out, taps) weight of source start + k; each row sums to 1;
                           # then AREA_SPARE zeros (a 4-float load of the last weights)


cdef int _area_taps(AreaTaps* t, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t first_out,
                    Py_ssize_t n_full) noexcept nogil:
    """Fill ``t`` with OpenCV's computeResizeAreaTab coverage for outputs
    [first_out, first_out + n_out) of a resize from ``n_in`` to ``n_full``."""
    cdef double scale = <double>n_in / n_full, start, stop, cell
    cdef Py_ssize_t out, first, last, s, k
    t.taps = <Py_ssize_t>scale + 2
    t.start = <int32_t*>malloc(n_out * sizeof(int32_t))
    t.weight = <float*>calloc(n_out * t.taps + AREA_SPARE, sizeof(float))
    if t.start == NULL or t.weight == NULL:
        return -1
    for out in range(n_out):
        start = (out + first_out) * scale
        stop = start + scale
        cell = min(scale, n_in - start)
        first = <Py_ssize_t>(start + 1.0 - 1e-12) if start != <Py_ssize_t>start else <Py_ssize_t>start
        last = min(<Py_ssize_t>floor(stop), n_in - 1)
        first = min(first, last)
        k = out * t.taps
        t.start[out] = <int32_t>first
        if first - start > 1e-3:
            t.start[out] = <int32_t>(first - 1)
            t.weight[k] = <float>((first - start) / cell)
            k += 1
        for s in range(first, last):
            t.weight[k] = <float>(1.0 / cell)
            k += 1
        if stop - last > 1e-3:
            t.weight[k] = <float>(min(min(stop - last, 1.0), cell) / cell)
            k += 1
        while k < (out + 1) * t.taps:
            t.weight[k] = 0.0
            k += 1
    return 0


cdef inline void _weighted_row(const uint8_t* row, float* acc, float weight,
                               Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t x
    for x in range(n):
        acc[x] = weight * row[x]


cdef inline void _accumulate(const uint8_t* row, float* acc, float weight,
                             Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t x
    for x in range(n):
        acc[x] = acc[x] + weight * row[x]


cdef inline void _transpose_tile(const float* acc, float* acc_t, Py_ssize_t stride,
                                 Py_ssize_t width) noexcept nogil:
    """``acc_t[c, r] = acc[r, c]`` for the TILE rows of ``acc`` (row stride ``stride``)."""
    cdef Py_ssize_t c, r
    for c in range(width):
        for r in range(TILE):
            acc_t[c * TILE + r] = acc[r * stride + c]


cdef inline void _vertical_sum(GrayRows* src, const AreaTaps* ty, Py_ssize_t y, float* acc,
                               Py_ssize_t width) noexcept nogil:
    """``acc[:width]`` = output row ``y``'s source rows weighted and summed in tap order."""
    cdef Py_ssize_t k
    cdef float weight
    cdef bint first = True
    for k in range(ty.taps):
        weight = ty.weight[y * ty.taps + k]
        if weight == 0.0:
            continue
        if first:
            _weighted_row(_gray_row(src, ty.start[y] + k), acc, weight, width)
            first = False
        else:
            _accumulate(_gray_row(src, ty.start[y] + k), acc, weight, width)


cdef int _area_gray_rows(GrayRows* src, const Plane* dst, const AreaTaps* tx,
                         const AreaTaps* ty, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Rows [y0, y1) of a general gray area resize; -1 when out of memory.

    Per tile of TILE output rows: the vertical pass over whole source rows
    (vector code), transposed so that the horizontal pass works on TILE
    rows at once.
    """
    cdef Py_ssize_t tile, y, r, rows, width = src.image.cols
    # Padded with zeros: an output's zero-weight taps may run past the row.
    cdef Py_ssize_t stride = width + tx.taps
    cdef float* acc = <float*>calloc(2 * TILE * stride, sizeof(float))
    if acc == NULL:
        return -1
    cdef float* acc_t = acc + TILE * stride
    for tile in range((y1 - y0 + TILE - 1) // TILE):
        y = y0 + tile * TILE
        rows = min(<Py_ssize_t>TILE, y1 - y)
        for r in range(rows):
            _vertical_sum(src, ty, y + r, acc + r * stride, width)
        _transpose_tile(acc, acc_t, stride, width)
        scipix_area_htile(acc_t, _out_row(dst, y), dst.stride, rows, dst.cols, tx.start,
                          tx.weight, tx.taps)
    free(acc)
    return 0


cdef int _area_packed_rows(GrayRows* src, const Plane* dst, const AreaTaps* tx,
                           const AreaTaps* ty, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Rows [y0, y1) of a general area resize of packed 3- or 4-value
    pixels; -1 when out of memory.

    Row by row: the vertical pass over the whole source row, then each
    output pixel's channels weighed together (scipix_area_packed_hrow).
    """
    cdef Py_ssize_t y, width = src.image.cols * dst.channels, n = dst.cols * dst.channels
    # Padded with zeros: an output's zero-weight taps (and the value the
    # horizontal pass reads past a tap pixel) may run past the row.
    cdef Py_ssize_t stride = width + tx.taps * dst.channels
    cdef float* acc = <float*>calloc(stride + n + 1, sizeof(float))
    if acc == NULL:
        return -1
    cdef float* sums = acc + stride
    for y in range(y0, y1):
        _vertical_sum(src, ty, y, acc, width)
        scipix_area_packed_hrow(acc, sums, dst.cols, dst.channels, tx.start, tx.weight, tx.taps)
        scipix_area_round_row(sums, _out_row(dst, y), n)
    free(acc)
    return 0


cdef int _area_rows(GrayRows* src, const Plane* dst, const void* x_taps,
                    const void* y_taps, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Rows [y0, y1) of a general area resize; -1 when out of memory.

    Per output value the arithmetic is the same sequence as a plain loop:
    ``sum_k wy_k * row_k`` in tap order, then ``sum_k wx_k * column_k`` in
    tap order, rounded half to even.
    """
    if dst.channels == 1:
        return _area_gray_rows(src, dst, <const AreaTaps*>x_taps, <const AreaTaps*>y_taps,
                               y0, y1)
    return _area_packed_rows(src, dst, <const AreaTaps*>x_taps, <const AreaTaps*>y_taps,
                             y0, y1)


# --------------------------------------------------------------------------
# Bilinear resize (OpenCV's INTER_LINEAR for uint8)

cdef struct LinearTaps:
    int32_t* first        # (n_out,) left / top source index
    int32_t* second       # (n_out,) right / bottom source index, clamped
    int32_t* w_first      # (n_out,) weights in 1/COEF_ONE, w_first + w_second == COEF_ONE
    int32_t* w_second
    int32_t* w_pair       # (n_out,) w_first | w_second << 16, two int16 lanes
    uint8_t* windows      # horizontal only: shuffle controls, see scipix_linear_windows


cdef int _linear_taps(LinearTaps* t, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t first_out,
                      Py_ssize_t n_full, bint clamp_weight, Py_ssize_t channels) noexcept nogil:
    """Pixel-centre taps: source ``(out + 0.5) * scale - 0.5``, as OpenCV,
    for outputs [first_out, first_out + n_out) of a resize from ``n_in`` to
    ``n_full``.

    OpenCV zeroes the fraction at the horizontal edges (``clamp_weight``) and
    clamps only the row indices vertically; the results agree either way.
    Horizontal taps of packed pixels (``channels`` > 1) are given per value:
    value ``out * channels + c`` reads values ``first * channels + c`` and
    ``second * channels + c``; they have no shuffle windows.
    """
    cdef double scale = 1.0 / (<double>n_full / n_in)
    cdef Py_ssize_t out, s, c, v, n = n_out * channels
    cdef float f
    cdef bint windows = clamp_weight and channels == 1
    t.first = <int32_t*>malloc(n * sizeof(int32_t))
    t.second = <int32_t*>malloc(n * sizeof(int32_t))
    t.w_first = <int32_t*>malloc(n * sizeof(int32_t))
    t.w_second = <int32_t*>malloc(n * sizeof(int32_t))
    t.w_pair = <int32_t*>malloc(n * sizeof(int32_t))
    t.windows = <uint8_t*>malloc((n_out // 8) * WINDOW_BYTES + 1) if windows else NULL
    if (t.first == NULL or t.second == NULL or t.w_first == NULL or t.w_second == NULL
            or t.w_pair == NULL or (windows and t.windows == NULL)):
        return -1
    for out in range(n_out):
        f = <float>((out + first_out + 0.5) * scale - 0.5)
        s = <Py_ssize_t>floor(f)
        f = f - s
        if clamp_weight and s < 0:
            s = 0
            f = 0.0
        if clamp_weight and s >= n_in - 1:
            s = n_in - 1
            f = 0.0
        for c in range(channels):
            v = out * channels + c
            t.first[v] = <int32_t>(min(max(s, 0), n_in - 1) * channels + c)
            t.second[v] = <int32_t>(min(max(s + 1, 0), n_in - 1) * channels + c)
            t.w_second[v] = <int32_t>floor(f * COEF_ONE + 0.5)
            t.w_first[v] = COEF_ONE - t.w_second[v]
            t.w_pair[v] = t.w_first[v] | (t.w_second[v] << 16)
    if windows:
        scipix_linear_windows(t.first, n_out, n_in, t.windows)
    return 0


cdef void _free_linear(LinearTaps* t) noexcept nogil:
    free(t.first); free(t.second); free(t.w_first); free(t.w_second); free(t.w_pair)
    free(t.windows)


cdef inline void _linear_hrow(const uint8_t* row, Py_ssize_t n_in, int32_t* out,
                              const LinearTaps* t, Py_ssize_t n,
                              Py_ssize_t channels) noexcept nogil:
    scipix_linear_hrow(row, n_in, out, t.first, t.second, t.w_first, t.w_second, t.w_pair,
                       t.windows, n, channels)


cdef inline void _linear_vrow(const int32_t* top, const int32_t* bottom, uint8_t* dst,
                              int32_t w_top, int32_t w_bottom, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t x
    # Both factors are < 2**20 and 2**12: the sum stays below 2**31.
    for x in range(n):
        dst[x] = <uint8_t>((top[x] * w_top + bottom[x] * w_bottom + (1 << (2 * COEF_BITS - 1)))
                           >> (2 * COEF_BITS))


cdef int _linear_rows(GrayRows* src, const Plane* dst, const void* x_taps,
                      const void* y_taps, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Rows [y0, y1), each source row resampled horizontally once per band;
    -1 when out of memory."""
    cdef const LinearTaps* tx = <const LinearTaps*>x_taps
    cdef const LinearTaps* ty = <const LinearTaps*>y_taps
    cdef Py_ssize_t y, cols = dst.cols * dst.channels, top_row = -1, bottom_row = -1, swap_row
    cdef Py_ssize_t n_in = src.image.cols * dst.channels
    # A value to spare after each row: scipix_linear_hrow's packed stores.
    cdef int32_t* top = <int32_t*>malloc(2 * (cols + 1) * sizeof(int32_t))
    if top == NULL:
        return -1
    cdef int32_t* rows = top
    cdef int32_t* bottom = top + cols + 1
    cdef int32_t* swap
    for y in range(y0, y1):
        if ty.first[y] != top_row and ty.first[y] == bottom_row:
            swap = top; top = bottom; bottom = swap
            swap_row = top_row; top_row = bottom_row; bottom_row = swap_row
        if ty.first[y] != top_row:
            top_row = ty.first[y]
            _linear_hrow(_gray_row(src, top_row), n_in, top, tx, cols, dst.channels)
        if ty.second[y] != bottom_row:
            bottom_row = ty.second[y]
            _linear_hrow(_gray_row(src, bottom_row), n_in, bottom, tx, cols, dst.channels)
        _linear_vrow(top, bottom, _out_row(dst, y), ty.w_first[y], ty.w_second[y], cols)
    free(rows)
    return 0


# --------------------------------------------------------------------------
# Resize entry points

cdef enum ResizeMode:
    BILINEAR
    AREA
    AREA_INTEGER


cdef int _resize(ResizeMode mode, const Image* src, const Plane* dst, int bands) noexcept nogil:
    """Resize ``src`` (converted to gray as read unless ``dst`` keeps its
    channels) into ``dst`` on ``bands`` threads; -1 when out of memory, else 0."""
    return _resize_window(mode, src, dst, bands, 0, 0, dst.rows, dst.cols)


cdef int _resize_window(ResizeMode mode, const Image* src, const Plane* dst, int bands,
                        Py_ssize_t top, Py_ssize_t left, Py_ssize_t rows,
                        Py_ssize_t cols) noexcept nogil:
    """Rows [top, top + dst.rows) and columns [left, left + dst.cols) of the
    resize of ``src`` to (``rows``, ``cols``), into ``dst``, each value as
    the whole resize computes it; -1 when out of memory, else 0.

    An exact 2x bilinear downscale is the 2x2 area average, bit for bit, and
    takes that path (OpenCV does the same).
    """
    cdef Py_ssize_t kx, ky
    cdef Image block
    cdef AreaTaps ax, ay
    cdef LinearTaps lx, ly
    cdef RowsFn rows_fn
    cdef int failed = 0
    if mode == BILINEAR and src.rows == 2 * rows and src.cols == 2 * cols:
        mode = AREA_INTEGER
    if mode == AREA_INTEGER and (src.cols // cols) * (src.rows // rows) > AREA_INT_MAX_BLOCK:
        mode = AREA
    if mode == AREA_INTEGER:
        kx = src.cols // cols
        ky = src.rows // rows
        # The window's outputs read exactly the source blocks under them.
        block = src[0]
        if src.make_row == NULL:
            block.data = src.data + top * ky * src.stride + left * kx * src.channels
        else:
            block.row0 = src.row0 + top * ky
            block.col0 = src.col0 + left * kx
        block.rows = dst.rows * ky
        block.cols = dst.cols * kx
        rows_fn = _area2x2_rows if kx == 2 and ky == 2 else _area_int_rows
        failed = _in_bands(rows_fn, &block, dst, &kx, &ky, bands)
    elif mode == AREA:
        ax.start = ay.start = NULL
        ax.weight = ay.weight = NULL
        failed = (_area_taps(&ax, src.cols, dst.cols, left, cols)
                  + _area_taps(&ay, src.rows, dst.rows, top, rows))
        if failed == 0:
            failed = _in_bands(_area_rows, src, dst, &ax, &ay, bands)
        free(ax.start); free(ax.weight); free(ay.start); free(ay.weight)
    else:
        lx.first = lx.second = lx.w_first = lx.w_second = lx.w_pair = NULL
        ly.first = ly.second = ly.w_first = ly.w_second = ly.w_pair = NULL
        lx.windows = ly.windows = NULL
        failed = (_linear_taps(&lx, src.cols, dst.cols, left, cols, True, dst.channels)
                  + _linear_taps(&ly, src.rows, dst.rows, top, rows, False, 1))
        if failed == 0:
            failed = _in_bands(_linear_rows, src, dst, &lx, &ly, bands)
        _free_linear(&lx)
        _free_linear(&ly)
    return -1 if failed else 0


cdef inline ResizeMode _area_mode(const Image* src, Py_ssize_t rows,
                                  Py_ssize_t cols) noexcept nogil:
    """The area path for shrinking ``src`` to (rows, cols): by whole factors or not."""
    if src.rows % rows == 0 and src.cols % cols == 0:
        return AREA_INTEGER
    return AREA


cdef int _check_row_values(Py_ssize_t values, str name) except -1:
    """Refuse rows the resizes' int32 tap indices cannot address."""
    if values >= (<Py_ssize_t>1 << 31):
        raise ValueError(f"{name} has rows of {values} values; at most 2**31 - 1 are supported")
    return 0


cdef int _check_row_count(Py_ssize_t rows, str name) except -1:
    """Refuse more rows than the resizes' int32 row taps can address."""
    if rows >= (<Py_ssize_t>1 << 31):
        raise ValueError(f"{name} has {rows} rows; at most 2**31 - 1 are supported")
    return 0
