/* Antialiased resampling in Pillow's fixed-point arithmetic.
 *
 * Pillow's Image.resize (src/libImaging/Resample.c) is separable: each
 * output pixel of a pass is a weighted sum of the input pixels under a
 * filter widened by the scale factor when shrinking; the weights of each
 * output pixel are normalized in double, then rounded to fixed point
 * (`shift` fractional bits, 22 in Pillow), the sums are taken in 32-bit
 * integers and rounded back to 8 bits after each pass (Pillow 13 runs the
 * vertical pass first when the height shrinks by more than twice the
 * width's pixels, the horizontal pass first otherwise).  The
 * arithmetic is exact in integers, so summing in any order, or in vectors,
 * gives Pillow's bytes.  torch's uint8 antialiased interpolation is the
 * same scheme with its own weights and precision (built in Python).
 *
 * A pass's taps are described by `scipix_rs_taps`: for output pixel i,
 * first[i] is the first input pixel, count[i] how many follow and
 * coeffs[i * ksize + t] their fixed-point weights (zero past count[i]).
 *
 * The vector kernels sum in 32-bit lanes (uint32: wrapping, so that the
 * intermediate sums of a long filter may wrap while the final sum, which
 * fits in 32 bits as Pillow's does, comes out exact).
 */
#ifndef SCIPIX_RESAMPLE_H
#define SCIPIX_RESAMPLE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "scipix_vector.h"

enum {
    SCIPIX_RS_BOX = 1,
    SCIPIX_RS_BILINEAR = 2,
    SCIPIX_RS_HAMMING = 3,
    SCIPIX_RS_BICUBIC = 4,
    SCIPIX_RS_LANCZOS = 5,
    SCIPIX_RS_MKS2013 = 6,
    SCIPIX_RS_MKS2021 = 7
};

/* One pass's taps (see above); `shift` is the weights' fractional bits. */
typedef struct {
    const int32_t *first, *count, *coeffs;
    ptrdiff_t ksize;
    int shift;
} scipix_rs_pass;

/* ---- Pillow's filters and weights (Resample.c, verbatim arithmetic) ---- */

static inline double scipix_rs_filter(int filter, double x)
{
    switch (filter) {
    case SCIPIX_RS_BOX:
        return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
    case SCIPIX_RS_BILINEAR:
        if (x < 0.0)
            x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    case SCIPIX_RS_HAMMING:
        if (x < 0.0)
            x = -x;
        if (x == 0.0)
            return 1.0;
        if (x >= 1.0)
            return 0.0;
        x = x * M_PI;
        /* Pillow's float constants, promoted to double. */
        return sin(x) / x * (0.54f + 0.46f * cos(x));
    case SCIPIX_RS_BICUBIC:
        if (x < 0.0)
            x = -x;
        if (x < 1.0)
            return ((-0.5 + 2.0) * x - (-0.5 + 3.0)) * x * x + 1;
        if (x < 2.0)
            return (((x - 5) * x + 8) * x - 4) * -0.5;
        return 0.0;
    case SCIPIX_RS_LANCZOS:
        if (-3.0 <= x && x < 3.0) {
            double a = x == 0.0 ? 1.0 : sin(x * M_PI) / (x * M_PI);
            double b = x / 3 == 0.0 ? 1.0 : sin(x / 3 * M_PI) / (x / 3 * M_PI);
            return a * b;
        }
        return 0.0;
    case SCIPIX_RS_MKS2013:
        if (x < 0)
            x = -x;
        if (x < 0.5)
            return 17.0 / 16.0 - 7.0 / 4.0 * pow(x, 2);
        if (x < 1.5)
            return (1.0 - x) * (7.0 / 4.0 - x);
        if (x < 2.5)
            return -1.0 / 8.0 * pow(x - 5.0 / 2.0, 2);
        return 0.0;
    case SCIPIX_RS_MKS2021:
        if (x < 0)
            x = -x;
        if (x < 0.5)
            return 577.0 / 576.0 - 239.0 / 144.0 * pow(x, 2);
        if (x < 1.5)
            return 35.0 / 36.0 * (x - 1.0) * (x - 239.0 / 140.0);
        if (x < 2.5)
            return 1.0 / 6.0 * (x - 2.0) * (65.0 / 24.0 - x);
        if (x < 3.5)
            return 1.0 / 36.0 * (x - 3.0) * (x - 15.0 / 4.0);
        if (x < 4.5)
            return -1.0 / 288.0 * pow(x - 9.0 / 2.0, 2);
        return 0.0;
    }
    return 0.0;
}

static inline double scipix_rs_support(int filter)
{
    switch (filter) {
    case SCIPIX_RS_BOX:
        return 0.5;
    case SCIPIX_RS_BICUBIC:
        return 2.0;
    case SCIPIX_RS_LANCZOS:
        return 3.0;
    case SCIPIX_RS_MKS2013:
        return 2.5;
    case SCIPIX_RS_MKS2021:
        return 4.5;
    }
    return 1.0;
}

/* Pillow's coefficient row length for `out_size` outputs over [in0, in1):
 * the stride of the coefficient table.  -1 when it passes `limit`. */
static inline ptrdiff_t scipix_rs_pillow_ksize(float in0, float in1, ptrdiff_t out_size,
                                               int filter, double limit)
{
    double filterscale = (double)(in1 - in0) / out_size;
    double support;
    if (filterscale < 1.0)
        filterscale = 1.0;
    support = scipix_rs_support(filter) * filterscale;
    if (ceil(support) * 2 + 1 > limit)
        return -1;
    return (ptrdiff_t)ceil(support) * 2 + 1;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc: first/count/coeffs
 * of `out_size` outputs over the input span [in0, in1) of `in_size`
 * pixels; `weights` is scratch of ksize doubles. */
static inline void scipix_rs_pillow_taps(ptrdiff_t in_size, float in0, float in1,
                                         ptrdiff_t out_size, int filter, ptrdiff_t ksize,
                                         int shift, int32_t *first, int32_t *count,
                                         int32_t *coeffs, double *weights)
{
    double scale = (double)(in1 - in0) / out_size, filterscale = scale;
    double support, inv_filterscale;
    ptrdiff_t xx, x;
    if (filterscale < 1.0)
        filterscale = 1.0;
    support = scipix_rs_support(filter) * filterscale;
    inv_filterscale = 1.0 / filterscale;
    for (xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        int32_t *k = coeffs + xx * ksize;
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = (int)in_size;
        xmax -= xmin;
        for (x = 0; x < xmax; x++) {
            double w = scipix_rs_filter(filter, (x + xmin - center + 0.5) * inv_filterscale);
            weights[x] = w;
            ww += w;
        }
        if (ww != 0.0)
            for (x = 0; x < xmax; x++)
                weights[x] /= ww;
        for (x = 0; x < ksize; x++) {
            double w = x < xmax ? weights[x] : 0.0;
            k[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << shift))
                         : (int32_t)(0.5 + w * (1 << shift));
        }
        first[xx] = xmin;
        count[xx] = xmax;
    }
}

/* ---- Premultiplied alpha, as Pillow's RGBA <-> RGBa conversions ---- */

/* rgbA2rgba / lA2la: (v * a + 128) / 255 by shifts; alpha is the last of
 * `channels`. */
static inline void scipix_rs_premultiply(const uint8_t *src, uint8_t *dst, ptrdiff_t pixels,
                                         int channels)
{
    ptrdiff_t i;
    int c;
    for (i = 0; i < pixels; i++) {
        const uint32_t alpha = src[i * channels + channels - 1];
        for (c = 0; c < channels - 1; c++) {
            const uint32_t t = src[i * channels + c] * alpha + 128;
            dst[i * channels + c] = (uint8_t)(((t >> 8) + t) >> 8);
        }
        dst[i * channels + channels - 1] = (uint8_t)alpha;
    }
}

