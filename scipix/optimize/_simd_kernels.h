/* Hot loops written with GCC/Clang vector extensions.
 *
 * One source for every variant: the vector types take the target's native
 * width (xmm on SSE2/NEON, ymm on AVX2, zmm on AVX-512).  The scalar reference build (SCIPIX_SCALAR_REFERENCE)
 * takes the plain loops instead; both compute the same operations in the
 * same order, so their results are identical bit for bit.
 */
#ifndef SCIPIX_SIMD_KERNELS_H
#define SCIPIX_SIMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__SSE2__)
#include <immintrin.h>
#endif

#define SCIPIX_LANES 16  /* float partial sums per reduction */

typedef struct {
    double count;
    double mean;
    double m2;  /* sum of squared deviations from mean */
} scipix_moments;

#if !defined(SCIPIX_SCALAR_REFERENCE)
/* The target's native vector width: a wider generic vector would be split
 * through the stack. */
#if defined(__AVX512BW__)
#define SCIPIX_VEC_BYTES 64
#elif defined(__AVX2__)
#define SCIPIX_VEC_BYTES 32
#else
#define SCIPIX_VEC_BYTES 16
#endif
#define SCIPIX_F32_PER_VEC (SCIPIX_VEC_BYTES / 4)
typedef float scipix_f32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
typedef uint16_t scipix_u16v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
typedef uint32_t scipix_u32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
typedef uint8_t scipix_u8v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
typedef uint8_t scipix_u8q __attribute__((vector_size(SCIPIX_VEC_BYTES / 4)));
/* Byte 0 of each 32-bit lane: __builtin_convertvector would go lane by lane. */
#if SCIPIX_VEC_BYTES == 64
#define SCIPIX_LOW_BYTES(v) __builtin_shufflevector(v, v, 0, 4, 8, 12, 16, 20, 24, 28, \
    32, 36, 40, 44, 48, 52, 56, 60)
#elif SCIPIX_VEC_BYTES == 32
#define SCIPIX_LOW_BYTES(v) __builtin_shufflevector(v, v, 0, 4, 8, 12, 16, 20, 24, 28)
#else
#define SCIPIX_LOW_BYTES(v) __builtin_shufflevector(v, v, 0, 4, 8, 12)
#endif
/* Byte 0 of each 16-bit lane. */
typedef uint8_t scipix_u8h __attribute__((vector_size(SCIPIX_VEC_BYTES / 2)));
#if SCIPIX_VEC_BYTES == 64
#define SCIPIX_EVEN_BYTES(v) __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, \
    20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 50, 52, 54, 56, 58, 60, 62)
#elif SCIPIX_VEC_BYTES == 32
#define SCIPIX_EVEN_BYTES(v) __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, \
    20, 22, 24, 26, 28, 30)
#else
#define SCIPIX_EVEN_BYTES(v) __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14)
#endif
#endif

/* Output rows the area resize's horizontal pass computes at once: one
 * float vector. */
#if defined(SCIPIX_SCALAR_REFERENCE)
#define SCIPIX_TILE 8
#else
#define SCIPIX_TILE SCIPIX_F32_PER_VEC
typedef int32_t scipix_i32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
#endif

/* Horizontal area pass for `rows` (<= SCIPIX_TILE) output rows.
 *
 * acc_t holds the rows' vertical sums transposed, (source column, row):
 * acc_t[c * SCIPIX_TILE + r].  Output x of row r is
 * sum_k weight[x * taps + k] * acc_t[(start[x] + k) * SCIPIX_TILE + r]
 * in tap order, rounded half to even by the 1.5 * 2**23 trick and clamped
 * to 255; each tap is one vector multiply-add over the rows. */
static inline void scipix_area_htile(const float *acc_t, uint8_t *dst, ptrdiff_t dst_stride,
                                     ptrdiff_t rows, ptrdiff_t cols, const int32_t *start,
                                     const float *weight, ptrdiff_t taps)
{
    const float magic = 12582912.0f;
    ptrdiff_t x, k, r;
    for (x = 0; x < cols; x++) {
        const float *w = weight + x * taps;
        const float *window = acc_t + (ptrdiff_t)start[x] * SCIPIX_TILE;
#if !defined(SCIPIX_SCALAR_REFERENCE)
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
            int32_t rounded;
            for (k = 1; k < taps; k++)
                total = total + w[k] * window[k * SCIPIX_TILE + r];
            rounded = (int32_t)((total + magic) - magic);
            dst[r * dst_stride + x] = (uint8_t)(rounded > 255 ? 255 : rounded);
        }
#endif
    }
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

