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
from libc.math cimport INFINITY
from libc.string cimport memset

from scipix.optimize._variant cimport SPAN, STREAM_BYTES, target_macro_names, team_size

cdef extern from "scipix_convert.h":
    void scipix_widen_stream(const void* x, int is_signed, float* out, Py_ssize_t n,
                             float shift, float factor) noexcept nogil
    int scipix_quantize_block(const float* x, int8_t* q, Py_ssize_t n, float inv_scale,
                              int32_t zero_point, int32_t qmin, int32_t qmax,
                              int stream) noexcept nogil

cdef extern from "scipix_convert.h":
    int scipix_minmax(const float* x, Py_ssize_t n, float* low, float* high) noexcept nogil
    void scipix_minmax_params(float low, float high, int32_t qmin, int32_t qmax, float* scale,
                              int32_t* zero_point) noexcept nogil

cdef extern from "scipix_qgemm.h":
    enum: QGEMM_NR "SCIPIX_QGEMM_NR"
    enum: QGEMM_MAX_K "SCIPIX_QGEMM_MAX_K"
    const char* QGEMM_DOT "SCIPIX_QGEMM_DOT"
    ctypedef struct scipix_qgemm_job:
        const uint8_t* a
        Py_ssize_t lda, m, n, groups
        const int8_t* w
        float* out
        Py_ssize_t ldo
        const int32_t* a_zeros
        const float* a_scales
        const int32_t* a_corr
        int32_t w_zero
        const int32_t* col_sums
        const float* w_scales
        const float* bias
        int seven_bit
    void scipix_qgemm_panel(const scipix_qgemm_job* job, Py_ssize_t panel, Py_ssize_t row_begin,
                            Py_ssize_t row_end) noexcept nogil
    void scipix_qpack_weights(const int8_t* w, Py_ssize_t row_stride, Py_ssize_t col_stride,
                              Py_ssize_t n, Py_ssize_t k, int8_t* packed,
                              int32_t* col_sums) noexcept nogil
    void scipix_qunpack_weights(const int8_t* packed, Py_ssize_t n, Py_ssize_t k,
                                int8_t* w) noexcept nogil

# Below this many multiply-adds a product runs on one thread: waking a
# (passive) OpenMP team costs tens of microseconds.
cdef enum:
    QGEMM_PARALLEL_MIN_WORK = 1 << 24


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
# Ranges and activation parameters

def minmax(const float[::1] x, int n_threads):
    """``(low, high, has_nan)``: the smallest and largest of ``x`` (of its
    values other than NaN) and whether it holds NaN, in one read.

    Parameters
    ----------
    x : float32 memoryview, shape (n,), contiguous, n >= 1
    """
    cdef Py_ssize_t n = x.shape[0], spans = (n + SPAN - 1) // SPAN, b
    if n == 0:
        raise ValueError("x must not be empty")
    cdef int team = team_size(n, n_threads), nan = 0
    cdef float low, high
    cdef float* lows
    cdef float* highs
    if team == 1:
        with nogil:
            nan = scipix_minmax(&x[0], n, &low, &high)
        return low, high, bool(nan)
    lows = <float*>malloc(spans * 2 * sizeof(float))
    if lows == NULL:
        raise MemoryError()
    highs = lows + spans
    with nogil:
        for b in prange(spans, num_threads=team, schedule="static"):
            nan += scipix_minmax(&x[b * SPAN], min(<Py_ssize_t>SPAN, n - b * SPAN),
                                 &lows[b], &highs[b])
        low, high = lows[0], highs[0]
        for b in range(1, spans):
            low = lows[b] if lows[b] < low else low
            high = highs[b] if highs[b] > high else high
    free(lows)
    return low, high, bool(nan)


cdef inline int _row_params(const float* x, Py_ssize_t k, int qmax, float* scale,
                            int32_t* zero_point) noexcept nogil:
    """Per-row activation params over levels [0, qmax]: 0, or 1 for NaN, 2 for infinity."""
    cdef float low, high
    if scipix_minmax(x, k, &low, &high):
        return 1
    if low == -INFINITY or high == INFINITY:
        return 2
    scipix_minmax_params(low, high, 0, qmax, scale, zero_point)
    return 0


