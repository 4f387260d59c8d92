/* Row passes of the resizes: the area resize's horizontal passes (gray
 * tile, packed row), the bilinear resize's horizontal pass, the 2x2 area
 * average. */
#ifndef SCIPIX_RESIZE_H
#define SCIPIX_RESIZE_H

#include "scipix_vector.h"

/* Output rows the gray area resize's horizontal pass computes at once:
 * one float vector. */
#if defined(SCIPIX_SCALAR_REFERENCE)
#define SCIPIX_TILE 8
#else
#define SCIPIX_TILE SCIPIX_F32_PER_VEC
typedef int32_t scipix_i32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
#endif

/* An area sum (>= 0) as an 8-bit level: rounded half to even by the
 * 1.5 * 2**23 trick, clamped to 255. */
static inline uint8_t scipix_area_level(float sum)
{
    const float magic = 12582912.0f;
    const int32_t rounded = (int32_t)((sum + magic) - magic);
    return (uint8_t)(rounded > 255 ? 255 : rounded);
}

/* Horizontal area pass of the gray resize for `rows` (<= SCIPIX_TILE)
 * output rows of `cols` pixels.
 *
 * acc_t holds the rows' vertical sums transposed, (source pixel, row):
 * acc_t[s * SCIPIX_TILE + r].  Output x of row r is
 * sum_k weight[x * taps + k] * acc_t[(start[x] + k) * SCIPIX_TILE + r]
 * in tap order, rounded half to even by the 1.5 * 2**23 trick and clamped
 * to 255; each tap is one vector multiply-add over the rows. */
static inline void scipix_area_htile(const float *acc_t, uint8_t *dst, ptrdiff_t dst_stride,
                                     ptrdiff_t rows, ptrdiff_t cols, const int32_t *start,
                                     const float *weight, ptrdiff_t taps)
{
    ptrdiff_t x, k, r;
    for (x = 0; x < cols; x++) {
        const float *w = weight + x * taps;
        const float *window = acc_t + (ptrdiff_t)start[x] * SCIPIX_TILE;
#if !defined(SCIPIX_SCALAR_REFERENCE)
        const float magic = 12582912.0f;
        scipix_f32v column, tile;
        scipix_i32v rounded;
        memcpy(&column, window, sizeof(column));
        tile = w[0] * column;
        for (k = 1; k < taps; k++) {
            memcpy(&column, window + k * SCIPIX_TILE, sizeof(column));
            tile = tile + w[k] * column;
        }
        rounded = __builtin_convertvector((tile + magic) - magic, scipix_i32v);
        rounded = (rounded & ~(rounded > 255)) | (255 & (rounded > 255));
        if (rows == SCIPIX_TILE)
            for (r = 0; r < SCIPIX_TILE; r++)
                dst[r * dst_stride + x] = (uint8_t)rounded[r];
        else
            for (r = 0; r < rows; r++)
                dst[r * dst_stride + x] = (uint8_t)rounded[r];
#else
        for (r = 0; r < rows; r++) {
            float total = w[0] * window[r];
            for (k = 1; k < taps; k++)
                total = total + w[k] * window[k * SCIPIX_TILE + r];
            dst[r * dst_stride + x] = scipix_area_level(total);
        }
#endif
    }
}

/* Floats scipix_area_packed_hrow may read after the last pixel's weights. */
#define SCIPIX_AREA_SPARE 1

#if !defined(SCIPIX_SCALAR_REFERENCE)
typedef float scipix_f32x4 __attribute__((vector_size(16)));

/* Tap k's weight, in every lane, from a pixel's first four weights w. */
#define SCIPIX_TAP_WEIGHT(w, k) __builtin_shufflevector(w, w, k, k, k, k)

/* scipix_area_packed_hrow's loop for 3 or 4 taps (a constant): a pixel's
 * weights come in one 4-float load (weight has floats to spare after its
 * last pixel's), spread by shuffles, which costs fewer loads than a
 * broadcast per tap. */
