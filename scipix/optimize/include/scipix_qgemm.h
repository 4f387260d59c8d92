/* INT8 matrix product: out[m, n] = epilogue(sum_k a[m, k] * w[n, k]).
 *
 * a holds unsigned 8-bit activations, row-major with rows padded to a
 * multiple of 4 bytes (zeros); w holds signed 8-bit weights, packed once
 * (scipix_qpack_weights) into the layout the micro-kernels stream:
 * panels of SCIPIX_QGEMM_NR output columns, each panel K in groups of 4,
 *     packed[panel][group][column][4] = w[panel * NR + column][4 * group + 0..3]
 * (zeros past n and k), so that one 32-bit lane holds 4 consecutive k of one
 * column: the operand of vpdpbusd, of vpmaddubsw + vpmaddwd, and of sdot.  The layout
 * is the same on every variant, so a packed matrix moves between machines.
 *
 * The micro-kernel keeps an MR x NR block of int32 sums in registers,
 * broadcasting 4 bytes of each activation row against the panel's vectors;
 * the instruction that multiplies depends on the variant:
 *   avx512 (AVX-512 VNNI)  vpdpbusd on 512-bit vectors;
 *   avxvnni (AVX-VNNI)     the VEX vpdpbusd on 256-bit vectors;
 *   neoni8mm (Armv8.6 i8mm) usmmla: 2 x 8 u8 by 8 x 2 s8 blocks into 2 x 2
 *                          int32 sums, two groups at once;
 *   neondot (ARMv8.2-A)    sdot by lane on 128-bit vectors: s8 x s8 only, so
 *                          a is read as a - 128 and 128 * colsum added back;
 *   avx2                   vpmaddubsw + vpmaddwd: u8 x s8 pairs summed into
 *                          int16, exact when every a <= 127 (seven_bit:
 *                          2 * 127 * 128 < 32767); 8-bit a is split into
 *                          a & 127 and a >> 7, two such products that
 *                          cannot saturate, the second scaled by 128;
 *   others                 the plain loop.
 * int32 cannot overflow while k <= 65536 (255 * 128 * 65536 < 2**31): the
 * caller checks it.  Results never depend on the path taken.
 *
 * The epilogue is fused into the store: with zero points az (per row) and
 * wz (one for all columns), and the column sums of w from packing,
 *     total = acc - az * colsum - wz * (rowsum(a) - k * az)
 *     out   = float(total) * (a_scale * w_scale) + bias
 * where total is sum (a - az)(w - wz) exactly.  With wz == 0 (symmetric
 * weights) total fits int32 and the vector kernels apply it in registers;
 * otherwise the sums go through int64, one value at a time.
 */
#ifndef SCIPIX_QGEMM_H
#define SCIPIX_QGEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX2__)
#include <immintrin.h>
#endif
#if !defined(SCIPIX_SCALAR_REFERENCE) && (defined(__ARM_FEATURE_DOTPROD) \
                                          || defined(__ARM_FEATURE_MATMUL_INT8))
#include <arm_neon.h>
#endif

#define SCIPIX_QGEMM_NR 32      /* columns per weight panel */
#define SCIPIX_QGEMM_MC 64      /* rows whose partial sums a K block keeps */
#define SCIPIX_QGEMM_KC 256     /* groups of 4 per K block: a 32 KB panel slice, L1-sized */
#define SCIPIX_QGEMM_MAX_K 65536
/* Groups of the panel the zmm kernel prefetches ahead (4 KB): with few rows
 * a product streams its weights from memory about as fast as it multiplies
 * them, and the hardware prefetcher alone left the two overlapping poorly. */
#define SCIPIX_QGEMM_PREFETCH 32

#define SCIPIX_QGEMM_FIRST 1    /* phase: the first K block (start from zero) */
#define SCIPIX_QGEMM_LAST 2     /* phase: the last K block (apply the epilogue) */

#define SCIPIX_QINLINE static inline __attribute__((always_inline))

/* What one product needs besides its operands. */
typedef struct {
    const uint8_t *a;           /* m rows of lda bytes */
    ptrdiff_t lda, m, n, groups;
    const int8_t *w;            /* packed weights, groups = ceil(k / 4) */
    float *out;                 /* m x n, row stride ldo */
    ptrdiff_t ldo;
    const int32_t *a_zeros;     /* per row */
    const float *a_scales;      /* per row */
    const int32_t *a_corr;      /* per row: rowsum(a) - k * az; read only when w_zero != 0 */
    int32_t w_zero;
    const int32_t *col_sums;    /* per column, from packing */
    const float *w_scales;      /* per column */
    const float *bias;          /* per column, or NULL */
    int seven_bit;              /* every a <= 127 */
} scipix_qgemm_job;

