/* Perspective sampling of text-line crops (crop_quads): one pass from the
 * page to the padded, normalized recognizer batch.
 *
 * Every float operation is written out in the order it runs; the build's
 * -ffp-contract=off keeps multiply-adds unfused, so every variant rounds
 * identically to the scalar reference. */
#ifndef SCIPIX_WARP_H
#define SCIPIX_WARP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scipix_vector.h"

#define SCIPIX_WARP_MAX_CHANNELS 4
#define SCIPIX_WARP_MAX_OUT 3

/* A packed-pixel source image: pixel (y, x) channel c at
 * data[y * stride + x * channels + c]. */
typedef struct {
    const uint8_t *data;
    ptrdiff_t rows, cols, stride, channels;
} scipix_warp_image;

/* One line's map from output pixel (ox, oy) to a source position.  The
 * resize's pixel centres and edge clamp give
 *   u = clamp((ox + 0.5) * sx - 0.5, 0, u_max),
 *   v = clamp((oy + 0.5) * sy - 0.5, 0, v_max),
 * then (X, Y, Z) = G (u, v, 1), summed as g0 u + (g1 v + g2), and the
 * source position is (X w, Y w) with w = 1 / Z.  G already holds the
 * crop's perspective transform and the upright turn. */
typedef struct {
    double g[9];
    double sx, sy, u_max, v_max;
} scipix_line_map;

/* The output channels: out[k] = bias[k] + sum_c mix[k][c] * value[c], the
 * colour conversion and the normalization in one (mix has the scale / std
 * folded in).  Terms of zero weight are left out of the sum (a channel
 * reorder is then one product a channel). */
typedef struct {
    float mix[SCIPIX_WARP_MAX_OUT][SCIPIX_WARP_MAX_CHANNELS];
    float bias[SCIPIX_WARP_MAX_OUT];
    ptrdiff_t out_channels;
} scipix_channel_map;

static inline double scipix_clamp_d(double value, double lo, double hi)
{
    /* Written so NaN lands on lo (a degenerate map never indexes outside),
     * and as the packed max and min instructions compare. */
    value = value > lo ? value : lo;
    return value < hi ? value : hi;
}

static inline ptrdiff_t scipix_clamp_i(ptrdiff_t value, ptrdiff_t hi)
{
    value = value < 0 ? 0 : value;
    return value > hi ? hi : value;
}

/* The column terms of a line's map, the same for every output row:
 * g0 u, g3 u and g6 u of each of its n columns' u, in column_x, column_y,
 * column_z. */
static inline void scipix_warp_columns(const scipix_line_map *map, int32_t n, double *column_x,
                                       double *column_y, double *column_z)
{
    const double *g = map->g;
    int32_t x;
    for (x = 0; x < n; x++) {
        double u = scipix_clamp_d(((double)x + 0.5) * map->sx - 0.5, 0.0, map->u_max);
        column_x[x] = g[0] * u;
        column_y[x] = g[3] * u;
        column_z[x] = g[6] * u;
    }
}

/* Source positions of one output row's n pixels from its line's column
 * terms: integer parts (ix, iy) and fractions (fx, fy).  Positions are
 * clamped a few pixels outside the image (every tap then clamps to the
 * border, as BORDER_REPLICATE), which also keeps the integer conversion in
 * range.  The loop counter is 32-bit and floor is a truncation of the
 * position shifted positive: both have packed SSE2 forms, so every x86
 * variant vectorizes the loop. */
static inline void scipix_warp_positions(const scipix_line_map *map, const scipix_warp_image *src,
                                         const double *column_x, const double *column_y,
                                         const double *column_z, ptrdiff_t oy, int32_t n,
                                         int32_t *ix, int32_t *iy, float *fx, float *fy)
{
    const double *g = map->g;
    const double lo = -4.0, shift = 8.0;
    const double x_hi = (double)src->cols + 3.0, y_hi = (double)src->rows + 3.0;
    double v = scipix_clamp_d(((double)oy + 0.5) * map->sy - 0.5, 0.0, map->v_max);
    double row_x = g[1] * v + g[2], row_y = g[4] * v + g[5], row_z = g[7] * v + g[8];
    int32_t x;
    for (x = 0; x < n; x++) {
        double w = 1.0 / (column_z[x] + row_z);
        double sx = scipix_clamp_d((column_x[x] + row_x) * w, lo, x_hi);
        double sy = scipix_clamp_d((column_y[x] + row_y) * w, lo, y_hi);
        int32_t x0 = (int32_t)(sx + shift) - (int32_t)shift;
        int32_t y0 = (int32_t)(sy + shift) - (int32_t)shift;
        ix[x] = x0;
        iy[x] = y0;
        fx[x] = (float)(sx - (double)x0);
        fy[x] = (float)(sy - (double)y0);
    }
}