static inline void scipix_area_packed_hrow_few(const float *acc, float *out, ptrdiff_t cols,
                                               ptrdiff_t channels, const int32_t *start,
                                               const float *weight, const ptrdiff_t taps)
{
    ptrdiff_t x;
    for (x = 0; x < cols; x++) {
        const float *window = acc + (ptrdiff_t)start[x] * channels;
        scipix_f32x4 w, pixel, total;
        memcpy(&w, weight + x * taps, sizeof(w));
#if defined(__SSE2__)
        /* Else gcc folds the load and shuffles back into a broadcast load
         * per tap, the loads this saves. */
        __asm__("" : "+x"(w));
#endif
        memcpy(&pixel, window, sizeof(pixel));
        total = SCIPIX_TAP_WEIGHT(w, 0) * pixel;
        memcpy(&pixel, window + channels, sizeof(pixel));
        total = total + SCIPIX_TAP_WEIGHT(w, 1) * pixel;
        memcpy(&pixel, window + 2 * channels, sizeof(pixel));
        total = total + SCIPIX_TAP_WEIGHT(w, 2) * pixel;
        if (taps > 3) {
            memcpy(&pixel, window + 3 * channels, sizeof(pixel));
            total = total + SCIPIX_TAP_WEIGHT(w, 3) * pixel;
        }
        memcpy(out + x * channels, &total, sizeof(total));
    }
}

/* scipix_area_packed_hrow's loop for any tap count: a broadcast weight per
 * tap.  Called with a constant count where it can be, so that the tap loop
 * unrolls and pixels overlap in flight. */
static inline void scipix_area_packed_hrow_taps(const float *acc, float *out, ptrdiff_t cols,
                                                ptrdiff_t channels, const int32_t *start,
                                                const float *weight, const ptrdiff_t taps)
{
    ptrdiff_t x, k;
    for (x = 0; x < cols; x++) {
        const float *w = weight + x * taps;
        const float *window = acc + (ptrdiff_t)start[x] * channels;
        scipix_f32x4 pixel, total;
        memcpy(&pixel, window, sizeof(pixel));
        total = w[0] * pixel;
        for (k = 1; k < taps; k++) {
            memcpy(&pixel, window + k * channels, sizeof(pixel));
            total = total + w[k] * pixel;
        }
        memcpy(out + x * channels, &total, sizeof(total));
    }
}
#endif

/* Horizontal area pass over one row of vertical sums of packed pixels of
 * `channels` (3 or 4) values, unrounded:
 * out[x * channels + c] = sum_k weight[x * taps + k] * acc[(start[x] + k) * channels + c]
 * in tap order, the same operations as scipix_area_htile's per pixel.
 * Vector builds weigh a pixel's channels as one 4-float vector per tap,
 * so they read a fourth value after each tap pixel and, with three
 * channels, write one after each output pixel (over the next pixel's first
 * value, written next): acc needs one float after its last tap pixel, out
 * one after its last pixel, and weight SCIPIX_AREA_SPARE after its last
 * pixel's (3 taps read 4 weights). */
static inline void scipix_area_packed_hrow(const float *acc, float *out, ptrdiff_t cols,
                                           ptrdiff_t channels, const int32_t *start,
                                           const float *weight, ptrdiff_t taps)
{
#if !defined(SCIPIX_SCALAR_REFERENCE)
    /* A shrink by f in [1, 4) has floor(f) + 2 taps: 3 to 5. */
    switch (taps) {
    case 3: scipix_area_packed_hrow_few(acc, out, cols, channels, start, weight, 3); break;
    case 4: scipix_area_packed_hrow_few(acc, out, cols, channels, start, weight, 4); break;
    case 5: scipix_area_packed_hrow_taps(acc, out, cols, channels, start, weight, 5); break;
    default: scipix_area_packed_hrow_taps(acc, out, cols, channels, start, weight, taps);
    }
#else
    ptrdiff_t x, k, c;
    for (x = 0; x < cols; x++)
        for (c = 0; c < channels; c++) {
            const float *w = weight + x * taps;
            const float *window = acc + (ptrdiff_t)start[x] * channels + c;
            float total = w[0] * window[0];
            for (k = 1; k < taps; k++)
                total = total + w[k] * window[k * channels];
            out[x * channels + c] = total;
        }
#endif
}