/* rgba2rgbA / la2lA in place: 255 * v / a (integer division, clipped),
 * read from `table` (256 alphas x 256 values, scipix_rs_unpremultiply_table). */
static inline void scipix_rs_unpremultiply(uint8_t *row, ptrdiff_t pixels, int channels,
                                           const uint8_t *table)
{
    ptrdiff_t i;
    int c;
    for (i = 0; i < pixels; i++) {
        const uint8_t *divided = table + 256 * row[i * channels + channels - 1];
        for (c = 0; c < channels - 1; c++)
            row[i * channels + c] = divided[row[i * channels + c]];
    }
}

static inline void scipix_rs_unpremultiply_table(uint8_t *table)
{
    int alpha, v;
    for (alpha = 0; alpha < 256; alpha++)
        for (v = 0; v < 256; v++) {
            int divided = (alpha == 0 || alpha == 255) ? v : 255 * v / alpha;
            table[alpha * 256 + v] = (uint8_t)(divided > 255 ? 255 : divided);
        }
}

/* ---- The passes ---- */

/* A fixed-point sum as Pillow's clip8: arithmetic shift, clamp to 0..255. */
static inline uint8_t scipix_rs_clip8(uint32_t sum, int shift)
{
    const int32_t level = (int32_t)sum >> shift;
    return (uint8_t)(level < 0 ? 0 : level > 255 ? 255 : level);
}

/* One output pixel of the horizontal pass, the plain loop. */
static inline void scipix_rs_hpixel_plain(const uint8_t *in, const int32_t *k, int32_t n,
                                          int channels, int shift, uint8_t *out)
{
    int c, x;
    for (c = 0; c < channels; c++) {
        uint32_t sum = 1u << (shift - 1);
        for (x = 0; x < n; x++)
            sum += (uint32_t)in[x * channels + c] * (uint32_t)k[x];
        out[c] = scipix_rs_clip8(sum, shift);
    }
}

#if !defined(SCIPIX_SCALAR_REFERENCE)
#define SCIPIX_RS_LANES (SCIPIX_VEC_BYTES / 4)
typedef uint32_t scipix_rs_u32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
typedef int32_t scipix_rs_i32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));

/* Lanes a pixel's channels take in the horizontal pass's vectors: RGB is
 * spread to four (the fourth weighted 0), so that a vector holds whole
 * pixels. */
#define SCIPIX_RS_SLOT(channels) ((channels) == 3 ? 4 : (channels))

/* SCIPIX_RS_LANES bytes at p, each widened to a 32-bit lane.  Written per
 * instruction set: GCC lowers __builtin_convertvector of a loaded byte
 * vector to byte-by-byte inserts. */
static inline scipix_rs_u32v scipix_rs_widen(const uint8_t *p)
{
#if SCIPIX_RS_LANES == 16
    return (scipix_rs_u32v)_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
#elif SCIPIX_RS_LANES == 8 && defined(__AVX2__)
    return (scipix_rs_u32v)_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
#else
    uint32_t word;
    memcpy(&word, p, sizeof word);
#if defined(__SSE4_1__)
    return (scipix_rs_u32v)_mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)word));
#elif defined(__SSE2__)
    {
        const __m128i zero = _mm_setzero_si128();
        return (scipix_rs_u32v)_mm_unpacklo_epi16(
            _mm_unpacklo_epi8(_mm_cvtsi32_si128((int)word), zero), zero);
    }
#elif defined(__ARM_NEON)
    return (scipix_rs_u32v)vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(
        vdup_n_u32(word)))));
#else
    {
        scipix_rs_u32v lanes;
        int i;
        for (i = 0; i < SCIPIX_RS_LANES; i++)
            lanes[i] = p[i];
        return lanes;
    }
#endif
#endif
}

/* Stores SCIPIX_RS_LANES levels, clamped to 0..255, as bytes at out (the
 * levels lie within 16 bits: a saturating pack clamps them). */
static inline void scipix_rs_store_levels(uint8_t *out, scipix_rs_i32v level)
{
#if SCIPIX_RS_LANES == 16
    const __m512i clamped = _mm512_min_epi32(_mm512_max_epi32((__m512i)level,
        _mm512_setzero_si512()), _mm512_set1_epi32(255));
    _mm_storeu_si128((__m128i *)out, _mm512_cvtepi32_epi8(clamped));
#elif SCIPIX_RS_LANES == 8 && defined(__AVX2__)
    const __m256i words = _mm256_packs_epi32((__m256i)level, (__m256i)level);
    const __m256i bytes = _mm256_packus_epi16(words, words);
    const uint32_t low = (uint32_t)_mm256_extract_epi32(bytes, 0);
    const uint32_t high = (uint32_t)_mm256_extract_epi32(bytes, 4);
    memcpy(out, &low, 4);
    memcpy(out + 4, &high, 4);
#elif defined(__SSE2__)
    const __m128i words = _mm_packs_epi32((__m128i)level, (__m128i)level);
    const uint32_t bytes = (uint32_t)_mm_cvtsi128_si32(_mm_packus_epi16(words, words));
    memcpy(out, &bytes, 4);
#elif defined(__ARM_NEON)
    const uint16x4_t words = vqmovun_s32((int32x4_t)level);
    const uint8x8_t bytes = vqmovn_u16(vcombine_u16(words, words));
    vst1_lane_u32((uint32_t *)(void *)out, vreinterpret_u32_u8(bytes), 0);
#else
    int i;
    for (i = 0; i < SCIPIX_RS_LANES; i++)
        out[i] = (uint8_t)(level[i] < 0 ? 0 : level[i] > 255 ? 255 : level[i]);
#endif
}

#if SCIPIX_RS_LANES < 16   /* AVX-512 reduces in 128-bit lanes instead (below) */
/* Lanes of RGB pixels (widened bytes) spread to 4 each; one permute. */
#if SCIPIX_RS_LANES == 8
#define SCIPIX_RS_SPREAD3(v) __builtin_shufflevector(v, v, 0, 1, 2, 0, 3, 4, 5, 0)
#else
#define SCIPIX_RS_SPREAD3(v) __builtin_shufflevector(v, v, 0, 1, 2, 0)
#endif

/* Adds the upper half of a vector's lanes onto the lower half, `width`
 * lanes at a time (the other lanes are left undefined). */
static inline scipix_rs_u32v scipix_rs_fold(scipix_rs_u32v v, int width)
{
#if SCIPIX_RS_LANES == 8
    if (width == 4)
        return v + __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7);
    if (width == 2)
        return v + __builtin_shufflevector(v, v, 2, 3, 2, 3, 4, 5, 6, 7);
    return v + __builtin_shufflevector(v, v, 1, 1, 2, 3, 4, 5, 6, 7);
#else
    if (width == 2)
        return v + __builtin_shufflevector(v, v, 2, 3, 2, 3);
    return v + __builtin_shufflevector(v, v, 1, 1, 2, 3);
#endif
}
#endif

