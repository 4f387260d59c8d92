/* A model's input tensor from resized 8-bit pixels: per output channel
 * (v - shift) * factor in float32, stored as float32, float16 or uint8, in
 * planes (NCHW) or packed pixels (NHWC).  Callers hand over runs of at most
 * SCIPIX_BLOB_RUN pixels. */
#ifndef SCIPIX_BLOB_H
#define SCIPIX_BLOB_H

#include "scipix_vector.h"

enum { SCIPIX_BLOB_F32 = 0, SCIPIX_BLOB_F16 = 1, SCIPIX_BLOB_U8 = 2 };

/* Pixels per run: the float32 channels of a run stay in L1. */
#define SCIPIX_BLOB_RUN 256

/* IEEE half bits of f, rounded to nearest even, as vcvtps2ph with
 * rounding control 0 and NumPy's astype(float16): overflow gives inf, NaN a
 * quiet NaN keeping the payload's top bits.  Branch-free selects, so that
 * the loops below vectorize on targets without F16C. */
static inline uint16_t scipix_half_bits(float f)
{
    uint32_t bits, abs, sign, normal, small, special;
    float magnitude;
    memcpy(&bits, &f, 4);
    sign = (bits >> 16) & 0x8000u;
    abs = bits & 0x7fffffffu;
    /* Re-bias the exponent (127 -> 15) and round the 13 dropped bits half
     * to even: adding 0xfff plus the kept bit's parity carries exactly when
     * the dropped part is above half, or at half with an odd kept bit. */
    normal = (abs + 0xc8000fffu + ((abs >> 13) & 1u)) >> 13;
    /* Below 2**-14 the half is subnormal: adding 0.5 leaves the value's
     * multiple of 2**-24 (the half's step) in the float's low bits, rounded
     * half to even by the float addition itself. */
    memcpy(&magnitude, &abs, 4);
    magnitude = magnitude + 0.5f;
    memcpy(&small, &magnitude, 4);
    small -= 0x3f000000u;
    special = abs > 0x7f800000u ? 0x7e00u | ((abs >> 13) & 0x3ffu) : 0x7c00u;
    return (uint16_t)(sign | (abs >= 0x477ff000u ? special
                              : abs < 0x38800000u ? small : normal));
}

/* out[i] = the half bits of x[i], i < n; F16C's vcvtps2ph or NEON's fcvtn
 * where the target has it (same rounding, same results: Linux runs aarch64
 * with FPCR's round-to-nearest and no flush to zero). */
static inline void scipix_to_half(const float *x, uint16_t *out, ptrdiff_t n)
{
    ptrdiff_t i = 0;
#if defined(__AVX512F__) && !defined(SCIPIX_SCALAR_REFERENCE)
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(out + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i),
                                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
#if defined(__F16C__) && !defined(SCIPIX_SCALAR_REFERENCE)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
#endif
#if defined(__ARM_NEON) && !defined(SCIPIX_SCALAR_REFERENCE)
    for (; i + 8 <= n; i += 8)
        vst1q_u16(out + i, vreinterpretq_u16_f16(
            vcvt_high_f16_f32(vcvt_f16_f32(vld1q_f32(x + i)), vld1q_f32(x + i + 4))));
#endif
    for (; i < n; i++)
        out[i] = scipix_half_bits(x[i]);
}

/* out[i] = x[i] clamped to [0, 255] and rounded half to even (the
 * 1.5 * 2**23 trick); NaN gives 0. */
static inline void scipix_to_u8(const float *x, uint8_t *out, ptrdiff_t n)
{
    const float magic = 12582912.0f;
    ptrdiff_t i;
    for (i = 0; i < n; i++) {
        float v = x[i] > 0.0f ? x[i] : 0.0f;
        v = v < 255.0f ? v : 255.0f;
        out[i] = (uint8_t)(int32_t)((v + magic) - magic);
    }
}

/* Source channel j of n pixels of `step` bytes, j < 3, into to[j]:
 * to[j][x] = (src[x * step + j] - shift[j]) * factor[j].  Called with a
 * constant step (3 or 4), which gcc turns into interleaved vector loads. */
static inline void scipix_blob_split3(const uint8_t *src, ptrdiff_t step, float *const *to,
                                      const float *shift, const float *factor, ptrdiff_t n)
{
    float *restrict d0 = to[0], *restrict d1 = to[1], *restrict d2 = to[2];
    const float s0 = shift[0], s1 = shift[1], s2 = shift[2];
    const float f0 = factor[0], f1 = factor[1], f2 = factor[2];
    ptrdiff_t x;
    for (x = 0; x < n; x++) {
        const uint8_t *p = src + x * step;
        d0[x] = ((float)p[0] - s0) * f0;
        d1[x] = ((float)p[1] - s1) * f1;
        d2[x] = ((float)p[2] - s2) * f2;
    }
}

/* Output channel k of pixel x is (src[x * src_channels + pick[k]] - shift[k])
 * * factor[k], into chan[k][x], for n pixels.  src_channels is 1 (gray,
 * every pick 0) or 3 / 4 with `pick` a permutation of (0, 1, 2) when
 * channels is 3. */