/* dst[i] = scipix_area_level(sums[i]), i < n. */
static inline void scipix_area_round_row(const float *sums, uint8_t *dst, ptrdiff_t n)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        dst[i] = scipix_area_level(sums[i]);
}

/* Bytes of shuffle control per 8 outputs of the horizontal bilinear pass. */
#define SCIPIX_WINDOW_BYTES 32

/* Shuffle controls for scipix_linear_hrow, one per 8 outputs x0..x0+7 (x0
 * a multiple of 8, n // 8 blocks).  When the 16 source bytes from
 * first[x0] hold every tap of the block and stay inside the row, the
 * control spreads tap pairs (first[x], first[x] + 1) into 16-bit lanes:
 * outputs x0..x0+3 in the low 128-bit lane, x0+4..x0+7 in the high one.
 * Otherwise its first byte is 0x80 (a real control starts with 0). */
static inline void scipix_linear_windows(const int32_t *first, ptrdiff_t n, ptrdiff_t n_in,
                                         uint8_t *windows)
{
    ptrdiff_t block, i;
    for (block = 0; block < n / 8; block++) {
        const int32_t *taps = first + 8 * block;
        uint8_t *control = windows + SCIPIX_WINDOW_BYTES * block;
        if (taps[7] + 1 - taps[0] >= 16 || taps[0] + 16 > n_in) {
            control[0] = 0x80;
            continue;
        }
        for (i = 0; i < 8; i++) {
            uint8_t offset = (uint8_t)(taps[i] - taps[0]);
            control[4 * i] = offset;
            control[4 * i + 1] = 0x80;
            control[4 * i + 2] = (uint8_t)(offset + 1);
            control[4 * i + 3] = 0x80;
        }
    }
}

/* Horizontal bilinear pass over one source row of n_in values:
 * out[x] = row[first[x]] * w_first[x] + row[second[x]] * w_second[x].
 * Packed colour rows pass windows == NULL (their taps are a pixel apart,
 * not a byte) and take the plain loop, which gcc vectorizes with gathers.
 *
 * The taps are adjacent (second == first + 1) except at the clamped edges,
 * where w_second is 0.  AVX2 builds each tap pair in a 16-bit lane pair and
 * takes both products and their sum with one vpmaddwd against w_pair[x] =
 * w_first[x] | w_second[x] << 16, 8 outputs at a time: with one 16-byte load
 * and a shuffle where the block's taps fit in 16 bytes (scale >= ~1/2, see
 * scipix_linear_windows), else with a gather of the 32 bits at each
 * row + first[x].  Outputs whose gathered bytes would run past the row
 * take the plain loop. */
static inline void scipix_linear_hrow(const uint8_t *row, ptrdiff_t n_in, int32_t *out,
                                      const int32_t *first, const int32_t *second,
                                      const int32_t *w_first, const int32_t *w_second,
                                      const int32_t *w_pair, const uint8_t *windows,
                                      ptrdiff_t n, ptrdiff_t channels)
{
    ptrdiff_t x = 0;
#if defined(__SSSE3__) && !defined(SCIPIX_SCALAR_REFERENCE)
    /* Packed RGB / RGBA, a pixel a step: the 8 bytes from its first tap
     * hold both tap pixels; one shuffle spreads them into (first, second)
     * 16-bit pairs per channel, one vpmaddwd weighs and adds them.  Three
     * channels store a fourth, zero lane over the next pixel's first value
     * (written next, or by the plain loop): `out` has a value to spare. */
    if (channels == 3 || channels == 4) {
        const __m128i spread = channels == 3
            ? _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1)
            : _mm_setr_epi8(0, -1, 4, -1, 1, -1, 5, -1, 2, -1, 6, -1, 3, -1, 7, -1);
        for (; x < n && first[x] + 8 <= n_in; x += channels)
            _mm_storeu_si128((__m128i *)(out + x),
                             _mm_madd_epi16(_mm_shuffle_epi8(
                                                _mm_loadl_epi64((const __m128i *)(row + first[x])),
                                                spread),
                                            _mm_set1_epi32(w_pair[x])));
    }
