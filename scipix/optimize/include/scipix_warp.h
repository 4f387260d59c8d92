/* Text-line crops (crop_quads): each line's quadrilateral warped to an
 * upright crop and the crop resized to the batch's height, normalized and
 * padded, as OpenCV's warpPerspective + resize compute it, but in float32
 * (nothing is rounded to 8 bits in between) and without a whole crop in
 * memory: only the crop rows and columns the resize reads are sampled, a
 * crop row at a time, each resized across once.
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
/* What the 32-bit positions and indices hold: an image side (positions are
 * clamped a few pixels past it and shifted before truncation), a crop side
 * (crop indices and the next one), and the output's rows and columns (a
 * resize lists up to twice as many crop indices, plus two). */
#define SCIPIX_WARP_MAX_IMAGE_SIDE (INT32_MAX - 16)
#define SCIPIX_WARP_MAX_CROP_SIDE INT32_MAX
#define SCIPIX_WARP_MAX_OUT_SIDE (INT32_MAX / 2 - 1)

/* A packed-pixel source image: pixel (y, x) channel c at
 * data[y * stride + x * channels + c]. */
typedef struct {
    const uint8_t *data;
    ptrdiff_t rows, cols, stride, channels;
} scipix_warp_image;

/* One line's maps.  Upright crop pixel (u, v), integers in [0, u_max] x
 * [0, v_max], lies at page position (X w, Y w): (X, Y, Z) = G (u, v, 1),
 * summed as g0 u + (g1 v + g2), and w = 1 / Z.  G already holds the crop's
 * perspective transform and the upright turn.  Output pixel (ox, oy)
 * interpolates the crop at the resize's pixel centre, clamped as a resize
 * clamps:
 *   u = clamp((ox + 0.5) * sx - 0.5, 0, u_max),
 *   v = clamp((oy + 0.5) * sy - 0.5, 0, v_max). */
typedef struct {
    double g[9];
    double sx, sy, u_max, v_max;
} scipix_line_map;

/* The output channels: out[k] = bias[k] + sum_c mix[k][c] * value[c] of
 * the resized crop's channels, the colour conversion and the normalization
 * in one (mix has the scale / std folded in).  Terms of zero weight are
 * left out of the sum (a channel reorder is then one product a channel). */
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

/* The column terms of a line's map, the same for every crop row: g0 u,
 * g3 u and g6 u of each of the n crop columns u = column[x] in column_x,
 * column_y and column_z. */
static inline void scipix_warp_columns(const scipix_line_map *map, const int32_t *column,
                                       int32_t n, double *column_x, double *column_y,
                                       double *column_z)
{
    const double *g = map->g;
    int32_t x;
    for (x = 0; x < n; x++) {
        double u = (double)column[x];
        column_x[x] = g[0] * u;
        column_y[x] = g[3] * u;
        column_z[x] = g[6] * u;
    }
}

/* Page positions of crop row v's n listed columns, from their column
 * terms: integer parts (ix, iy) and fractions (fx, fy).  Positions are
 * clamped a few pixels outside the image (every tap then clamps to the
 * border, as BORDER_REPLICATE), which also keeps the integer conversion in
 * range.  The loop counter is 32-bit and floor is a truncation of the
 * position shifted positive: both have packed SSE2 forms, so every x86
 * variant vectorizes the loop. */