/* One output value from its int32 sum, through int64: the reference. */
SCIPIX_QINLINE float scipix_qgemm_value(const scipix_qgemm_job *job, ptrdiff_t row,
                                        ptrdiff_t col, int32_t acc)
{
    int64_t total = (int64_t)acc - (int64_t)job->a_zeros[row] * job->col_sums[col];
    if (job->w_zero != 0)
        total -= (int64_t)job->w_zero * job->a_corr[row];
    float y = (float)total * (job->a_scales[row] * job->w_scales[col]);
    return job->bias != NULL ? y + job->bias[col] : y;
}

/* The epilogue of a tile whose sums were stored in partial (row stride NR). */
static void scipix_qgemm_store_partial(const scipix_qgemm_job *job, const int32_t *partial,
                                       ptrdiff_t row0, int rows, ptrdiff_t col0, int cols)
{
    int i, j;
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            job->out[(row0 + i) * job->ldo + col0 + j] =
                scipix_qgemm_value(job, row0 + i, col0 + j, partial[i * SCIPIX_QGEMM_NR + j]);
}

SCIPIX_QINLINE int32_t scipix_load4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* A kernel computes rows [row0, row0 + mr) x panel columns [col0, col0 + KNR)
 * over the groups of one K block: a points at row row0, group g0; b at the
 * panel's group g0 plus column col0 (the panel's group stride is NR * 4).
 * partial holds the tile's sums between K blocks (row stride NR, column
 * col0 - panel start first); cols is the number of real columns from col0. */
#define SCIPIX_QGEMM_KERNEL_ARGS const scipix_qgemm_job *job, const uint8_t *a, \
    const int8_t *b, ptrdiff_t groups, int32_t *partial, int phase, ptrdiff_t row0, \
    ptrdiff_t col0, int cols

#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
/* ---- AVX-512 VNNI: 8 rows x 32 columns, 16 zmm sums -------------------- */
#define SCIPIX_QGEMM_KMR 8
#define SCIPIX_QGEMM_KNR 32
#define SCIPIX_QGEMM_DOT "vpdpbusd-zmm"

/* Row i's two accumulators are c<i>0 and c<i>1: named variables rather
 * than an array, which GCC kept partly on the stack. */
#define SCIPIX_ZMM_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define SCIPIX_ZMM_DECLARE(i) __m512i c##i##0, c##i##1;
#define SCIPIX_ZMM_START(i) if (i < mr) { \
        c##i##0 = first ? _mm512_setzero_si512() \
                        : _mm512_loadu_si512(partial + i * SCIPIX_QGEMM_NR); \
        c##i##1 = first ? _mm512_setzero_si512() \
                        : _mm512_loadu_si512(partial + i * SCIPIX_QGEMM_NR + 16); }
#define SCIPIX_ZMM_STEP(i) if (i < mr) { \
        const __m512i ai = _mm512_set1_epi32(scipix_load4(a + i * lda + 4 * g)); \
        c##i##0 = _mm512_dpbusd_epi32(c##i##0, ai, b0); \
        c##i##1 = _mm512_dpbusd_epi32(c##i##1, ai, b1); }