cdef inline void _raise_row_error(Py_ssize_t nan_rows, Py_ssize_t infinite_rows) except *:
    if nan_rows:
        raise ValueError("NaN in x has no quantized value")
    if infinite_rows:
        raise ValueError("x must be finite")


def row_params(const float[:, ::1] x, float[::1] scales, int32_t[::1] zero_points, int qmax):
    """Each row's activation scale and zero point over levels [0, qmax]:
    PyTorch's ``MinMaxObserver(quint8)`` in float32 steps (see
    ``scipix_minmax_params``), as :func:`linear` quantizes with.

    Parameters
    ----------
    x : float32 memoryview, shape (m, k), C-contiguous, k >= 1
    scales : float32 memoryview, shape (m,), written
    zero_points : int32 memoryview, shape (m,), written

    Raises
    ------
    ValueError
        A row holds NaN or infinity.
    """
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], r, nan_rows = 0, infinite_rows = 0
    cdef int code
    if scales.shape[0] != m or zero_points.shape[0] != m or k == 0:
        raise ValueError("x, scales and zero_points must agree in rows; x needs columns")
    with nogil:
        for r in range(m):
            code = _row_params(&x[r, 0], k, qmax, &scales[r], &zero_points[r])
            nan_rows += code == 1
            infinite_rows += code == 2
    _raise_row_error(nan_rows, infinite_rows)


# --------------------------------------------------------------------------
# INT8 matrix product (include/scipix_qgemm.h)

def dot_product():
    """The int8 dot-product instruction of this variant's matrix product:
    ``"vpdpbusd-zmm"`` (AVX-512 VNNI), ``"vpdpbusd-ymm"`` (AVX-VNNI),
    ``"vpmaddubsw"`` (AVX2: 8-bit activations at about half the speed of
    7-bit ones) or ``"plain"``."""
    return QGEMM_DOT.decode()


def packed_size(Py_ssize_t n, Py_ssize_t k):
    """Bytes of an (n, k) weight matrix packed by :func:`pack_weights`."""
    if n < 0 or k < 0:
        raise ValueError("n and k must be >= 0")
    return (n + QGEMM_NR - 1) // QGEMM_NR * ((k + 3) // 4) * 4 * QGEMM_NR


def pack_weights(const int8_t[:, :] w, int8_t[::1] packed, int32_t[::1] col_sums):
    """Pack ``w`` into the micro-kernel's panel layout, once.

    Parameters
    ----------
    w : int8 memoryview, shape (n, k), any strides: row j is output column j
    packed : int8 memoryview, shape (packed_size(n, k),), written
    col_sums : int32 memoryview, shape (n,), written: ``w.sum(axis=1)``
    """
    cdef Py_ssize_t n = w.shape[0], k = w.shape[1]
    if packed.shape[0] != packed_size(n, k) or col_sums.shape[0] != n:
        raise ValueError("packed or col_sums does not fit w")
    if n == 0 or k == 0:
        return
    with nogil:
        scipix_qpack_weights(&w[0, 0], w.strides[0], w.strides[1], n, k, &packed[0],
                             &col_sums[0])


def unpack_weights(const int8_t[::1] packed, int8_t[:, ::1] w):
    """``w`` (int8, shape (n, k), C-contiguous) from its :func:`pack_weights` layout."""
    cdef Py_ssize_t n = w.shape[0], k = w.shape[1]
    if packed.shape[0] != packed_size(n, k):
        raise ValueError("packed does not fit w")
    if n == 0 or k == 0:
        return
    with nogil:
        scipix_qunpack_weights(&packed[0], n, k, &w[0, 0])


