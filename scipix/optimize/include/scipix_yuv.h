/* YUV 4:2:0 (I420, NV12) to packed RGB, one row at a time, in two
 * arithmetics:
 * - exact: the fixed point OpenCV's cvtColor uses (20 fractional bits,
 *   rounded once at the end), so that BT.601 limited range gives
 *   cvtColor's pixels exactly;
 * - fast: 16-bit fixed point as libyuv's row functions (coefficients with
 *   13 fractional bits, sums with 5), every product one 16-bit high
 *   multiply, so a vector holds twice the pixels; within one level of the
 *   exact arithmetic for every (Y, U, V) (the tests check all of them).
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

/* The fast arithmetic's table: the exact one's coefficients rounded to 13
 * fractional bits.  R = (Yt + (v_red * (V - 128) >> 8)) >> 5 with
 * Yt = (max(Y - y_offset, 0) * y_scale >> 8) + 16 (half a unit of the
 * final shift), G and B likewise; each >> 8 is the high half of a 16-bit
 * product of (C - 128) * 256 (floor), so the vector code gives these
 * bytes.  With y_scale < 2**14, |u_green| + |v_green| < 2**14 (the caller
 * checks) no 16-bit sum overflows. */
#define SCIPIX_YUV_FAST_SHIFT 5
typedef struct {
    int32_t y_scale, y_offset, v_red, u_green, v_green, u_blue;
} scipix_yuv_fast_matrix;

static inline int32_t scipix_yuv_fast_coefficient(int32_t exact)
{
    return (exact + (1 << 6)) >> 7;
}

static inline scipix_yuv_fast_matrix scipix_yuv_fast_table(const scipix_yuv_matrix *m)
{
    scipix_yuv_fast_matrix f;
    f.y_scale = scipix_yuv_fast_coefficient(m->y_scale);
    f.y_offset = m->y_offset;
    f.v_red = scipix_yuv_fast_coefficient(m->v_red);
    f.u_green = scipix_yuv_fast_coefficient(m->u_green);
    f.v_green = scipix_yuv_fast_coefficient(m->v_green);
    f.u_blue = scipix_yuv_fast_coefficient(m->u_blue);
    return f;
}

static inline void scipix_yuv_fast_pixel(int32_t luma, int32_t u, int32_t v, uint8_t *rgb,
                                         const scipix_yuv_fast_matrix *m)
{
    int32_t y = luma - m->y_offset;
    y = (((y < 0 ? 0 : y) * m->y_scale) >> 8) + (1 << (SCIPIX_YUV_FAST_SHIFT - 1));
    u -= 128;
    v -= 128;
    rgb[0] = scipix_yuv_clamp((y + ((v * m->v_red) >> 8)) >> SCIPIX_YUV_FAST_SHIFT);
    rgb[1] = scipix_yuv_clamp((y + ((u * m->u_green) >> 8) + ((v * m->v_green) >> 8))
                              >> SCIPIX_YUV_FAST_SHIFT);
    rgb[2] = scipix_yuv_clamp((y + ((u * m->u_blue) >> 8)) >> SCIPIX_YUV_FAST_SHIFT);
}

