"""YUV 4:2:0 kernels: planes to packed RGB, and planes straight to a resized
window of RGB (or gray) pixels.

This one source is compiled once per instruction-set variant (see setup.py)
into ``_yuv_<variant>``; the row conversion is in ``include/scipix_yuv.h``,
the resize is the image kernels' own (``_resize_rows.pxi``), reading rows
that the conversion makes on demand, two at a time per thread, so no
full-size RGB frame is ever stored.  The caller (``scipix.video``)
validates the arguments and builds the matrix; this module re-checks only
what memory safety depends on.
"""
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t, uint8_t

from scipix.optimize._variant cimport target_macro_names, team_size

include "_resize_rows.pxi"

cdef extern from "scipix_yuv.h":
    ctypedef struct YuvMatrix "scipix_yuv_matrix":
        int32_t y_scale, y_offset, v_red, u_green, v_green, u_blue
    ctypedef struct FastMatrix "scipix_yuv_fast_matrix":
        int32_t y_scale, y_offset, v_red, u_green, v_green, u_blue
    FastMatrix scipix_yuv_fast_table(const YuvMatrix* m) noexcept nogil
    void scipix_yuv_row(const uint8_t* luma, const uint8_t* u, const uint8_t* v,
                        Py_ssize_t step, Py_ssize_t x0, Py_ssize_t n, uint8_t* dst,
                        const YuvMatrix* m, int bgr) noexcept nogil
    void scipix_yuv_fast_row(const uint8_t* luma, const uint8_t* u, const uint8_t* v,
                             Py_ssize_t step, Py_ssize_t x0, Py_ssize_t n, uint8_t* dst,
                             const FastMatrix* m, int bgr) noexcept nogil
    void scipix_yuv_fast_area2x2_row(const uint8_t* top, const uint8_t* bottom,
                                     const uint8_t* u, const uint8_t* v, Py_ssize_t step,
                                     Py_ssize_t x0, Py_ssize_t n, uint8_t* dst,
                                     const FastMatrix* m) noexcept nogil


cdef struct Frame:
    # One frame's planes: luma row y is ``luma + y * luma_stride``; its
    # chroma row (y // 2) holds sample j at ``u + (y // 2) * u_stride + j * step``
    # (``v`` likewise); ``exact`` picks the arithmetic (see scipix_yuv.h).
    const uint8_t* luma
    const uint8_t* u
    const uint8_t* v
    Py_ssize_t luma_stride, u_stride, v_stride, step
    YuvMatrix matrix
    FastMatrix fast
    bint exact


def target_macros():
    """The compiler's target macros this module was built with (tests check them)."""
    return target_macro_names()


cdef inline void _convert_row(const Frame* f, Py_ssize_t y, Py_ssize_t x0, Py_ssize_t n,
                              uint8_t* row, int bgr) noexcept nogil:
    """Pixels [x0, x0 + n) of RGB (``bgr``: BGR) row ``y`` of the frame."""
    if f.exact:
        scipix_yuv_row(f.luma + y * f.luma_stride, f.u + (y >> 1) * f.u_stride,
                       f.v + (y >> 1) * f.v_stride, f.step, x0, n, row, &f.matrix, bgr)
    else:
        scipix_yuv_fast_row(f.luma + y * f.luma_stride, f.u + (y >> 1) * f.u_stride,
                            f.v + (y >> 1) * f.v_stride, f.step, x0, n, row, &f.fast, bgr)


cdef void _frame_row(const void* source, Py_ssize_t y, Py_ssize_t x0, Py_ssize_t n,
                     uint8_t* row) noexcept nogil:
    """Pixels [x0, x0 + n) of RGB row ``y`` of the Frame ``source``."""
    _convert_row(<const Frame*>source, y, x0, n, row, 0)


