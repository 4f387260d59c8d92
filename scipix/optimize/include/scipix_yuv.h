/* YUV 4:2:0 (I420, NV12) to packed RGB, one row at a time, in the fixed
 * point OpenCV's cvtColor uses (20 fractional bits, rounded once at the
 * end), so that BT.601 limited range gives cvtColor's pixels exactly.
 *
 * As libyuv's row functions: a plain loop beside a vector one, the matrix
 * and range as a table of constants.  Chroma is replicated (each chroma
 * sample covers a 2x2 block of luma), as cvtColor and libyuv do.
 *
 * The row is converted in chunks through small planar buffers: the pair
 * loop (one chroma sample, two luma pixels) and the interleaving loop each
 * have a stride gcc vectorizes (2 and 3), where a single loop writing six
 * bytes per pair would stay scalar.  The scalar reference build runs the
 * same loops unvectorized, so every variant gives the same bytes. */
#ifndef SCIPIX_YUV_H
#define SCIPIX_YUV_H

#include "scipix_vector.h"

#define SCIPIX_YUV_SHIFT 20
/* Pixels per chunk: its planar buffers stay in L1. */
#define SCIPIX_YUV_CHUNK 256

/* R = (max(Y - y_offset, 0) * y_scale + v_red * (V - 128)) >> SHIFT, G and
 * B likewise from u_green, v_green and u_blue, each with half a unit added
 * before the shift and clamped to [0, 255]. */
typedef struct {
    int32_t y_scale, y_offset, v_red, u_green, v_green, u_blue;
} scipix_yuv_matrix;

static inline uint8_t scipix_yuv_clamp(int32_t value)
{
    return (uint8_t)(value < 0 ? 0 : value > 255 ? 255 : value);
}

/* One pixel: luma value `luma`, chroma `u`, `v`. */
static inline void scipix_yuv_pixel(int32_t luma, int32_t u, int32_t v, uint8_t *rgb,
                                    const scipix_yuv_matrix *m)
{
    const int32_t half = 1 << (SCIPIX_YUV_SHIFT - 1);
    int32_t y = luma - m->y_offset;
    y = (y < 0 ? 0 : y) * m->y_scale + half;
    u -= 128;
    v -= 128;
    rgb[0] = scipix_yuv_clamp((y + m->v_red * v) >> SCIPIX_YUV_SHIFT);
    rgb[1] = scipix_yuv_clamp((y + m->u_green * u + m->v_green * v) >> SCIPIX_YUV_SHIFT);
    rgb[2] = scipix_yuv_clamp((y + m->u_blue * u) >> SCIPIX_YUV_SHIFT);
}

/* `n` pixels of an even-aligned run: pixel 2j takes luma[2j] and chroma
 * u[j * step], v[j * step]; written R, G, B planar. */
static inline void scipix_yuv_planar(const uint8_t *luma, const uint8_t *u, const uint8_t *v,
                                     ptrdiff_t step, ptrdiff_t n, uint8_t *red,
                                     uint8_t *green, uint8_t *blue,
                                     const scipix_yuv_matrix *m)
{
    const int32_t half = 1 << (SCIPIX_YUV_SHIFT - 1);
    const int32_t ys = m->y_scale, yo = m->y_offset, vr = m->v_red, ug = m->u_green,
                  vg = m->v_green, ub = m->u_blue;
    ptrdiff_t j;
    for (j = 0; j < n / 2; j++) {
        int32_t cu = (int32_t)u[j * step] - 128, cv = (int32_t)v[j * step] - 128;
        int32_t r = half + vr * cv, g = half + ug * cu + vg * cv, b = half + ub * cu;
        int32_t y0 = (int32_t)luma[2 * j] - yo, y1 = (int32_t)luma[2 * j + 1] - yo;
        y0 = (y0 < 0 ? 0 : y0) * ys;
        y1 = (y1 < 0 ? 0 : y1) * ys;
        red[2 * j] = scipix_yuv_clamp((y0 + r) >> SCIPIX_YUV_SHIFT);
        red[2 * j + 1] = scipix_yuv_clamp((y1 + r) >> SCIPIX_YUV_SHIFT);
        green[2 * j] = scipix_yuv_clamp((y0 + g) >> SCIPIX_YUV_SHIFT);
        green[2 * j + 1] = scipix_yuv_clamp((y1 + g) >> SCIPIX_YUV_SHIFT);
        blue[2 * j] = scipix_yuv_clamp((y0 + b) >> SCIPIX_YUV_SHIFT);
        blue[2 * j + 1] = scipix_yuv_clamp((y1 + b) >> SCIPIX_YUV_SHIFT);
    }
    if (n & 1) {
        uint8_t rgb[3];
        scipix_yuv_pixel(luma[n - 1], u[(n / 2) * step], v[(n / 2) * step], rgb, m);
        red[n - 1] = rgb[0];
        green[n - 1] = rgb[1];
        blue[n - 1] = rgb[2];
    }
}

static inline void scipix_yuv_interleave(const uint8_t *first, const uint8_t *second,
                                         const uint8_t *third, ptrdiff_t n, uint8_t *dst)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        dst[3 * i] = first[i];
        dst[3 * i + 1] = second[i];
        dst[3 * i + 2] = third[i];
    }
}

/* Pixels [x0, x0 + n) of a row into `dst` (3 n bytes, R, G, B or, with
 * `bgr`, B, G, R).  `luma` is the row's luma from pixel 0, `u` and `v` its
 * chroma from sample 0, `step` bytes apart (1 for I420's planes, 2 for
 * NV12's interleaved one). */
static inline void scipix_yuv_row(const uint8_t *luma, const uint8_t *u, const uint8_t *v,
                                  ptrdiff_t step, ptrdiff_t x0, ptrdiff_t n, uint8_t *dst,
                                  const scipix_yuv_matrix *m, int bgr)
{
    uint8_t red[SCIPIX_YUV_CHUNK], green[SCIPIX_YUV_CHUNK], blue[SCIPIX_YUV_CHUNK];
    ptrdiff_t x = x0, end = x0 + n;
    if (n <= 0)
        return;
    if (x & 1) {
        /* An odd first pixel shares its chroma with the pixel before it. */
        uint8_t rgb[3];
        scipix_yuv_pixel(luma[x], u[(x / 2) * step], v[(x / 2) * step], rgb, m);
        dst[0] = rgb[bgr ? 2 : 0];
        dst[1] = rgb[1];
        dst[2] = rgb[bgr ? 0 : 2];
        dst += 3;
        x++;
    }
    while (x < end) {
        ptrdiff_t count = end - x < SCIPIX_YUV_CHUNK ? end - x : SCIPIX_YUV_CHUNK;
        scipix_yuv_planar(luma + x, u + (x / 2) * step, v + (x / 2) * step, step, count,
                          red, green, blue, m);
        if (bgr)
            scipix_yuv_interleave(blue, green, red, count, dst);
        else
            scipix_yuv_interleave(red, green, blue, count, dst);
        dst += 3 * count;
        x += count;
    }
}

#endif