/* As scipix_yuv_planar, in the fast arithmetic. */
static inline void scipix_yuv_fast_planar(const uint8_t *luma, const uint8_t *u,
                                          const uint8_t *v, ptrdiff_t step, ptrdiff_t n,
                                          uint8_t *red, uint8_t *green, uint8_t *blue,
                                          const scipix_yuv_fast_matrix *m)
{
    const int32_t half = 1 << (SCIPIX_YUV_FAST_SHIFT - 1);
    const int32_t ys = m->y_scale, yo = m->y_offset, vr = m->v_red, ug = m->u_green,
                  vg = m->v_green, ub = m->u_blue;
    ptrdiff_t j;
    for (j = 0; j < n / 2; j++) {
        int32_t cu = (int32_t)u[j * step] - 128, cv = (int32_t)v[j * step] - 128;
        int32_t r = (cv * vr) >> 8, g = ((cu * ug) >> 8) + ((cv * vg) >> 8),
                b = (cu * ub) >> 8;
        int32_t y0 = (int32_t)luma[2 * j] - yo, y1 = (int32_t)luma[2 * j + 1] - yo;
        y0 = (((y0 < 0 ? 0 : y0) * ys) >> 8) + half;
        y1 = (((y1 < 0 ? 0 : y1) * ys) >> 8) + half;
        red[2 * j] = scipix_yuv_clamp((y0 + r) >> SCIPIX_YUV_FAST_SHIFT);
        red[2 * j + 1] = scipix_yuv_clamp((y1 + r) >> SCIPIX_YUV_FAST_SHIFT);
        green[2 * j] = scipix_yuv_clamp((y0 + g) >> SCIPIX_YUV_FAST_SHIFT);
        green[2 * j + 1] = scipix_yuv_clamp((y1 + g) >> SCIPIX_YUV_FAST_SHIFT);
        blue[2 * j] = scipix_yuv_clamp((y0 + b) >> SCIPIX_YUV_FAST_SHIFT);
        blue[2 * j + 1] = scipix_yuv_clamp((y1 + b) >> SCIPIX_YUV_FAST_SHIFT);
    }
    if (n & 1) {
        uint8_t rgb[3];
        scipix_yuv_fast_pixel(luma[n - 1], u[(n / 2) * step], v[(n / 2) * step], rgb, m);
        red[n - 1] = rgb[0];
        green[n - 1] = rgb[1];
        blue[n - 1] = rgb[2];
    }
}

#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
/* AVX2, 32 pixels a step, the same int32 arithmetic as the plain loops:
 * luma and chroma widened to 32-bit lanes, the chroma terms computed once
 * per sample and spread to their two pixels by unpacking, the
 * shifted sums narrowed with saturating packs (the clamp to [0, 255]), and
 * the three channel vectors interleaved into RGB24 with byte shuffles:
 * output byte k of each 48-byte group takes pixel k / 3 of channel k % 3.
 * gcc's own code for the planar and interleaving loops runs at about half
 * this speed. */
static const int8_t scipix_yuv_spread[9][16] = {
    {0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, 5},
    {-1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1},
    {-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1},
    {-1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10, -1},
    {5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10},
    {-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1},
    {-1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1},
    {-1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1},
    {10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15},
};

static inline __m256i scipix_yuv_mask(int k)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)scipix_yuv_spread[k]));
}

/* 32 bytes, pixels 0..31 in order, of four vectors of int32 sums, shifted:
 * vector 2h holds pixels [16h, 16h + 4) and [16h + 8, 16h + 12) (one
 * quarter per 128-bit lane), vector 2h + 1 the quarters between. */
static inline __m256i scipix_yuv_bytes(const __m256i sums[4])
{
    __m256i low = _mm256_packs_epi32(_mm256_srai_epi32(sums[0], SCIPIX_YUV_SHIFT),
                                     _mm256_srai_epi32(sums[1], SCIPIX_YUV_SHIFT));
    __m256i high = _mm256_packs_epi32(_mm256_srai_epi32(sums[2], SCIPIX_YUV_SHIFT),
                                      _mm256_srai_epi32(sums[3], SCIPIX_YUV_SHIFT));
    return _mm256_permute4x64_epi64(_mm256_packus_epi16(low, high), 0xd8);
}

/* Three channel vectors of 32 pixels in order (lane 0 pixels 0..15) as
 * 96 bytes of RGB24. */
static inline void scipix_yuv_store96(const __m256i channel[3], const __m256i masks[9],
                                      uint8_t *dst)
{
    int k;
    for (k = 0; k < 3; k++) {
        /* Part k of each lane's 48 bytes. */
        __m256i part = _mm256_or_si256(
            _mm256_or_si256(_mm256_shuffle_epi8(channel[0], masks[3 * k]),
                            _mm256_shuffle_epi8(channel[1], masks[3 * k + 1])),
            _mm256_shuffle_epi8(channel[2], masks[3 * k + 2]));
        _mm_storeu_si128((__m128i *)(dst + 16 * k), _mm256_castsi256_si128(part));
        _mm_storeu_si128((__m128i *)(dst + 48 + 16 * k), _mm256_extracti128_si256(part, 1));
    }
}