/* The horizontal pass takes its taps a group at a time.  On AVX-512 (with
 * VNNI) and on ARMv8.2 with the dot product a group is 16 bytes of a row, 4
 * taps of each channel per 32-bit lane, multiplied by bytes with vpdpbusd
 * (sdot: signed bytes, so the pixels are read as x - 128 and 128 times the
 * weights' sum added back): each 32-bit weight is written as
 * three signed bytes (base 256; Pillow's weights stay below 2 ** 23 in
 * magnitude: they are normalized, their sum is 2 ** 22), summed apart and
 * joined at the end; the 4 rows of a block take the 4 128-bit lanes, so
 * each lane ends holding its own row's sums.  On AVX2 a group is pairs of
 * taps in 16-bit lanes, multiplied and summed pairwise (vpmaddwd, or
 * AVX-VNNI's vpdpwssd) with each weight split in two 16-bit halves, low 15
 * bits and the rest.  Either way the sums are Pillow's 32-bit products,
 * exactly.  Elsewhere a group is whole pixels widened to 32-bit lanes,
 * multiplied by 32-bit weights.  32-bit lane m of a group's sum holds
 * channel m % slot. */
#if SCIPIX_RS_LANES == 16 || defined(__ARM_FEATURE_DOTPROD)
#define SCIPIX_RS_DIGITS 1
#define SCIPIX_RS_GROUP_WORDS 12   /* weights: 3 digits x 4 lanes of 4 taps */
#define SCIPIX_RS_GROUP_BYTES 16
#define SCIPIX_RS_GROUP_TAPS(channels) (16 / SCIPIX_RS_SLOT(channels))
#elif defined(__AVX2__)
#define SCIPIX_RS_MADD 1
#define SCIPIX_RS_GROUP_WORDS (2 * SCIPIX_RS_LANES)   /* weights: low halves, high halves */
#define SCIPIX_RS_GROUP_BYTES 16   /* bytes a group reads */
#define SCIPIX_RS_GROUP_TAPS(channels) (2 * SCIPIX_RS_LANES / SCIPIX_RS_SLOT(channels))
#else
#define SCIPIX_RS_GROUP_WORDS SCIPIX_RS_LANES
#define SCIPIX_RS_GROUP_BYTES SCIPIX_RS_LANES
#define SCIPIX_RS_GROUP_TAPS(channels) (SCIPIX_RS_LANES / SCIPIX_RS_SLOT(channels))
#endif
/* Bits of a weight's low half. */
#define SCIPIX_RS_LOW_BITS 15

#if defined(SCIPIX_RS_DIGITS)
/* Four weights as three words of signed-byte digits (base 256, least
 * significant first): byte j of word e is digit e of weights[j]. */
static inline void scipix_rs_digit_words(const int32_t *weights, uint32_t *words)
{
    int j, e;
    words[0] = words[1] = words[2] = 0;
    for (j = 0; j < 4; j++) {
        int32_t weight = weights[j];
        for (e = 0; e < 3; e++) {
            const int32_t digit = ((weight + 128) & 255) - 128;
            words[e] |= (uint32_t)(uint8_t)(int8_t)digit << (8 * j);
            weight = (weight - digit) / 256;
        }
    }
}
#endif

static inline ptrdiff_t scipix_rs_groups(ptrdiff_t ksize, int channels)
{
    const ptrdiff_t taps = SCIPIX_RS_GROUP_TAPS(channels);
    return (ksize + taps - 1) / taps;
}

/* The horizontal weights of each output laid out as its groups read them:
 * out_size * groups * SCIPIX_RS_GROUP_WORDS words. */
static inline void scipix_rs_spread_weights(const int32_t *coeffs, const int32_t *count,
                                            ptrdiff_t out_size, ptrdiff_t ksize,
                                            int channels, uint32_t *spread)
{
    const int slot = SCIPIX_RS_SLOT(channels);
    const ptrdiff_t groups = scipix_rs_groups(ksize, channels);
    const ptrdiff_t group_taps = SCIPIX_RS_GROUP_TAPS(channels);
    ptrdiff_t i, g, m;
    for (i = 0; i < out_size; i++)
        for (g = 0; g < groups; g++) {
            uint32_t *dst = spread + (i * groups + g) * SCIPIX_RS_GROUP_WORDS;
#if defined(SCIPIX_RS_DIGITS)
            /* Word 4e + m: digit e of taps 4 (m / slot) .. + 3, for channel
             * m % slot (0 past the channels). */
            for (m = 0; m < 4; m++) {
                int32_t four[4];
                uint32_t digits[3];
                int j;
                for (j = 0; j < 4; j++) {
                    const ptrdiff_t tap = g * group_taps + 4 * (m / slot) + j;
                    four[j] = (m % slot < channels && tap < count[i])
                        ? coeffs[i * ksize + tap] : 0;
                }
                scipix_rs_digit_words(four, digits);
                dst[m] = digits[0];
                dst[4 + m] = digits[1];
                dst[8 + m] = digits[2];
            }
#else
            for (m = 0; m < SCIPIX_RS_LANES; m++) {
#if defined(SCIPIX_RS_MADD)
                /* Lane m: taps 2q and 2q + 1 of channel c, as 16-bit pairs. */
                const ptrdiff_t q = m / slot, c = m % slot;
                uint16_t low[2], high[2];
                int e;
                for (e = 0; e < 2; e++) {
                    const ptrdiff_t tap = g * group_taps + 2 * q + e;
                    const int32_t k = (c < channels && tap < count[i])
                        ? coeffs[i * ksize + tap] : 0;
                    low[e] = (uint16_t)(k & ((1 << SCIPIX_RS_LOW_BITS) - 1));
                    high[e] = (uint16_t)(k >> SCIPIX_RS_LOW_BITS);
                }
                dst[m] = low[0] | (uint32_t)low[1] << 16;
                dst[SCIPIX_RS_LANES + m] = high[0] | (uint32_t)high[1] << 16;
#else
                const ptrdiff_t tap = g * group_taps + m / slot;
                dst[m] = (m % slot < channels && tap < count[i])
                    ? (uint32_t)coeffs[i * ksize + tap] : 0u;
#endif
            }
#endif
        }
}

#if defined(SCIPIX_RS_MADD)
typedef __m256i scipix_rs_pairs;
/* vpshufb within each 128-bit half of the 16 bytes loaded twice: byte
 * (2q + e) * channels + c into 16-bit lane 2m + e's low byte, 0 (0x80)
 * into its high byte and RGB's fourth channel. */
static const uint8_t scipix_rs_pair_index[4][32] = {
    {0, 128, 1, 128, 2, 128, 3, 128, 4, 128, 5, 128, 6, 128, 7, 128, 8, 128, 9, 128, 10, 128,
     11, 128, 12, 128, 13, 128, 14, 128, 15, 128},
    {0, 128, 2, 128, 1, 128, 3, 128, 4, 128, 6, 128, 5, 128, 7, 128, 8, 128, 10, 128, 9, 128,
     11, 128, 12, 128, 14, 128, 13, 128, 15, 128},
    {0, 128, 3, 128, 1, 128, 4, 128, 2, 128, 5, 128, 128, 128, 128, 128, 6, 128, 9, 128, 7,
     128, 10, 128, 8, 128, 11, 128, 128, 128, 128, 128},
    {0, 128, 4, 128, 1, 128, 5, 128, 2, 128, 6, 128, 3, 128, 7, 128, 8, 128, 12, 128, 9, 128,
     13, 128, 10, 128, 14, 128, 11, 128, 15, 128}};

static inline __attribute__((always_inline)) scipix_rs_pairs
scipix_rs_load_pairs(const uint8_t *p, const int channels)
{
    return _mm256_shuffle_epi8(
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p)),
        _mm256_loadu_si256((const __m256i *)scipix_rs_pair_index[channels - 1]));
}

static inline __m256i scipix_rs_madd(__m256i sum, scipix_rs_pairs pixels, const uint32_t *w)
{
    const __m256i weights = _mm256_loadu_si256((const __m256i *)w);
#if defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(sum, pixels, weights);
#else
    return _mm256_add_epi32(sum, _mm256_madd_epi16(pixels, weights));
#endif
}
#endif