cdef Frame _frame(const uint8_t[:, :] y, const uint8_t[:, :] u, const uint8_t[:, :] v,
                  Py_ssize_t step, const int32_t[::1] matrix, bint exact) except *:
    """The planes as a Frame, after the checks memory safety depends on:
    chroma covering every pixel's sample, bytes within a row contiguous;
    and the bounds that keep the fast arithmetic's 16-bit sums from
    overflowing."""
    cdef Py_ssize_t rows = y.shape[0], cols = y.shape[1]
    cdef Py_ssize_t chroma_rows = (rows + 1) // 2, chroma_bytes = ((cols + 1) // 2 - 1) * step + 1
    cdef Frame f
    if rows < 1 or cols < 1:
        raise ValueError("y is empty")
    if step < 1 or matrix.shape[0] != 6 or not 0 <= matrix[1] <= 255:
        raise ValueError("step must be positive and matrix have 6 values, y_offset in [0, 255]")
    if y.strides[1] != 1 or u.strides[1] != 1 or v.strides[1] != 1:
        raise ValueError("y, u and v must have contiguous rows")
    if (u.shape[0] < chroma_rows or v.shape[0] < chroma_rows or u.shape[1] < chroma_bytes
            or v.shape[1] < chroma_bytes):
        raise ValueError(f"u and v must cover ({chroma_rows}, {chroma_bytes}) chroma bytes")
    f.luma = &y[0, 0]
    f.u = &u[0, 0]
    f.v = &v[0, 0]
    f.luma_stride = y.strides[0]
    f.u_stride = u.strides[0]
    f.v_stride = v.strides[0]
    f.step = step
    f.matrix.y_scale = matrix[0]
    f.matrix.y_offset = matrix[1]
    f.matrix.v_red = matrix[2]
    f.matrix.u_green = matrix[3]
    f.matrix.v_green = matrix[4]
    f.matrix.u_blue = matrix[5]
    f.fast = scipix_yuv_fast_table(&f.matrix)
    f.exact = exact
    if not (0 <= f.fast.y_scale < 1 << 14 and abs(f.fast.u_green) + abs(f.fast.v_green) < 1 << 14
            and abs(f.fast.v_red) < 1 << 15 and abs(f.fast.u_blue) < 1 << 15):
        raise ValueError("matrix's coefficients are out of the fast arithmetic's range")
    return f


cdef void _rgb_rows(const Frame* f, uint8_t* out, Py_ssize_t out_stride, Py_ssize_t cols,
                    Py_ssize_t y0, Py_ssize_t y1, int bgr) noexcept nogil:
    cdef Py_ssize_t y
    for y in range(y0, y1):
        _convert_row(f, y, 0, cols, out + y * out_stride, bgr)


