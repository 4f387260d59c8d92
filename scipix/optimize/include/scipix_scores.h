/* Kernels over model outputs (float32 scores): the detector's probability
 * map thresholded to a bitmap, and the recognizer's per-step argmax. */
#ifndef SCIPIX_SCORES_H
#define SCIPIX_SCORES_H

#include "scipix_vector.h"

/* dst = 255 where src > thresh (strict, as float32), else 0; NaN gives 0
 * (every comparison with it is false).  A plain loop: gcc turns it into
 * vector compares and packs on every vector target. */
static inline void scipix_threshold_f32_row(const float *src, uint8_t *dst, ptrdiff_t n,
                                            float thresh)
{
    ptrdiff_t x;
    for (x = 0; x < n; x++)
        dst[x] = src[x] > thresh ? 255 : 0;
}

/* Index of the largest of x[0:n] (n >= 1), the first one among equals, as
 * numpy.argmax: a NaN counts as the largest, so the first NaN wins.  Pass
 * one takes the maximum in vector lanes, noting NaNs; pass two, over the
 * row while it is still in L1, finds its first position. */
static inline ptrdiff_t scipix_argmax_row(const float *x, ptrdiff_t n)
{
    ptrdiff_t i = 0;
    float best = x[0];
    int nan = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    typedef int32_t scipix_mask_v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
    if (n >= SCIPIX_F32_PER_VEC) {
        scipix_f32v top, v;
        scipix_mask_v unordered = {0}, above, top_bits, v_bits;
        ptrdiff_t lane;
        memcpy(&top, x, sizeof(top));
        for (i = SCIPIX_F32_PER_VEC; i + SCIPIX_F32_PER_VEC <= n; i += SCIPIX_F32_PER_VEC) {
            memcpy(&v, x + i, sizeof(v));
            above = v > top;
            unordered |= v != v;
            memcpy(&top_bits, &top, sizeof(top));
            memcpy(&v_bits, &v, sizeof(v));
            top_bits = (v_bits & above) | (top_bits & ~above);
            memcpy(&top, &top_bits, sizeof(top));
        }
        best = top[0];
        for (lane = 0; lane < SCIPIX_F32_PER_VEC; lane++) {
            nan |= unordered[lane] != 0 || top[lane] != top[lane];
            best = top[lane] > best ? top[lane] : best;
        }
    }
#endif
    for (; i < n; i++) {
        nan |= x[i] != x[i];
        best = x[i] > best ? x[i] : best;
    }
    for (i = 0; i < n; i++)
        if (nan ? x[i] != x[i] : x[i] == best)
            return i;
    return 0;
}

#endif