/* Adds lanes j + width onto lanes j within each group of 4. */
static inline scipix_rs_u32v scipix_rs_fold4(scipix_rs_u32v v, int width)
{
#if SCIPIX_RS_LANES == 16
    if (width == 2)
        return v + __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9,
                                           14, 15, 12, 13);
    return v + __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10,
                                       13, 12, 15, 14);
#elif SCIPIX_RS_LANES == 8
    if (width == 2)
        return v + __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5);
    return v + __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6);
#else
    if (width == 2)
        return v + __builtin_shufflevector(v, v, 2, 3, 0, 1);
    return v + __builtin_shufflevector(v, v, 1, 0, 3, 2);
#endif
}

/* 4 rows' sums of one output pixel (`totals`: 16 / SCIPIX_RS_LANES
 * vectors, row i's channel c summed over lanes 4 i + c mod 4 of its
 * 128-bit lane) folded, rounded and stored at byte `at` of each row; with
 * `spill` the pixel may write a byte past itself (it is not the row's
 * last). */
static inline __attribute__((always_inline)) void
scipix_rs_store4(const scipix_rs_u32v *totals, const int channels, scipix_rs_u32v half,
                 int shift, uint8_t *const *out, ptrdiff_t at, int spill)
{
    const int slot = SCIPIX_RS_SLOT(channels);
    uint8_t levels[64];
    int i, width, block;
    for (block = 0; block < 16 / SCIPIX_RS_LANES; block++) {
        scipix_rs_u32v total = totals[block];
        for (width = 2; width >= slot; width /= 2)
            total = scipix_rs_fold4(total, width);
        scipix_rs_store_levels(levels + block * SCIPIX_RS_LANES,
                               (scipix_rs_i32v)(total + half) >> shift);
    }
    /* RGB: 4 bytes a pixel, the fourth overwritten by the next pixel (sizes
     * known at compile time: a store each, not a byte loop). */
    if (spill && slot == 4)
        for (i = 0; i < 4; i++)
            memcpy(out[i] + at, levels + 4 * i, 4);
    else
        for (i = 0; i < 4; i++)
            memcpy(out[i] + at, levels + 4 * i, (size_t)channels);
}

#if defined(SCIPIX_RS_DIGITS)
/* vpshufb within a 128-bit lane: 32-bit lane d takes 4 taps of channel
 * d % slot, taps 4 (d / slot) .. + 3 of the group (0x80: zero, RGB's
 * fourth lane). */
static const uint8_t scipix_rs_digit_index[4][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15},
    {0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11, 128, 128, 128, 128},
    {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15}};

#if SCIPIX_RS_LANES == 16
/* A group's 16 bytes at p, arranged per 32-bit lane as above. */
static inline __attribute__((always_inline)) __m128i
scipix_rs_group_bytes(const uint8_t *p, const int channels)
{
    const __m128i bytes = _mm_loadu_si128((const __m128i *)p);
    if (channels == 1)
        return bytes;
    return _mm_shuffle_epi8(bytes, _mm_loadu_si128(
        (const __m128i *)scipix_rs_digit_index[channels - 1]));
}

/* The same group of 4 rows, row i in 128-bit lane i. */
static inline __attribute__((always_inline)) __m512i
scipix_rs_group_bytes4(const uint8_t *const *in, ptrdiff_t byte, const int channels)
{
    __m512i bytes = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(in[0] + byte)));
    bytes = _mm512_inserti32x4(bytes, _mm_loadu_si128((const __m128i *)(in[1] + byte)), 1);
    bytes = _mm512_inserti32x4(bytes, _mm_loadu_si128((const __m128i *)(in[2] + byte)), 2);
    bytes = _mm512_inserti32x4(bytes, _mm_loadu_si128((const __m128i *)(in[3] + byte)), 3);
    if (channels == 1)
        return bytes;
    return _mm512_shuffle_epi8(bytes, _mm512_broadcast_i32x4(_mm_loadu_si128(
        (const __m128i *)scipix_rs_digit_index[channels - 1])));
}

/* One output pixel of the horizontal pass, a group of taps at a time;
 * `in` is the first tap's pixel.  The caller guarantees the last group's
 * load stays inside the row. */
static inline __attribute__((always_inline)) void
scipix_rs_hpixel_vector(const uint8_t *in, const uint32_t *weights, ptrdiff_t groups,
                        const int channels, int shift, uint8_t *out)
{
    const int slot = SCIPIX_RS_SLOT(channels);
    const ptrdiff_t step = SCIPIX_RS_GROUP_TAPS(channels) * channels;
    __m128i digit0 = _mm_setzero_si128(), digit1 = digit0, digit2 = digit0, sum;
    uint32_t sums[4];
    ptrdiff_t g;
    int c;
    for (g = 0; g < groups; g++) {
        const __m128i bytes = scipix_rs_group_bytes(in + g * step, channels);
        const uint32_t *w = weights + g * SCIPIX_RS_GROUP_WORDS;
        digit0 = _mm_dpbusd_epi32(digit0, bytes, _mm_loadu_si128((const __m128i *)w));
        digit1 = _mm_dpbusd_epi32(digit1, bytes, _mm_loadu_si128((const __m128i *)(w + 4)));
        digit2 = _mm_dpbusd_epi32(digit2, bytes, _mm_loadu_si128((const __m128i *)(w + 8)));
    }
    sum = _mm_add_epi32(digit0, _mm_add_epi32(_mm_slli_epi32(digit1, 8),
                                              _mm_slli_epi32(digit2, 16)));
    if (slot <= 2)
        sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0x4e));   /* lanes 2, 3, 0, 1 */
    if (slot == 1)
        sum = _mm_add_epi32(sum, _mm_shuffle_epi32(sum, 0xb1));   /* lanes 1, 0, 3, 2 */
    _mm_storeu_si128((__m128i *)sums, sum);
    for (c = 0; c < channels; c++)
        out[c] = scipix_rs_clip8(sums[c] + (1u << (shift - 1)), shift);
}

/* One output pixel of the horizontal pass in 4 rows at once, one row per
 * 128-bit lane: the weights are loaded once for the 4 rows, and each lane
 * ends holding its row's sums (no reduction across lanes).  `offset` is
 * the first tap's byte in each row. */
static inline __attribute__((always_inline)) void
scipix_rs_hpixel_vector4(const uint8_t *const *in, ptrdiff_t offset, const uint32_t *weights,
                         ptrdiff_t groups, const int channels, scipix_rs_u32v half, int shift,
                         uint8_t *const *out, ptrdiff_t at, int spill)
{
    const ptrdiff_t step = SCIPIX_RS_GROUP_TAPS(channels) * channels;
    __m512i digit0 = _mm512_setzero_si512(), digit1 = digit0, digit2 = digit0;
    scipix_rs_u32v total;
    ptrdiff_t g;
    for (g = 0; g < groups; g++) {
        const __m512i bytes = scipix_rs_group_bytes4(in, offset + g * step, channels);
        const uint32_t *w = weights + g * SCIPIX_RS_GROUP_WORDS;
        if (channels >= 3) {
            /* Every channel's lane has the same 4 taps: one 32-bit word
             * broadcast (vpdpbusd's embedded broadcast) per digit. */
            digit0 = _mm512_dpbusd_epi32(digit0, bytes, _mm512_set1_epi32((int)w[0]));
            digit1 = _mm512_dpbusd_epi32(digit1, bytes, _mm512_set1_epi32((int)w[4]));
            digit2 = _mm512_dpbusd_epi32(digit2, bytes, _mm512_set1_epi32((int)w[8]));
        } else {
            digit0 = _mm512_dpbusd_epi32(digit0, bytes, _mm512_broadcast_i32x4(
                _mm_loadu_si128((const __m128i *)w)));
            digit1 = _mm512_dpbusd_epi32(digit1, bytes, _mm512_broadcast_i32x4(
                _mm_loadu_si128((const __m128i *)(w + 4))));
            digit2 = _mm512_dpbusd_epi32(digit2, bytes, _mm512_broadcast_i32x4(
                _mm_loadu_si128((const __m128i *)(w + 8))));
        }
    }
    total = (scipix_rs_u32v)_mm512_add_epi32(digit0, _mm512_add_epi32(
        _mm512_slli_epi32(digit1, 8), _mm512_slli_epi32(digit2, 16)));
    scipix_rs_store4(&total, channels, half, shift, out, at, spill);
}
#else
/* A group's 16 bytes at p, arranged per 32-bit lane as above, as signed
 * bytes x - 128 (sdot multiplies signed bytes). */
