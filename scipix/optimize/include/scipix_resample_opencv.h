/* OpenCV's separable fixed-point resize of uint8 images (cv::resize with
 * INTER_LANCZOS4, imgproc/src/resize.cpp: HResizeLanczos4, VResizeLanczos4).
 *
 * Weights are 16-bit integers with 11 fractional bits, rounded one by one
 * (their sum need not be 2048).  OpenCV sums the horizontal pass into
 * 32-bit rows it does not round, then the vertical pass's products of those
 * rows, and rounds the 22-bit result to 8 bits, saturating.  Nothing is
 * rounded between the passes, so the sum is the same in either order: the
 * vertical pass runs first where that is less work (it is the one that
 * vectorizes along a row).  The taps use the layout of `scipix_rs_pass`
 * (scipix_resample.h); the border pixels OpenCV replicates are merged into
 * one tap, which is exact in integers.
 *
 * Sums are taken in uint32 (wrapping, as OpenCV's int sums do); the final
 * sum of a Lanczos-4 resize of 8-bit values fits in 32 bits.
 */
#ifndef SCIPIX_RESAMPLE_OPENCV_H
#define SCIPIX_RESAMPLE_OPENCV_H

#include <stddef.h>
#include <stdint.h>

#include "scipix_resample.h"

/* The final sum's fractional bits: 11 for each pass's weights. */
#define SCIPIX_RS_CV_BITS 22

typedef struct {
    const uint8_t *src;
    ptrdiff_t src_rows, src_cols, src_stride;
    uint8_t *dst;
    ptrdiff_t dst_rows, dst_cols, dst_stride;
    int channels, vertical_first;
    scipix_rs_pass h, v;
} scipix_rs_cv_plan;

static inline uint8_t scipix_rs_cv_level(uint32_t sum)
{
    const int32_t level = (int32_t)(sum + (1u << (SCIPIX_RS_CV_BITS - 1))) >> SCIPIX_RS_CV_BITS;
    return (uint8_t)(level < 0 ? 0 : level > 255 ? 255 : level);
}

/* The horizontal pass over one row of `in` (uint8 source pixels, or the
 * vertical pass's uint32 sums): raw sums into `sums`, or, with `levels`,
 * rounded to 8 bits.  `channels` is a constant where inlined. */
#define SCIPIX_RS_CV_HORIZONTAL(in, channels, store)                                     \
    do {                                                                                \
        ptrdiff_t x_;                                                                   \
        for (x_ = 0; x_ < cols; x_++) {                                                 \
            const int32_t *k_ = h->coeffs + x_ * h->ksize;                              \
            const int32_t n_ = h->count[x_];                                            \
            uint32_t sum_[4] = {0, 0, 0, 0};                                            \
            int32_t t_;                                                                 \
            int c_;                                                                     \
            if (n_ == 8) { /* away from the borders: a count the compiler unrolls */    \
                for (t_ = 0; t_ < 8; t_++)                                              \
                    for (c_ = 0; c_ < (channels); c_++)                                 \
                        sum_[c_] += (uint32_t)(in)[(h->first[x_] + t_) * (channels) + c_] \
                                    * (uint32_t)k_[t_];                                 \
            } else {                                                                    \
                for (t_ = 0; t_ < n_; t_++)                                             \
                    for (c_ = 0; c_ < (channels); c_++)                                 \
                        sum_[c_] += (uint32_t)(in)[(h->first[x_] + t_) * (channels) + c_] \
                                    * (uint32_t)k_[t_];                                 \
            }                                                                           \
            for (c_ = 0; c_ < (channels); c_++)                                         \
                store;                                                                  \
        }                                                                               \
    } while (0)

static inline __attribute__((always_inline)) void
scipix_rs_cv_hsums_n(const uint8_t *in, uint32_t *sums, const scipix_rs_pass *h, ptrdiff_t cols,
                     const int channels)
{
    SCIPIX_RS_CV_HORIZONTAL(in, channels, sums[x_ * channels + c_] = sum_[c_]);
}

static inline __attribute__((always_inline)) void
scipix_rs_cv_hlevels_n(const uint32_t *in, uint8_t *levels, const scipix_rs_pass *h,
                       ptrdiff_t cols, const int channels)
{
    SCIPIX_RS_CV_HORIZONTAL(in, channels,
                            levels[x_ * channels + c_] = scipix_rs_cv_level(sum_[c_]));
}

/* The two above for 1 to 4 channels, each specialized. */
static inline void scipix_rs_cv_hsums(const uint8_t *in, uint32_t *sums, const scipix_rs_pass *h,
                                      ptrdiff_t cols, int channels)
{
    switch (channels) {
    case 1: scipix_rs_cv_hsums_n(in, sums, h, cols, 1); break;
    case 2: scipix_rs_cv_hsums_n(in, sums, h, cols, 2); break;
    case 3: scipix_rs_cv_hsums_n(in, sums, h, cols, 3); break;
    default: scipix_rs_cv_hsums_n(in, sums, h, cols, 4); break;
    }
}

