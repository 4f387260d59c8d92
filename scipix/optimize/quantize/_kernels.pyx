"""INT8 kernels: quantize, dequantize, per-row quantize and the u8 x s8 matrix product.

This one source is compiled once per instruction-set variant (see setup.py)
into ``quantize._kernels_<variant>``, as the image kernels are.  Callers
(``scipix.optimize.quantize``) validate arguments; these functions re-check
only what memory safety depends on.  Every function takes ``n_threads``:
the OpenMP thread count, passed explicitly to ``prange``.
"""
from cython.parallel cimport prange
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t
from libc.stdlib cimport free, malloc

from scipix.optimize._variant cimport SPAN, STREAM_BYTES, target_macro_names, team_size

cdef extern from "scipix_convert.h":
    void scipix_widen_stream(const void* x, int is_signed, float* out, Py_ssize_t n,
                             float shift, float factor) noexcept nogil
    int scipix_quantize_block(const float* x, int8_t* q, Py_ssize_t n, float inv_scale,
                              int32_t zero_point, int32_t qmin, int32_t qmax,
                              int stream) noexcept nogil

cdef extern from "scipix_qgemm.h":
    enum: QGEMM_NR "SCIPIX_QGEMM_NR"
    enum: QGEMM_MAX_K "SCIPIX_QGEMM_MAX_K"
    void scipix_qgemm_panel(const uint8_t* a, Py_ssize_t lda, Py_ssize_t m, const int8_t* w,
                            Py_ssize_t ldw, int nr, Py_ssize_t k, int32_t* c, Py_ssize_t ldc,
                            int seven_bit) noexcept nogil


def target_macros():
    """The compiler's target macros this module was built with (tests check them)."""
    return target_macro_names()

# --------------------------------------------------------------------------
# INT8 quantization

def quantize(const float[::1] x, int8_t[::1] q, float inv_scale, int zero_point, int qmin,
             int qmax, int n_threads):
    """``q = clamp(rint(x * inv_scale) + zero_point, qmin, qmax)``, half to even.

    NaN is detected in the same pass, so the data is read from memory once.
    Outputs of 8 MiB or more are written with non-temporal stores.

    Parameters
    ----------
    x : float32 memoryview, shape (n,), contiguous
    q : int8 memoryview, shape (n,), contiguous
    inv_scale : float32 ``1 / scale``
    zero_point, qmin, qmax : int

    Raises
    ------
    ValueError
        ``x`` holds NaN (``q`` is then partly written).
    """
    cdef Py_ssize_t n = x.shape[0], spans = (n + SPAN - 1) // SPAN, b
    if q.shape[0] != n:
        raise ValueError("x and q must have the same length")
    if n == 0:
        return
    cdef int team = team_size(n, n_threads), nan = 0
    cdef bint stream = n >= STREAM_BYTES
    with nogil:
        if team == 1:
            for b in range(spans):
                if scipix_quantize_block(&x[b * SPAN], &q[b * SPAN],
                                         min(<Py_ssize_t>SPAN, n - b * SPAN),
                                         inv_scale, zero_point, qmin, qmax, stream):
                    nan = 1
                    break
        else:
            for b in prange(spans, num_threads=team, schedule="static"):
                nan += scipix_quantize_block(&x[b * SPAN], &q[b * SPAN],
                                             min(<Py_ssize_t>SPAN, n - b * SPAN),
                                             inv_scale, zero_point, qmin, qmax, stream)
    if nan:
        raise ValueError("data contains NaN, which has no int8 value")


cdef inline void _dequantize_block(const int8_t* q, float* x, Py_ssize_t n, float scale,
                                   float zero_point, bint stream) noexcept nogil:
    cdef Py_ssize_t i
    if stream:
        scipix_widen_stream(q, 1, x, n, zero_point, scale)
        return
    for i in range(n):
        x[i] = (<float>q[i] - zero_point) * scale


def dequantize(const int8_t[::1] q, float[::1] x, float scale, int zero_point, int n_threads):
    """``x = (float(q) - zero_point) * scale`` in float32.

    Outputs of 8 MiB or more are written with non-temporal stores.

    Parameters
    ----------
    q : int8 memoryview, shape (n,), contiguous
    x : float32 memoryview, shape (n,), contiguous
    """
    cdef Py_ssize_t n = q.shape[0], blocks = (n + SPAN - 1) // SPAN, b
    if x.shape[0] != n:
        raise ValueError("q and x must have the same length")
    if n == 0:
        return
    cdef int team = team_size(n, n_threads)
    cdef bint stream = n * 4 >= STREAM_BYTES
    with nogil:
        if team == 1:
            _dequantize_block(&q[0], &x[0], n, scale, zero_point, stream)
        else:
            for b in prange(blocks, num_threads=team, schedule="static"):
                _dequantize_block(&q[b * SPAN], &x[b * SPAN], min(<Py_ssize_t>SPAN, n - b * SPAN),
                                  scale, zero_point, stream)