static inline void scipix_warp_positions(const scipix_line_map *map, const scipix_warp_image *src,
                                         const double *column_x, const double *column_y,
                                         const double *column_z, double v, int32_t n,
                                         int32_t *ix, int32_t *iy, float *fx, float *fy)
{
    const double *g = map->g;
    const double lo = -4.0, shift = 8.0;
    const double x_hi = (double)src->cols + 3.0, y_hi = (double)src->rows + 3.0;
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

/* Crop pixel x of a row: its c_n channels into c_n planes `plane` floats
 * apart. */
SCIPIX_WARP_INLINE void scipix_warp_pixel(const scipix_warp_image *src, const int cubic,
                                          const int32_t *ix, const int32_t *iy, const float *fx,
                                          const float *fy, float *out, ptrdiff_t plane,
                                          ptrdiff_t x, const ptrdiff_t c_n)
{
    float value[SCIPIX_WARP_MAX_CHANNELS];
    ptrdiff_t c;
    if (cubic)
        scipix_sample_cubic(src, ix[x], iy[x], fx[x], fy[x], value, c_n);
    else
        scipix_sample_bilinear(src, ix[x], iy[x], fx[x], fy[x], value, c_n);
    for (c = 0; c < c_n; c++)
        out[c * plane + x] = value[c];
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
        const scipix_warp_image *src, const int32_t *ix, const int32_t *iy, const float *fx,
        const float *fy, float *out, ptrdiff_t plane, ptrdiff_t n, const ptrdiff_t c_n)
{
    const scipix_u32v zero = {0};
    /* Unsigned compares: negative positions fail them too. */
    const scipix_u32v last_top = zero + (uint32_t)(src->rows - 2);
    const scipix_u32v last_left = zero + (uint32_t)((src->cols * c_n - 8) / c_n);
    const scipix_i32v stride = (scipix_i32v)zero + (int32_t)src->stride;
    ptrdiff_t x, c;
    for (x = 0; x + SCIPIX_WARP_LANES <= n; x += SCIPIX_WARP_LANES) {
        scipix_i32v col, row;
        scipix_u32v top_left, top_right, bottom_left, bottom_right;
        scipix_f32v wx, wy;
        memcpy(&col, ix + x, sizeof col);
        memcpy(&row, iy + x, sizeof row);
        if (scipix_any_lane(((scipix_u32v)row > last_top) | ((scipix_u32v)col > last_left))) {
            ptrdiff_t i;
            for (i = x; i < x + SCIPIX_WARP_LANES; i++)
                scipix_warp_pixel(src, 0, ix, iy, fx, fy, out, plane, i, c_n);
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
            const scipix_f32v value = upper * gy + lower * wy;
            memcpy(out + c * plane + x, &value, sizeof value);
        }
    }
    return x;
}

/* scipix_cubic_weights, lane by lane, in its order. */
static inline void scipix_cubic_weights_f32v(scipix_f32v t, scipix_f32v *w)
{
    const float a = -0.75f;
    const scipix_f32v t1 = t + 1.0f, s = 1.0f - t;
    w[0] = ((a * t1 - 5.0f * a) * t1 + 8.0f * a) * t1 - 4.0f * a;
    w[1] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
    w[2] = ((a + 2.0f) * s - (a + 3.0f)) * s * s + 1.0f;
    w[3] = 1.0f - w[0] - w[1] - w[2];
}

/* clamp(value, 0, 255) as scipix_sample_cubic writes it: a lane not above
 * 0 (a -0.0 too) becomes +0.0. */
static inline scipix_f32v scipix_clamp_level_f32v(scipix_f32v value)
{
    const scipix_f32v zero = scipix_broadcast_f32v(0.0f), top = scipix_broadcast_f32v(255.0f);
    const scipix_i32v above = value > zero, below = value < top;
    value = (scipix_f32v)((scipix_i32v)value & above);
    return (scipix_f32v)(((scipix_i32v)value & below) | ((scipix_i32v)top & ~below));
}

/* scipix_warp_row's bicubic sampling of a row's first pixels, whole
 * vectors of them, as scipix_warp_row_bilinear_vector: each of the four
 * source rows' four taps are two gathered pixel pairs, the float
 * operations scipix_sample_cubic's, lane by lane, in its order.  Returns
 * how many pixels it wrote. */
SCIPIX_WARP_INLINE ptrdiff_t scipix_warp_row_cubic_vector(
        const scipix_warp_image *src, const int32_t *ix, const int32_t *iy, const float *fx,
        const float *fy, float *out, ptrdiff_t plane, ptrdiff_t n, const ptrdiff_t c_n)
{
    /* The first tap's row and column; the second pair's 8-byte load ends
     * inside the row. */
    const int32_t last_top = (int32_t)src->rows - 4;
    const int32_t last_left = (int32_t)((src->cols * c_n - 8) / c_n) - 2;
    const scipix_u32v zero = {0};
    const scipix_i32v stride = (scipix_i32v)zero + (int32_t)src->stride;
    ptrdiff_t x, c, j, i;
    if (last_top < 0 || last_left < 0)
        return 0;
    for (x = 0; x + SCIPIX_WARP_LANES <= n; x += SCIPIX_WARP_LANES) {
        scipix_i32v col, row;
        scipix_f32v wx[4], wy[4], t, total[SCIPIX_WARP_MAX_CHANNELS];
        memcpy(&col, ix + x, sizeof col);
        memcpy(&row, iy + x, sizeof row);
        col = col - 1;
        row = row - 1;
        if (scipix_any_lane(((scipix_u32v)row > (uint32_t)last_top)
                            | ((scipix_u32v)col > (uint32_t)last_left))) {
            for (i = x; i < x + SCIPIX_WARP_LANES; i++)
                scipix_warp_pixel(src, 1, ix, iy, fx, fy, out, plane, i, c_n);
            continue;
        }
        memcpy(&t, fx + x, sizeof t);
        scipix_cubic_weights_f32v(t, wx);
        memcpy(&t, fy + x, sizeof t);
        scipix_cubic_weights_f32v(t, wy);
        for (c = 0; c < c_n; c++)
            total[c] = scipix_broadcast_f32v(0.0f);
        for (j = 0; j < 4; j++) {
            const scipix_i32v left = (row + (int32_t)j) * stride + col * (int32_t)c_n;
            scipix_u32v tap[4];
            scipix_gather_pixel_pairs(src->data, left, (int)c_n, &tap[0], &tap[1]);
            scipix_gather_pixel_pairs(src->data, left + 2 * (int32_t)c_n, (int)c_n, &tap[2],
                                      &tap[3]);
            for (c = 0; c < c_n; c++) {
                scipix_f32v across = scipix_channel_f32v(tap[0], (int)c) * wx[0];
                for (i = 1; i < 4; i++)
                    across = across + scipix_channel_f32v(tap[i], (int)c) * wx[i];
                total[c] = total[c] + across * wy[j];
            }
        }
        for (c = 0; c < c_n; c++) {
            const scipix_f32v value = scipix_clamp_level_f32v(total[c]);
            memcpy(out + c * plane + x, &value, sizeof value);
        }
    }
    return x;
}
#endif

/* A crop row's n sampled pixels: c_n channels into c_n planes `plane`
 * floats apart. */
SCIPIX_WARP_INLINE void scipix_warp_row(const scipix_warp_image *src, const int cubic,
                                        const int32_t *ix, const int32_t *iy, const float *fx,
                                        const float *fy, float *out, ptrdiff_t plane, ptrdiff_t n,
                                        const ptrdiff_t c_n)
{
    ptrdiff_t x = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    if (scipix_warp_vector_fits(src))
        x = cubic ? scipix_warp_row_cubic_vector(src, ix, iy, fx, fy, out, plane, n, c_n)
                  : scipix_warp_row_bilinear_vector(src, ix, iy, fx, fy, out, plane, n, c_n);
#endif
    for (; x < n; x++)
        scipix_warp_pixel(src, cubic, ix, iy, fx, fy, out, plane, x, c_n);
}

/* One axis of a line's resize: output index o reads crop samples
 * first[o] and first[o] + step[o] (step 0 or 1) of the crop indices listed
 * in `sample` (increasing, each once), weighed 1 - weight[o] and
 * weight[o].  Its crop position is clamp((o + 0.5) * scale - 0.5, 0, last)
 * (cv2.resize's pixel centres and edge clamp); the taps are its floor and
 * the next index, clamped.  Returns how many indices `sample` lists, at
 * most 2 n. */
static inline int32_t scipix_resize_plan(double scale, double last, ptrdiff_t n,
                                         int32_t *sample, int32_t *first, int32_t *step,
                                         float *weight)
{
    int32_t count = 0;
    ptrdiff_t o;
    for (o = 0; o < n; o++) {
        double at = scipix_clamp_d(((double)o + 0.5) * scale - 0.5, 0.0, last);
        int32_t low = (int32_t)at, high = (double)low < last ? low + 1 : low;
        if (count == 0 || sample[count - 1] < low)
            sample[count++] = low;
        first[o] = sample[count - 1] == low ? count - 1 : count - 2;
        if (sample[count - 1] < high)
            sample[count++] = high;
        step[o] = high > low;
        weight[o] = (float)(at - (double)low);
    }
    return count;
}

/* One thread's working memory for lines of up to `width` columns and
 * `rows` rows of a `channels`-channel image, carved by
 * scipix_warp_scratch_init from one block of scipix_warp_scratch_bytes. */
typedef struct {
    double *column_x, *column_y, *column_z;  /* 2 width + 2 each */
    int32_t *ix, *iy, *sample_col;           /* 2 width + 2 each */
    int32_t *first_col, *step_col;           /* width each */
    int32_t *sample_row;                     /* 2 rows + 2 */
    int32_t *first_row, *step_row;           /* rows each */
    float *fx, *fy;                          /* 2 width + 2 each */
    float *weight_col, *weight_row;          /* width, rows */
    float *crop;                             /* channels planes of 2 width + 2 */
    float *across[2];                        /* channels planes of width each */
    ptrdiff_t width, columns;
} scipix_warp_scratch;

static inline size_t scipix_warp_scratch_bytes(ptrdiff_t width, ptrdiff_t rows,
                                               ptrdiff_t channels)
{
    const size_t columns = (size_t)(2 * width + 2), lines = (size_t)(2 * rows + 2);
    const size_t w = (size_t)width, r = (size_t)rows, c = (size_t)channels;
    return 3 * columns * sizeof(double)
           + (3 * columns + 2 * w + lines + 2 * r) * sizeof(int32_t)
           + (2 * columns + w + r + c * columns + 2 * c * w) * sizeof(float);
}

/* Carves `block`, scipix_warp_scratch_bytes(width, rows, channels) bytes
 * aligned for double, into `scratch`. */
static inline void scipix_warp_scratch_init(scipix_warp_scratch *scratch, void *block,
                                            ptrdiff_t width, ptrdiff_t rows, ptrdiff_t channels)
{
    const ptrdiff_t columns = 2 * width + 2, lines = 2 * rows + 2;
    double *d = (double *)block;
    int32_t *i = (int32_t *)(d + 3 * columns);
    float *f;
    scratch->column_x = d;
    scratch->column_y = d + columns;
    scratch->column_z = d + 2 * columns;
    scratch->ix = i;
    scratch->iy = i + columns;
    scratch->sample_col = i + 2 * columns;
    scratch->first_col = i + 3 * columns;
    scratch->step_col = scratch->first_col + width;
    scratch->sample_row = scratch->step_col + width;
    scratch->first_row = scratch->sample_row + lines;
    scratch->step_row = scratch->first_row + rows;
    f = (float *)(scratch->step_row + rows);
    scratch->fx = f;
    scratch->fy = f + columns;
    scratch->weight_col = f + 2 * columns;
    scratch->weight_row = scratch->weight_col + width;
    scratch->crop = scratch->weight_row + rows;
    scratch->across[0] = scratch->crop + channels * columns;
    scratch->across[1] = scratch->across[0] + channels * width;
    scratch->width = width;
    scratch->columns = columns;
}

#if !defined(SCIPIX_SCALAR_REFERENCE) && (SCIPIX_VEC_BYTES == 64 || defined(__AVX2__))
/* Lane i: values[index[i]] (every index in [0, SCIPIX_WARP_LANES)). */
static inline scipix_f32v scipix_permute_f32v(scipix_f32v values, scipix_i32v index)
{
#if SCIPIX_VEC_BYTES == 64
    return (scipix_f32v)_mm512_permutexvar_ps((__m512i)index, (__m512)values);
#else
    return (scipix_f32v)_mm256_permutevar8x32_ps((__m256)values, (__m256i)index);
#endif
}
#endif

/* row[x] = crop[first[x]] (1 - weight[x]) + crop[first[x] + step[x]]
 * weight[x] for x < n_out, from the n floats of `crop`.  Where a vector's
 * taps lie within one vector of crop values (a line enlarged or kept, the
 * common case) they are one permute of them each. */
static inline void scipix_resize_across(const float *crop, int32_t n, const int32_t *first,
                                        const int32_t *step, const float *weight,
                                        ptrdiff_t n_out, float *row)
{
    ptrdiff_t x = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE) && (SCIPIX_VEC_BYTES == 64 || defined(__AVX2__))
    for (; x + SCIPIX_WARP_LANES <= n_out; x += SCIPIX_WARP_LANES) {
        const int32_t base = first[x];
        scipix_i32v left, right;
        scipix_f32v values, w;
        if (first[x + SCIPIX_WARP_LANES - 1] + 1 - base >= SCIPIX_WARP_LANES
            || base + SCIPIX_WARP_LANES > n)
            break;
        memcpy(&left, first + x, sizeof left);
        memcpy(&right, step + x, sizeof right);
        left = left - base;
        right = right + left;
        memcpy(&values, crop + base, sizeof values);
        memcpy(&w, weight + x, sizeof w);
        const scipix_f32v total = scipix_permute_f32v(values, left) * (1.0f - w)
                                  + scipix_permute_f32v(values, right) * w;
        memcpy(row + x, &total, sizeof total);
    }
#endif
    for (; x < n_out; x++)
        row[x] = crop[first[x]] * (1.0f - weight[x]) + crop[first[x] + step[x]] * weight[x];
}