#define SCIPIX_ZMM_SAVE(i) if (i < mr) { \
        _mm512_storeu_si512(partial + i * SCIPIX_QGEMM_NR, c##i##0); \
        _mm512_storeu_si512(partial + i * SCIPIX_QGEMM_NR + 16, c##i##1); }
#define SCIPIX_ZMM_STORE(i) if (i < mr) { \
        scipix_qgemm_zmm_store(job, row0 + i, col0, c##i##0, sums0, scales0, bias0, mask0); \
        scipix_qgemm_zmm_store(job, row0 + i, col0 + 16, c##i##1, sums1, scales1, bias1, mask1); }

/* The fused epilogue of 16 columns of one row (see the top of the file). */
SCIPIX_QINLINE void scipix_qgemm_zmm_store(const scipix_qgemm_job *job, ptrdiff_t row,
                                           ptrdiff_t col, __m512i acc, __m512i sums,
                                           __m512 scales, __m512 bias, __mmask16 mask)
{
    const __m512i total = _mm512_sub_epi32(
        acc, _mm512_mullo_epi32(_mm512_set1_epi32(job->a_zeros[row]), sums));
    __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(total),
                             _mm512_mul_ps(_mm512_set1_ps(job->a_scales[row]), scales));
    if (job->bias != NULL)
        y = _mm512_add_ps(y, bias);
    if (mask)
        _mm512_mask_storeu_ps(job->out + row * job->ldo + col, mask, y);
}

SCIPIX_QINLINE __mmask16 scipix_qgemm_mask(int width)
{
    return width >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (width > 0 ? width : 0)) - 1);
}

SCIPIX_QINLINE void scipix_qgemm_zmm(SCIPIX_QGEMM_KERNEL_ARGS, const int mr)
{
    SCIPIX_ZMM_ROWS(SCIPIX_ZMM_DECLARE)
    const ptrdiff_t lda = job->lda;
    const int first = phase & SCIPIX_QGEMM_FIRST;
    ptrdiff_t g;
    SCIPIX_ZMM_ROWS(SCIPIX_ZMM_START)
    for (g = 0; g < groups; g++) {
        const __m512i b0 = _mm512_loadu_si512(b + g * 4 * SCIPIX_QGEMM_NR);
        const __m512i b1 = _mm512_loadu_si512(b + g * 4 * SCIPIX_QGEMM_NR + 64);
        /* Never faults: past the panel's end it only touches other memory. */
        _mm_prefetch((const char *)(b + (g + SCIPIX_QGEMM_PREFETCH) * 4 * SCIPIX_QGEMM_NR),
                     _MM_HINT_T0);
        _mm_prefetch((const char *)(b + (g + SCIPIX_QGEMM_PREFETCH) * 4 * SCIPIX_QGEMM_NR + 64),
                     _MM_HINT_T0);
        SCIPIX_ZMM_ROWS(SCIPIX_ZMM_STEP)
    }
    if (!(phase & SCIPIX_QGEMM_LAST) || job->w_zero != 0) {
        SCIPIX_ZMM_ROWS(SCIPIX_ZMM_SAVE)
        if (phase & SCIPIX_QGEMM_LAST)
            scipix_qgemm_store_partial(job, partial, row0, mr, col0, cols);
        return;
    }
    {
        const __mmask16 mask0 = scipix_qgemm_mask(cols), mask1 = scipix_qgemm_mask(cols - 16);
        const __m512i sums0 = _mm512_maskz_loadu_epi32(mask0, job->col_sums + col0);
        const __m512i sums1 = _mm512_maskz_loadu_epi32(mask1, job->col_sums + col0 + 16);
        const __m512 scales0 = _mm512_maskz_loadu_ps(mask0, job->w_scales + col0);
        const __m512 scales1 = _mm512_maskz_loadu_ps(mask1, job->w_scales + col0 + 16);
        const __m512 bias0 = job->bias != NULL ? _mm512_maskz_loadu_ps(mask0, job->bias + col0)
                                               : _mm512_setzero_ps();
        const __m512 bias1 = job->bias != NULL
                             ? _mm512_maskz_loadu_ps(mask1, job->bias + col0 + 16)
                             : _mm512_setzero_ps();
        SCIPIX_ZMM_ROWS(SCIPIX_ZMM_STORE)
    }
}
#define SCIPIX_QGEMM_BODY(MR) scipix_qgemm_zmm(job, a, b, groups, partial, phase, row0, col0, \
                                                cols, MR)

#elif !defined(SCIPIX_SCALAR_REFERENCE) && defined(__AVX2__)
/* ---- 256-bit: 4 rows x 16 columns, 8 ymm sums --------------------------- */
#define SCIPIX_QGEMM_KMR 4
#define SCIPIX_QGEMM_KNR 16

#if defined(__AVXVNNI__)
#define SCIPIX_QGEMM_DOT "vpdpbusd-ymm"
/* acc + sum of 4 u8 x s8 products per lane; `high` (a >> 7) is unused. */
#define SCIPIX_QGEMM_YMM_DOT(acc, low, high, w) ((void)(high), _mm256_dpbusd_avx_epi32(acc, low, w))
#define SCIPIX_QGEMM_YMM_SPLIT 0
#else
#define SCIPIX_QGEMM_DOT "vpmaddubsw"
#define SCIPIX_QGEMM_YMM_DOT(acc, low, high, w) scipix_qgemm_madd(acc, low, high, w, seven_bit)
#define SCIPIX_QGEMM_YMM_SPLIT 1

/* acc + per lane sum of 4 products a * w: low = a & 127 (or a, seven_bit),
 * high = a >> 7.  Neither vpmaddubsw can saturate. */
SCIPIX_QINLINE __m256i scipix_qgemm_madd(__m256i acc, __m256i low, __m256i high, __m256i w,
                                         const int seven_bit)
{
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(low, w),
                                                  _mm256_set1_epi16(1)));
    if (!seven_bit)
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(high, w),
                                                      _mm256_set1_epi16(128)));
    return acc;
}
#endif

#define SCIPIX_YMM_ROWS(X) X(0) X(1) X(2) X(3)
#define SCIPIX_YMM_DECLARE(i) __m256i c##i##0, c##i##1;
#define SCIPIX_YMM_START(i) if (i < mr) { \
        c##i##0 = first ? _mm256_setzero_si256() \
            : _mm256_loadu_si256((const __m256i *)(partial + i * SCIPIX_QGEMM_NR)); \
        c##i##1 = first ? _mm256_setzero_si256() \
            : _mm256_loadu_si256((const __m256i *)(partial + i * SCIPIX_QGEMM_NR + 8)); }
#define SCIPIX_YMM_STEP(i) if (i < mr) { \
        __m256i low = _mm256_set1_epi32(scipix_load4(a + i * lda + 4 * g)), high = low; \
        if (SCIPIX_QGEMM_YMM_SPLIT && !seven_bit) { \
            high = _mm256_and_si256(_mm256_srli_epi16(low, 7), _mm256_set1_epi8(1)); \
            low = _mm256_and_si256(low, _mm256_set1_epi8(127)); \
        } \
        c##i##0 = SCIPIX_QGEMM_YMM_DOT(c##i##0, low, high, b0); \
        c##i##1 = SCIPIX_QGEMM_YMM_DOT(c##i##1, low, high, b1); }
