/* The compiler's target macros a variant was built with, NULL-terminated:
 * the tests check each variant's list against its flags. */
#ifndef SCIPIX_TARGET_H
#define SCIPIX_TARGET_H

static const char *scipix_target_macros[] = {
#ifdef __SSE4_2__
    "__SSE4_2__",
#endif
#ifdef __AVX2__
    "__AVX2__",
#endif
#ifdef __FMA__
    "__FMA__",
#endif
#ifdef __AVX512F__
    "__AVX512F__",
#endif
#ifdef __AVX512BW__
    "__AVX512BW__",
#endif
#ifdef __AVX512VNNI__
    "__AVX512VNNI__",
#endif
#ifdef __AVXVNNI__
    "__AVXVNNI__",
#endif
#ifdef __ARM_NEON
    "__ARM_NEON",
#endif
#ifdef __ARM_FEATURE_DOTPROD
    "__ARM_FEATURE_DOTPROD",
#endif
#ifdef __ARM_FEATURE_MATMUL_INT8
    "__ARM_FEATURE_MATMUL_INT8",
#endif
    0
};

#endif