/* Horizontal bilinear pass over one source row of n_in pixels:
 * out[x] = row[first[x]] * w_first[x] + row[second[x]] * w_second[x].
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
                                      ptrdiff_t n)
{
    ptrdiff_t x = 0;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    const __m256i spread = _mm256_setr_epi8(0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1, 12, -1,
                                            13, -1, 0, -1, 1, -1, 4, -1, 5, -1, 8, -1, 9, -1,
                                            12, -1, 13, -1);
    for (; x + 8 <= n; x += 8) {
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
#else
    (void)n_in;
    (void)w_pair;
    (void)windows;
#endif
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

/* Rows are read once, from memory: loads ask for the data this many bytes
 * ahead (the hardware prefetcher alone leaves read bandwidth unused). */
#define SCIPIX_ROW_PREFETCH 16384

/* With `stream` (outputs larger than the caches) the row kernels store
 * around the caches, as scipix_widen_stream does, sparing the read of each
 * output line before it is written (4096^2 threshold 2.2 -> 1.6 ms, RGB
 * grayscale 4.9 -> 3.6 ms on the development VM); streamed stores need
 * 32-byte aligned addresses, so such rows start with a few plain pixels.  A
 * caller that streamed ends with scipix_store_fence(), once: a fence per row
 * costs more than streaming saves. */
static inline void scipix_store_fence(void)
{
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__SSE2__)
    _mm_sfence();
#endif
}

#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
static inline void scipix_store32(uint8_t *dst, __m256i bytes, int stream)
{
    if (stream)
        _mm256_stream_si256((__m256i *)dst, bytes);
    else
        _mm256_storeu_si256((__m256i *)dst, bytes);
}

/* The two 64-byte lines SCIPIX_ROW_PREFETCH bytes past p: 128 bytes, at
 * least what one step of the row loops below reads. */
static inline void scipix_prefetch_ahead(const uint8_t *p)
{
    _mm_prefetch((const char *)(p + SCIPIX_ROW_PREFETCH), _MM_HINT_T0);
    _mm_prefetch((const char *)(p + SCIPIX_ROW_PREFETCH + 64), _MM_HINT_T0);
}

/* Pixels before dst + x is 32-byte aligned (none unless streaming). */
static inline ptrdiff_t scipix_stream_head(const uint8_t *dst, ptrdiff_t n, int stream)
{
    ptrdiff_t head = stream ? (ptrdiff_t)(-(uintptr_t)dst & 31) : 0;
    return head < n ? head : n;
}
#endif

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

/* gray = (77 R + 150 G + 29 B) >> 8, on AVX2 32 pixels a step.
 *
 * With a pixel in each 32-bit lane (R, G, B, any), vpmaddubsw multiplies the
 * bytes by (77, 22, 29, 0) (150 does not fit its signed weights) and
 * vpmaddwd adds each pixel's two products into 77 R + 22 G + 29 B; the
 * missing 128 G is the lane shifted right by one with G's bits masked.  The
 * sums (< 2**16) narrow with an unsigned-saturating pack that cannot
 * saturate, a 16-bit shift by 8 and a byte pack.  About half the
 * instructions of the generic vector loop. */