def yuv_to_rgb(const uint8_t[:, :] y, const uint8_t[:, :] u, const uint8_t[:, :] v,
               Py_ssize_t step, const int32_t[::1] matrix, bint exact, uint8_t[:, :, :] out,
               bint bgr, int n_threads):
    """Convert a 4:2:0 frame to packed RGB (BGR with ``bgr``), chroma replicated.

    Parameters
    ----------
    y : uint8 memoryview, shape (H, W), contiguous rows
    u, v : uint8 memoryviews, shape (>= ceil(H / 2), >= (ceil(W / 2) - 1) * step + 1)
        Chroma sample j of a row at byte ``j * step`` (1: I420 planes, 2:
        NV12's interleaved plane, ``v`` then being the plane one byte on).
    step : int
    matrix : int32 memoryview, shape (6,)
        ``(y_scale, y_offset, v_red, u_green, v_green, u_blue)`` in units of
        2**-20 (see ``scipix_yuv.h``).
    exact : bool
        cvtColor's 32-bit arithmetic; otherwise the fast 16-bit one (the
        coefficients rounded to 2**-13), within one level of it.
    out : uint8 memoryview, shape (H, W, 3), packed pixels
    n_threads : int
        Bands of rows, one per thread.
    """
    cdef Frame f = _frame(y, u, v, step, matrix, exact)
    cdef Py_ssize_t rows = y.shape[0], cols = y.shape[1], band
    if out.shape[0] != rows or out.shape[1] != cols or out.shape[2] != 3 \
            or out.strides[2] != 1 or out.strides[1] != 3:
        raise ValueError(f"out must be packed pixels of shape ({rows}, {cols}, 3)")
    cdef uint8_t* data = &out[0, 0, 0]
    cdef Py_ssize_t out_stride = out.strides[0]
    cdef int bands = <int>min(<Py_ssize_t>team_size(rows * cols, n_threads), rows)
    with nogil:
        if bands == 1:
            _rgb_rows(&f, data, out_stride, cols, 0, rows, bgr)
        else:
            for band in prange(bands, num_threads=bands, schedule="static"):
                _rgb_rows(&f, data, out_stride, cols, band * rows // bands,
                          (band + 1) * rows // bands, bgr)


cdef void _fast_halved_rows(const Frame* f, const Plane* plane, Py_ssize_t top,
                            Py_ssize_t left, Py_ssize_t y0, Py_ssize_t y1) noexcept nogil:
    """Rows [y0, y1) of the window at (``top``, ``left``) of the frame halved
    (2x2 average) in the fast arithmetic: each output pixel's four luma
    pixels share one chroma sample."""
    cdef Py_ssize_t y, source
    for y in range(y0, y1):
        source = 2 * (top + y)
        scipix_yuv_fast_area2x2_row(f.luma + source * f.luma_stride,
                                    f.luma + (source + 1) * f.luma_stride,
                                    f.u + (top + y) * f.u_stride, f.v + (top + y) * f.v_stride,
                                    f.step, left, plane.cols, plane.data + y * plane.stride,
                                    &f.fast)


def resize_window(const uint8_t[:, :] y, const uint8_t[:, :] u, const uint8_t[:, :] v,
                  Py_ssize_t step, const int32_t[::1] matrix, bint exact,
                  uint8_t[:, :, :] out, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t top, Py_ssize_t left,
                  bint bilinear, int n_threads):
    """The frame's RGB pixels (gray for a 1-channel ``out``) resized to
    (``rows``, ``cols``), rows [top, top + out rows) and columns [left,
    left + out cols) of it, into ``out``: the pixels ``preprocess_batch``'s
    resize gives for the frame converted by ``yuv_to_rgb``, bit for bit
    (area averaging when shrinking both axes, bilinear otherwise or with
    ``bilinear``), made from the planes two rows at a time per thread.

    Parameters
    ----------
    y, u, v, step, matrix, exact
        As :func:`yuv_to_rgb`.
    out : uint8 memoryview, shape (h, w, 1 or 3), packed pixels
    rows, cols : int
        The resized size; ``top + h <= rows``, ``left + w <= cols``.
    top, left : int
        The window's place in the resized image, >= 0.
    n_threads : int
    """
    cdef Frame f = _frame(y, u, v, step, matrix, exact)
    cdef Image image
    cdef Plane plane
    cdef ResizeMode mode
    cdef int bands, band, failed
    if out.shape[2] not in (1, 3) or out.strides[2] != 1 or out.strides[1] != out.shape[2]:
        raise ValueError("out must be packed pixels of 1 or 3 channels")
    if out.shape[0] < 1 or out.shape[1] < 1 or top < 0 or left < 0 \
            or top + out.shape[0] > rows or left + out.shape[1] > cols:
        raise ValueError("out must be a non-empty window of the resized image")
    _check_row_values(y.shape[1] * 3, "y")
    _check_row_count(y.shape[0], "y")
    _check_row_values(cols * 3, "resized")
    image.data = NULL
    image.rows = y.shape[0]
    image.cols = y.shape[1]
    image.stride = 0
    image.channels = 3
    image.bgr = 0
    image.make_row = _frame_row
    image.source = &f
    image.row0 = 0
    image.col0 = 0
    plane.data = &out[0, 0, 0]
    plane.rows = out.shape[0]
    plane.cols = out.shape[1]
    plane.stride = out.strides[0]
    plane.channels = out.shape[2]
    bands = _row_chunks(plane.rows, image.cols * image.rows // plane.rows, n_threads)
    if not exact and plane.channels == 3 and 2 * rows == image.rows and 2 * cols == image.cols:
        # An exact halving (area and bilinear alike) in one pass over the
        # planes, no RGB rows stored between.
        with nogil:
            if bands == 1:
                _fast_halved_rows(&f, &plane, top, left, 0, plane.rows)
            else:
                for band in prange(bands, num_threads=bands, schedule="static"):
                    _fast_halved_rows(&f, &plane, top, left, band * plane.rows // bands,
                                      (band + 1) * plane.rows // bands)
        return
    if bilinear or rows > image.rows or cols > image.cols:
        mode = BILINEAR
    else:
        mode = _area_mode(&image, rows, cols)
    with nogil:
        failed = _resize_window(mode, &image, &plane, bands, top, left, rows, cols)
    if failed:
        raise MemoryError()
