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

/* gray = (77 R + 150 G + 29 B) >> 8 for n RGBA pixels. */
static inline void scipix_gray_rgba_row(const uint8_t *src, uint8_t *dst, ptrdiff_t n)
{
    ptrdiff_t x = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    /* As 16-bit lanes a pixel is (R | G << 8, B | A << 8): the low bytes
     * hold R and B, the high bytes G and A.  Weighting them (77, 29) and
     * (150, 0) and adding the two lanes of each pixel gives the sum; no
     * lane exceeds 16 bits (77 * 255 + 150 * 255 < 65536). */
    const uint32_t pixels_per_vec = SCIPIX_VEC_BYTES / 4;
    scipix_u32v w32_low = (scipix_u32v){0} + (77u | (29u << 16));
    scipix_u32v w32_high = (scipix_u32v){0} + 150u;
    scipix_u16v w_low, w_high;
    memcpy(&w_low, &w32_low, sizeof(w_low));
    memcpy(&w_high, &w32_high, sizeof(w_high));
    for (; x + pixels_per_vec <= n; x += pixels_per_vec) {
        scipix_u16v pixels, weighted;
        scipix_u32v pairs;
        scipix_u8v bytes;
        scipix_u8q gray;
        memcpy(&pixels, src + 4 * x, sizeof(pixels));
        /* Rows are read once, from memory: ask for 16 KiB ahead. */
        __builtin_prefetch(src + 4 * x + 16384);
        weighted = (pixels & 0xff) * w_low + (pixels >> 8) * w_high;
        memcpy(&pairs, &weighted, sizeof(pairs));
        pairs = ((pairs & 0xffff) + (pairs >> 16)) >> 8;
        memcpy(&bytes, &pairs, sizeof(bytes));
        gray = SCIPIX_LOW_BYTES(bytes);
        memcpy(dst + x, &gray, sizeof(gray));
    }
#endif
    for (; x < n; x++)
        dst[x] = (uint8_t)((77u * src[4 * x] + 150u * src[4 * x + 1] + 29u * src[4 * x + 2]) >> 8);
}

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
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__SSE2__)
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
 * saturates anyway).  Plain ternaries so that gcc vectorizes the loop.
 * NaN must be rejected by the caller. */
static inline void scipix_quantize_block(const float *x, int8_t *q, ptrdiff_t n,
                                         float inv_scale, int32_t zero_point,
                                         int32_t qmin, int32_t qmax)
{
    const float magic = 12582912.0f;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        float v = x[i] * inv_scale;
        int32_t level;
        v = v < -256.0f ? -256.0f : v;
        v = v > 256.0f ? 256.0f : v;
        level = (int32_t)((v + magic) - magic) + zero_point;
        level = level < qmin ? qmin : level;
        level = level > qmax ? qmax : level;
        q[i] = (int8_t)level;
    }
}

/* 1 if x[0:n] holds a NaN (x != x only for NaN). */
static inline int scipix_has_nan(const float *x, ptrdiff_t n)
{
    int found = 0;
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        found |= x[i] != x[i];
    return found;
}

#endif