/* The nine shuffles scipix_yuv_store96 takes; with `bgr` the red and blue
 * ones trade places. */
static inline void scipix_yuv_masks(__m256i masks[9], int bgr)
{
    int k;
    for (k = 0; k < 3; k++) {
        masks[3 * k] = scipix_yuv_mask(3 * k + (bgr ? 2 : 0));
        masks[3 * k + 1] = scipix_yuv_mask(3 * k + 1);
        masks[3 * k + 2] = scipix_yuv_mask(3 * k + (bgr ? 0 : 2));
    }
}

/* Pixels [x, x + 32) of a row, x even; `u`, `v` point at the chroma of pixel 0
 * (`interleaved`: NV12, v == u + 1). */
static inline void scipix_yuv_step32(const uint8_t *luma, const uint8_t *u, const uint8_t *v,
                                     int interleaved, uint8_t *dst, __m256i ys, int y_offset,
                                     __m256i vr, __m256i ug, __m256i vg, __m256i ub,
                                     __m256i half, const __m256i masks[9])
{
    const __m256i zero = _mm256_setzero_si256();
    const __m128i flip = _mm_set1_epi8((char)0x80), offset = _mm_set1_epi8((char)y_offset);
    __m256i y[4], cu[2], cv[2], r[4], g[4], b[4], channel[3];
    int k;
    /* Luma in the order scipix_yuv_bytes takes: unpacking 16-bit pixels
     * 0..7 | 8..15 gives 0..3 | 8..11 and 4..7 | 12..15, the pixels of
     * chroma samples 0, 1 | 4, 5 and 2, 3 | 6, 7, which unpacking the
     * chroma vectors (samples 0..3 | 4..7) with themselves spreads. */
    for (k = 0; k < 2; k++) {
        /* max(Y - y_offset, 0) as one saturating byte subtraction. */
        __m256i lum = _mm256_cvtepu8_epi16(_mm_subs_epu8(
            _mm_loadu_si128((const __m128i *)(luma + 16 * k)), offset));
        y[2 * k] = _mm256_mullo_epi32(_mm256_unpacklo_epi16(lum, zero), ys);
        y[2 * k + 1] = _mm256_mullo_epi32(_mm256_unpackhi_epi16(lum, zero), ys);
    }
    /* C - 128 as the byte C ^ 0x80 read signed. */
    if (interleaved) {
        for (k = 0; k < 2; k++) {
            __m256i pairs = _mm256_cvtepi16_epi32(_mm_xor_si128(
                _mm_loadu_si128((const __m128i *)(u + 16 * k)), flip));
            cu[k] = _mm256_srai_epi32(_mm256_slli_epi32(pairs, 24), 24);
            cv[k] = _mm256_srai_epi32(pairs, 8);
        }
    } else {
        __m128i us = _mm_xor_si128(_mm_loadu_si128((const __m128i *)u), flip);
        __m128i vs = _mm_xor_si128(_mm_loadu_si128((const __m128i *)v), flip);
        cu[0] = _mm256_cvtepi8_epi32(us);
        cu[1] = _mm256_cvtepi8_epi32(_mm_srli_si128(us, 8));
        cv[0] = _mm256_cvtepi8_epi32(vs);
        cv[1] = _mm256_cvtepi8_epi32(_mm_srli_si128(vs, 8));
    }
    for (k = 0; k < 2; k++) {
        __m256i rc = _mm256_add_epi32(half, _mm256_mullo_epi32(vr, cv[k]));
        __m256i gc = _mm256_add_epi32(_mm256_add_epi32(half, _mm256_mullo_epi32(ug, cu[k])),
                                      _mm256_mullo_epi32(vg, cv[k]));
        __m256i bc = _mm256_add_epi32(half, _mm256_mullo_epi32(ub, cu[k]));
        r[2 * k] = _mm256_add_epi32(y[2 * k], _mm256_unpacklo_epi32(rc, rc));
        r[2 * k + 1] = _mm256_add_epi32(y[2 * k + 1], _mm256_unpackhi_epi32(rc, rc));
        g[2 * k] = _mm256_add_epi32(y[2 * k], _mm256_unpacklo_epi32(gc, gc));
        g[2 * k + 1] = _mm256_add_epi32(y[2 * k + 1], _mm256_unpackhi_epi32(gc, gc));
        b[2 * k] = _mm256_add_epi32(y[2 * k], _mm256_unpacklo_epi32(bc, bc));
        b[2 * k + 1] = _mm256_add_epi32(y[2 * k + 1], _mm256_unpackhi_epi32(bc, bc));
    }
    channel[0] = scipix_yuv_bytes(r);
    channel[1] = scipix_yuv_bytes(g);
    channel[2] = scipix_yuv_bytes(b);
    scipix_yuv_store96(channel, masks, dst);
}

