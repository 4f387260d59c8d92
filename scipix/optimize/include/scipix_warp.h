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
 * then (X, Y, Z) = G (u, v, 1) and the source position is (X / Z, Y / Z).
 * G already holds the crop's perspective transform and the upright turn. */
typedef struct {
    double g[9];
    double sx, sy, u_max, v_max;
} scipix_line_map;

/* The output channels: out[k] = bias[k] + sum_c mix[k][c] * value[c], the
 * colour conversion and the normalization in one (mix has the scale / std
 * folded in). */
typedef struct {
    float mix[SCIPIX_WARP_MAX_OUT][SCIPIX_WARP_MAX_CHANNELS];
    float bias[SCIPIX_WARP_MAX_OUT];
    ptrdiff_t out_channels;
} scipix_channel_map;

static inline double scipix_clamp_d(double value, double lo, double hi)
{
    /* Written so NaN lands on lo: a degenerate map never indexes outside. */
    value = value >= lo ? value : lo;
    return value <= hi ? value : hi;
}

static inline ptrdiff_t scipix_clamp_i(ptrdiff_t value, ptrdiff_t hi)
{
    value = value < 0 ? 0 : value;
    return value > hi ? hi : value;
}

/* Source positions of one output row's n pixels: integer parts (ix, iy)
 * and fractions (fx, fy).  Positions are clamped a few pixels outside the
 * image (every tap then clamps to the border, as BORDER_REPLICATE), which
 * also keeps the integer conversion in range.  The loop counter is 32-bit
 * and floor is a truncation of the position shifted positive: both have
 * packed SSE2 forms, so every x86 variant vectorizes the loop. */
static inline void scipix_warp_positions(const scipix_line_map *map, const scipix_warp_image *src,
                                         ptrdiff_t oy, int32_t n, int32_t *ix, int32_t *iy,
                                         float *fx, float *fy)
{
    const double *g = map->g;
    const double lo = -4.0, shift = 8.0;
    const double x_hi = (double)src->cols + 3.0, y_hi = (double)src->rows + 3.0;
    double v = scipix_clamp_d(((double)oy + 0.5) * map->sy - 0.5, 0.0, map->v_max);
    double row_x = g[1] * v + g[2], row_y = g[4] * v + g[5], row_z = g[7] * v + g[8];
    int32_t x;
    for (x = 0; x < n; x++) {
        double u = scipix_clamp_d(((double)x + 0.5) * map->sx - 0.5, 0.0, map->u_max);
        double z = g[6] * u + row_z;
        double sx = scipix_clamp_d((g[0] * u + row_x) / z, lo, x_hi);
        double sy = scipix_clamp_d((g[3] * u + row_y) / z, lo, y_hi);
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

/* One output row's n sampled pixels: c_n source channels mixed into k_n
 * output planes `plane` floats apart. */
SCIPIX_WARP_INLINE void scipix_warp_row(const scipix_warp_image *src,
                                        const scipix_channel_map *channels, const int cubic,
                                        const int32_t *ix, const int32_t *iy, const float *fx,
                                        const float *fy, float *out, ptrdiff_t plane, ptrdiff_t n,
                                        const ptrdiff_t c_n, const ptrdiff_t k_n)
{
    ptrdiff_t x, k, c;
    float value[SCIPIX_WARP_MAX_CHANNELS];
    for (x = 0; x < n; x++) {
        if (cubic)
            scipix_sample_cubic(src, ix[x], iy[x], fx[x], fy[x], value, c_n);
        else
            scipix_sample_bilinear(src, ix[x], iy[x], fx[x], fy[x], value, c_n);
        for (k = 0; k < k_n; k++) {
            float total = channels->bias[k];
            for (c = 0; c < c_n; c++)
                total = total + channels->mix[k][c] * value[c];
            out[k * plane + x] = total;
        }
    }
}

/* One text line into its (out_channels, rows, width) block of the batch:
 * `line_width` sampled pixels per row, zeros to `width`.  Scratch holds
 * 2 * width int32 and 2 * width float.  The common channel layouts get
 * rows specialized for their constant counts; every specialization runs
 * the same float operations in the same order as the general row. */
static inline void scipix_warp_line(const scipix_warp_image *src, const scipix_line_map *map,
                                    const scipix_channel_map *channels, int cubic, float *out,
                                    ptrdiff_t rows, ptrdiff_t width, ptrdiff_t line_width,
                                    int32_t *ix, int32_t *iy, float *fx, float *fy)
{
    const ptrdiff_t plane = rows * width, c_n = src->channels, k_n = channels->out_channels;
    ptrdiff_t y, x, k;
    for (y = 0; y < rows; y++) {
        float *row = out + y * width;
        scipix_warp_positions(map, src, y, (int32_t)line_width, ix, iy, fx, fy);
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