def quantize_rows(const float[:, ::1] x, int8_t[:, ::1] q, const float[::1] inv_scales,
                  const int32_t[::1] zero_points, int qmin, int qmax, int n_threads):
    """Per-row (per-channel) ``quantize``: row ``r`` with ``inv_scales[r]`` and
    ``zero_points[r]``.  The caller has rejected NaN.

    Parameters
    ----------
    x : float32 memoryview, shape (rows, n), C-contiguous
    q : int8 memoryview, shape (rows, n), C-contiguous
    inv_scales : float32 memoryview, shape (rows,)
    zero_points : int32 memoryview, shape (rows,)
    """
    cdef Py_ssize_t rows = x.shape[0], cols = x.shape[1], r
    if (q.shape[0] != rows or q.shape[1] != cols or inv_scales.shape[0] != rows
            or zero_points.shape[0] != rows):
        raise ValueError("x, q, inv_scales and zero_points must agree in shape")
    if rows == 0 or cols == 0:
        return
    cdef int team = team_size(rows * cols, n_threads)
    with nogil:
        if team == 1:
            for r in range(rows):
                scipix_quantize_block(&x[r, 0], &q[r, 0], cols, inv_scales[r], zero_points[r],
                                      qmin, qmax, False)
        else:
            for r in prange(rows, num_threads=team, schedule="static"):
                scipix_quantize_block(&x[r, 0], &q[r, 0], cols, inv_scales[r], zero_points[r],
                                      qmin, qmax, False)


# --------------------------------------------------------------------------
# INT8 matrix product

cdef void _qgemm_columns(const uint8_t* a, const int8_t* w, float* out, Py_ssize_t m,
                         Py_ssize_t n, Py_ssize_t k, int32_t* acc, Py_ssize_t first, int count,
                         const int32_t* a_zeros, const int32_t* a_sums, const float* a_scales,
                         const int32_t* w_zeros, const int32_t* w_sums, const float* w_scales,
                         const float* bias, bint seven_bit) noexcept nogil:
    """Columns [first, first + count) of ``out``; ``acc`` is their int32 scratch."""
    cdef Py_ssize_t row, col
    cdef int j
    cdef int64_t total
    scipix_qgemm_panel(a, k, m, w + first * k, k, count, k, acc, count, seven_bit)
    for row in range(m):
        for j in range(count):
            col = first + j
            # sum (a - a_zero)(w - w_zero), expanded; exact in int64.
            total = (<int64_t>acc[row * count + j] - <int64_t>a_zeros[row] * w_sums[col]
                     - <int64_t>w_zeros[col] * a_sums[row]
                     + k * <int64_t>a_zeros[row] * w_zeros[col])
            out[row * n + col] = (<float>total * (a_scales[row] * w_scales[col])
                                  + (bias[col] if bias != NULL else 0.0))


def qgemm(const uint8_t[:, ::1] a, const int8_t[:, ::1] w, float[:, ::1] out,
          const int32_t[::1] a_zeros, const int32_t[::1] a_sums, const float[::1] a_scales,
          const int32_t[::1] w_zeros, const int32_t[::1] w_sums, const float[::1] w_scales,
          const float[::1] bias, bint seven_bit, int n_threads):
    """``out[i, j] = float32(sum_k (a[i] - a_zeros[i]) (w[j] - w_zeros[j]))
    * (a_scales[i] * w_scales[j]) + bias[j]``.

    The products are summed in int32 by the variant's u8 x s8 instructions
    (see ``include/scipix_qgemm.h``), the zero points applied in int64, so the sum
    is exact; OpenMP over panels of output columns.

    Parameters
    ----------
    a : uint8 memoryview, shape (m, k), C-contiguous
    w : int8 memoryview, shape (n, k), C-contiguous (one row per output column)
    out : float32 memoryview, shape (m, n), C-contiguous
    a_zeros, a_sums : int32 memoryviews, shape (m,): zero points and row sums of ``a``
    a_scales : float32 memoryview, shape (m,)
    w_zeros, w_sums : int32 memoryviews, shape (n,): zero points and row sums of ``w``
    w_scales : float32 memoryview, shape (n,)
    bias : float32 memoryview, shape (n,), or None
    seven_bit : every value of ``a`` is <= 127 (lets avx2 use vpmaddubsw)
    """
    cdef Py_ssize_t m = a.shape[0], k = a.shape[1], n = w.shape[0], panels, p
    if w.shape[1] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("a, w and out do not agree in shape")
    if (a_zeros.shape[0] != m or a_sums.shape[0] != m or a_scales.shape[0] != m
            or w_zeros.shape[0] != n or w_sums.shape[0] != n or w_scales.shape[0] != n
            or (bias is not None and bias.shape[0] != n)):
        raise ValueError("zero points, sums, scales and bias must match a and w")
    if k > QGEMM_MAX_K:
        raise ValueError(f"k must be at most {QGEMM_MAX_K} for int32 sums, got {k}")
    if m == 0 or n == 0:
        return
    if k == 0:
        raise ValueError("k must be positive")
    cdef const float* bias_ptr = &bias[0] if bias is not None else NULL
    panels = (n + QGEMM_NR - 1) // QGEMM_NR
    cdef int team = <int>min(<Py_ssize_t>team_size(m * n * k // 16, n_threads), panels)
    cdef int32_t* acc = <int32_t*>malloc(m * n * sizeof(int32_t))
    if acc == NULL:
        raise MemoryError()
    with nogil:
        for p in prange(panels, num_threads=team, schedule="static"):
            _qgemm_columns(&a[0, 0], &w[0, 0], &out[0, 0], m, n, k, acc + p * QGEMM_NR * m,
                           p * QGEMM_NR, <int>min(<Py_ssize_t>QGEMM_NR, n - p * QGEMM_NR),
                           &a_zeros[0], &a_sums[0], &a_scales[0], &w_zeros[0], &w_sums[0],
                           &w_scales[0], bias_ptr, seven_bit)
    free(acc)