/* Crop row v's listed columns sampled from the page (c_n planes of
 * scratch->crop), then resized across into `across` (c_n planes of
 * scratch->width floats). */
static inline void scipix_warp_crop_row(const scipix_warp_image *src, const scipix_line_map *map,
                                        int cubic, int32_t v, int32_t n, ptrdiff_t line_width,
                                        const scipix_warp_scratch *s, float *across)
{
    const ptrdiff_t c_n = src->channels;
    ptrdiff_t c;
    scipix_warp_positions(map, src, s->column_x, s->column_y, s->column_z, (double)v, n, s->ix,
                          s->iy, s->fx, s->fy);
    /* The common layouts get rows specialized for their constant counts. */
    if (!cubic && c_n == 3)
        scipix_warp_row(src, 0, s->ix, s->iy, s->fx, s->fy, s->crop, s->columns, n, 3);
    else if (!cubic && c_n == 1)
        scipix_warp_row(src, 0, s->ix, s->iy, s->fx, s->fy, s->crop, s->columns, n, 1);
    else if (cubic && c_n == 3)
        scipix_warp_row(src, 1, s->ix, s->iy, s->fx, s->fy, s->crop, s->columns, n, 3);
    else
        scipix_warp_row(src, cubic, s->ix, s->iy, s->fx, s->fy, s->crop, s->columns, n, c_n);
    for (c = 0; c < c_n; c++)
        scipix_resize_across(s->crop + c * s->columns, n, s->first_col, s->step_col,
                             s->weight_col, line_width, across + c * s->width);
}