#endif
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    const __m256i spread = _mm256_setr_epi8(0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1, 12, -1,
                                            13, -1, 0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1,
                                            12, -1, 13, -1);
    for (; windows != NULL && x + 8 <= n; x += 8) {
        const uint8_t *control = windows + SCIPIX_WINDOW_BYTES * (x / 8);
        __m256i pairs;
        if (control[0] == 0) {
            __m128i window = _mm_loadu_si128((const __m128i *)(row + first[x]));
            pairs = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(window),
                                        _mm256_loadu_si256((const __m256i *)control));
        } else if (first[x + 7] + 4 <= n_in) {
            __m256i index = _mm256_loadu_si256((const __m256i *)(first + x));
            pairs = _mm256_shuffle_epi8(_mm256_i32gather_epi32((const int *)row, index, 1),
                                        spread);
        } else {
            break;
        }
        _mm256_storeu_si256((__m256i *)(out + x),
                            _mm256_madd_epi16(pairs, _mm256_loadu_si256((const __m256i *)(w_pair + x))));
    }
#endif
#if defined(__ARM_NEON) && !defined(SCIPIX_SCALAR_REFERENCE)
    /* NEON: the same tap pairs, spread by tbl (an index of 0x80 or more
     * gives 0, as pshufb's high bit does); umull of the pairs by w_pair's
     * two weights (both in [0, COEF_ONE]: unsigned 16 bits) and a pairwise
     * add make the sums.  A block without a window takes the plain loop:
     * NEON has no gather. */
    if (channels == 3 || channels == 4) {
        static const uint8_t spread3[16] = {0, 255, 3, 255, 1, 255, 4, 255, 2, 255, 5, 255,
                                            255, 255, 255, 255};
        static const uint8_t spread4[16] = {0, 255, 4, 255, 1, 255, 5, 255, 2, 255, 6, 255,
                                            3, 255, 7, 255};
        const uint8x16_t spread = vld1q_u8(channels == 3 ? spread3 : spread4);
        for (; x < n && first[x] + 8 <= n_in; x += channels) {
            const uint16x8_t pairs = vreinterpretq_u16_u8(
                vqtbl1q_u8(vcombine_u8(vld1_u8(row + first[x]), vdup_n_u8(0)), spread));
            const uint16x8_t weights = vreinterpretq_u16_s32(vdupq_n_s32(w_pair[x]));
            vst1q_s32(out + x, vreinterpretq_s32_u32(vpaddq_u32(
                vmull_u16(vget_low_u16(pairs), vget_low_u16(weights)),
                vmull_high_u16(pairs, weights))));
        }
    }
    if (windows != NULL) {
        const uint8_t *control = windows + SCIPIX_WINDOW_BYTES * (x / 8);
        for (; x + 8 <= n; x += 8, control += SCIPIX_WINDOW_BYTES) {
            uint8x16_t window;
            uint16x8_t pairs0, pairs1, weights0, weights1;
            ptrdiff_t i;
            if (control[0] != 0) {
                for (i = x; i < x + 8; i++)
                    out[i] = row[first[i]] * w_first[i] + row[second[i]] * w_second[i];
                continue;
            }
            window = vld1q_u8(row + first[x]);
            pairs0 = vreinterpretq_u16_u8(vqtbl1q_u8(window, vld1q_u8(control)));
            pairs1 = vreinterpretq_u16_u8(vqtbl1q_u8(window, vld1q_u8(control + 16)));
            weights0 = vld1q_u16((const uint16_t *)(w_pair + x));
            weights1 = vld1q_u16((const uint16_t *)(w_pair + x + 4));
            vst1q_s32(out + x, vreinterpretq_s32_u32(vpaddq_u32(
                vmull_u16(vget_low_u16(pairs0), vget_low_u16(weights0)),
                vmull_high_u16(pairs0, weights0))));
            vst1q_s32(out + x + 4, vreinterpretq_s32_u32(vpaddq_u32(
                vmull_u16(vget_low_u16(pairs1), vget_low_u16(weights1)),
                vmull_high_u16(pairs1, weights1))));
        }
    }
