"""Warp kernels: text-line crops by perspective map into a recognizer batch.

This one source is compiled once per instruction-set variant (see setup.py)
into ``_warp_<variant>``; the sampling itself is in
``include/scipix_warp.h``.  The caller (``scipix.optimize.parallel``)
validates the quads and computes each line's map; this module re-checks
only what memory safety depends on.
"""
from cython.parallel cimport parallel, prange
from libc.stdint cimport int32_t, uint8_t
from libc.stdlib cimport free, malloc

from scipix.optimize._variant cimport STREAM_BYTES, target_macro_names, team_size

cdef extern from "scipix_warp.h":
    enum: MAX_CHANNELS "SCIPIX_WARP_MAX_CHANNELS"
    enum: MAX_OUT "SCIPIX_WARP_MAX_OUT"
    enum: MAX_IMAGE_SIDE "SCIPIX_WARP_MAX_IMAGE_SIDE"
    enum: MAX_CROP_SIDE "SCIPIX_WARP_MAX_CROP_SIDE"
    enum: MAX_OUT_SIDE "SCIPIX_WARP_MAX_OUT_SIDE"
    ctypedef struct WarpImage "scipix_warp_image":
        const uint8_t* data
        Py_ssize_t rows, cols, stride, channels
    ctypedef struct LineMap "scipix_line_map":
        double g[9]
        double sx, sy, u_max, v_max
    ctypedef struct ChannelMap "scipix_channel_map":
        float mix[MAX_OUT][MAX_CHANNELS]
        float bias[MAX_OUT]
        Py_ssize_t out_channels
    ctypedef struct Scratch "scipix_warp_scratch":
        pass
    size_t scipix_warp_scratch_bytes(Py_ssize_t width, Py_ssize_t rows,
                                     Py_ssize_t channels) noexcept nogil
    void scipix_warp_scratch_init(Scratch* scratch, void* block, Py_ssize_t width,
                                  Py_ssize_t rows, Py_ssize_t channels) noexcept nogil
    void scipix_warp_line(const WarpImage* src, const LineMap* map, const ChannelMap* channels,
                          int cubic, float* out, Py_ssize_t rows, Py_ssize_t width,
                          Py_ssize_t line_width, int stream, const Scratch* scratch) noexcept nogil

cdef extern from "scipix_vector.h":
    void scipix_store_fence() noexcept nogil

cdef enum:
    # Columns of a line map: the homography G (9, row-major), sx, sy,
    # u_max, v_max (see scipix_line_map).
    MAP_COLUMNS = 13


def target_macros():
    """The compiler's target macros this variant was built with."""
    return target_macro_names()


