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
 * numpy.argmax: a NaN counts as the largest, so the first NaN wins.
 *
 * One pass: two vectors of lanes each keep the largest value they have seen
 * and where they first saw it (a strict >, so the first among equals), two
 * so that the compare-and-select chains overlap.  The row's answer is the
 * smallest position among the lanes holding the overall largest value: each
 * lane saw a subsequence of the row, and the one holding its first maximum
 * kept it.  NaN, rare in scores, takes a second scan for the first one. */
static inline ptrdiff_t scipix_argmax_row(const float *x, ptrdiff_t n)
{
    ptrdiff_t i = 0, at = 0;
    float best = x[0];
    int nan = 0;
#if !defined(SCIPIX_SCALAR_REFERENCE)
    typedef int32_t scipix_i32v __attribute__((vector_size(SCIPIX_VEC_BYTES)));
    enum { LANES = SCIPIX_F32_PER_VEC };
    if (n >= 2 * LANES && n <= INT32_MAX) {
        scipix_f32v top0, top1, v0, v1;
        scipix_i32v where0, where1, here, above0, above1, unordered = {0}, top_bits, v_bits;
        ptrdiff_t lane;
        for (lane = 0; lane < LANES; lane++)
            here[lane] = (int32_t)lane;
        memcpy(&top0, x, sizeof(top0));
        memcpy(&top1, x + LANES, sizeof(top1));
        where0 = here;
        where1 = here + LANES;
        unordered |= (top0 != top0) | (top1 != top1);
        for (i = 2 * LANES; i + 2 * LANES <= n; i += 2 * LANES) {
            memcpy(&v0, x + i, sizeof(v0));
            memcpy(&v1, x + i + LANES, sizeof(v1));
            unordered |= (v0 != v0) | (v1 != v1);
            above0 = v0 > top0;
            above1 = v1 > top1;
            memcpy(&top_bits, &top0, sizeof(top0));
            memcpy(&v_bits, &v0, sizeof(v0));
            top_bits = (v_bits & above0) | (top_bits & ~above0);
            memcpy(&top0, &top_bits, sizeof(top0));
            memcpy(&top_bits, &top1, sizeof(top1));
            memcpy(&v_bits, &v1, sizeof(v1));
            top_bits = (v_bits & above1) | (top_bits & ~above1);
            memcpy(&top1, &top_bits, sizeof(top1));
            where0 = ((here + (int32_t)i) & above0) | (where0 & ~above0);
            where1 = ((here + (int32_t)(i + LANES)) & above1) | (where1 & ~above1);
        }
        best = top0[0];
        for (lane = 0; lane < LANES; lane++) {
            nan |= unordered[lane] != 0;
            best = top0[lane] > best ? top0[lane] : best;
            best = top1[lane] > best ? top1[lane] : best;
        }
        at = n;
        for (lane = 0; lane < LANES; lane++) {
            if (top0[lane] == best && where0[lane] < at)
                at = where0[lane];
            if (top1[lane] == best && where1[lane] < at)
                at = where1[lane];
        }
    }
#endif
    /* The rest (every position past those the lanes saw): a strict > keeps
     * the first among equals. */
    for (; i < n; i++) {
        nan |= x[i] != x[i];
        if (x[i] > best) {
            best = x[i];
            at = i;
        }
    }
    if (nan)
        for (i = 0; i < n; i++)
            if (x[i] != x[i])
                return i;
    return at;
}

#endif
