"""Resampling kernels: Pillow's antialiased two-pass resize, exact.

This one source is compiled once per instruction-set variant (see setup.py)
into ``_resample_<variant>``; the passes are in
``include/scipix_resample.h``.  The caller (``scipix.optimize.simd``)
validates the arguments and builds each pass's taps (``pillow_taps`` here,
or torch's in Python); this module re-checks only what memory safety
depends on.
"""
from cython.parallel cimport prange
from libc.stdint cimport int32_t, uint8_t, uint32_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

import numpy as np

from scipix.optimize._variant cimport target_macro_names, team_size

cdef extern from "scipix_resample.h":
    ctypedef struct Pass "scipix_rs_pass":
        const int32_t* first
        const int32_t* count
        const int32_t* coeffs
        Py_ssize_t ksize
        int shift
    ctypedef struct Plan "scipix_rs_plan":
        const uint8_t* src
        Py_ssize_t src_rows, src_cols, src_stride
        uint8_t* dst
        Py_ssize_t dst_rows, dst_cols, dst_stride
        int channels, alpha
        const uint8_t* unpremultiply
        int horizontal, vertical, horizontal_first
        Pass h, v
        const uint32_t* h_spread
    Py_ssize_t scipix_rs_pillow_ksize(float in0, float in1, Py_ssize_t out_size, int filter,
                                      double limit) noexcept nogil
    void scipix_rs_pillow_taps(Py_ssize_t in_size, float in0, float in1, Py_ssize_t out_size,
                               int filter, Py_ssize_t ksize, int shift, int32_t* first,
                               int32_t* count, int32_t* coeffs, double* weights) noexcept nogil
    size_t scipix_rs_scratch_bytes(const Plan* plan) noexcept nogil
    void scipix_rs_band(const Plan* plan, Py_ssize_t y0, Py_ssize_t y1,
                        void* scratch) noexcept nogil
    void scipix_rs_unpremultiply_table(uint8_t* table) noexcept nogil

cdef extern from "scipix_resample_opencv.h":
    ctypedef struct CvPlan "scipix_rs_cv_plan":
        const uint8_t* src
        Py_ssize_t src_rows, src_cols, src_stride
        uint8_t* dst
        Py_ssize_t dst_rows, dst_cols, dst_stride
        int channels, vertical_first
        Pass h, v
    size_t scipix_rs_cv_scratch_bytes(const CvPlan* plan) noexcept nogil
    void scipix_rs_cv_band(const CvPlan* plan, Py_ssize_t y0, Py_ssize_t y1,
                           void* scratch) noexcept nogil

cdef extern from *:
    """
    #if defined(SCIPIX_SCALAR_REFERENCE)
    #define SCIPIX_RS_SPREAD_LANES 0
    static inline Py_ssize_t scipix_rs_groups(Py_ssize_t ksize, int channels)
    { (void)ksize; (void)channels; return 0; }
    static inline void scipix_rs_spread_weights(const int32_t *coeffs, const int32_t *count,
        Py_ssize_t out_size, Py_ssize_t ksize, int channels, uint32_t *spread)
    { (void)coeffs; (void)count; (void)out_size; (void)ksize; (void)channels; (void)spread; }
    #else
    #define SCIPIX_RS_SPREAD_LANES SCIPIX_RS_GROUP_WORDS
    #endif
    """
    enum: SPREAD_LANES "SCIPIX_RS_SPREAD_LANES"
    Py_ssize_t scipix_rs_groups(Py_ssize_t ksize, int channels) noexcept nogil
    void scipix_rs_spread_weights(const int32_t* coeffs, const int32_t* count,
                                  Py_ssize_t out_size, Py_ssize_t ksize, int channels,
                                  uint32_t* spread) noexcept nogil

cdef enum:
    # Pillow's fixed point: 32 bits less 8 for the value, 2 for overflow.
    PILLOW_BITS = 22
    # OpenCV's INTER_RESIZE_COEF_BITS.
    OPENCV_BITS = 11
    # Output rows a thread takes at a time: each band re-reads the source
    # rows its first output row shares with the band before.
    MIN_BAND_ROWS = 16

cdef uint8_t UNPREMULTIPLY[65536]
scipix_rs_unpremultiply_table(UNPREMULTIPLY)

# Pillow's limit on a coefficient table (outSize * ksize doubles < 2**31 bytes).
cdef double TABLE_LIMIT = 2147483647.0 / 8