/* The fast arithmetic's chroma terms of 16 samples in order (`interleaved`:
 * NV12, v == u + 1): C - 128 as the byte C ^ 0x80 read signed, in the
 * high byte, so each product is one high multiply. */
static inline void scipix_yuv_fast_chroma16(const uint8_t *u, const uint8_t *v, int interleaved,
                                            __m256i vr, __m256i ug, __m256i vg, __m256i ub,
                                            __m256i terms[3])
{
    __m256i cu, cv;
    if (interleaved) {
        __m256i pairs = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)u),
                                         _mm256_set1_epi8((char)0x80));
        cu = _mm256_slli_epi16(pairs, 8);
        cv = _mm256_and_si256(pairs, _mm256_set1_epi16((short)0xff00));
    } else {
        const __m128i flip = _mm_set1_epi8((char)0x80);
        cu = _mm256_slli_epi16(_mm256_cvtepu8_epi16(
            _mm_xor_si128(_mm_loadu_si128((const __m128i *)u), flip)), 8);
        cv = _mm256_slli_epi16(_mm256_cvtepu8_epi16(
            _mm_xor_si128(_mm_loadu_si128((const __m128i *)v), flip)), 8);
    }
    terms[0] = _mm256_mulhi_epi16(cv, vr);
    terms[1] = _mm256_add_epi16(_mm256_mulhi_epi16(cu, ug), _mm256_mulhi_epi16(cv, vg));
    terms[2] = _mm256_mulhi_epi16(cu, ub);
}

/* R, G and B bytes of 32 pixels in order from their luma and the chroma
 * terms of their 16 samples: unpacking luma bytes 0..7 | 16..23 and
 * 8..15 | 24..31 against zero gives Y * 256 for the high multiply and
 * meets the terms of samples 0..3 | 8..11 and 4..7 | 12..15 unpacked with
 * themselves; the saturating pack of the two halves (the clamp) puts the
 * pixels back in order. */
static inline void scipix_yuv_fast_channels32(const uint8_t *luma, __m256i ys, __m256i offset,
                                              const __m256i terms[3], __m256i channel[3])
{
    const __m256i zero = _mm256_setzero_si256(), half = _mm256_set1_epi16(
        1 << (SCIPIX_YUV_FAST_SHIFT - 1));
    __m256i lum = _mm256_subs_epu8(_mm256_loadu_si256((const __m256i *)luma), offset);
    __m256i y_low = _mm256_add_epi16(_mm256_mulhi_epu16(_mm256_unpacklo_epi8(zero, lum), ys),
                                     half);
    __m256i y_high = _mm256_add_epi16(_mm256_mulhi_epu16(_mm256_unpackhi_epi8(zero, lum), ys),
                                      half);
    int k;
    for (k = 0; k < 3; k++)
        channel[k] = _mm256_packus_epi16(
            _mm256_srai_epi16(_mm256_add_epi16(y_low, _mm256_unpacklo_epi16(terms[k], terms[k])),
                              SCIPIX_YUV_FAST_SHIFT),
            _mm256_srai_epi16(_mm256_add_epi16(y_high, _mm256_unpackhi_epi16(terms[k], terms[k])),
                              SCIPIX_YUV_FAST_SHIFT));
}

