/* What every kernel family shares: the target's native vector types for
 * GCC/Clang vector extensions (xmm on SSE2/NEON, ymm on AVX2, zmm on
 * AVX-512), and the streaming-store and prefetch helpers of the row
 * loops.  The scalar reference build (SCIPIX_SCALAR_REFERENCE) defines no
 * vector types: its kernels take their plain loops, which compute the same
 * operations in the same order, so results are identical bit for bit.
 */
#ifndef SCIPIX_VECTOR_H
#define SCIPIX_VECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__SSE2__)
#include <immintrin.h>
#endif
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

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

/* Rows are read once, from memory: loads ask for the data this many bytes
 * ahead (the hardware prefetcher alone leaves read bandwidth unused). */
#define SCIPIX_ROW_PREFETCH 16384

/* With `stream` (outputs larger than the caches) the row kernels store
 * around the caches, as scipix_widen_stream does, sparing the read of each
 * output line before it is written (the README has the figures); streamed
 * stores need 32-byte aligned addresses, so such rows start with a few plain
 * pixels.  A caller that streamed ends with scipix_store_fence(), once: a
 * fence per row costs more than streaming saves. */
static inline void scipix_store_fence(void)
{
#if !defined(SCIPIX_SCALAR_REFERENCE) && defined(__SSE2__)
    _mm_sfence();
#endif
}

/* Stores a vector of floats at dst, around the caches with `stream` (dst
 * then aligned to the vector). */
#if !defined(SCIPIX_SCALAR_REFERENCE)
static inline void scipix_store_f32v(float *dst, scipix_f32v value, int stream)
{
#if SCIPIX_VEC_BYTES == 64
    if (stream) {
        _mm512_stream_ps(dst, (__m512)value);
        return;
    }
#elif SCIPIX_VEC_BYTES == 32 && defined(__AVX__)
    if (stream) {
        _mm256_stream_ps(dst, (__m256)value);
        return;
    }
#elif defined(__SSE2__)
    if (stream) {
        _mm_stream_ps(dst, (__m128)value);
        return;
    }
#endif
    memcpy(dst, &value, sizeof value);
}
#endif

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

#endif