#define SCIPIX_GRAY_ONE(p) ((uint8_t)((77u * (p)[0] + 150u * (p)[1] + 29u * (p)[2]) >> 8))
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
static inline __m256i scipix_gray_sums(__m256i pixels)
{
    const __m256i weights = _mm256_set1_epi32(77 | (22 << 8) | (29 << 16));
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
                                       int stream)
{
    ptrdiff_t x = 0;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
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
            sums[k] = scipix_gray_sums(_mm256_shuffle_epi8(pixels, spread));
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
                                        int stream)
{
    ptrdiff_t x = 0;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    for (const ptrdiff_t head = scipix_stream_head(dst, n, stream); x < head; x++)
        dst[x] = SCIPIX_GRAY_ONE(src + 4 * x);
    for (; x + 32 <= n; x += 32) {
        __m256i sums[4];
        int k;
        scipix_prefetch_ahead(src + 4 * x);
        for (k = 0; k < 4; k++)
            sums[k] = scipix_gray_sums(
                _mm256_loadu_si256((const __m256i *)(src + 4 * x + 32 * k)));
        scipix_gray_store(sums, dst + x, stream);
    }
#elif !defined(SCIPIX_SCALAR_REFERENCE)
    /* As 16-bit lanes a pixel is (R | G << 8, B | A << 8): the low bytes
     * hold R and B, the high bytes G and A.  Weighting them (77, 29) and
     * (150, 0) and adding the two lanes of each pixel gives the sum; no
     * lane exceeds 16 bits (77 * 255 + 150 * 255 < 65536). */
    const uint32_t pixels_per_vec = SCIPIX_VEC_BYTES / 4;
    scipix_u32v w32_low = (scipix_u32v){0} + (77u | (29u << 16));
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

/* Mean and M2 of x[0:n] by the corrected two-pass algorithm.
 *
 * Pass one estimates the mean from SCIPIX_LANES float32 partial sums; pass
 * two sums the deviations d from the estimate and their squares and
 * corrects both with sum(d) (Chan, Golub & LeVeque), so the estimate's
 * error cancels.  Callers keep n small (a block in L1) for pass two. */
static inline scipix_moments scipix_block_moments(const float *x, ptrdiff_t n)
{
    ptrdiff_t i, k, full = n - n % SCIPIX_LANES;
    double total = 0.0, dev_sum = 0.0, sq_sum = 0.0, tail;
    float estimate;
    float acc[SCIPIX_LANES], dev[SCIPIX_LANES], sq[SCIPIX_LANES];
    scipix_moments result;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    /* Lane k of the SCIPIX_LANES partial sums lives in vector k / W. */
    enum { W = SCIPIX_F32_PER_VEC, VECS = SCIPIX_LANES / SCIPIX_F32_PER_VEC };
    scipix_f32v acc_v[VECS], dev_v[VECS], sq_v[VECS], value, d, shift;
    ptrdiff_t j;
    for (j = 0; j < VECS; j++)
        acc_v[j] = dev_v[j] = sq_v[j] = (scipix_f32v){0};
    for (i = 0; i < full; i += SCIPIX_LANES)
        for (j = 0; j < VECS; j++) {
            memcpy(&value, x + i + j * W, sizeof(value));
            acc_v[j] += value;
        }
    memcpy(acc, acc_v, sizeof(acc));
#else
    for (k = 0; k < SCIPIX_LANES; k++)
        acc[k] = 0.0f;
    for (i = 0; i < full; i += SCIPIX_LANES)
        for (k = 0; k < SCIPIX_LANES; k++)
            acc[k] += x[i + k];
#endif
    for (k = 0; k < SCIPIX_LANES; k++)
        total += acc[k];
    for (i = full; i < n; i++)
        total += x[i];
    estimate = (float)(total / n);

#if !defined(SCIPIX_SCALAR_REFERENCE)
    shift = (scipix_f32v){0} + estimate;
    for (i = 0; i < full; i += SCIPIX_LANES)
        for (j = 0; j < VECS; j++) {
            memcpy(&value, x + i + j * W, sizeof(value));
            d = value - shift;
            dev_v[j] += d;
            sq_v[j] += d * d;
        }
    memcpy(dev, dev_v, sizeof(dev));
    memcpy(sq, sq_v, sizeof(sq));
#else
    for (k = 0; k < SCIPIX_LANES; k++)
        dev[k] = sq[k] = 0.0f;
    for (i = 0; i < full; i += SCIPIX_LANES)
        for (k = 0; k < SCIPIX_LANES; k++) {
            float d = x[i + k] - estimate;
            dev[k] += d;
            sq[k] += d * d;
        }
#endif
    for (k = 0; k < SCIPIX_LANES; k++) {
        dev_sum += dev[k];
        sq_sum += sq[k];
    }
    for (i = full; i < n; i++) {
        tail = (double)x[i] - estimate;
        dev_sum += tail;
        sq_sum += tail * tail;
    }
    result.count = (double)n;
    result.mean = estimate + dev_sum / n;
    result.m2 = sq_sum - dev_sum * dev_sum / n;
    return result;
}

/* out[i] = ((float)x[i] - shift) * factor for 8-bit x, signed or not.
 * The output is written once and read later by someone else (a model), not
 * by us: on x86 it is stored around the caches (non-temporal), which spares
 * the memory read a cached store makes first; the closing fence orders those
 * stores before any later ones.  Callers use it for outputs larger than the
 * caches only: a small output is better left cached for its reader. */
static inline void scipix_widen_stream(const void *x, int is_signed, float *out, ptrdiff_t n,
                                       float shift, float factor)
{
    const uint8_t *u = (const uint8_t *)x;
    const int8_t *s = (const int8_t *)x;
    ptrdiff_t i = 0;
#define SCIPIX_WIDEN(k) (((is_signed ? (float)s[k] : (float)u[k]) - shift) * factor)
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX2__)
    for (; i < n && ((uintptr_t)(out + i) & 31); i++)
        out[i] = SCIPIX_WIDEN(i);
    {   /* 32 bytes per step, widened 8 at a time; the product is the same
         * one rounding as the scalar (byte - shift is exact in float) */
        const __m256 sh = _mm256_set1_ps(shift), f = _mm256_set1_ps(factor);
        for (; i + 32 <= n; i += 32) {
            int k;
            for (k = 0; k < 4; k++) {
                __m128i bytes = _mm_loadl_epi64((const __m128i *)(u + i + 8 * k));
                __m256i wide = is_signed ? _mm256_cvtepi8_epi32(bytes) : _mm256_cvtepu8_epi32(bytes);
                _mm256_stream_ps(out + i + 8 * k,
                                 _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(wide), sh), f));
            }
        }
        _mm_sfence();
    }