#define SCIPIX_YMM_SAVE(i) if (i < mr) { \
        _mm256_storeu_si256((__m256i *)(partial + i * SCIPIX_QGEMM_NR), c##i##0); \
        _mm256_storeu_si256((__m256i *)(partial + i * SCIPIX_QGEMM_NR + 8), c##i##1); }
#define SCIPIX_YMM_STORE(i) if (i < mr) { \
        scipix_qgemm_ymm_store(job, row0 + i, col0, c##i##0); \
        scipix_qgemm_ymm_store(job, row0 + i, col0 + 8, c##i##1); }

/* The fused epilogue of 8 columns of one row (see the top of the file). */
SCIPIX_QINLINE void scipix_qgemm_ymm_store(const scipix_qgemm_job *job, ptrdiff_t row,
                                           ptrdiff_t col, __m256i acc)
{
    const __m256i sums = _mm256_loadu_si256((const __m256i *)(job->col_sums + col));
    const __m256i total = _mm256_sub_epi32(
        acc, _mm256_mullo_epi32(_mm256_set1_epi32(job->a_zeros[row]), sums));
    __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(total),
                             _mm256_mul_ps(_mm256_set1_ps(job->a_scales[row]),
                                           _mm256_loadu_ps(job->w_scales + col)));
    if (job->bias != NULL)
        y = _mm256_add_ps(y, _mm256_loadu_ps(job->bias + col));
    _mm256_storeu_ps(job->out + row * job->ldo + col, y);
}

SCIPIX_QINLINE void scipix_qgemm_ymm(SCIPIX_QGEMM_KERNEL_ARGS, const int mr, const int seven_bit)
{
    SCIPIX_YMM_ROWS(SCIPIX_YMM_DECLARE)
    const ptrdiff_t lda = job->lda;
    const int first = phase & SCIPIX_QGEMM_FIRST;
    ptrdiff_t g;
    (void)seven_bit;
    SCIPIX_YMM_ROWS(SCIPIX_YMM_START)
    for (g = 0; g < groups; g++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + g * 4 * SCIPIX_QGEMM_NR));
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + g * 4 * SCIPIX_QGEMM_NR + 32));
        SCIPIX_YMM_ROWS(SCIPIX_YMM_STEP)
    }
    /* Full-width tiles take the epilogue in registers; the last panel's
     * narrower one, and nonzero weight zero points, go through partial. */
    if (!(phase & SCIPIX_QGEMM_LAST) || job->w_zero != 0 || cols < SCIPIX_QGEMM_KNR) {
        SCIPIX_YMM_ROWS(SCIPIX_YMM_SAVE)
        if (phase & SCIPIX_QGEMM_LAST)
            scipix_qgemm_store_partial(job, partial, row0, mr, col0,
                                       cols < SCIPIX_QGEMM_KNR ? cols : SCIPIX_QGEMM_KNR);
        return;
    }
    SCIPIX_YMM_ROWS(SCIPIX_YMM_STORE)
}
/* 8-bit activations on vpmaddubsw need two more vectors per row (a >> 7,
 * and its constants): they go 2 rows at a time to stay in 16 registers. */
#define SCIPIX_QGEMM_BODY(MR) do { \
        if (job->seven_bit || !SCIPIX_QGEMM_YMM_SPLIT) { \
            scipix_qgemm_ymm(job, a, b, groups, partial, phase, row0, col0, cols, MR, 1); \
        } else { \
            scipix_qgemm_ymm(job, a, b, groups, partial, phase, row0, col0, cols, \
                             MR < 2 ? MR : 2, 0); \
            if (MR > 2) \
                scipix_qgemm_ymm(job, a + 2 * job->lda, b, groups, \
                                 partial + 2 * SCIPIX_QGEMM_NR, phase, row0 + 2, col0, cols, \
                                 MR - 2, 0); \
        } \
    } while (0)

#elif !defined(SCIPIX_SCALAR_REFERENCE) && defined(__ARM_FEATURE_MATMUL_INT8)
/* ---- Armv8.6 i8mm: 4 rows x 16 columns in 2 x 2 blocks, 16 q-register sums */
#define SCIPIX_QGEMM_KMR 4
#define SCIPIX_QGEMM_KNR 16
#define SCIPIX_QGEMM_DOT "usmmla"

/* usmmla multiplies 2 x 8 unsigned bytes (two rows, two groups) by 2 x 8
 * signed ones (two columns, the same groups) into 2 x 2 int32 sums: c<p><q>
 * holds rows 2p, 2p + 1 x columns 2q, 2q + 1.  Unsigned times signed, as
 * vpdpbusd: no offset to add back.  Two groups of the panel (4 columns a
 * vector) interleaved by 32-bit lanes (zip1, zip2) give the column pairs,
 * so the packing stays the one of every variant. */
