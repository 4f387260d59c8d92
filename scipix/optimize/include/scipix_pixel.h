/* Pixel-wise row kernels: threshold and BT.601 grayscale, AVX2 intrinsics
 * where the target has them, plain loops elsewhere. */
#ifndef SCIPIX_PIXEL_H
#define SCIPIX_PIXEL_H

#include "scipix_vector.h"

/* dst = 255 where src > thresh, else 0 (an unsigned comparison), n bytes;
 * src == dst (in place) is allowed.  AVX2 128 bytes a step:
 * max(src, thresh + 1) == src is the unsigned src > thresh in two
 * instructions (gcc's own loop takes three); thresh 255 has no thresh + 1
 * and takes the plain loop, which then writes zeros. */
static inline void scipix_threshold_row(const uint8_t *src, uint8_t *dst, ptrdiff_t n,
                                        uint8_t thresh, int stream)
{
    ptrdiff_t x = 0;
#define SCIPIX_THRESHOLD_ONE(x) (dst[x] = src[x] > thresh ? 255 : 0)
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    if (thresh < 255) {
        const __m256i above = _mm256_set1_epi8((char)(thresh + 1));
        for (const ptrdiff_t head = scipix_stream_head(dst, n, stream); x < head; x++)
            SCIPIX_THRESHOLD_ONE(x);
        for (; x + 128 <= n; x += 128) {
            __m256i v[4];
            int k;
            if (stream)  /* cached inputs (2048^2) ran 15 % slower with it */
                scipix_prefetch_ahead(src + x);
            for (k = 0; k < 4; k++)
                v[k] = _mm256_loadu_si256((const __m256i *)(src + x + 32 * k));
            for (k = 0; k < 4; k++)
                scipix_store32(dst + x + 32 * k,
                               _mm256_cmpeq_epi8(_mm256_max_epu8(v[k], above), v[k]), stream);
        }
        for (; x + 32 <= n; x += 32) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(src + x));
            scipix_store32(dst + x, _mm256_cmpeq_epi8(_mm256_max_epu8(v, above), v), stream);
        }
    }
#else
    (void)stream;
#endif
    for (; x < n; x++)
        SCIPIX_THRESHOLD_ONE(x);
#undef SCIPIX_THRESHOLD_ONE
}

/* gray = (77 R + 150 G + 29 B) >> 8, on AVX2 32 pixels a step.  `bgr`
 * says the pixels are stored B, G, R (what OpenCV reads) rather than R, G, B:
 * the R and B weights trade places, G's stays in the middle.
 *
 * With a pixel in each 32-bit lane (R, G, B, any), vpmaddubsw multiplies the
 * bytes by (77, 22, 29, 0) (150 does not fit its signed weights) and
 * vpmaddwd adds each pixel's two products into 77 R + 22 G + 29 B; the
 * missing 128 G is the lane shifted right by one with G's bits masked.  The
 * sums (< 2**16) narrow with an unsigned-saturating pack that cannot
 * saturate, a 16-bit shift by 8 and a byte pack.  About half the
 * instructions of the generic vector loop. */
#define SCIPIX_GRAY_ONE(p) ((uint8_t)((w0 * (p)[0] + 150u * (p)[1] + w2 * (p)[2]) >> 8))
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
static inline __m256i scipix_gray_sums(__m256i pixels, __m256i weights)
{
    const __m256i ones = _mm256_set1_epi16(1), green = _mm256_set1_epi32(0xff << 7);
    __m256i partial = _mm256_madd_epi16(_mm256_maddubs_epi16(pixels, weights), ones);
    return _mm256_add_epi32(partial, _mm256_and_si256(_mm256_srli_epi32(pixels, 1), green));
}

/* The gray bytes of four vectors of 8 sums, in order. */
static inline void scipix_gray_store(const __m256i sums[4], uint8_t *dst, int stream)
{
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i low = _mm256_srli_epi16(_mm256_packus_epi32(sums[0], sums[1]), 8);
    __m256i high = _mm256_srli_epi16(_mm256_packus_epi32(sums[2], sums[3]), 8);
    scipix_store32(dst, _mm256_permutevar8x32_epi32(_mm256_packus_epi16(low, high), order),
                   stream);
}
#endif

/* n RGB pixels (3 bytes each).  AVX2 spreads 4 pixels into the 32-bit lanes
 * of each 128-bit half with one shuffle; the last 16-byte load of a step
 * reads 4 bytes past its 8th pixel, so steps stop 2 pixels early. */