#elif !defined(SCIPIX_SCALAR_REFERENCE) && defined(__SSE2__)
    for (; i < n && ((uintptr_t)(out + i) & 15); i++)
        out[i] = SCIPIX_WIDEN(i);
    {
        const __m128 sh = _mm_set1_ps(shift), f = _mm_set1_ps(factor);
        const __m128i zero = _mm_setzero_si128();
        for (; i + 4 <= n; i += 4) {
            int32_t word;
            __m128i bytes, wide;
            memcpy(&word, u + i, 4);
            bytes = _mm_cvtsi32_si128(word);
            if (is_signed) {  /* sign-extend: the byte lands in the top, shift it down */
                __m128i words = _mm_unpacklo_epi8(bytes, bytes);
                wide = _mm_srai_epi32(_mm_unpacklo_epi16(words, words), 24);
            } else {
                wide = _mm_unpacklo_epi16(_mm_unpacklo_epi8(bytes, zero), zero);
            }
            _mm_stream_ps(out + i, _mm_mul_ps(_mm_sub_ps(_mm_cvtepi32_ps(wide), sh), f));
        }
        _mm_sfence();
    }
#endif
    for (; i < n; i++)
        out[i] = SCIPIX_WIDEN(i);
#undef SCIPIX_WIDEN
}

/* q = clamp(rint(x * inv_scale) + zero_point, qmin, qmax), half to even.
 * x * inv_scale is clamped to [-256, 256] first: +-inf then saturate, and
 * the 1.5 * 2**23 rounding trick is exact there (every larger value
 * saturates anyway).  Returns 1 if x holds NaN (q is then written, with
 * qmin for each NaN), else 0: callers reject such input.
 *
 * gcc vectorizes the plain loop, but turns the clamps into compares and
 * blends (about 3 instructions per value); AVX2 takes 32 values per step
 * with min/max, vcvtps2dq (round to nearest even in the default MXCSR mode,
 * the mode the trick's additions round in too), and the int32 -> int8
 * narrowing done by two saturating packs, then clamps the bytes to
 * [qmin, qmax] (the packs' saturation to [-128, 127], or to [0, 255] for
 * unsigned levels, is the same clamp for any range within it; other ranges
 * take the plain loop).  Same operations, same results.  With
 * `stream` (outputs larger than the caches) the bytes are stored around the
 * caches, which spares reading the output's lines before writing them. */