/* scipix_yuv_step32 in the fast arithmetic. */
static inline void scipix_yuv_fast_step32(const uint8_t *luma, const uint8_t *u,
                                          const uint8_t *v, int interleaved, uint8_t *dst,
                                          __m256i ys, __m256i offset, __m256i vr, __m256i ug,
                                          __m256i vg, __m256i ub, const __m256i masks[9])
{
    __m256i terms[3], channel[3];
    scipix_yuv_fast_chroma16(u, v, interleaved, vr, ug, vg, ub, terms);
    scipix_yuv_fast_channels32(luma, ys, offset, terms, channel);
    scipix_yuv_store96(channel, masks, dst);
}

/* 16 output pixels of the 2x2 average of the fast conversion: rows `top`
 * and `bottom` of luma (32 pixels each) under 16 chroma samples, each
 * channel's four values summed in 16 bits (vertical add, horizontal
 * pairs by vpmaddubsw) and rounded as scipix_area2x2_packed_row does, then
 * interleaved into 48 bytes. */
static inline void scipix_yuv_fast_area_step16(const uint8_t *top, const uint8_t *bottom,
                                               const uint8_t *u, const uint8_t *v,
                                               int interleaved, uint8_t *dst, __m256i ys,
                                               __m256i offset, __m256i vr, __m256i ug,
                                               __m256i vg, __m256i ub, const __m128i masks[9])
{
    const __m256i ones = _mm256_set1_epi8(1), two = _mm256_set1_epi16(2);
    __m256i terms[3], upper[3], lower[3];
    __m128i channel[3];
    int k;
    scipix_yuv_fast_chroma16(u, v, interleaved, vr, ug, vg, ub, terms);
    scipix_yuv_fast_channels32(top, ys, offset, terms, upper);
    scipix_yuv_fast_channels32(bottom, ys, offset, terms, lower);
    for (k = 0; k < 3; k++) {
        __m256i sums = _mm256_add_epi16(_mm256_maddubs_epi16(upper[k], ones),
                                        _mm256_maddubs_epi16(lower[k], ones));
        __m256i mean = _mm256_srli_epi16(_mm256_add_epi16(sums, two), 2);
        /* Packed with itself: quadwords 0 and 2 hold pixels 0..7 and 8..15. */
        channel[k] = _mm256_castsi256_si128(
            _mm256_permute4x64_epi64(_mm256_packus_epi16(mean, mean), 0x08));
    }
    for (k = 0; k < 3; k++)
        _mm_storeu_si128((__m128i *)(dst + 16 * k), _mm_or_si128(
            _mm_or_si128(_mm_shuffle_epi8(channel[0], masks[3 * k]),
                         _mm_shuffle_epi8(channel[1], masks[3 * k + 1])),
            _mm_shuffle_epi8(channel[2], masks[3 * k + 2])));
}
#endif

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
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    if (step == 1 || (step == 2 && v == u + 1)) {
        const __m256i ys = _mm256_set1_epi32(m->y_scale),
                      vr = _mm256_set1_epi32(m->v_red), ug = _mm256_set1_epi32(m->u_green),
                      vg = _mm256_set1_epi32(m->v_green), ub = _mm256_set1_epi32(m->u_blue),
                      half = _mm256_set1_epi32(1 << (SCIPIX_YUV_SHIFT - 1));
        __m256i masks[9];
        scipix_yuv_masks(masks, bgr);
        for (; x + 32 <= end; x += 32) {
            scipix_yuv_step32(luma + x, u + (x / 2) * step, v + (x / 2) * step, step == 2, dst,
                              ys, m->y_offset, vr, ug, vg, ub, half, masks);
            dst += 96;
        }
    }
#endif
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