/* Inlined into each specialized row below, so that loops over a constant
 * channel count unroll. */
#define SCIPIX_WARP_INLINE static inline __attribute__((always_inline))

/* Bilinear value of the c_n source channels at (ix + fx, iy + fy). */
SCIPIX_WARP_INLINE void scipix_sample_bilinear(const scipix_warp_image *src, int32_t ix,
                                               int32_t iy, float fx, float fy, float *value,
                                               const ptrdiff_t c_n)
{
    const uint8_t *top = src->data + scipix_clamp_i(iy, src->rows - 1) * src->stride;
    const uint8_t *bottom = src->data + scipix_clamp_i((ptrdiff_t)iy + 1, src->rows - 1) * src->stride;
    const ptrdiff_t left = scipix_clamp_i(ix, src->cols - 1) * c_n;
    const ptrdiff_t right = scipix_clamp_i((ptrdiff_t)ix + 1, src->cols - 1) * c_n;
    const float gx = 1.0f - fx, gy = 1.0f - fy;
    ptrdiff_t c;
    for (c = 0; c < c_n; c++) {
        float upper = (float)top[left + c] * gx + (float)top[right + c] * fx;
        float lower = (float)bottom[left + c] * gx + (float)bottom[right + c] * fx;
        value[c] = upper * gy + lower * fy;
    }
}

/* OpenCV's bicubic weights (A = -0.75) of the taps at -1, 0, 1, 2. */
static inline void scipix_cubic_weights(float t, float *w)
{
    const float a = -0.75f;
    float t1 = t + 1.0f, s = 1.0f - t;
    w[0] = ((a * t1 - 5.0f * a) * t1 + 8.0f * a) * t1 - 4.0f * a;
    w[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
    w[2] = ((a + 2.0f) * s - (a + 3.0f)) * s * s + 1.0f;
    w[3] = 1.0f - w[0] - w[1] - w[2];
}

/* Bicubic value of the c_n source channels, clamped to [0, 255] as
 * OpenCV's 8-bit output saturates. */
SCIPIX_WARP_INLINE void scipix_sample_cubic(const scipix_warp_image *src, int32_t ix, int32_t iy,
                                            float fx, float fy, float *value, const ptrdiff_t c_n)
{
    float wx[4], wy[4];
    ptrdiff_t column[4], j, i, c;
    const uint8_t *row[4];
    scipix_cubic_weights(fx, wx);
    scipix_cubic_weights(fy, wy);
    for (i = 0; i < 4; i++) {
        column[i] = scipix_clamp_i((ptrdiff_t)ix - 1 + i, src->cols - 1) * c_n;
        row[i] = src->data + scipix_clamp_i((ptrdiff_t)iy - 1 + i, src->rows - 1) * src->stride;
    }
    for (c = 0; c < c_n; c++) {
        float total = 0.0f;
        for (j = 0; j < 4; j++) {
            float across = (float)row[j][column[0] + c] * wx[0];
            for (i = 1; i < 4; i++)
                across = across + (float)row[j][column[i] + c] * wx[i];
            total = total + across * wy[j];
        }
        total = total > 0.0f ? total : 0.0f;
        value[c] = total < 255.0f ? total : 255.0f;
    }
}

/* Output pixel x of a row: its c_n sampled source channels mixed into
 * k_n output planes `plane` floats apart. */
SCIPIX_WARP_INLINE void scipix_warp_pixel(const scipix_warp_image *src,
                                          const scipix_channel_map *channels, const int cubic,
                                          const int32_t *ix, const int32_t *iy, const float *fx,
                                          const float *fy, float *out, ptrdiff_t plane,
                                          ptrdiff_t x, const ptrdiff_t c_n, const ptrdiff_t k_n)
{
    float value[SCIPIX_WARP_MAX_CHANNELS];
    ptrdiff_t k, c;
    if (cubic)
        scipix_sample_cubic(src, ix[x], iy[x], fx[x], fy[x], value, c_n);
    else
        scipix_sample_bilinear(src, ix[x], iy[x], fx[x], fy[x], value, c_n);
    for (k = 0; k < k_n; k++) {
        float total = channels->bias[k];
        for (c = 0; c < c_n; c++)
            if (channels->mix[k][c] != 0.0f)
                total = total + channels->mix[k][c] * value[c];
        out[k * plane + x] = total;
    }
}

#if !defined(SCIPIX_SCALAR_REFERENCE)
/* Bilinear sampling SCIPIX_F32_PER_VEC pixels at a time where all their
 * taps lie inside the image (no clamping): each pixel's top and bottom tap
 * pairs are 64-bit gathers of their packed channels, the weights and sums
 * the scalar path's float operations, lane by lane, in its order. */
typedef int32_t scipix_i32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
#define SCIPIX_WARP_LANES SCIPIX_F32_PER_VEC

/* Whether any lane of `mask` is set. */
static inline int scipix_any_lane(scipix_i32v mask)
{
#if SCIPIX_VEC_BYTES == 64
    return _mm512_test_epi32_mask((__m512i)mask, (__m512i)mask) != 0;
#elif SCIPIX_VEC_BYTES == 32 && defined(__AVX2__)
    return !_mm256_testz_si256((__m256i)mask, (__m256i)mask);
#elif SCIPIX_VEC_BYTES == 16 && defined(__SSE2__)
    return _mm_movemask_epi8((__m128i)mask) != 0;
#else
    int32_t any = 0;
    int i;
    for (i = 0; i < SCIPIX_WARP_LANES; i++)
        any |= mask[i];
    return any != 0;
#endif
}

#if SCIPIX_VEC_BYTES == 32 && defined(__AVX2__)
/* The low 32 bits of each 64-bit lane of a, then of b. */
static inline __m256i scipix_low_dwords(__m256i a, __m256i b)
{
    __m256 pairs = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b),
                                     _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_permute4x64_epi64(_mm256_castps_si256(pairs), _MM_SHUFFLE(3, 1, 2, 0));
}
#endif

