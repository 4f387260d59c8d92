/* Mean and sum of squared deviations of float32 blocks (normalize). */
#ifndef SCIPIX_MOMENTS_H
#define SCIPIX_MOMENTS_H

#include "scipix_vector.h"

#define SCIPIX_LANES 16  /* float partial sums per reduction */

typedef struct {
    double count;
    double mean;
    double m2;  /* sum of squared deviations from mean */
} scipix_moments;

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

#endif