/* scipix_yuv_row in the fast arithmetic. */
static inline void scipix_yuv_fast_row(const uint8_t *luma, const uint8_t *u,
                                       const uint8_t *v, ptrdiff_t step, ptrdiff_t x0,
                                       ptrdiff_t n, uint8_t *dst,
                                       const scipix_yuv_fast_matrix *m, int bgr)
{
    uint8_t red[SCIPIX_YUV_CHUNK], green[SCIPIX_YUV_CHUNK], blue[SCIPIX_YUV_CHUNK];
    ptrdiff_t x = x0, end = x0 + n;
    if (n <= 0)
        return;
    if (x & 1) {
        uint8_t rgb[3];
        scipix_yuv_fast_pixel(luma[x], u[(x / 2) * step], v[(x / 2) * step], rgb, m);
        dst[0] = rgb[bgr ? 2 : 0];
        dst[1] = rgb[1];
        dst[2] = rgb[bgr ? 0 : 2];
        dst += 3;
        x++;
    }
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    if (step == 1 || (step == 2 && v == u + 1)) {
        const __m256i ys = _mm256_set1_epi16((short)m->y_scale),
                      offset = _mm256_set1_epi8((char)m->y_offset),
                      vr = _mm256_set1_epi16((short)m->v_red),
                      ug = _mm256_set1_epi16((short)m->u_green),
                      vg = _mm256_set1_epi16((short)m->v_green),
                      ub = _mm256_set1_epi16((short)m->u_blue);
        __m256i masks[9];
        scipix_yuv_masks(masks, bgr);
        for (; x + 32 <= end; x += 32) {
            scipix_yuv_fast_step32(luma + x, u + (x / 2) * step, v + (x / 2) * step, step == 2,
                                   dst, ys, offset, vr, ug, vg, ub, masks);
            dst += 96;
        }
    }
#endif
    while (x < end) {
        ptrdiff_t count = end - x < SCIPIX_YUV_CHUNK ? end - x : SCIPIX_YUV_CHUNK;
        scipix_yuv_fast_planar(luma + x, u + (x / 2) * step, v + (x / 2) * step, step, count,
                               red, green, blue, m);
        if (bgr)
            scipix_yuv_interleave(blue, green, red, count, dst);
        else
            scipix_yuv_interleave(red, green, blue, count, dst);
        dst += 3 * count;
        x += count;
    }
}


/* Output pixels [x0, x0 + n) of the 2x2 average of two converted rows (fast
 * arithmetic, RGB): pixel x averages luma [2 x, 2 x + 2) of `top` and
 * `bottom`, whose chroma is the one sample x (`u`, `v` from sample 0), each
 * channel rounded as (a + b + c + d + 2) >> 2: the bytes of
 * scipix_yuv_fast_row's two rows averaged by scipix_area2x2_packed_row,
 * without storing the rows. */
static inline void scipix_yuv_fast_area2x2_row(const uint8_t *top, const uint8_t *bottom,
                                               const uint8_t *u, const uint8_t *v,
                                               ptrdiff_t step, ptrdiff_t x0, ptrdiff_t n,
                                               uint8_t *dst, const scipix_yuv_fast_matrix *m)
{
    ptrdiff_t x = x0, end = x0 + n;
    int c;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    if (step == 1 || (step == 2 && v == u + 1)) {
        const __m256i ys = _mm256_set1_epi16((short)m->y_scale),
                      offset = _mm256_set1_epi8((char)m->y_offset),
                      vr = _mm256_set1_epi16((short)m->v_red),
                      ug = _mm256_set1_epi16((short)m->u_green),
                      vg = _mm256_set1_epi16((short)m->v_green),
                      ub = _mm256_set1_epi16((short)m->u_blue);
        __m128i masks[9];
        for (c = 0; c < 9; c++)
            masks[c] = _mm_loadu_si128((const __m128i *)scipix_yuv_spread[c]);
        for (; x + 16 <= end; x += 16) {
            scipix_yuv_fast_area_step16(top + 2 * x, bottom + 2 * x, u + x * step, v + x * step,
                                        step == 2, dst, ys, offset, vr, ug, vg, ub, masks);
            dst += 48;
        }
    }
#endif
    for (; x < end; x++) {
        uint8_t rgb[4][3];
        scipix_yuv_fast_pixel(top[2 * x], u[x * step], v[x * step], rgb[0], m);
        scipix_yuv_fast_pixel(top[2 * x + 1], u[x * step], v[x * step], rgb[1], m);
        scipix_yuv_fast_pixel(bottom[2 * x], u[x * step], v[x * step], rgb[2], m);
        scipix_yuv_fast_pixel(bottom[2 * x + 1], u[x * step], v[x * step], rgb[3], m);
        for (c = 0; c < 3; c++)
            dst[c] = (uint8_t)((rgb[0][c] + rgb[1][c] + rgb[2][c] + rgb[3][c] + 2) >> 2);
        dst += 3;
    }
}

#endif