/* Lane i of `first`: the pixel whose bytes start `offset[i]` bytes after
 * `data`, its first channel in the lowest byte (little-endian); of
 * `second`: the pixel after it, `pixel_bytes` on.  One 8-byte load a
 * lane: the caller keeps all 8 bytes inside the row. */
static inline void scipix_gather_pixel_pairs(const uint8_t *data, scipix_i32v offset,
                                             const int pixel_bytes, scipix_u32v *first,
                                             scipix_u32v *second)
{
    const int next = 8 * pixel_bytes;
#if SCIPIX_VEC_BYTES == 64
    const __m512i low = _mm512_i32gather_epi64(_mm512_castsi512_si256((__m512i)offset),
                                               (const void *)data, 1);
    const __m512i high = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64((__m512i)offset, 1),
                                                (const void *)data, 1);
    const __m512i low_dwords = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
                                                 24, 26, 28, 30);
    *first = (scipix_u32v)_mm512_permutex2var_epi32(low, low_dwords, high);
    *second = (scipix_u32v)_mm512_permutex2var_epi32(_mm512_srli_epi64(low, next), low_dwords,
                                                     _mm512_srli_epi64(high, next));
#elif SCIPIX_VEC_BYTES == 32 && defined(__AVX2__)
    const __m256i low = _mm256_i32gather_epi64((const long long *)data,
                                               _mm256_castsi256_si128((__m256i)offset), 1);
    const __m256i high = _mm256_i32gather_epi64((const long long *)data,
                                                _mm256_extracti128_si256((__m256i)offset, 1), 1);
    *first = (scipix_u32v)scipix_low_dwords(low, high);
    *second = (scipix_u32v)scipix_low_dwords(_mm256_srli_epi64(low, next),
                                             _mm256_srli_epi64(high, next));
#else
    /* No gather instruction: the loads one by one, the arithmetic packed. */
    int i;
    for (i = 0; i < SCIPIX_WARP_LANES; i++) {
        uint64_t word;
        memcpy(&word, data + offset[i], sizeof word);
        (*first)[i] = (uint32_t)word;
        (*second)[i] = (uint32_t)(word >> next);
    }
#endif
}