static inline __attribute__((always_inline)) int8x16_t
scipix_rs_group_bytes(const uint8_t *p, const int channels)
{
    uint8x16_t bytes = vld1q_u8(p);
    if (channels != 1)   /* tbl gives 0 for index 128 */
        bytes = vqtbl1q_u8(bytes, vld1q_u8(scipix_rs_digit_index[channels - 1]));
    return vreinterpretq_s8_u8(veorq_u8(bytes, vdupq_n_u8(0x80)));
}

/* A row's sums from its digit sums and the weights' own digit sums (the
 * correction for reading x as x - 128: 128 times the weights' sum). */
static inline __attribute__((always_inline)) scipix_rs_u32v
scipix_rs_dot_total(const int32x4_t *digit, const int32x4_t *weights)
{
    const int32x4_t sum = vaddq_s32(digit[0], vaddq_s32(vshlq_n_s32(digit[1], 8),
                                                       vshlq_n_s32(digit[2], 16)));
    const int32x4_t weight = vaddq_s32(weights[0], vaddq_s32(vshlq_n_s32(weights[1], 8),
                                                             vshlq_n_s32(weights[2], 16)));
    return (scipix_rs_u32v)vaddq_s32(sum, vshlq_n_s32(weight, 7));
}

/* The three weight-digit vectors of one group, and their sums into w_sums. */
static inline __attribute__((always_inline)) void
scipix_rs_group_weights(const uint32_t *w, int8x16_t *digits, int32x4_t *w_sums)
{
    const int8x16_t ones = vdupq_n_s8(1);
    int e;
    for (e = 0; e < 3; e++) {
        digits[e] = vreinterpretq_s8_u32(vld1q_u32(w + 4 * e));
        w_sums[e] = vdotq_s32(w_sums[e], ones, digits[e]);
    }
}

static inline __attribute__((always_inline)) void
scipix_rs_hpixel_vector(const uint8_t *in, const uint32_t *weights, ptrdiff_t groups,
                        const int channels, int shift, uint8_t *out)
{
    const int slot = SCIPIX_RS_SLOT(channels);
    const ptrdiff_t step = SCIPIX_RS_GROUP_TAPS(channels) * channels;
    int32x4_t digit[3] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    int32x4_t w_sums[3] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    scipix_rs_u32v sum;
    ptrdiff_t g;
    int c, e, width;
    for (g = 0; g < groups; g++) {
        const int8x16_t bytes = scipix_rs_group_bytes(in + g * step, channels);
        int8x16_t w[3];
        scipix_rs_group_weights(weights + g * SCIPIX_RS_GROUP_WORDS, w, w_sums);
        for (e = 0; e < 3; e++)
            digit[e] = vdotq_s32(digit[e], bytes, w[e]);
    }
    sum = scipix_rs_dot_total(digit, w_sums);
    for (width = 2; width >= slot; width /= 2)
        sum = scipix_rs_fold4(sum, width);
    for (c = 0; c < channels; c++)
        out[c] = scipix_rs_clip8(sum[c] + (1u << (shift - 1)), shift);
}

static inline __attribute__((always_inline)) void
scipix_rs_hpixel_vector4(const uint8_t *const *in, ptrdiff_t offset, const uint32_t *weights,
                         ptrdiff_t groups, const int channels, scipix_rs_u32v half, int shift,
                         uint8_t *const *out, ptrdiff_t at, int spill)
{
    const ptrdiff_t step = SCIPIX_RS_GROUP_TAPS(channels) * channels;
    int32x4_t digit[4][3], w_sums[3] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    scipix_rs_u32v totals[4];
    ptrdiff_t g;
    int r, e;
    for (r = 0; r < 4; r++)
        for (e = 0; e < 3; e++)
            digit[r][e] = vdupq_n_s32(0);
    for (g = 0; g < groups; g++) {
        int8x16_t w[3];
        scipix_rs_group_weights(weights + g * SCIPIX_RS_GROUP_WORDS, w, w_sums);
        for (r = 0; r < 4; r++) {
            const int8x16_t bytes = scipix_rs_group_bytes(in[r] + offset + g * step, channels);
            for (e = 0; e < 3; e++)
                digit[r][e] = vdotq_s32(digit[r][e], bytes, w[e]);
        }
    }
    for (r = 0; r < 4; r++)
        totals[r] = scipix_rs_dot_total(digit[r], w_sums);
    scipix_rs_store4(totals, channels, half, shift, out, at, spill);
}
#endif
#else
/* A group's sum: (low, high) halves' sums of products (vpmaddwd builds),
 * or products of whole weights (others, `high` unused). */
typedef struct {
    scipix_rs_u32v low, high;
} scipix_rs_sum;

static inline __attribute__((always_inline)) void
scipix_rs_accumulate(scipix_rs_sum *sum, const uint8_t *p, const uint32_t *w,
                     const int channels)
{
#if defined(SCIPIX_RS_MADD)
    const scipix_rs_pairs pixels = scipix_rs_load_pairs(p, channels);
    sum->low = (scipix_rs_u32v)scipix_rs_madd((scipix_rs_pairs)sum->low, pixels, w);
    sum->high = (scipix_rs_u32v)scipix_rs_madd((scipix_rs_pairs)sum->high, pixels,
                                               w + SCIPIX_RS_LANES);
#else
    scipix_rs_u32v pixels = scipix_rs_widen(p), weights;
    if (channels == 3)
        pixels = SCIPIX_RS_SPREAD3(pixels);
    memcpy(&weights, w, sizeof weights);
    sum->low += pixels * weights;
#endif
}

/* The 32-bit sums of a group sum (wrapping: exact once the true sum fits). */
static inline scipix_rs_u32v scipix_rs_total(scipix_rs_sum sum)
{
#if defined(SCIPIX_RS_MADD)
    return (sum.high << SCIPIX_RS_LOW_BITS) + sum.low;
#else
    return sum.low;
#endif
}

/* One output pixel of the horizontal pass, a group of taps at a time;
 * `in` is the first tap's pixel.  The caller guarantees the last group's
 * load stays inside the row. */
static inline __attribute__((always_inline)) void
scipix_rs_hpixel_vector(const uint8_t *in, const uint32_t *weights, ptrdiff_t groups,
                        const int channels, int shift, uint8_t *out)
{
    const int slot = SCIPIX_RS_SLOT(channels);
    const ptrdiff_t step = SCIPIX_RS_GROUP_TAPS(channels) * channels;
    scipix_rs_sum sums = {{0}, {0}};
    scipix_rs_u32v sum;
    ptrdiff_t g;
    int width, c;
    for (g = 0; g < groups; g++)
        scipix_rs_accumulate(&sums, in + g * step, weights + g * SCIPIX_RS_GROUP_WORDS,
                             channels);
    sum = scipix_rs_total(sums);
    for (width = SCIPIX_RS_LANES / 2; width >= slot; width /= 2)
        sum = scipix_rs_fold(sum, width);
    for (c = 0; c < channels; c++)
        out[c] = scipix_rs_clip8(sum[c] + (1u << (shift - 1)), shift);
}