#define SCIPIX_MMLA_PAIRS(X, p) X(p, 0) X(p, 1) X(p, 2) X(p, 3) X(p, 4) X(p, 5) X(p, 6) X(p, 7)
#define SCIPIX_MMLA_ALL(X) SCIPIX_MMLA_PAIRS(X, 0) SCIPIX_MMLA_PAIRS(X, 1)
#define SCIPIX_MMLA_DECLARE(p, q) int32x4_t c##p##q;
#define SCIPIX_MMLA_START(p, q) c##p##q = first ? vdupq_n_s32(0) : vcombine_s32( \
        scipix_mmla_load_sums(partial, 2 * p, 2 * q, mr), \
        scipix_mmla_load_sums(partial, 2 * p + 1, 2 * q, mr));
#define SCIPIX_MMLA_STEP(p, q) c##p##q = vusmmlaq_s32(c##p##q, a##p, w##q);
#define SCIPIX_MMLA_SAVE(p, q) \
    scipix_mmla_save_sums(partial, 2 * p, 2 * q, mr, vget_low_s32(c##p##q)); \
    scipix_mmla_save_sums(partial, 2 * p + 1, 2 * q, mr, vget_high_s32(c##p##q));
/* Groups g and g + 1 (with `both`; g alone, the second zero, without). */
#define SCIPIX_MMLA_GROUPS(both) { \
        const uint8x16_t a0 = scipix_mmla_rows(a + 4 * g, lda, 0, mr, both); \
        const uint8x16_t a1 = scipix_mmla_rows(a + 4 * g, lda, 2, mr, both); \
        const int8_t *bg = b + g * 4 * SCIPIX_QGEMM_NR; \
        int8x16_t w0, w1, w2, w3, w4, w5, w6, w7; \
        scipix_mmla_columns(bg, 0, both, &w0, &w1); \
        scipix_mmla_columns(bg, 1, both, &w2, &w3); \
        scipix_mmla_columns(bg, 2, both, &w4, &w5); \
        scipix_mmla_columns(bg, 3, both, &w6, &w7); \
        SCIPIX_MMLA_PAIRS(SCIPIX_MMLA_STEP, 0) \
        if (mr > 2) { SCIPIX_MMLA_PAIRS(SCIPIX_MMLA_STEP, 1) } }

/* Two sums of row `row` (zeros for a row past mr). */
SCIPIX_QINLINE int32x2_t scipix_mmla_load_sums(const int32_t *partial, int row, int col, int mr)
{
    return row < mr ? vld1_s32(partial + row * SCIPIX_QGEMM_NR + col) : vdup_n_s32(0);
}

SCIPIX_QINLINE void scipix_mmla_save_sums(int32_t *partial, int row, int col, int mr,
                                          int32x2_t sums)
{
    if (row < mr)
        vst1_s32(partial + row * SCIPIX_QGEMM_NR + col, sums);
}

/* Rows `row`, `row` + 1 of a at its group g (8 bytes each: groups g, g + 1;
 * 4 and zeros without `both`); zeros for a row past mr. */
SCIPIX_QINLINE uint8x16_t scipix_mmla_rows(const uint8_t *a, ptrdiff_t lda, int row, int mr,
                                           int both)
{
    uint64_t bytes[2] = {0, 0};
    int i;
    for (i = 0; i < 2; i++)
        if (row + i < mr)
            memcpy(&bytes[i], a + (row + i) * lda, both ? 8 : 4);
    return vreinterpretq_u8_u64(vld1q_u64(bytes));
}

/* Columns 4j .. 4j + 3 of groups g, g + 1 (at bg) as two column pairs. */
SCIPIX_QINLINE void scipix_mmla_columns(const int8_t *bg, int j, int both, int8x16_t *pair0,
                                        int8x16_t *pair1)
{
    const int32x4_t g0 = vreinterpretq_s32_s8(vld1q_s8(bg + 16 * j));
    const int32x4_t g1 = both ? vreinterpretq_s32_s8(vld1q_s8(bg + 4 * SCIPIX_QGEMM_NR + 16 * j))
                              : vdupq_n_s32(0);
    *pair0 = vreinterpretq_s8_s32(vzip1q_s32(g0, g1));
    *pair1 = vreinterpretq_s8_s32(vzip2q_s32(g0, g1));
}

SCIPIX_QINLINE void scipix_qgemm_usmmla(SCIPIX_QGEMM_KERNEL_ARGS, const int mr)
{
    SCIPIX_MMLA_ALL(SCIPIX_MMLA_DECLARE)
    const ptrdiff_t lda = job->lda;
    const int first = phase & SCIPIX_QGEMM_FIRST;
    ptrdiff_t g;
    SCIPIX_MMLA_ALL(SCIPIX_MMLA_START)
    for (g = 0; g + 2 <= groups; g += 2)
        SCIPIX_MMLA_GROUPS(1)
    if (g < groups)
        SCIPIX_MMLA_GROUPS(0)
    SCIPIX_MMLA_ALL(SCIPIX_MMLA_SAVE)
    if (phase & SCIPIX_QGEMM_LAST)
        scipix_qgemm_store_partial(job, partial, row0, mr, col0,
                                   cols < SCIPIX_QGEMM_KNR ? cols : SCIPIX_QGEMM_KNR);
}
#define SCIPIX_QGEMM_BODY(MR) scipix_qgemm_usmmla(job, a, b, groups, partial, phase, row0, \
                                                   col0, cols, MR)

#elif !defined(SCIPIX_SCALAR_REFERENCE) && defined(__ARM_FEATURE_DOTPROD)
/* ---- ARMv8.2 dot product: 4 rows x 16 columns, 16 q-register sums ------- */
#define SCIPIX_QGEMM_KMR 4
#define SCIPIX_QGEMM_KNR 16
#define SCIPIX_QGEMM_DOT "sdot"

/* sdot multiplies signed bytes only: a is read as a - 128 (a ^ 0x80), and
 * the last K block adds back 128 * colsum, which packing computed.  The
 * shifted sums stay within int32 (128 * 128 * 65536 = 2**30). */
#define SCIPIX_SDOT_ROWS(X) X(0) X(1) X(2) X(3)
#define SCIPIX_SDOT_DECLARE(i) int32x4_t c##i##0, c##i##1, c##i##2, c##i##3; int8x16_t a##i;
#define SCIPIX_SDOT_START(i) if (i < mr) { \
        c##i##0 = first ? vdupq_n_s32(0) : vld1q_s32(partial + i * SCIPIX_QGEMM_NR); \
        c##i##1 = first ? vdupq_n_s32(0) : vld1q_s32(partial + i * SCIPIX_QGEMM_NR + 4); \
        c##i##2 = first ? vdupq_n_s32(0) : vld1q_s32(partial + i * SCIPIX_QGEMM_NR + 8); \
        c##i##3 = first ? vdupq_n_s32(0) : vld1q_s32(partial + i * SCIPIX_QGEMM_NR + 12); }
/* 16 activation bytes of row i: groups g .. g + 3, one per 32-bit lane. */
#define SCIPIX_SDOT_LOAD4(i) if (i < mr) \
        a##i = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + i * lda + 4 * g), flip));
/* One group of row i in lane 0 (the groups left after the fours). */
#define SCIPIX_SDOT_LOAD1(i) if (i < mr) \
        a##i = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_s32( \
            vdupq_n_s32(scipix_load4(a + i * lda + 4 * g))), flip));