static inline void scipix_blob_affine(const uint8_t *src, ptrdiff_t src_channels,
                                      const int32_t *pick, ptrdiff_t channels,
                                      const float *shift, const float *factor, ptrdiff_t n,
                                      float *const *chan)
{
    ptrdiff_t k, x;
    if (src_channels == 1 || channels == 1) {
        for (k = 0; k < channels; k++) {
            float *restrict out = chan[k];
            const uint8_t *p = src + pick[k];
            const float s = shift[k], f = factor[k];
            for (x = 0; x < n; x++)
                out[x] = ((float)p[x * src_channels] - s) * f;
        }
        return;
    }
    {
        /* Indexed by source channel. */
        float *to[3];
        float s[3], f[3];
        for (k = 0; k < 3; k++) {
            to[pick[k]] = chan[k];
            s[pick[k]] = shift[k];
            f[pick[k]] = factor[k];
        }
        if (src_channels == 3)
            scipix_blob_split3(src, 3, to, s, f, n);
        else
            scipix_blob_split3(src, 4, to, s, f, n);
    }
}

/* Bytes per element of each dtype code. */
static inline ptrdiff_t scipix_blob_item(int dtype)
{
    return dtype == SCIPIX_BLOB_F32 ? 4 : dtype == SCIPIX_BLOB_F16 ? 2 : 1;
}

/* Store float32 channels chan[k][0:n] at dst, converted to `dtype`: planes
 * `plane` elements apart (NCHW), or packed pixels of `channels` elements
 * (nhwc).  Planar float32 output is written by scipix_blob_affine itself. */
static inline void scipix_blob_store(float *const *chan, ptrdiff_t channels, ptrdiff_t n,
                                     void *dst, ptrdiff_t plane, int nhwc, int dtype)
{
    uint16_t half[3][SCIPIX_BLOB_RUN];
    uint8_t bytes[3][SCIPIX_BLOB_RUN];
    ptrdiff_t k, x;
    for (k = 0; k < channels; k++) {
        if (dtype == SCIPIX_BLOB_F16)
            scipix_to_half(chan[k], nhwc ? half[k] : (uint16_t *)dst + k * plane, n);
        else if (dtype == SCIPIX_BLOB_U8)
            scipix_to_u8(chan[k], nhwc ? bytes[k] : (uint8_t *)dst + k * plane, n);
    }
    if (!nhwc)
        return;
#define SCIPIX_INTERLEAVE(type, source) do { \
        type *restrict out = (type *)dst; \
        if (channels == 1) \
            memcpy(out, source[0], n * sizeof(type)); \
        else \
            for (x = 0; x < n; x++) { \
                out[3 * x] = source[0][x]; \
                out[3 * x + 1] = source[1][x]; \
                out[3 * x + 2] = source[2][x]; \
            } \
    } while (0)
    if (dtype == SCIPIX_BLOB_F32)
        SCIPIX_INTERLEAVE(float, chan);
    else if (dtype == SCIPIX_BLOB_F16)
        SCIPIX_INTERLEAVE(uint16_t, half);
    else
        SCIPIX_INTERLEAVE(uint8_t, bytes);
#undef SCIPIX_INTERLEAVE
}

/* n pixels of src (packed, src_channels bytes each) into the tensor at dst
 * (see scipix_blob_store), n <= SCIPIX_BLOB_RUN. */
static inline void scipix_blob_run(const uint8_t *src, ptrdiff_t src_channels,
                                   const int32_t *pick, ptrdiff_t channels, const float *shift,
                                   const float *factor, ptrdiff_t n, void *dst, ptrdiff_t plane,
                                   int nhwc, int dtype)
{
    float values[3][SCIPIX_BLOB_RUN];
    float *chan[3];
    ptrdiff_t k;
    const int direct = !nhwc && dtype == SCIPIX_BLOB_F32;
    for (k = 0; k < channels; k++)
        chan[k] = direct ? (float *)dst + k * plane : values[k];
    scipix_blob_affine(src, src_channels, pick, channels, shift, factor, n, chan);
    if (!direct)
        scipix_blob_store(chan, channels, n, dst, plane, nhwc, dtype);
}

/* n pixels of the constant value[k] per channel (already normalized). */
static inline void scipix_blob_fill(const float *value, ptrdiff_t channels, ptrdiff_t n,
                                    void *dst, ptrdiff_t plane, int nhwc, int dtype)
{
    float values[3][SCIPIX_BLOB_RUN];
    float *chan[3];
    const ptrdiff_t item = scipix_blob_item(dtype);
    ptrdiff_t k, x, done, run;
    for (k = 0; k < channels; k++) {
        chan[k] = values[k];
        for (x = 0; x < SCIPIX_BLOB_RUN; x++)
            values[k][x] = value[k];
    }
    for (done = 0; done < n; done += run) {
        run = n - done < SCIPIX_BLOB_RUN ? n - done : SCIPIX_BLOB_RUN;
        void *at = (char *)dst + done * (nhwc ? channels : 1) * item;
        if (!nhwc && dtype == SCIPIX_BLOB_F32)
            for (k = 0; k < channels; k++)
                memcpy((float *)at + k * plane, values[k], run * sizeof(float));
        else
            scipix_blob_store(chan, channels, run, at, plane, nhwc, dtype);
    }
}

#endif