/* Pixel x of an output row: bias + sum_c mix[c] (upper_c keep + lower_c
 * weight) over the c_n planes, `apart` floats apart, of two resized crop
 * rows. */
SCIPIX_WARP_INLINE float scipix_mixed_pixel(const float *mix, float bias, const float *upper,
                                            const float *lower, ptrdiff_t apart, float keep,
                                            float weight, ptrdiff_t x, const ptrdiff_t c_n)
{
    float total = bias;
    ptrdiff_t c;
    for (c = 0; c < c_n; c++)
        if (mix[c] != 0.0f)
            total = total + mix[c] * (upper[c * apart + x] * keep + lower[c * apart + x] * weight);
    return total;
}

/* Output row k of a line: n pixels bias[k] + sum_c mix[k][c] (upper_c
 * keep + lower_c weight), from the c_n planes (`apart` floats apart) of the
 * two crop rows resized across, then zeros to `width`. */
SCIPIX_WARP_INLINE void scipix_resize_down(const scipix_channel_map *channels, ptrdiff_t k,
                                           const float *upper, const float *lower,
                                           ptrdiff_t apart, float keep, float weight, float *row,
                                           ptrdiff_t n, ptrdiff_t width, int stream,
                                           const ptrdiff_t c_n)
{
    const float *mix = channels->mix[k], bias = channels->bias[k];
    ptrdiff_t x = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    ptrdiff_t c;
    const scipix_f32v keep_v = scipix_broadcast_f32v(keep);
    const scipix_f32v weight_v = scipix_broadcast_f32v(weight);
    const scipix_f32v bias_v = scipix_broadcast_f32v(bias);
    if (stream)
        for (; x < n && (uintptr_t)(row + x) % SCIPIX_VEC_BYTES != 0; x++)
            row[x] = scipix_mixed_pixel(mix, bias, upper, lower, apart, keep, weight, x, c_n);
    for (; x + SCIPIX_WARP_LANES <= n; x += SCIPIX_WARP_LANES) {
        scipix_f32v total = bias_v, above, below;
        for (c = 0; c < c_n; c++)
            if (mix[c] != 0.0f) {
                memcpy(&above, upper + c * apart + x, sizeof above);
                memcpy(&below, lower + c * apart + x, sizeof below);
                total = total + mix[c] * (above * keep_v + below * weight_v);
            }
        scipix_store_f32v(row + x, total, stream);
    }
#endif
    for (; x < n; x++)
        row[x] = scipix_mixed_pixel(mix, bias, upper, lower, apart, keep, weight, x, c_n);
    for (; x < width; x++)
        row[x] = 0.0f;
}