static inline void scipix_gray_rgb_row(const uint8_t *src, uint8_t *dst, ptrdiff_t n,
                                       int stream, int bgr)
{
    const uint32_t w0 = bgr ? 29u : 77u, w2 = bgr ? 77u : 29u;
    ptrdiff_t x = 0;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    const __m256i weights = _mm256_set1_epi32((int)(w0 | (22u << 8) | (w2 << 16)));
    const __m256i spread = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,
                                            0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    for (const ptrdiff_t head = scipix_stream_head(dst, n, stream); x < head; x++)
        dst[x] = SCIPIX_GRAY_ONE(src + 3 * x);
    for (; x + 34 <= n; x += 32) {
        __m256i sums[4];
        int k;
        scipix_prefetch_ahead(src + 3 * x);
        for (k = 0; k < 4; k++) {
            const uint8_t *p = src + 3 * (x + 8 * k);
            __m256i pixels = _mm256_inserti128_si256(
                _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                _mm_loadu_si128((const __m128i *)(p + 12)), 1);
            sums[k] = scipix_gray_sums(_mm256_shuffle_epi8(pixels, spread), weights);
        }
        scipix_gray_store(sums, dst + x, stream);
    }
#else
    (void)stream;
#endif
    for (; x < n; x++)
        dst[x] = SCIPIX_GRAY_ONE(src + 3 * x);
}

/* n RGBA pixels (4 bytes each). */
static inline void scipix_gray_rgba_row(const uint8_t *src, uint8_t *dst, ptrdiff_t n,
                                        int stream, int bgr)
{
    const uint32_t w0 = bgr ? 29u : 77u, w2 = bgr ? 77u : 29u;
    ptrdiff_t x = 0;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    const __m256i weights = _mm256_set1_epi32((int)(w0 | (22u << 8) | (w2 << 16)));
    for (const ptrdiff_t head = scipix_stream_head(dst, n, stream); x < head; x++)
        dst[x] = SCIPIX_GRAY_ONE(src + 4 * x);
    for (; x + 32 <= n; x += 32) {
        __m256i sums[4];
        int k;
        scipix_prefetch_ahead(src + 4 * x);
        for (k = 0; k < 4; k++)
            sums[k] = scipix_gray_sums(
                _mm256_loadu_si256((const __m256i *)(src + 4 * x + 32 * k)), weights);
        scipix_gray_store(sums, dst + x, stream);
    }
#elif !defined(SCIPIX_SCALAR_REFERENCE)
    /* As 16-bit lanes a pixel is (R | G << 8, B | A << 8): the low bytes
     * hold R and B, the high bytes G and A.  Weighting them (w0, w2) and
     * (150, 0) and adding the two lanes of each pixel gives the sum; no
     * lane exceeds 16 bits (77 * 255 + 150 * 255 < 65536). */
    const uint32_t pixels_per_vec = SCIPIX_VEC_BYTES / 4;
    scipix_u32v w32_low = (scipix_u32v){0} + (w0 | (w2 << 16));
    scipix_u32v w32_high = (scipix_u32v){0} + 150u;
    scipix_u16v w_low, w_high;
    (void)stream;
    memcpy(&w_low, &w32_low, sizeof(w_low));
    memcpy(&w_high, &w32_high, sizeof(w_high));
    for (; x + pixels_per_vec <= n; x += pixels_per_vec) {
        scipix_u16v pixels, weighted;
        scipix_u32v pairs;
        scipix_u8v bytes;
        scipix_u8q gray;
        memcpy(&pixels, src + 4 * x, sizeof(pixels));
        __builtin_prefetch(src + 4 * x + SCIPIX_ROW_PREFETCH);
        weighted = (pixels & 0xff) * w_low + (pixels >> 8) * w_high;
        memcpy(&pairs, &weighted, sizeof(pairs));
        pairs = ((pairs & 0xffff) + (pairs >> 16)) >> 8;
        memcpy(&bytes, &pairs, sizeof(bytes));
        gray = SCIPIX_LOW_BYTES(bytes);
        memcpy(dst + x, &gray, sizeof(gray));
    }
#else
    (void)stream;
#endif
    for (; x < n; x++)
        dst[x] = SCIPIX_GRAY_ONE(src + 4 * x);
}
#undef SCIPIX_GRAY_ONE

#endif