#define SCIPIX_QUANTIZE_PREFETCH 384  /* floats ahead */
static inline int scipix_quantize_block(const float *x, int8_t *q, ptrdiff_t n,
                                        float inv_scale, int32_t zero_point,
                                        int32_t qmin, int32_t qmax, int stream)
{
    const float magic = 12582912.0f;
    ptrdiff_t i = 0;
    int nan = 0;
#define SCIPIX_QUANTIZE_ONE(i) do { \
        float v = x[i] * inv_scale; \
        int32_t level; \
        nan |= x[i] != x[i]; \
        v = v < -256.0f ? -256.0f : v; \
        v = v > 256.0f ? 256.0f : v; \
        level = (int32_t)((v + magic) - magic) + zero_point; \
        level = level < qmin ? qmin : level; \
        level = level > qmax ? qmax : level; \
        q[i] = (int8_t)level; \
    } while (0)
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    const __m256 factor = _mm256_set1_ps(inv_scale);
    const __m256 low = _mm256_set1_ps(-256.0f), high = _mm256_set1_ps(256.0f);
    const __m256i zero = _mm256_set1_epi32(zero_point);
    const __m256i byte_min = _mm256_set1_epi8((char)qmin), byte_max = _mm256_set1_epi8((char)qmax);
    /* The packs interleave 4-value groups by 128-bit lane; this restores order. */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    /* uint8 levels (qmin >= 0, e.g. activations in [0, 255]) narrow with
     * unsigned saturation and clamp as unsigned bytes. */
    const int unsigned_levels = qmin >= 0;
    const ptrdiff_t vector_end = (unsigned_levels ? qmax <= 255 : qmin >= -128 && qmax <= 127)
                                 ? n : 0;
    __m256 unordered = _mm256_setzero_ps();
    if (stream)  /* streaming stores need 32-byte aligned addresses */
        for (; i < vector_end && ((uintptr_t)(q + i) & 31) != 0; i++)
            SCIPIX_QUANTIZE_ONE(i);
    for (; i + 32 <= vector_end; i += 32) {
        __m256i level[4], bytes;
        int k;
        for (k = 0; k < 4; k++) {
            __m256 values = _mm256_loadu_ps(x + i + 8 * k);
            __m256 v = _mm256_mul_ps(values, factor);
            /* The hardware prefetcher alone left a 16 M-value quantize ~25 %
             * above the memory's read time; a prefetch 1.5 KB ahead, one per
             * 64-byte line, closes most of it.  (Prefetches never fault, so
             * running past the end is harmless.) */
            if (k % 2 == 0)
                _mm_prefetch((const char *)(x + i + 8 * k + SCIPIX_QUANTIZE_PREFETCH), _MM_HINT_T0);
            unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(values, values, _CMP_UNORD_Q));
            v = _mm256_min_ps(_mm256_max_ps(v, low), high);
            level[k] = _mm256_add_epi32(_mm256_cvtps_epi32(v), zero);
        }
        if (unsigned_levels) {
            bytes = _mm256_packus_epi16(_mm256_packs_epi32(level[0], level[1]),
                                        _mm256_packs_epi32(level[2], level[3]));
            bytes = _mm256_permutevar8x32_epi32(bytes, order);
            bytes = _mm256_min_epu8(_mm256_max_epu8(bytes, byte_min), byte_max);
        } else {
            bytes = _mm256_packs_epi16(_mm256_packs_epi32(level[0], level[1]),
                                       _mm256_packs_epi32(level[2], level[3]));
            bytes = _mm256_permutevar8x32_epi32(bytes, order);
            bytes = _mm256_min_epi8(_mm256_max_epi8(bytes, byte_min), byte_max);
        }
        if (stream)
            _mm256_stream_si256((__m256i *)(q + i), bytes);
        else
            _mm256_storeu_si256((__m256i *)(q + i), bytes);
    }
    if (stream)
        _mm_sfence();
    nan |= _mm256_movemask_ps(unordered) != 0;
#else
    (void)stream;
#endif
    for (; i < n; i++)
        SCIPIX_QUANTIZE_ONE(i);
#undef SCIPIX_QUANTIZE_ONE
    return nan;
}

#endif