def target_macros():
    """The compiler's target macros this variant was built with."""
    return target_macro_names()


def pillow_taps(Py_ssize_t in_size, float in0, float in1, Py_ssize_t out_size, int filter):
    """Pillow's taps of one pass (``precompute_coeffs`` + ``normalize_coeffs_8bpc``).

    Parameters
    ----------
    in_size : int
        Input pixels along the axis.
    in0, in1 : float32
        The input span mapped onto the output (Pillow's box sides).
    out_size : int
        Output pixels along the axis, at least 1.
    filter : int
        ``SCIPIX_RS_*`` (box 1, bilinear 2, hamming 3, bicubic 4, lanczos 5,
        mks2013 6, mks2021 7).

    Returns
    -------
    first, count : int32 ndarray, shape (out_size,)
        Each output's first input pixel and number of taps.
    coeffs : int32 ndarray, shape (out_size, ksize)
        The taps' weights with 22 fractional bits, zero past ``count``.
    """
    cdef Py_ssize_t ksize = scipix_rs_pillow_ksize(in0, in1, out_size, filter,
                                                   TABLE_LIMIT / out_size)
    if ksize < 0:
        raise ValueError(f"a {in1 - in0:g}-pixel span resampled to {out_size} pixels needs "
                         f"more filter weights than Pillow allows (2**31 bytes)")
    first = np.empty(out_size, np.int32)
    count = np.empty(out_size, np.int32)
    coeffs = np.empty((out_size, ksize), np.int32)
    cdef int32_t[::1] first_view = first, count_view = count
    cdef int32_t[:, ::1] coeff_view = coeffs
    cdef double* weights = <double*>malloc(ksize * sizeof(double))
    if weights == NULL:
        raise MemoryError()
    with nogil:
        scipix_rs_pillow_taps(in_size, in0, in1, out_size, filter, ksize, PILLOW_BITS,
                              &first_view[0], &count_view[0], &coeff_view[0, 0], weights)
    free(weights)
    return first, count, coeffs


cdef Pass _pass(const int32_t[::1] first, const int32_t[::1] count,
                const int32_t[:, ::1] coeffs, int shift, Py_ssize_t in_size,
                Py_ssize_t out_size, str name) except *:
    """A pass's taps, checked to stay inside the ``in_size`` input pixels."""
    cdef Pass taps
    cdef Py_ssize_t i
    if first.shape[0] != out_size or count.shape[0] != out_size \
            or coeffs.shape[0] != out_size or coeffs.shape[1] < 1:
        raise ValueError(f"{name} taps must describe {out_size} outputs")
    if not 1 <= shift <= 30:
        raise ValueError(f"{name} shift must be in [1, 30], got {shift}")
    for i in range(out_size):
        if not (0 <= count[i] <= coeffs.shape[1] and 0 <= first[i]
                and first[i] + count[i] <= in_size):
            raise ValueError(f"{name} tap {i} reads outside the {in_size} input pixels")
        if i and (first[i] < first[i - 1]
                  or first[i] + count[i] < first[i - 1] + count[i - 1]):
            raise ValueError(f"{name} taps must move forward")
    taps.first, taps.count, taps.coeffs = &first[0], &count[0], &coeffs[0, 0]
    taps.ksize, taps.shift = coeffs.shape[1], shift
    return taps


ctypedef void (*BandFn)(const void* plan, Py_ssize_t y0, Py_ssize_t y1,
                       void* scratch) noexcept nogil


cdef void _check_packed(const uint8_t[:, :, :] src, uint8_t[:, :, :] dst) except *:
    """Both images' pixels packed within a row, with the same 1 to 4 channels."""
    cdef Py_ssize_t channels = src.shape[2]
    if (src.shape[0] < 1 or src.shape[1] < 1 or not 1 <= channels <= 4
            or src.strides[1] != channels or (channels > 1 and src.strides[2] != 1)):
        raise ValueError("src must be non-empty with 1 to 4 packed channels")
    if (dst.shape[2] != channels or dst.strides[1] != channels
            or (channels > 1 and dst.strides[2] != 1)):
        raise ValueError(f"dst must have {channels} packed channels")