cdef void _run(const scipix_qgemm_job* job, int n_threads) noexcept nogil:
    """The product on ``n_threads``: OpenMP over (column panel, row range)
    tiles, panels split first; one thread below QGEMM_PARALLEL_MIN_WORK."""
    cdef Py_ssize_t panels = (job.n + QGEMM_NR - 1) // QGEMM_NR, parts = 1, tiles, t, part
    cdef Py_ssize_t begin, end
    cdef int team = n_threads
    if job.m * job.n * job.groups * 4 < QGEMM_PARALLEL_MIN_WORK:
        team = 1
    if team > 1 and panels < 2 * team:
        parts = min(<Py_ssize_t>team, (job.m + 7) // 8)
    tiles = panels * parts
    if team == 1 or tiles == 1:
        for t in range(panels):
            scipix_qgemm_panel(job, t, 0, job.m)
        return
    # Dynamic: on a shared machine a descheduled thread's tiles go to the other.
    for t in prange(tiles, num_threads=<int>min(<Py_ssize_t>team, tiles), schedule="dynamic"):
        part = t % parts
        begin = (job.m * part // parts) & ~7
        end = job.m if part == parts - 1 else (job.m * (part + 1) // parts) & ~7
        scipix_qgemm_panel(job, t // parts, begin, end)


cdef int _check_packed(Py_ssize_t packed_bytes, Py_ssize_t col_sums, Py_ssize_t w_scales,
                       Py_ssize_t biases, Py_ssize_t n, Py_ssize_t k) except -1:
    if packed_bytes != packed_size(n, k) or col_sums != n or w_scales != n:
        raise ValueError("packed weights, col_sums and w_scales must fit n and k")
    if biases != n:
        raise ValueError("bias must have one value per output column")
    if not 0 < k <= QGEMM_MAX_K:
        raise ValueError(f"k must be in [1, {QGEMM_MAX_K}] for int32 sums, got {k}")
    return 0


cdef inline int _quantize_activations(const float* x, Py_ssize_t k, uint8_t* a, Py_ssize_t lda,
                                      int qmax, float* scale, int32_t* zero_point) noexcept nogil:
    """One row of activations: its params, then its levels into ``a`` (zeros
    from k to lda).  The second read of the row comes from L1."""
    cdef int code = _row_params(x, k, qmax, scale, zero_point)
    if code == 0:
        scipix_quantize_block(x, <int8_t*>a, k, <float>1.0 / scale[0], zero_point[0], 0, qmax,
                              False)
        memset(a + k, 0, lda - k)
    return code


def linear(const float[:, ::1] x, const int8_t[::1] packed, const int32_t[::1] col_sums,
           const float[::1] w_scales, const float[::1] bias, float[:, ::1] out, int qmax,
           int n_threads):
    """``out = x @ W.T + bias`` through int8: each row of ``x`` quantized
    to levels [0, qmax] with its :func:`row_params`, straight into the
    kernel's operand, then multiplied by the packed symmetric weights.

    Parameters
    ----------
    x : float32 memoryview, shape (m, k), C-contiguous
    packed : int8 memoryview from :func:`pack_weights` of W, shape (n, k)
    col_sums : int32 memoryview, shape (n,): W's row sums
    w_scales : float32 memoryview, shape (n,)
    bias : float32 memoryview, shape (n,), or None
    out : float32 memoryview, shape (m, n), C-contiguous, written
    qmax : 255, or 127 (7-bit activations)

    Raises
    ------
    ValueError
        A row of ``x`` holds NaN or infinity.
    """
    cdef Py_ssize_t m = x.shape[0], k = x.shape[1], n = out.shape[1], r
    cdef Py_ssize_t lda = (k + 3) // 4 * 4, nan_rows = 0, infinite_rows = 0
    _check_packed(packed.shape[0], col_sums.shape[0], w_scales.shape[0],
                  bias.shape[0] if bias is not None else n, n, k)
    if out.shape[0] != m:
        raise ValueError("x and out must have the same rows")
    if qmax != 127 and qmax != 255:
        raise ValueError(f"qmax must be 127 or 255, got {qmax}")
    if m == 0:
        return
    cdef uint8_t* a = <uint8_t*>malloc(m * lda + m * (sizeof(int32_t) + sizeof(float)))
    if a == NULL:
        raise MemoryError()
    cdef int32_t* zeros = <int32_t*>(a + m * lda)
    cdef float* scales = <float*>(zeros + m)
    cdef int team = team_size(m * k, n_threads), code
    cdef scipix_qgemm_job job
    with nogil:
        if team == 1:
            for r in range(m):
                code = _quantize_activations(&x[r, 0], k, a + r * lda, lda, qmax, &scales[r],
                                             &zeros[r])
                nan_rows += code == 1
                infinite_rows += code == 2
        else:
            for r in prange(m, num_threads=team, schedule="static"):
                code = _quantize_activations(&x[r, 0], k, a + r * lda, lda, qmax, &scales[r],
                                             &zeros[r])
                nan_rows += code == 1
                infinite_rows += code == 2
    if nan_rows or infinite_rows:
        free(a)
        _raise_row_error(nan_rows, infinite_rows)
    job.a, job.lda, job.m, job.n, job.groups = a, lda, m, n, lda // 4
    job.w, job.out, job.ldo = &packed[0], &out[0, 0], n
    job.a_zeros, job.a_scales, job.a_corr, job.w_zero = zeros, scales, NULL, 0
    job.col_sums, job.w_scales = &col_sums[0], &w_scales[0]
    job.bias = &bias[0] if bias is not None else NULL
    job.seven_bit = qmax <= 127
    with nogil:
        _run(&job, n_threads)
    free(a)


def qgemm(const uint8_t[:, ::1] a, Py_ssize_t k, const int8_t[::1] packed,
          const int32_t[::1] col_sums, float[:, ::1] out, const int32_t[::1] a_zeros,
          const int32_t[::1] a_corr, const float[::1] a_scales, int w_zero,
          const float[::1] w_scales, const float[::1] bias, bint seven_bit, int n_threads):
    """``out[i, j] = float32(sum_p (a[i, p] - a_zeros[i]) (w[j, p] - w_zero))
    * (a_scales[i] * w_scales[j]) + bias[j]``, the sum exact.

    Parameters
    ----------
    a : uint8 memoryview, shape (m, lda), C-contiguous: k values per row,
        zeros after them up to lda, a multiple of 4 (>= k)
    k : the inner dimension
    packed : int8 memoryview from :func:`pack_weights` of w, shape (n, k)
    col_sums : int32 memoryview, shape (n,): w's row sums
    out : float32 memoryview, shape (m, n), C-contiguous, written
    a_zeros : int32 memoryview, shape (m,)
    a_corr : int32 memoryview, shape (m,): ``a[i, :k].sum() - k * a_zeros[i]``
        (read only when ``w_zero != 0``)
    a_scales : float32 memoryview, shape (m,)
    w_zero : the weights' zero point
    w_scales : float32 memoryview, shape (n,)
    bias : float32 memoryview, shape (n,), or None
    seven_bit : every value of ``a`` is <= 127 (the avx2 variant's fast path)
    """
    cdef Py_ssize_t m = a.shape[0], lda = a.shape[1], n = out.shape[1]
    _check_packed(packed.shape[0], col_sums.shape[0], w_scales.shape[0],
                  bias.shape[0] if bias is not None else n, n, k)
    if (out.shape[0] != m or a_zeros.shape[0] != m or a_corr.shape[0] != m
            or a_scales.shape[0] != m):
        raise ValueError("a, out, a_zeros, a_corr and a_scales must agree in rows")
    if lda % 4 != 0 or lda < k:
        raise ValueError(f"a's rows must be a multiple of 4 bytes and hold k = {k}, got {lda}")
    if m == 0:
        return
    cdef scipix_qgemm_job job
    job.a, job.lda, job.m, job.n, job.groups = &a[0, 0], lda, m, n, (k + 3) // 4
    job.w, job.out, job.ldo = &packed[0], &out[0, 0], n
    job.a_zeros, job.a_scales, job.a_corr, job.w_zero = &a_zeros[0], &a_scales[0], &a_corr[0], w_zero
    job.col_sums, job.w_scales = &col_sums[0], &w_scales[0]
    job.bias = &bias[0] if bias is not None else NULL
    job.seven_bit = seven_bit
    with nogil:
        _run(&job, n_threads)