/* Every lane `value` (a -0.0 stays -0.0, as the scalar sums start). */
static inline scipix_f32v scipix_broadcast_f32v(float value)
{
    scipix_f32v lanes;
    int i;
    for (i = 0; i < SCIPIX_WARP_LANES; i++)
        lanes[i] = value;
    return lanes;
}

/* Channel c of packed pixels as floats.  On AVX-512 one byte shuffle
 * (each lane's byte c to its bottom, zeros above; the shuffle indexes
 * within 16-byte blocks) replaces the shift and mask; on AVX2 it measured
 * no faster. */
static inline scipix_f32v scipix_channel_f32v(scipix_u32v pixel, int c)
{
#if SCIPIX_VEC_BYTES == 64
    const __m512i pick = _mm512_set4_epi32((int)(0x8080800cu + c), (int)(0x80808008u + c),
                                           (int)(0x80808004u + c), (int)(0x80808000u + c));
    const scipix_u32v byte = (scipix_u32v)_mm512_shuffle_epi8((__m512i)pixel, pick);
#else
    const scipix_u32v byte = (pixel >> (uint32_t)(8 * c)) & 0xffu;
#endif
    return __builtin_convertvector((scipix_i32v)byte, scipix_f32v);
}

/* Output pixels ahead of the vector being sampled whose taps' cache lines
 * are asked for: a tilted line's taps walk across page rows, a pattern
 * the hardware prefetchers do not follow. */
#define SCIPIX_WARP_PREFETCH 64

/* Prefetches the top and bottom taps of the pixel at (ix, iy) when they
 * lie inside the image. */
static inline void scipix_prefetch_taps(const scipix_warp_image *src, int32_t ix, int32_t iy)
{
    if (iy >= 0 && iy < src->rows - 1 && ix >= 0 && ix < src->cols) {
        const uint8_t *top = src->data + (ptrdiff_t)iy * src->stride
                             + (ptrdiff_t)ix * src->channels;
        __builtin_prefetch(top);
        __builtin_prefetch(top + src->stride);
    }
}

/* Whether the vector path can address `src`: every byte offset fits in
 * int32, and some pixel has both taps' 8-byte loads inside the image. */
static inline int scipix_warp_vector_fits(const scipix_warp_image *src)
{
    const ptrdiff_t row_bytes = src->cols * src->channels;
    const ptrdiff_t stride = src->stride < 0 ? -src->stride : src->stride;
    return src->rows >= 2 && row_bytes >= 8
           && (src->rows - 1) * stride + row_bytes <= INT32_MAX;
}

/* scipix_warp_row's bilinear sampling of a row's first pixels, whole
 * vectors of them; a vector with a tap outside the image (or too near the
 * row's end for an 8-byte load) goes pixel by pixel.  Returns how many
 * pixels it wrote (the rest are the caller's). */
SCIPIX_WARP_INLINE ptrdiff_t scipix_warp_row_bilinear_vector(
        const scipix_warp_image *src, const scipix_channel_map *channels, const int32_t *ix,
        const int32_t *iy, const float *fx, const float *fy, float *out, ptrdiff_t plane,
        ptrdiff_t n, const ptrdiff_t c_n, const ptrdiff_t k_n)
{
    const scipix_u32v zero = {0};
    /* Unsigned compares: negative positions fail them too. */
    const scipix_u32v last_top = zero + (uint32_t)(src->rows - 2);
    const scipix_u32v last_left = zero + (uint32_t)((src->cols * c_n - 8) / c_n);
    const scipix_i32v stride = (scipix_i32v)zero + (int32_t)src->stride;
    ptrdiff_t x, k, c;
    for (x = 0; x + SCIPIX_WARP_LANES <= n; x += SCIPIX_WARP_LANES) {
        scipix_i32v col, row;
        scipix_u32v top_left, top_right, bottom_left, bottom_right;
        scipix_f32v wx, wy, value[SCIPIX_WARP_MAX_CHANNELS];
        memcpy(&col, ix + x, sizeof col);
        memcpy(&row, iy + x, sizeof row);
        if (scipix_any_lane(((scipix_u32v)row > last_top) | ((scipix_u32v)col > last_left))) {
            ptrdiff_t i;
            for (i = x; i < x + SCIPIX_WARP_LANES; i++)
                scipix_warp_pixel(src, channels, 0, ix, iy, fx, fy, out, plane, i, c_n, k_n);
            continue;
        }
        if (x + SCIPIX_WARP_PREFETCH < n)
            scipix_prefetch_taps(src, ix[x + SCIPIX_WARP_PREFETCH],
                                 iy[x + SCIPIX_WARP_PREFETCH]);
        memcpy(&wx, fx + x, sizeof wx);
        memcpy(&wy, fy + x, sizeof wy);
        const scipix_i32v top = row * stride + col * (int32_t)c_n;
        scipix_gather_pixel_pairs(src->data, top, (int)c_n, &top_left, &top_right);
        scipix_gather_pixel_pairs(src->data, top + stride, (int)c_n, &bottom_left,
                                  &bottom_right);
        const scipix_f32v gx = 1.0f - wx, gy = 1.0f - wy;
        for (c = 0; c < c_n; c++) {
            scipix_f32v upper = scipix_channel_f32v(top_left, c) * gx
                                + scipix_channel_f32v(top_right, c) * wx;
            scipix_f32v lower = scipix_channel_f32v(bottom_left, c) * gx
                                + scipix_channel_f32v(bottom_right, c) * wx;
            value[c] = upper * gy + lower * wy;
        }
        for (k = 0; k < k_n; k++) {
            scipix_f32v total = scipix_broadcast_f32v(channels->bias[k]);
            for (c = 0; c < c_n; c++)
                if (channels->mix[k][c] != 0.0f)
                    total = total + channels->mix[k][c] * value[c];
            memcpy(out + k * plane + x, &total, sizeof total);
        }
    }
    return x;
}
#endif