#endif
    (void)n_in;
    (void)w_pair;
    (void)windows;
    (void)channels;
    for (; x < n; x++)
        out[x] = row[first[x]] * w_first[x] + row[second[x]] * w_second[x];
}

/* 2x2 area average of rows a and b into n pixels:
 * dst[x] = (a[2x] + a[2x+1] + b[2x] + b[2x+1] + 2) >> 2.
 * As 16-bit lanes each pixel pair is one lane: its low and high bytes
 * summed give the horizontal pair sums, and the results' low bytes are the
 * output (the sums stay below 2**16). */
static inline void scipix_area2x2_row(const uint8_t *a, const uint8_t *b, uint8_t *dst,
                                      ptrdiff_t n)
{
    ptrdiff_t x = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    const ptrdiff_t out_per_vec = SCIPIX_VEC_BYTES / 2;
    for (; x + out_per_vec <= n; x += out_per_vec) {
        scipix_u16v top, bottom, sums;
        scipix_u8v bytes;
        scipix_u8h low;
        memcpy(&top, a + 2 * x, sizeof(top));
        memcpy(&bottom, b + 2 * x, sizeof(bottom));
        sums = ((top & 0xff) + (top >> 8) + (bottom & 0xff) + (bottom >> 8) + 2) >> 2;
        memcpy(&bytes, &sums, sizeof(bytes));
        low = SCIPIX_EVEN_BYTES(bytes);
        memcpy(dst + x, &low, sizeof(low));
    }
#endif
    for (; x < n; x++)
        dst[x] = (uint8_t)((a[2 * x] + a[2 * x + 1] + b[2 * x] + b[2 * x + 1] + 2u) >> 2);
}

/* 2x2 area average of rows a and b of packed pixels of `channels` values
 * into n pixels: dst[x, c] = (a[2x, c] + a[2x+1, c] + b[2x, c] + b[2x+1, c] + 2) >> 2.
 * A plain loop elsewhere. */
static inline void scipix_area2x2_packed_row(const uint8_t *a, const uint8_t *b, uint8_t *dst,
                                             ptrdiff_t n, ptrdiff_t channels)
{
    ptrdiff_t x = 0, c;
#if defined(__SSSE3__) && !defined(SCIPIX_SCALAR_REFERENCE)
    /* Two output pixels a step, from 16-byte loads of four input pixels:
     * one shuffle puts each channel's horizontal neighbours side by side,
     * vpmaddubsw adds them into 16-bit sums, and the rounded averages pack
     * back to bytes.  Three channels store 8 bytes for 6, the last 2 over
     * the next pixel (written later), so steps stop while a pixel remains
     * after them; the loads stay inside the rows likewise. */
    if (channels == 3 || channels == 4) {
        const __m128i pairs = channels == 3
            ? _mm_setr_epi8(0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11, -1, -1, -1, -1)
            : _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
        const __m128i ones = _mm_set1_epi8(1), two = _mm_set1_epi16(2);
        const ptrdiff_t spare = channels == 3 ? 3 : 2;
        for (; x + spare <= n; x += 2) {
            __m128i top = _mm_loadu_si128((const __m128i *)(a + 2 * x * channels));
            __m128i bottom = _mm_loadu_si128((const __m128i *)(b + 2 * x * channels));
            __m128i sums = _mm_add_epi16(
                _mm_maddubs_epi16(_mm_shuffle_epi8(top, pairs), ones),
                _mm_maddubs_epi16(_mm_shuffle_epi8(bottom, pairs), ones));
            __m128i mean = _mm_srli_epi16(_mm_add_epi16(sums, two), 2);
            _mm_storel_epi64((__m128i *)(dst + x * channels), _mm_packus_epi16(mean, mean));
        }
    }
#endif
    for (; x < n; x++)
        for (c = 0; c < channels; c++) {
            const ptrdiff_t i = 2 * x * channels + c;
            dst[x * channels + c] = (uint8_t)((a[i] + a[i + channels] + b[i] + b[i + channels]
                                               + 2u) >> 2);
        }
}

#endif
