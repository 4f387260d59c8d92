/* INT8 matrix product: c[m, n] = sum_k a[m, k] * w[n, k] in int32.
 *
 * a is uint8 (activations shifted to unsigned), w is int8 (weights), both
 * row-major with k contiguous, so every output is a dot product of two
 * rows.  The instruction that multiplies depends on the variant:
 *   avx512 (VNNI)  vpdpbusd: u8 x s8, four products summed into int32, exact;
 *   avx2           vpmaddubsw when every a <= 127 (seven_bit): u8 x s8 pairs
 *                  summed into int16, which cannot saturate because
 *                  2 * 127 * 128 = 32512 < 32767; otherwise both operands are
 *                  widened to int16 and vpmaddwd sums pairs into int32, exact;
 *   others         the plain loop, which GCC vectorizes (pmullw on SSE2).
 * int32 cannot overflow while k <= 65536 (255 * 128 * 65536 < 2**31): the
 * caller checks it.  The results never depend on the path taken.
 */
#ifndef SCIPIX_QGEMM_H
#define SCIPIX_QGEMM_H

#include <stddef.h>
#include <stdint.h>
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX2__)
#include <immintrin.h>
#endif

#define SCIPIX_QGEMM_MR 2  /* rows of a per register block */
#define SCIPIX_QGEMM_NR 4  /* rows of w per register block */
#define SCIPIX_QGEMM_MAX_K 65536

#define SCIPIX_INLINE static inline __attribute__((always_inline))

SCIPIX_INLINE int32_t scipix_dot_tail(const uint8_t *a, const int8_t *w, ptrdiff_t from,
                                      ptrdiff_t k)
{
    int32_t sum = 0;
    ptrdiff_t p;
    for (p = from; p < k; p++)
        sum += (int32_t)a[p] * (int32_t)w[p];
    return sum;
}

#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
#define SCIPIX_QGEMM_STEP 64
typedef __m512i scipix_qvec;
SCIPIX_INLINE scipix_qvec scipix_qload(const void *p) { return _mm512_loadu_si512(p); }
SCIPIX_INLINE scipix_qvec scipix_qzero(void) { return _mm512_setzero_si512(); }
SCIPIX_INLINE int32_t scipix_qsum(scipix_qvec v) { return _mm512_reduce_add_epi32(v); }
SCIPIX_INLINE scipix_qvec scipix_qdot(scipix_qvec acc, scipix_qvec a, scipix_qvec w, int seven_bit)
{
    (void)seven_bit;
    return _mm512_dpbusd_epi32(acc, a, w);
}
#elif !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX2__)
#define SCIPIX_QGEMM_STEP 32
typedef __m256i scipix_qvec;
SCIPIX_INLINE scipix_qvec scipix_qload(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
SCIPIX_INLINE scipix_qvec scipix_qzero(void) { return _mm256_setzero_si256(); }
SCIPIX_INLINE int32_t scipix_qsum(scipix_qvec v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
SCIPIX_INLINE scipix_qvec scipix_qdot(scipix_qvec acc, scipix_qvec a, scipix_qvec w, int seven_bit)
{
    const __m256i ones = _mm256_set1_epi16(1);
    if (seven_bit)
        return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), ones));
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(
        _mm256_cvtepu8_epi16(_mm256_castsi256_si128(a)),
        _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w))));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(
        _mm256_cvtepu8_epi16(_mm256_extracti128_si256(a, 1)),
        _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1))));
}
#endif

/* The mr x nr dot products of rows a[0..mr) and w[0..nr) into c (row
 * stride ldc).  Called with constant mr, nr so that the accumulators stay
 * in registers. */
SCIPIX_INLINE void scipix_qgemm_block(const uint8_t *a, ptrdiff_t lda, const int8_t *w,
                                      ptrdiff_t ldw, ptrdiff_t k, int32_t *c, ptrdiff_t ldc,
                                      int mr, int nr, int seven_bit)
{
    int i, j;
    ptrdiff_t p = 0;
#ifdef SCIPIX_QGEMM_STEP
    scipix_qvec acc[SCIPIX_QGEMM_MR][SCIPIX_QGEMM_NR];
    for (i = 0; i < mr; i++)
        for (j = 0; j < nr; j++)
            acc[i][j] = scipix_qzero();
    for (; p + SCIPIX_QGEMM_STEP <= k; p += SCIPIX_QGEMM_STEP) {
        scipix_qvec rows[SCIPIX_QGEMM_MR];
        for (i = 0; i < mr; i++)
            rows[i] = scipix_qload(a + i * lda + p);
        for (j = 0; j < nr; j++) {
            scipix_qvec column = scipix_qload(w + j * ldw + p);
            for (i = 0; i < mr; i++)
                acc[i][j] = scipix_qdot(acc[i][j], rows[i], column, seven_bit);
        }
    }
    for (i = 0; i < mr; i++)
        for (j = 0; j < nr; j++)
            c[i * ldc + j] = scipix_qsum(acc[i][j])
                             + scipix_dot_tail(a + i * lda, w + j * ldw, p, k);
#else
    (void)seven_bit;
    for (i = 0; i < mr; i++)
        for (j = 0; j < nr; j++)
            c[i * ldc + j] = scipix_dot_tail(a + i * lda, w + j * ldw, p, k);
#endif
}

/* c[0..m, 0..nr) for nr <= SCIPIX_QGEMM_NR rows of w: one column panel. */
static void scipix_qgemm_panel(const uint8_t *a, ptrdiff_t lda, ptrdiff_t m, const int8_t *w,
                               ptrdiff_t ldw, int nr, ptrdiff_t k, int32_t *c, ptrdiff_t ldc,
                               int seven_bit)
{
    ptrdiff_t row = 0;
    if (nr == SCIPIX_QGEMM_NR) {
        if (seven_bit) {
            for (; row + SCIPIX_QGEMM_MR <= m; row += SCIPIX_QGEMM_MR)
                scipix_qgemm_block(a + row * lda, lda, w, ldw, k, c + row * ldc, ldc,
                                   SCIPIX_QGEMM_MR, SCIPIX_QGEMM_NR, 1);
        } else {
            for (; row + SCIPIX_QGEMM_MR <= m; row += SCIPIX_QGEMM_MR)
                scipix_qgemm_block(a + row * lda, lda, w, ldw, k, c + row * ldc, ldc,
                                   SCIPIX_QGEMM_MR, SCIPIX_QGEMM_NR, 0);
        }
    }
    /* Leftover rows of a, or a panel narrower than NR: one dot at a time. */
    for (; row < m; row++) {
        int j;
        for (j = 0; j < nr; j++)
            scipix_qgemm_block(a + row * lda, lda, w + j * ldw, ldw, k, c + row * ldc + j, ldc,
                               1, 1, seven_bit);
    }
}

#endif