/* Sums of 4 rows' accumulators, 4 lanes a row: lane 4 * i + j of the
 * result vectors (SCIPIX_RS_LANES / 4 rows each) is the sum of row i's
 * lanes j, j + 4, j + 8, ... */
static inline void scipix_rs_combine4(scipix_rs_u32v a0, scipix_rs_u32v a1,
                                      scipix_rs_u32v a2, scipix_rs_u32v a3,
                                      scipix_rs_u32v *totals)
{
#if SCIPIX_RS_LANES == 8
    totals[0] = __builtin_shufflevector(a0, a1, 0, 1, 2, 3, 8, 9, 10, 11)
                + __builtin_shufflevector(a0, a1, 4, 5, 6, 7, 12, 13, 14, 15);
    totals[1] = __builtin_shufflevector(a2, a3, 0, 1, 2, 3, 8, 9, 10, 11)
                + __builtin_shufflevector(a2, a3, 4, 5, 6, 7, 12, 13, 14, 15);
#else
    totals[0] = a0;
    totals[1] = a1;
    totals[2] = a2;
    totals[3] = a3;
#endif
}

/* One output pixel of the horizontal pass in 4 rows at once: the weights
 * are loaded once for the 4 rows, and their sums are reduced and rounded
 * together.  `offset` is the first tap's byte in each row. */
static inline __attribute__((always_inline)) void
scipix_rs_hpixel_vector4(const uint8_t *const *in, ptrdiff_t offset, const uint32_t *weights,
                         ptrdiff_t groups, const int channels, scipix_rs_u32v half, int shift,
                         uint8_t *const *out, ptrdiff_t at, int spill)
{
    const ptrdiff_t step = SCIPIX_RS_GROUP_TAPS(channels) * channels;
    scipix_rs_sum sum0 = {{0}, {0}}, sum1 = sum0, sum2 = sum0, sum3 = sum0;
    scipix_rs_u32v totals[4];
    ptrdiff_t g;
    for (g = 0; g < groups; g++) {
        const ptrdiff_t byte = offset + g * step;
        const uint32_t *w = weights + g * SCIPIX_RS_GROUP_WORDS;
        scipix_rs_accumulate(&sum0, in[0] + byte, w, channels);
        scipix_rs_accumulate(&sum1, in[1] + byte, w, channels);
        scipix_rs_accumulate(&sum2, in[2] + byte, w, channels);
        scipix_rs_accumulate(&sum3, in[3] + byte, w, channels);
    }
    scipix_rs_combine4(scipix_rs_total(sum0), scipix_rs_total(sum1), scipix_rs_total(sum2),
                       scipix_rs_total(sum3), totals);
    scipix_rs_store4(totals, channels, half, shift, out, at, spill);
}
#endif
#endif

/* The horizontal pass over `rows` rows at once (1, or 4: their weights
 * loaded once and their sums reduced together) of `in_cols` pixels into
 * `out_cols`; the plain build takes each row and pixel in turn.  An output
 * whose last group would read past the row takes the plain loop. */
static inline __attribute__((always_inline)) void
scipix_rs_hrows_layout(const uint8_t *const *in, ptrdiff_t in_cols, uint8_t *const *out,
                       ptrdiff_t out_cols, const int32_t *first, const int32_t *count,
                       const int32_t *coeffs, ptrdiff_t ksize, const uint32_t *spread,
                       const int rows, const int channels, int shift)
{
    ptrdiff_t i;
    int r;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    const ptrdiff_t per_vector = SCIPIX_RS_GROUP_TAPS(channels);
    const ptrdiff_t groups = scipix_rs_groups(ksize, channels);
    const ptrdiff_t row_bytes = in_cols * channels;
    const scipix_rs_u32v half = (scipix_rs_u32v){0} + (1u << (shift - 1));
    /* Local copies (the pixel stores could alias the callers' arrays); a
     * single row is not read past. */
    const uint8_t *const rows_in[4] = {in[0], in[rows == 4], in[2 * (rows == 4)],
                                       in[3 * (rows == 4)]};
    uint8_t *const rows_out[4] = {out[0], out[rows == 4], out[2 * (rows == 4)],
                                  out[3 * (rows == 4)]};
    for (i = 0; i < out_cols; i++) {
        const ptrdiff_t used = (count[i] + per_vector - 1) / per_vector;
        const ptrdiff_t offset = (ptrdiff_t)first[i] * channels;
        const uint32_t *weights = spread + i * groups * SCIPIX_RS_GROUP_WORDS;
        if (used > 0 && offset + (used - 1) * per_vector * channels + SCIPIX_RS_GROUP_BYTES
                        <= row_bytes) {
            if (rows == 4)
                scipix_rs_hpixel_vector4(rows_in, offset, weights, used, channels, half, shift,
                                         rows_out, i * channels, i + 1 < out_cols);
            else
                scipix_rs_hpixel_vector(in[0] + offset, weights, used, channels, shift,
                                        out[0] + i * channels);
        } else {
            for (r = 0; r < rows; r++)
                scipix_rs_hpixel_plain(in[r] + offset, coeffs + i * ksize, count[i], channels,
                                       shift, out[r] + i * channels);
        }
    }
#else
    (void)in_cols;
    (void)spread;
    for (r = 0; r < rows; r++)
        for (i = 0; i < out_cols; i++)
            scipix_rs_hpixel_plain(in[r] + (ptrdiff_t)first[i] * channels, coeffs + i * ksize,
                                   count[i], channels, shift, out[r] + i * channels);
#endif
}

static inline void scipix_rs_hrows(const uint8_t *const *in, ptrdiff_t in_cols,
                                   uint8_t *const *out, ptrdiff_t out_cols,
                                   const scipix_rs_pass *h, const uint32_t *spread, int rows,
                                   int channels)
{
    /* Constant row and channel counts: each call is compiled for its layout. */
#define SCIPIX_RS_HROWS(ROWS, CHANNELS) scipix_rs_hrows_layout(in, in_cols, out, out_cols, \
    h->first, h->count, h->coeffs, h->ksize, spread, ROWS, CHANNELS, h->shift)
    switch (channels) {
    case 1:
        if (rows == 4) SCIPIX_RS_HROWS(4, 1); else SCIPIX_RS_HROWS(1, 1);
        break;
    case 2:
        if (rows == 4) SCIPIX_RS_HROWS(4, 2); else SCIPIX_RS_HROWS(1, 2);
        break;
    case 3:
        if (rows == 4) SCIPIX_RS_HROWS(4, 3); else SCIPIX_RS_HROWS(1, 3);
        break;
    default:
        if (rows == 4) SCIPIX_RS_HROWS(4, 4); else SCIPIX_RS_HROWS(1, 4);
        break;
    }
#undef SCIPIX_RS_HROWS
}

/* The vertical pass for one output row: `n` input rows `rows[t]` weighted
 * by k[t], `values` bytes each. */
#if defined(SCIPIX_RS_DIGITS) && SCIPIX_RS_LANES == 16
/* Taps of the vertical pass the byte-digit path takes at most (more: the
 * 32-bit products below). */
#define SCIPIX_RS_VDIGIT_TAPS 1024