#define SCIPIX_SDOT_LANE(i, q) if (i < mr) { \
        c##i##0 = vdotq_laneq_s32(c##i##0, b0, a##i, q); \
        c##i##1 = vdotq_laneq_s32(c##i##1, b1, a##i, q); \
        c##i##2 = vdotq_laneq_s32(c##i##2, b2, a##i, q); \
        c##i##3 = vdotq_laneq_s32(c##i##3, b3, a##i, q); }
#define SCIPIX_SDOT_LANE0(i) SCIPIX_SDOT_LANE(i, 0)
#define SCIPIX_SDOT_LANE1(i) SCIPIX_SDOT_LANE(i, 1)
#define SCIPIX_SDOT_LANE2(i) SCIPIX_SDOT_LANE(i, 2)
#define SCIPIX_SDOT_LANE3(i) SCIPIX_SDOT_LANE(i, 3)
/* Group g + q of the panel's 16 columns against lane q of every row.  The
 * empty asm keeps gcc from hoisting the next groups' loads above these
 * sdots: with 16 weight vectors live at once it spilled the sums. */
#define SCIPIX_SDOT_GROUP(q) { \
        __asm__ volatile("" ::: "memory"); \
        const int8_t *bq = b + (g + q) * 4 * SCIPIX_QGEMM_NR; \
        const int8x16_t b0 = vld1q_s8(bq), b1 = vld1q_s8(bq + 16); \
        const int8x16_t b2 = vld1q_s8(bq + 32), b3 = vld1q_s8(bq + 48); \
        SCIPIX_SDOT_ROWS(SCIPIX_SDOT_LANE##q) }
#define SCIPIX_SDOT_SAVE(i) if (i < mr) { \
        vst1q_s32(partial + i * SCIPIX_QGEMM_NR, c##i##0); \
        vst1q_s32(partial + i * SCIPIX_QGEMM_NR + 4, c##i##1); \
        vst1q_s32(partial + i * SCIPIX_QGEMM_NR + 8, c##i##2); \
        vst1q_s32(partial + i * SCIPIX_QGEMM_NR + 12, c##i##3); }

SCIPIX_QINLINE void scipix_qgemm_sdot(SCIPIX_QGEMM_KERNEL_ARGS, const int mr)
{
    SCIPIX_SDOT_ROWS(SCIPIX_SDOT_DECLARE)
    const uint8x16_t flip = vdupq_n_u8(0x80);
    const ptrdiff_t lda = job->lda;
    const int first = phase & SCIPIX_QGEMM_FIRST;
    ptrdiff_t g;
    int i, j;
    SCIPIX_SDOT_ROWS(SCIPIX_SDOT_START)
    for (g = 0; g + 4 <= groups; g += 4) {
        SCIPIX_SDOT_ROWS(SCIPIX_SDOT_LOAD4)
        SCIPIX_SDOT_GROUP(0)
        SCIPIX_SDOT_GROUP(1)
        SCIPIX_SDOT_GROUP(2)
        SCIPIX_SDOT_GROUP(3)
    }
    for (; g < groups; g++) {
        SCIPIX_SDOT_ROWS(SCIPIX_SDOT_LOAD1)
        SCIPIX_SDOT_GROUP(0)
    }
    SCIPIX_SDOT_ROWS(SCIPIX_SDOT_SAVE)
    if (!(phase & SCIPIX_QGEMM_LAST))
        return;
    for (i = 0; i < mr; i++)
        for (j = 0; j < cols && j < SCIPIX_QGEMM_KNR; j++)
            partial[i * SCIPIX_QGEMM_NR + j] += 128 * job->col_sums[col0 + j];
    scipix_qgemm_store_partial(job, partial, row0, mr, col0,
                               cols < SCIPIX_QGEMM_KNR ? cols : SCIPIX_QGEMM_KNR);
}
#define SCIPIX_QGEMM_BODY(MR) scipix_qgemm_sdot(job, a, b, groups, partial, phase, row0, col0, \
                                                 cols, MR)

#else
/* ---- the plain loop: 4 rows x 32 columns --------------------------------- */
#define SCIPIX_QGEMM_KMR 4
#define SCIPIX_QGEMM_KNR 32
#define SCIPIX_QGEMM_DOT "plain"

SCIPIX_QINLINE void scipix_qgemm_plain(SCIPIX_QGEMM_KERNEL_ARGS, const int mr)
{
    ptrdiff_t g;
    int i, j, r;
    for (i = 0; i < mr; i++)
        for (j = 0; j < SCIPIX_QGEMM_KNR; j++)
            if (phase & SCIPIX_QGEMM_FIRST)
                partial[i * SCIPIX_QGEMM_NR + j] = 0;
    for (g = 0; g < groups; g++)
        for (i = 0; i < mr; i++) {
            const uint8_t *row = a + i * job->lda + 4 * g;
            const int8_t *panel = b + g * 4 * SCIPIX_QGEMM_NR;
            for (j = 0; j < SCIPIX_QGEMM_KNR; j++) {
                int32_t sum = 0;
                for (r = 0; r < 4; r++)
                    sum += (int32_t)row[r] * (int32_t)panel[4 * j + r];
                partial[i * SCIPIX_QGEMM_NR + j] += sum;
            }
        }
    if (phase & SCIPIX_QGEMM_LAST)
        scipix_qgemm_store_partial(job, partial, row0, mr, col0, cols);
}
#define SCIPIX_QGEMM_BODY(MR) scipix_qgemm_plain(job, a, b, groups, partial, phase, row0, col0, \
                                                  cols, MR)
#endif

/* One kernel per row count, each with its accumulators in registers (the
 * tests read their machine code for stack spills): not inlined, so that
 * each keeps its own name in the built module. */
#define SCIPIX_QGEMM_KERNEL(MR) \
    static __attribute__((noinline)) void scipix_qgemm_kernel_##MR(SCIPIX_QGEMM_KERNEL_ARGS) \
    { SCIPIX_QGEMM_BODY(MR); }
SCIPIX_QGEMM_KERNEL(1)
SCIPIX_QGEMM_KERNEL(2)
SCIPIX_QGEMM_KERNEL(3)
SCIPIX_QGEMM_KERNEL(4)
#if SCIPIX_QGEMM_KMR == 8
SCIPIX_QGEMM_KERNEL(5)
SCIPIX_QGEMM_KERNEL(6)
SCIPIX_QGEMM_KERNEL(7)
SCIPIX_QGEMM_KERNEL(8)
#endif

static void scipix_qgemm_kernel(SCIPIX_QGEMM_KERNEL_ARGS, int mr)
{
    switch (mr) {
    case 1: scipix_qgemm_kernel_1(job, a, b, groups, partial, phase, row0, col0, cols); break;
    case 2: scipix_qgemm_kernel_2(job, a, b, groups, partial, phase, row0, col0, cols); break;
    case 3: scipix_qgemm_kernel_3(job, a, b, groups, partial, phase, row0, col0, cols); break;
#if SCIPIX_QGEMM_KMR == 8
    case 4: scipix_qgemm_kernel_4(job, a, b, groups, partial, phase, row0, col0, cols); break;
    case 5: scipix_qgemm_kernel_5(job, a, b, groups, partial, phase, row0, col0, cols); break;
    case 6: scipix_qgemm_kernel_6(job, a, b, groups, partial, phase, row0, col0, cols); break;
    case 7: scipix_qgemm_kernel_7(job, a, b, groups, partial, phase, row0, col0, cols); break;
    default: scipix_qgemm_kernel_8(job, a, b, groups, partial, phase, row0, col0, cols); break;
#else
    default: scipix_qgemm_kernel_4(job, a, b, groups, partial, phase, row0, col0, cols); break;
#endif
    }
}

/* Rows [row_begin, row_end) of one column panel.  Rows go in chunks of MC
 * whose partial sums (on the stack) carry across K blocks of KC groups:
 * the panel's slice of a K block stays in L1 while every row block of the
 * chunk streams past it. */
static void scipix_qgemm_panel(const scipix_qgemm_job *job, ptrdiff_t panel, ptrdiff_t row_begin,
                               ptrdiff_t row_end)
{
    int32_t partial[SCIPIX_QGEMM_MC * SCIPIX_QGEMM_NR];
    const int8_t *b_panel = job->w + panel * job->groups * 4 * SCIPIX_QGEMM_NR;
    const ptrdiff_t col_panel = panel * SCIPIX_QGEMM_NR;
    const ptrdiff_t panel_cols = job->n - col_panel < SCIPIX_QGEMM_NR ? job->n - col_panel
                                                                      : SCIPIX_QGEMM_NR;
    ptrdiff_t chunk, g0, row;
    int c0;
    for (chunk = row_begin; chunk < row_end; chunk += SCIPIX_QGEMM_MC) {
        const ptrdiff_t chunk_end = chunk + SCIPIX_QGEMM_MC < row_end ? chunk + SCIPIX_QGEMM_MC
                                                                      : row_end;
        for (g0 = 0; g0 < job->groups; g0 += SCIPIX_QGEMM_KC) {
            const ptrdiff_t groups = job->groups - g0 < SCIPIX_QGEMM_KC ? job->groups - g0
                                                                        : SCIPIX_QGEMM_KC;
            const int phase = (g0 == 0 ? SCIPIX_QGEMM_FIRST : 0)
                              | (g0 + groups == job->groups ? SCIPIX_QGEMM_LAST : 0);
            for (row = chunk; row < chunk_end; row += SCIPIX_QGEMM_KMR) {
                const int mr = chunk_end - row < SCIPIX_QGEMM_KMR ? (int)(chunk_end - row)
                                                                  : SCIPIX_QGEMM_KMR;
                for (c0 = 0; c0 < panel_cols; c0 += SCIPIX_QGEMM_KNR)
                    scipix_qgemm_kernel(job, job->a + row * job->lda + 4 * g0,
                                        b_panel + g0 * 4 * SCIPIX_QGEMM_NR + 4 * c0, groups,
                                        partial + (row - chunk) * SCIPIX_QGEMM_NR + c0, phase,
                                        row, col_panel + c0, (int)(panel_cols - c0), mr);
            }
        }
    }
}

/* Pack w (n rows of k, element (j, p) at w[j * row_stride + p * col_stride])
 * into the panel layout above, and col_sums[j] = sum_p w[j, p]. */
static void scipix_qpack_weights(const int8_t *w, ptrdiff_t row_stride, ptrdiff_t col_stride,
                                 ptrdiff_t n, ptrdiff_t k, int8_t *packed, int32_t *col_sums)
{
    const ptrdiff_t groups = (k + 3) / 4, panels = (n + SCIPIX_QGEMM_NR - 1) / SCIPIX_QGEMM_NR;
    ptrdiff_t panel, g, p;
    int j, r;
    memset(packed, 0, (size_t)(panels * groups * 4 * SCIPIX_QGEMM_NR));
    for (panel = 0; panel < panels; panel++)
        for (j = 0; j < SCIPIX_QGEMM_NR && panel * SCIPIX_QGEMM_NR + j < n; j++) {
            const ptrdiff_t col = panel * SCIPIX_QGEMM_NR + j;
            int8_t *dst = packed + panel * groups * 4 * SCIPIX_QGEMM_NR + 4 * j;
            int32_t sum = 0;
            for (g = 0; g < groups; g++)
                for (r = 0; r < 4; r++) {
                    p = 4 * g + r;
                    if (p < k) {
                        int8_t value = w[col * row_stride + p * col_stride];
                        dst[g * 4 * SCIPIX_QGEMM_NR + r] = value;
                        sum += value;
                    }
                }
            col_sums[col] = sum;
        }
}

/* The inverse of scipix_qpack_weights: w (n rows of k, C order) from packed. */
static void scipix_qunpack_weights(const int8_t *packed, ptrdiff_t n, ptrdiff_t k, int8_t *w)
{
    const ptrdiff_t groups = (k + 3) / 4;
    ptrdiff_t col, p;
    for (col = 0; col < n; col++) {
        const int8_t *src = packed + col / SCIPIX_QGEMM_NR * groups * 4 * SCIPIX_QGEMM_NR
                            + 4 * (col % SCIPIX_QGEMM_NR);
        for (p = 0; p < k; p++)
            w[col * k + p] = src[p / 4 * 4 * SCIPIX_QGEMM_NR + p % 4];
    }
}

#endif