cdef void _run_bands(BandFn band, const void* plan, size_t scratch_bytes, Py_ssize_t rows,
                     int team) except *:
    """``band(plan, y0, y1, scratch)`` over the output rows, split into bands
    of at least MIN_BAND_ROWS spread over ``team`` threads, each with its own
    scratch."""
    cdef Py_ssize_t bands = min(team, max(1, rows // MIN_BAND_ROWS)), i, y0, y1
    cdef int failed = 0
    cdef void* scratch
    with nogil:
        for i in prange(bands, num_threads=team, schedule="static", chunksize=1):
            y0 = rows * i // bands
            y1 = rows * (i + 1) // bands
            scratch = malloc(scratch_bytes)
            if scratch == NULL:
                failed += 1
            else:
                band(plan, y0, y1, scratch)
                free(scratch)
    if failed:
        raise MemoryError()


def resample(const uint8_t[:, :, :] src, uint8_t[:, :, :] dst, horizontal, vertical,
             bint horizontal_first, bint alpha, int n_threads):
    """Two-pass resampling of ``src`` into ``dst`` (Pillow's order and rounding).

    Parameters
    ----------
    src : uint8 memoryview, shape (rows, cols, channels)
        ``channels`` 1 to 4, packed within a row; any row stride.
    dst : uint8 memoryview, shape (out_rows, out_cols, channels)
        Packed within a row; must not overlap ``src``.
    horizontal, vertical : tuple or None
        ``(first, count, coeffs, shift)`` of each pass (int32 arrays as
        :func:`pillow_taps` returns, ``shift`` the weights' fractional
        bits), or None where the pass is skipped (the axis keeps its size).
    horizontal_first : bool
        The order of the passes when both run.
    alpha : bool
        Resample premultiplied by the last channel (Pillow's RGBA, LA).
    n_threads : int
        Output rows are spread over this many OpenMP threads.
    """
    cdef Plan plan
    cdef Py_ssize_t channels = src.shape[2], rows = dst.shape[0]
    memset(&plan, 0, sizeof(plan))
    _check_packed(src, dst)
    if alpha and channels not in (2, 4):
        raise ValueError("alpha needs 2 or 4 channels")
    if horizontal is None and dst.shape[1] != src.shape[1]:
        raise ValueError("without a horizontal pass dst must be as wide as src")
    if vertical is None and rows != src.shape[0]:
        raise ValueError("without a vertical pass dst must be as tall as src")
    if rows == 0 or dst.shape[1] == 0:
        return
    plan.src, plan.src_rows, plan.src_cols, plan.src_stride = (&src[0, 0, 0], src.shape[0],
                                                               src.shape[1], src.strides[0])
    plan.dst, plan.dst_rows, plan.dst_cols, plan.dst_stride = (&dst[0, 0, 0], rows,
                                                               dst.shape[1], dst.strides[0])
    plan.channels, plan.alpha, plan.unpremultiply = channels, alpha, UNPREMULTIPLY
    plan.horizontal, plan.vertical = horizontal is not None, vertical is not None
    plan.horizontal_first = horizontal_first
    if vertical is not None:
        plan.v = _pass(vertical[0], vertical[1], vertical[2], vertical[3], src.shape[0], rows,
                       "vertical")
    if horizontal is not None:
        plan.h = _pass(horizontal[0], horizontal[1], horizontal[2], horizontal[3],
                       src.shape[1], dst.shape[1], "horizontal")
        if SPREAD_LANES:
            spread = np.empty(dst.shape[1] * scipix_rs_groups(plan.h.ksize, channels)
                              * SPREAD_LANES, np.uint32)
            _spread_weights(&plan, spread)

    cdef size_t scratch_bytes = scipix_rs_scratch_bytes(&plan)
    cdef int team = team_size(rows * dst.shape[1] * channels * (plan.h.ksize if plan.horizontal
                                                               else 1), n_threads)
    _run_bands(<BandFn>scipix_rs_band, &plan, scratch_bytes, rows, team)


def resample_opencv(const uint8_t[:, :, :] src, uint8_t[:, :, :] dst, horizontal, vertical,
                    int n_threads):
    """OpenCV's two fixed-point passes of ``src`` into ``dst`` (INTER_LANCZOS4).

    Parameters
    ----------
    src : uint8 memoryview, shape (rows, cols, channels)
        ``channels`` 1 to 4, packed within a row; any row stride.
    dst : uint8 memoryview, shape (out_rows, out_cols, channels)
        Packed within a row; must not overlap ``src``.
    horizontal, vertical : tuple
        ``(first, count, coeffs)`` of each pass (int32 arrays, weights
        with 11 fractional bits, 1 to ``coeffs.shape[1]`` taps each).
    n_threads : int
        Output rows are spread over this many OpenMP threads.
    """
    cdef CvPlan plan
    cdef Py_ssize_t channels = src.shape[2], rows = dst.shape[0]
    memset(&plan, 0, sizeof(plan))
    _check_packed(src, dst)
    if rows == 0 or dst.shape[1] == 0:
        return
    plan.v = _pass(vertical[0], vertical[1], vertical[2], OPENCV_BITS, src.shape[0], rows,
                   "vertical")
    plan.h = _pass(horizontal[0], horizontal[1], horizontal[2], OPENCV_BITS, src.shape[1],
                   dst.shape[1], "horizontal")
    if min(horizontal[1]) < 1 or min(vertical[1]) < 1:
        raise ValueError("every output needs at least one tap")
    plan.src, plan.src_rows, plan.src_cols, plan.src_stride = (&src[0, 0, 0], src.shape[0],
                                                               src.shape[1], src.strides[0])
    plan.dst, plan.dst_rows, plan.dst_cols, plan.dst_stride = (&dst[0, 0, 0], rows,
                                                               dst.shape[1], dst.strides[0])
    plan.channels = channels
    # The passes' work, the horizontal one (which does not vectorize along
    # a row) counted 4 times: rows through it, times output columns.
    cdef Py_ssize_t source_rows = min(src.shape[0], rows * plan.v.ksize)
    plan.vertical_first = (rows * (src.shape[1] + 4 * dst.shape[1])
                           < 4 * source_rows * dst.shape[1] + rows * dst.shape[1])
    cdef size_t scratch_bytes = scipix_rs_cv_scratch_bytes(&plan)
    cdef int team = team_size(rows * dst.shape[1] * channels * plan.h.ksize, n_threads)
    _run_bands(<BandFn>scipix_rs_cv_band, &plan, scratch_bytes, rows, team)


cdef void _spread_weights(Plan* plan, uint32_t[::1] spread) noexcept:
    scipix_rs_spread_weights(plan.h.coeffs, plan.h.count, plan.dst_cols, plan.h.ksize,
                             plan.channels, &spread[0])
    plan.h_spread = &spread[0]


def nearest(const uint8_t[:, :, :] src, uint8_t[:, :, :] dst, float x0, float y0,
            float x1, float y1):
    """Pillow's NEAREST resize of the box (x0, y0, x1, y1) of ``src`` into ``dst``.

    Pillow samples at ``box[0] + (i + 0.5) * scale``, accumulated in double
    one output at a time (``ImagingScaleAffine``); a position that lands
    outside the image (by rounding at the far edge) gives a zero pixel.
    """
    cdef Py_ssize_t channels = src.shape[2], rows = dst.shape[0], cols = dst.shape[1]
    cdef Py_ssize_t i, y, c
    if (src.shape[0] < 1 or src.shape[1] < 1 or not 1 <= channels <= 4
            or dst.shape[2] != channels or src.strides[1] != channels
            or dst.strides[1] != channels
            or (channels > 1 and (src.strides[2] != 1 or dst.strides[2] != 1))):
        raise ValueError("src and dst must be non-empty with the same 1 to 4 packed channels")
    if rows == 0 or cols == 0:
        return
    column = np.empty(cols, np.int32)
    cdef int32_t[::1] xin = column
    cdef double step = <double>(x1 - x0) / cols, position = x0 + step * 0.5
    for i in range(cols):
        xin[i] = -1 if position < 0.0 else <int>position
        if xin[i] >= src.shape[1]:
            xin[i] = -1
        position += step
    cdef double ystep = <double>(y1 - y0) / rows, yposition = y0 + ystep * 0.5
    cdef int yin
    cdef const uint8_t* line
    cdef uint8_t* out
    for y in range(rows):
        yin = -1 if yposition < 0.0 else <int>yposition
        out = &dst[y, 0, 0]
        if yin < 0 or yin >= src.shape[0]:
            for i in range(cols * channels):
                out[i] = 0
        else:
            line = &src[yin, 0, 0]
            with nogil:
                for i in range(cols):
                    if xin[i] < 0:
                        for c in range(channels):
                            out[i * channels + c] = 0
                    else:
                        for c in range(channels):
                            out[i * channels + c] = line[xin[i] * channels + c]
        yposition += ystep