/* Values [x, x + 64) of the vertical pass on AVX-512: 4 rows' bytes
 * interleaved (vpunpck) so that each 32-bit lane holds one value of 4 taps,
 * multiplied by the taps' weight digits broadcast (vpdpbusd, three digits as
 * in the horizontal pass); the unpacking's order within 128-bit lanes is
 * undone by the saturating packs, which also clamp to 0..255.  `digits`:
 * word 3 q + e is digit e of taps 4 q .. 4 q + 3. */
static inline void scipix_rs_vrow64(const uint8_t *const *rows, int32_t n,
                                    const uint32_t *digits, ptrdiff_t x, uint32_t half,
                                    int shift, uint8_t *out)
{
    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s02 = s00, s10 = s00, s11 = s00,
            s12 = s00, s20 = s00, s21 = s00, s22 = s00, s30 = s00, s31 = s00, s32 = s00;
    __m512i t0, t1, t2, t3;
    const __m512i rounding = _mm512_set1_epi32((int)half);
    int32_t t;
    for (t = 0; t < n; t += 4) {
        /* Taps past n have weight 0: any row will do. */
        const __m512i a = _mm512_loadu_si512((const void *)(rows[t] + x));
        const __m512i b = _mm512_loadu_si512((const void *)(rows[t + 1 < n ? t + 1 : t] + x));
        const __m512i c = _mm512_loadu_si512((const void *)(rows[t + 2 < n ? t + 2 : t] + x));
        const __m512i d = _mm512_loadu_si512((const void *)(rows[t + 3 < n ? t + 3 : t] + x));
        const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
        const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
        const __m512i v0 = _mm512_unpacklo_epi16(ab_lo, cd_lo);   /* values 0-3 of a lane */
        const __m512i v1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);   /* 4-7 */
        const __m512i v2 = _mm512_unpacklo_epi16(ab_hi, cd_hi);   /* 8-11 */
        const __m512i v3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);   /* 12-15 */
        const uint32_t *w = digits + 3 * (t / 4);
        const __m512i w0 = _mm512_set1_epi32((int)w[0]), w1 = _mm512_set1_epi32((int)w[1]),
                      w2 = _mm512_set1_epi32((int)w[2]);
        s00 = _mm512_dpbusd_epi32(s00, v0, w0);
        s01 = _mm512_dpbusd_epi32(s01, v0, w1);
        s02 = _mm512_dpbusd_epi32(s02, v0, w2);
        s10 = _mm512_dpbusd_epi32(s10, v1, w0);
        s11 = _mm512_dpbusd_epi32(s11, v1, w1);
        s12 = _mm512_dpbusd_epi32(s12, v1, w2);
        s20 = _mm512_dpbusd_epi32(s20, v2, w0);
        s21 = _mm512_dpbusd_epi32(s21, v2, w1);
        s22 = _mm512_dpbusd_epi32(s22, v2, w2);
        s30 = _mm512_dpbusd_epi32(s30, v3, w0);
        s31 = _mm512_dpbusd_epi32(s31, v3, w1);
        s32 = _mm512_dpbusd_epi32(s32, v3, w2);
    }
#define SCIPIX_RS_JOIN(S0, S1, S2) _mm512_srai_epi32(_mm512_add_epi32( \
        _mm512_add_epi32(S0, rounding), _mm512_add_epi32(_mm512_slli_epi32(S1, 8), \
                                                          _mm512_slli_epi32(S2, 16))), shift)
    t0 = SCIPIX_RS_JOIN(s00, s01, s02);
    t1 = SCIPIX_RS_JOIN(s10, s11, s12);
    t2 = SCIPIX_RS_JOIN(s20, s21, s22);
    t3 = SCIPIX_RS_JOIN(s30, s31, s32);
#undef SCIPIX_RS_JOIN
    _mm512_storeu_si512((void *)(out + x), _mm512_packus_epi16(_mm512_packs_epi32(t0, t1),
                                                               _mm512_packs_epi32(t2, t3)));
}
#endif

static inline void scipix_rs_vrow(const uint8_t *const *rows, const int32_t *k, int32_t n,
                                  ptrdiff_t values, int shift, uint8_t *out)
{
    const uint32_t half = 1u << (shift - 1);
    ptrdiff_t x = 0;
    int32_t t;
#if defined(SCIPIX_RS_DIGITS) && SCIPIX_RS_LANES == 16
    if (values >= 64 && n <= SCIPIX_RS_VDIGIT_TAPS) {
        uint32_t digits[3 * SCIPIX_RS_VDIGIT_TAPS / 4];
        int32_t q, j;
        for (q = 0; q < (n + 3) / 4; q++) {
            int32_t four[4];
            for (j = 0; j < 4; j++)
                four[j] = 4 * q + j < n ? k[4 * q + j] : 0;
            scipix_rs_digit_words(four, digits + 3 * q);
        }
        for (; x + 64 <= values; x += 64)
            scipix_rs_vrow64(rows, n, digits, x, half, shift, out);
    }
#endif
#if !defined(SCIPIX_SCALAR_REFERENCE)
    for (; x + 2 * SCIPIX_RS_LANES <= values; x += 2 * SCIPIX_RS_LANES) {
        scipix_rs_u32v sum0 = half + (scipix_rs_u32v){0}, sum1 = sum0;
        for (t = 0; t < n; t++) {
            const uint32_t w = (uint32_t)k[t];
            sum0 += scipix_rs_widen(rows[t] + x) * w;
            sum1 += scipix_rs_widen(rows[t] + x + SCIPIX_RS_LANES) * w;
        }
        scipix_rs_store_levels(out + x, (scipix_rs_i32v)sum0 >> shift);
        scipix_rs_store_levels(out + x + SCIPIX_RS_LANES, (scipix_rs_i32v)sum1 >> shift);
    }
#endif
    for (; x < values; x++) {
        uint32_t sum = half;
        for (t = 0; t < n; t++)
            sum += (uint32_t)rows[t][x] * (uint32_t)k[t];
        out[x] = scipix_rs_clip8(sum, shift);
    }
}

/* ---- Driving both passes over a band of output rows ---- */

typedef struct {
    const uint8_t *src;
    ptrdiff_t src_rows, src_cols, src_stride;
    uint8_t *dst;
    ptrdiff_t dst_rows, dst_cols, dst_stride;
    int channels;
    /* Resample premultiplied by alpha (the last channel), as Pillow's RGBA
     * and LA; `unpremultiply` is scipix_rs_unpremultiply_table's table. */
    int alpha;
    const uint8_t *unpremultiply;
    int horizontal, vertical;     /* which passes run (Pillow skips identities) */
    int horizontal_first;         /* the order when both run */
    scipix_rs_pass h, v;
    const uint32_t *h_spread;     /* scipix_rs_spread_weights of h (vector builds) */
} scipix_rs_plan;

/* Whether source rows go through the horizontal pass before the vertical
 * pass reads them. */
static inline int scipix_rs_rows_first(const scipix_rs_plan *plan)
{
    return plan->horizontal && (plan->horizontal_first || !plan->vertical);
}

/* Bytes of a row as the vertical pass reads it. */
static inline ptrdiff_t scipix_rs_ring_values(const scipix_rs_plan *plan)
{
    return (scipix_rs_rows_first(plan) ? plan->dst_cols : plan->src_cols) * plan->channels;
}

/* Scratch one band needs: a ring of the rows the vertical filter reads,
 * premultiplied source rows (4), vertically resampled source rows (4, when
 * the vertical pass comes first), the ring's row pointers and the current
 * window's, 64-byte aligned. */
