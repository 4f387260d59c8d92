/* Conversions between 8-bit integers and float32: the widening store of
 * normalize, dequantize and batch preprocessing, and INT8 quantization. */
#ifndef SCIPIX_CONVERT_H
#define SCIPIX_CONVERT_H

#include <float.h>
#include <math.h>

#include "scipix_vector.h"

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


/* The smallest and largest of x[0..n) into *low, *high (+inf and -inf when
 * empty); returns 1 if x holds NaN (the bounds are then those of the other
 * values), else 0.
 * One read of the data: AVX2 keeps 4 pairs of running bounds and an
 * unordered-compare flag.  No software prefetch: unlike the quantize loop,
 * this read-only loop is faster on the hardware prefetcher alone. */
static inline int scipix_minmax(const float *x, ptrdiff_t n, float *low, float *high)
{
    float lo = INFINITY, hi = -INFINITY;
    ptrdiff_t i = 0;
    int nan = 0;
#if defined(__AVX2__) && !defined(SCIPIX_SCALAR_REFERENCE)
    if (n >= 32) {
        __m256 lows[4], highs[4], unordered = _mm256_setzero_ps();
        int k;
        for (k = 0; k < 4; k++) {
            lows[k] = _mm256_set1_ps(INFINITY);
            highs[k] = _mm256_set1_ps(-INFINITY);
        }
        for (; i + 32 <= n; i += 32) {
            for (k = 0; k < 4; k++) {
                __m256 values = _mm256_loadu_ps(x + i + 8 * k);
                unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(values, values, _CMP_UNORD_Q));
                /* min/max return their second operand when one is NaN:
                 * the running bound, so NaN never enters it. */
                lows[k] = _mm256_min_ps(values, lows[k]);
                highs[k] = _mm256_max_ps(values, highs[k]);
            }
        }
        {
            float lanes[8];
            __m256 l = _mm256_min_ps(_mm256_min_ps(lows[0], lows[1]), _mm256_min_ps(lows[2], lows[3]));
            __m256 h = _mm256_max_ps(_mm256_max_ps(highs[0], highs[1]),
                                     _mm256_max_ps(highs[2], highs[3]));
            _mm256_storeu_ps(lanes, l);
            for (k = 0; k < 8; k++)
                lo = lanes[k] < lo ? lanes[k] : lo;
            _mm256_storeu_ps(lanes, h);
            for (k = 0; k < 8; k++)
                hi = lanes[k] > hi ? lanes[k] : hi;
        }
        nan = _mm256_movemask_ps(unordered) != 0;
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        nan |= v != v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *low = lo;
    *high = hi;
    return nan;
}

/* PyTorch's MinMaxObserver params for levels [qmin, qmax] from finite
 * bounds, in float32 steps, as quantize._params._minmax_params: the range
 * widened to include 0, scale = max((high - low) / (qmax - qmin), eps) (the
 * width taken in double when it overflows float32), zero point
 * qmin - rint(low / scale) clamped to the levels. */
static inline void scipix_minmax_params(float low, float high, int32_t qmin, int32_t qmax,
                                        float *scale, int32_t *zero_point)
{
    float span, step, level;
    int32_t zero;
    low = low < 0.0f ? low : 0.0f;
    high = high > 0.0f ? high : 0.0f;
    span = high - low;
    if (isinf(span))
        step = (float)(((double)high - (double)low) / (double)(qmax - qmin));
    else
        step = span / (float)(qmax - qmin);
    *scale = step > FLT_EPSILON ? step : FLT_EPSILON;
    level = rintf(low / *scale);
    zero = qmin - (int32_t)level;
    *zero_point = zero < qmin ? qmin : zero > qmax ? qmax : zero;
}

#endif