/* One output row's n sampled pixels: c_n source channels mixed into k_n
 * output planes `plane` floats apart. */
SCIPIX_WARP_INLINE void scipix_warp_row(const scipix_warp_image *src,
                                        const scipix_channel_map *channels, const int cubic,
                                        const int32_t *ix, const int32_t *iy, const float *fx,
                                        const float *fy, float *out, ptrdiff_t plane, ptrdiff_t n,
                                        const ptrdiff_t c_n, const ptrdiff_t k_n)
{
    ptrdiff_t x = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    if (!cubic && scipix_warp_vector_fits(src))
        x = scipix_warp_row_bilinear_vector(src, channels, ix, iy, fx, fy, out, plane, n, c_n,
                                            k_n);
#endif
    for (; x < n; x++)
        scipix_warp_pixel(src, channels, cubic, ix, iy, fx, fy, out, plane, x, c_n, k_n);
}

/* One text line into its (out_channels, rows, width) block of the batch:
 * `line_width` sampled pixels per row, zeros to `width`.  Scratch holds
 * 2 * width int32, 2 * width float and 3 * width double.  The common
 * channel layouts get rows specialized for their constant counts; every
 * specialization runs the same float operations in the same order as the
 * general row. */
static inline void scipix_warp_line(const scipix_warp_image *src, const scipix_line_map *map,
                                    const scipix_channel_map *channels, int cubic, float *out,
                                    ptrdiff_t rows, ptrdiff_t width, ptrdiff_t line_width,
                                    int32_t *ix, int32_t *iy, float *fx, float *fy,
                                    double *columns)
{
    const ptrdiff_t plane = rows * width, c_n = src->channels, k_n = channels->out_channels;
    double *column_x = columns, *column_y = columns + width, *column_z = columns + 2 * width;
    ptrdiff_t y, x, k;
    scipix_warp_columns(map, (int32_t)line_width, column_x, column_y, column_z);
    for (y = 0; y < rows; y++) {
        float *row = out + y * width;
        scipix_warp_positions(map, src, column_x, column_y, column_z, y, (int32_t)line_width,
                              ix, iy, fx, fy);
        if (!cubic && c_n == 3 && k_n == 3)
            scipix_warp_row(src, channels, 0, ix, iy, fx, fy, row, plane, line_width, 3, 3);
        else if (!cubic && c_n == 1 && k_n == 1)
            scipix_warp_row(src, channels, 0, ix, iy, fx, fy, row, plane, line_width, 1, 1);
        else if (cubic && c_n == 3 && k_n == 3)
            scipix_warp_row(src, channels, 1, ix, iy, fx, fy, row, plane, line_width, 3, 3);
        else
            scipix_warp_row(src, channels, cubic, ix, iy, fx, fy, row, plane, line_width, c_n,
                            k_n);
        for (k = 0; k < k_n; k++)
            for (x = line_width; x < width; x++)
                row[k * plane + x] = 0.0f;
    }
}

#endif