static inline size_t scipix_rs_scratch_bytes(const scipix_rs_plan *plan)
{
    const ptrdiff_t ring_rows = plan->vertical ? plan->v.ksize + 3 : 1;
    return (size_t)ring_rows * scipix_rs_ring_values(plan)
           + (size_t)8 * plan->src_cols * plan->channels
           + (size_t)(2 * ring_rows) * sizeof(uint8_t *) + 64;
}

/* Source row r as the vertical pass reads it (or, without one, the output
 * row): premultiplied if alpha, horizontally resampled into `slot` if that
 * pass comes first; else the source row itself. */
static inline const uint8_t *scipix_rs_prepare_row(const scipix_rs_plan *plan, ptrdiff_t r,
                                                   uint8_t *slot, uint8_t *alpha_row)
{
    const int resample_row = scipix_rs_rows_first(plan);
    const uint8_t *row = plan->src + r * plan->src_stride;
    if (plan->alpha) {
        uint8_t *premultiplied = resample_row ? alpha_row : slot;
        scipix_rs_premultiply(row, premultiplied, plan->src_cols, plan->channels);
        row = premultiplied;
    }
    if (resample_row) {
        scipix_rs_hrows(&row, plan->src_cols, &slot, plan->dst_cols, &plan->h, plan->h_spread,
                        1, plan->channels);
        row = slot;
    }
    return row;
}

/* Source rows r .. r + 3 through the horizontal pass at once, into `out`
 * (premultiplied first, into 4 rows at alpha_row, if alpha). */
static inline void scipix_rs_hpass_rows4(const scipix_rs_plan *plan, ptrdiff_t r,
                                         uint8_t *const *out, uint8_t *alpha_row)
{
    const ptrdiff_t source_values = plan->src_cols * plan->channels;
    const uint8_t *in[4];
    int i;
    for (i = 0; i < 4; i++) {
        in[i] = plan->src + (r + i) * plan->src_stride;
        if (plan->alpha) {
            uint8_t *premultiplied = alpha_row + i * source_values;
            scipix_rs_premultiply(in[i], premultiplied, plan->src_cols, plan->channels);
            in[i] = premultiplied;
        }
    }
    scipix_rs_hrows(in, plan->src_cols, out, plan->dst_cols, &plan->h, plan->h_spread, 4,
                    plan->channels);
}

/* The same into their ring slots, which `slots` then points at. */
static inline void scipix_rs_prepare_rows4(const scipix_rs_plan *plan, ptrdiff_t r,
                                           uint8_t *ring, ptrdiff_t ring_rows,
                                           ptrdiff_t ring_values, const uint8_t **slots,
                                           uint8_t *alpha_row)
{
    uint8_t *out[4];
    int i;
    for (i = 0; i < 4; i++) {
        out[i] = ring + ((r + i) % ring_rows) * ring_values;
        slots[(r + i) % ring_rows] = out[i];
    }
    scipix_rs_hpass_rows4(plan, r, out, alpha_row);
}

/* Output rows `out[0 .. rows)` from their vertically resampled source rows
 * `columns[0 .. rows)` (vertical pass first): the horizontal pass 4 rows
 * at once when there are 4, then Pillow's unpremultiplication. */
static inline void scipix_rs_finish_columns(const scipix_rs_plan *plan,
                                            const uint8_t *const *columns, uint8_t *const *out,
                                            int rows)
{
    int i;
    if (rows == 4)
        scipix_rs_hrows(columns, plan->src_cols, out, plan->dst_cols, &plan->h,
                        plan->h_spread, 4, plan->channels);
    else
        for (i = 0; i < rows; i++)
            scipix_rs_hrows(columns + i, plan->src_cols, out + i, plan->dst_cols, &plan->h,
                            plan->h_spread, 1, plan->channels);
    if (plan->alpha)
        for (i = 0; i < rows; i++)
            scipix_rs_unpremultiply(out[i], plan->dst_cols, plan->channels,
                                    plan->unpremultiply);
}

/* Output rows [y0, y1): each source row the band needs is prepared once,
 * into a ring as long as the vertical filter and 3 rows (source rows are
 * in order: first[] and first[] + count[] never decrease).  With the
 * vertical pass first, its rows wait 4 at a time for the horizontal pass. */
static inline void scipix_rs_band(const scipix_rs_plan *plan, ptrdiff_t y0, ptrdiff_t y1,
                                  void *scratch)
{
    const ptrdiff_t ring_rows = plan->vertical ? plan->v.ksize + 3 : 1;
    const ptrdiff_t ring_values = scipix_rs_ring_values(plan);
    const ptrdiff_t source_values = plan->src_cols * plan->channels;
    const int columns_first = plan->vertical && plan->horizontal && !scipix_rs_rows_first(plan);
    uint8_t *ring = (uint8_t *)scratch;
    uint8_t *alpha_row = ring + ring_rows * ring_values;
    uint8_t *column_pass = alpha_row + 4 * source_values;
    const uint8_t **slots = (const uint8_t **)(((uintptr_t)(column_pass + 4 * source_values)
                                                + 63) & ~(uintptr_t)63);
    const uint8_t **window = slots + ring_rows;
    const uint8_t *columns[4];
    uint8_t *pending[4];
    ptrdiff_t y, next = 0, r, t;
    int waiting = 0;
    for (y = y0; y < y1; y++) {
        uint8_t *out = plan->dst + y * plan->dst_stride;
        if (!plan->vertical && plan->horizontal && y + 4 <= y1) {
            uint8_t *const rows[4] = {out, out + plan->dst_stride, out + 2 * plan->dst_stride,
                                      out + 3 * plan->dst_stride};
            scipix_rs_hpass_rows4(plan, y, rows, alpha_row);
            if (plan->alpha)
                for (t = 0; t < 4; t++)
                    scipix_rs_unpremultiply(rows[t], plan->dst_cols, plan->channels,
                                            plan->unpremultiply);
            y += 3;
            continue;
        }
        if (!plan->vertical) {
            const uint8_t *row = scipix_rs_prepare_row(plan, y, out, alpha_row);
            if (row != out)
                memcpy(out, row, (size_t)(plan->dst_cols * plan->channels));
        } else {
            const ptrdiff_t lo = plan->v.first[y], n = plan->v.count[y];
            const int32_t *k = plan->v.coeffs + y * plan->v.ksize;
            /* Rows through the horizontal pass 4 at a time, up to 3 ahead of
             * the window (the ring has room for them). */
            for (r = next > lo ? next : lo; r < lo + n;) {
                if (scipix_rs_rows_first(plan) && r + 4 <= plan->src_rows) {
                    scipix_rs_prepare_rows4(plan, r, ring, ring_rows, ring_values, slots,
                                            alpha_row);
                    r += 4;
                } else {
                    slots[r % ring_rows] = scipix_rs_prepare_row(
                        plan, r, ring + (r % ring_rows) * ring_values, alpha_row);
                    r++;
                }
            }
            if (next < r)
                next = r;
            for (t = 0; t < n; t++)
                window[t] = slots[(lo + t) % ring_rows];
            if (columns_first) {
                uint8_t *column = column_pass + waiting * source_values;
                scipix_rs_vrow(window, k, (int32_t)n, source_values, plan->v.shift, column);
                columns[waiting] = column;
                pending[waiting++] = out;
                if (waiting == 4) {
                    scipix_rs_finish_columns(plan, columns, pending, 4);
                    waiting = 0;
                }
                continue;
            }
            scipix_rs_vrow(window, k, (int32_t)n, ring_values, plan->v.shift, out);
        }
        if (plan->alpha)
            scipix_rs_unpremultiply(out, plan->dst_cols, plan->channels,
                                    plan->unpremultiply);
    }
    if (waiting)
        scipix_rs_finish_columns(plan, columns, pending, waiting);
}

#endif