/* One text line into its (out_channels, rows, width) block of the batch:
 * `line_width` resized pixels per row, zeros to `width`.  The crop rows
 * the resize reads are sampled in increasing order, each once; the two an
 * output row reads are kept resized across.  With `stream` the output is
 * stored around the caches (the caller fences). */
static inline void scipix_warp_line(const scipix_warp_image *src, const scipix_line_map *map,
                                    const scipix_channel_map *channels, int cubic, float *out,
                                    ptrdiff_t rows, ptrdiff_t width, ptrdiff_t line_width,
                                    int stream, const scipix_warp_scratch *s)
{
    const ptrdiff_t plane = rows * width, c_n = src->channels, k_n = channels->out_channels;
    int32_t held[2] = {-1, -1}, n;
    ptrdiff_t y, k;
    n = scipix_resize_plan(map->sx, map->u_max, line_width, s->sample_col, s->first_col,
                           s->step_col, s->weight_col);
    scipix_resize_plan(map->sy, map->v_max, rows, s->sample_row, s->first_row, s->step_row,
                       s->weight_row);
    scipix_warp_columns(map, s->sample_col, n, s->column_x, s->column_y, s->column_z);
    for (y = 0; y < rows; y++) {
        const int32_t top = s->first_row[y], bottom = top + s->step_row[y];
        const float weight = s->weight_row[y];
        int pass;
        for (pass = 0; pass < 2; pass++) {
            const int32_t wanted = pass ? bottom : top, other = pass ? top : bottom;
            if (held[0] != wanted && held[1] != wanted) {
                const int slot = held[0] == other ? 1 : 0;
                scipix_warp_crop_row(src, map, cubic, s->sample_row[wanted], n, line_width, s,
                                     s->across[slot]);
                held[slot] = wanted;
            }
        }
        const float *upper = s->across[held[0] == top ? 0 : 1];
        const float *lower = s->across[held[0] == bottom ? 0 : 1];
        for (k = 0; k < k_n; k++) {
            float *row = out + k * plane + y * width;
            if (c_n == 3)
                scipix_resize_down(channels, k, upper, lower, s->width, 1.0f - weight, weight,
                                   row, line_width, width, stream, 3);
            else if (c_n == 1)
                scipix_resize_down(channels, k, upper, lower, s->width, 1.0f - weight, weight,
                                   row, line_width, width, stream, 1);
            else
                scipix_resize_down(channels, k, upper, lower, s->width, 1.0f - weight, weight,
                                   row, line_width, width, stream, c_n);
        }
    }
}

#endif