def crop_quads(const uint8_t[:, :, :] image, const double[:, ::1] maps,
               const int32_t[::1] widths, const float[:, ::1] mix, const float[::1] bias,
               bint cubic, float[:, :, :, ::1] out, int n_threads):
    """Sample each line's map into ``out[i]``, zero-padded past ``widths[i]``.

    Parameters
    ----------
    image : uint8 memoryview, shape (rows, cols, channels)
        ``channels`` 1 to 4, packed within a row (strides (any, channels,
        1)); any row stride.
    maps : float64 memoryview, shape (N, 13)
        Per line the homography G row-major, then sx, sy, u_max, v_max
        (``scipix_line_map``).
    widths : int32 memoryview, shape (N,)
        Sampled pixels per row of each line, in [0, W].
    mix : float32 memoryview, shape (K, channels); bias : shape (K,)
        Output channel k is ``bias[k] + sum_c mix[k, c] * value[c]``.
    cubic : bool
        Bicubic (OpenCV's A = -0.75) instead of bilinear sampling.
    out : float32 memoryview, shape (N, K, H, W), C-contiguous
    n_threads : int
        Lines are spread over this many OpenMP threads.
    """
    cdef Py_ssize_t n = out.shape[0], k_n = out.shape[1], rows = out.shape[2]
    cdef Py_ssize_t width = out.shape[3], channels = image.shape[2], i, k, c
    if (image.shape[0] < 1 or image.shape[1] < 1 or not 1 <= channels <= MAX_CHANNELS
            or image.strides[1] != channels or (channels > 1 and image.strides[2] != 1)):
        raise ValueError("image must be non-empty with 1 to 4 packed channels")
    if image.shape[0] > MAX_IMAGE_SIDE or image.shape[1] > MAX_IMAGE_SIDE:
        raise ValueError(f"image must have at most {MAX_IMAGE_SIDE} rows and columns, got "
                         f"{image.shape[0]}x{image.shape[1]}")
    if rows > MAX_OUT_SIDE or width > MAX_OUT_SIDE:
        raise ValueError(f"out must have at most {MAX_OUT_SIDE} rows and columns, got "
                         f"{rows}x{width}")
    if maps.shape[0] != n or maps.shape[1] != MAP_COLUMNS or widths.shape[0] != n:
        raise ValueError(f"maps must have shape ({n}, {MAP_COLUMNS}) and widths ({n},)")
    if not 1 <= k_n <= MAX_OUT or mix.shape[0] != k_n or mix.shape[1] != channels \
            or bias.shape[0] != k_n:
        raise ValueError(f"mix must have shape ({k_n}, {channels}) and bias ({k_n},)")
    for i in range(n):
        if not 0 <= widths[i] <= width:
            raise ValueError(f"widths[{i}] = {widths[i]} is outside [0, {width}]")
        # Crop indices are 32-bit: u_max and v_max are a crop side less one.
        if not (0 <= maps[i, 11] < MAX_CROP_SIDE and 0 <= maps[i, 12] < MAX_CROP_SIDE):
            raise ValueError(f"maps[{i}] has a crop of {maps[i, 11] + 1:g}x{maps[i, 12] + 1:g} "
                             f"pixels; its sides must be in [1, {MAX_CROP_SIDE}]")
    if n == 0 or rows == 0 or width == 0:
        return

    cdef WarpImage src
    src.data = &image[0, 0, 0]
    src.rows, src.cols, src.stride, src.channels = (image.shape[0], image.shape[1],
                                                    image.strides[0], channels)
    cdef ChannelMap channel_map
    channel_map.out_channels = k_n
    for k in range(k_n):
        channel_map.bias[k] = bias[k]
        for c in range(channels):
            channel_map.mix[k][c] = mix[k, c]
    cdef LineMap* line_maps = <LineMap*>malloc(n * sizeof(LineMap))
    if line_maps == NULL:
        raise MemoryError()
    for i in range(n):
        for k in range(9):
            line_maps[i].g[k] = maps[i, k]
        line_maps[i].sx, line_maps[i].sy = maps[i, 9], maps[i, 10]
        line_maps[i].u_max, line_maps[i].v_max = maps[i, 11], maps[i, 12]

    cdef int team = team_size(n * k_n * rows * width, n_threads), failed = 0
    cdef size_t scratch_bytes = scipix_warp_scratch_bytes(width, rows, channels)
    # Each thread's scratch: the struct, then the memory it carves.
    cdef Scratch* scratch = NULL
    cdef float* block = &out[0, 0, 0, 0]
    cdef Py_ssize_t line_size = k_n * rows * width
    cdef bint stream = n * line_size * sizeof(float) >= STREAM_BYTES
    # Lines differ in width: dynamic scheduling balances them.  Every thread
    # reaches the prange (a worksharing loop), even one whose scratch failed.
    with nogil, parallel(num_threads=team):
        scratch = <Scratch*>malloc(sizeof(Scratch) + scratch_bytes)
        if scratch != NULL:
            scipix_warp_scratch_init(scratch, scratch + 1, width, rows, channels)
        for i in prange(n, schedule="dynamic"):
            if scratch == NULL:
                failed += 1
            else:
                scipix_warp_line(&src, &line_maps[i], &channel_map, cubic,
                                 block + i * line_size, rows, width, widths[i], stream,
                                 scratch)
        if stream:
            scipix_store_fence()
        free(scratch)
    free(line_maps)
    if failed:
        raise MemoryError()