static inline void scipix_rs_cv_hlevels(const uint32_t *in, uint8_t *levels,
                                        const scipix_rs_pass *h, ptrdiff_t cols, int channels)
{
    switch (channels) {
    case 1: scipix_rs_cv_hlevels_n(in, levels, h, cols, 1); break;
    case 2: scipix_rs_cv_hlevels_n(in, levels, h, cols, 2); break;
    case 3: scipix_rs_cv_hlevels_n(in, levels, h, cols, 3); break;
    default: scipix_rs_cv_hlevels_n(in, levels, h, cols, 4); break;
    }
}

/* The vertical pass over `n` rows of sums (horizontal pass first): one
 * output row of levels. */
static inline void scipix_rs_cv_vlevels(const uint32_t *const *rows, const int32_t *k, int32_t n,
                                        ptrdiff_t values, uint32_t *acc, uint8_t *out)
{
    ptrdiff_t x;
    int32_t t;
    for (x = 0; x < values; x++)
        acc[x] = rows[0][x] * (uint32_t)k[0];
    for (t = 1; t < n; t++) {
        const uint32_t *row = rows[t];
        const uint32_t kt = (uint32_t)k[t];
        for (x = 0; x < values; x++)
            acc[x] += row[x] * kt;
    }
    for (x = 0; x < values; x++)
        out[x] = scipix_rs_cv_level(acc[x]);
}

/* The vertical pass over `n` consecutive source rows (vertical pass first):
 * one row of sums as wide as the source. */
static inline void scipix_rs_cv_vsums(const uint8_t *row0, ptrdiff_t stride, const int32_t *k,
                                      int32_t n, ptrdiff_t values, uint32_t *acc)
{
    ptrdiff_t x;
    int32_t t;
    for (x = 0; x < values; x++)
        acc[x] = (uint32_t)row0[x] * (uint32_t)k[0];
    for (t = 1; t < n; t++) {
        const uint8_t *row = row0 + t * stride;
        const uint32_t kt = (uint32_t)k[t];
        for (x = 0; x < values; x++)
            acc[x] += (uint32_t)row[x] * kt;
    }
}

/* Scratch one band needs: the window's row pointers and the ring's source
 * row numbers, then (horizontal pass first) a ring of v.ksize rows of sums
 * and the vertical sums, or (vertical pass first) one source-wide row of
 * sums; 64-byte aligned. */
static inline size_t scipix_rs_cv_scratch_bytes(const scipix_rs_cv_plan *plan)
{
    const size_t rows = plan->vertical_first ? 1 : (size_t)plan->v.ksize + 1;
    const size_t values = (size_t)((plan->vertical_first ? plan->src_cols : plan->dst_cols)
                                   * plan->channels);
    return (size_t)plan->v.ksize * (sizeof(uint32_t *) + sizeof(ptrdiff_t)) + 64
           + rows * values * sizeof(uint32_t);
}

/* Output rows [y0, y1).  Horizontal pass first: each source row the band
 * needs goes through it once (a window's rows are consecutive and never
 * move back, so a ring of v.ksize rows holds them). */
static inline void scipix_rs_cv_band(const scipix_rs_cv_plan *plan, ptrdiff_t y0, ptrdiff_t y1,
                                     void *scratch)
{
    const ptrdiff_t ring_rows = plan->v.ksize, values = plan->dst_cols * plan->channels;
    const uint32_t **window = (const uint32_t **)scratch;
    ptrdiff_t *held = (ptrdiff_t *)(window + ring_rows);
    uint32_t *ring = (uint32_t *)(((uintptr_t)(held + ring_rows) + 63) & ~(uintptr_t)63);
    uint32_t *acc = ring + ring_rows * values;
    ptrdiff_t y, i;
    for (i = 0; i < ring_rows; i++)
        held[i] = -1;
    for (y = y0; y < y1; y++) {
        const ptrdiff_t lo = plan->v.first[y];
        const int32_t n = plan->v.count[y];
        const int32_t *k = plan->v.coeffs + y * plan->v.ksize;
        uint8_t *out = plan->dst + y * plan->dst_stride;
        int32_t t;
        if (plan->vertical_first) {
            scipix_rs_cv_vsums(plan->src + lo * plan->src_stride, plan->src_stride, k, n,
                               plan->src_cols * plan->channels, ring);
            scipix_rs_cv_hlevels(ring, out, &plan->h, plan->dst_cols, plan->channels);
            continue;
        }
        for (t = 0; t < n; t++) {
            const ptrdiff_t r = lo + t, slot = r % ring_rows;
            uint32_t *row = ring + slot * values;
            if (held[slot] != r) {
                scipix_rs_cv_hsums(plan->src + r * plan->src_stride, row, &plan->h,
                                   plan->dst_cols, plan->channels);
                held[slot] = r;
            }
            window[t] = row;
        }
        scipix_rs_cv_vlevels(window, k, n, values, acc, out);
    }
}

#endif
