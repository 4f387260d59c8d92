/* Read the CPU's SIMD capabilities from the hardware itself.
 *
 * x86-64: cpuid gives what the core implements; xgetbv (XCR0) gives what the
 * operating system saves on a context switch.  AVX state counts only when
 * XCR0 has XMM|YMM (0x6), AVX-512 only when it also has opmask|ZMM_Hi256|
 * Hi16_ZMM (0xe6), as in NumPy's npy_cpu_features.c.
 * aarch64: getauxval(AT_HWCAP); Advanced SIMD (NEON) is mandatory in ARMv8-A.
 */
#ifndef SCIPIX_CPU_FEATURES_H
#define SCIPIX_CPU_FEATURES_H

#include <string.h>

typedef struct {
    int sse2, sse3, ssse3, sse4_1, sse4_2, popcnt, cx16, lahf;
    int avx, avx2, fma, f16c, bmi1, bmi2, lzcnt, movbe, osxsave;
    int avx512f, avx512bw, avx512cd, avx512dq, avx512vl, avx512vnni;
    int avx_vnni;  /* VEX-encoded VNNI on 256-bit vectors (Alder Lake, Zen 5) */
    int neon, asimddp, i8mm;
} scipix_cpu_features;

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static unsigned long long scipix_xgetbv0(void)
{
    unsigned int eax, edx;
    /* Encoded as bytes so the file needs no -mxsave. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static void scipix_detect_cpu(scipix_cpu_features *f)
{
    unsigned int eax, ebx, ecx, edx, max_leaf, max_ext;
    unsigned long long xcr0 = 0;
    int os_avx, os_avx512;

    memset(f, 0, sizeof(*f));
    max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf < 1)
        return;
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    f->sse2 = (edx >> 26) & 1;
    f->sse3 = ecx & 1;
    f->ssse3 = (ecx >> 9) & 1;
    f->fma = (ecx >> 12) & 1;
    f->cx16 = (ecx >> 13) & 1;
    f->sse4_1 = (ecx >> 19) & 1;
    f->sse4_2 = (ecx >> 20) & 1;
    f->movbe = (ecx >> 22) & 1;
    f->popcnt = (ecx >> 23) & 1;
    f->osxsave = (ecx >> 27) & 1;
    f->avx = (ecx >> 28) & 1;
    f->f16c = (ecx >> 29) & 1;

    if (f->osxsave)
        xcr0 = scipix_xgetbv0();
    os_avx = (xcr0 & 0x6) == 0x6;
    os_avx512 = (xcr0 & 0xe6) == 0xe6;
    if (!os_avx) {
        f->avx = f->fma = f->f16c = 0;
    }

    if (max_leaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        f->bmi1 = (ebx >> 3) & 1;
        f->avx2 = os_avx && ((ebx >> 5) & 1);
        f->bmi2 = (ebx >> 8) & 1;
        if (os_avx512) {
            f->avx512f = (ebx >> 16) & 1;
            f->avx512dq = (ebx >> 17) & 1;
            f->avx512cd = (ebx >> 28) & 1;
            f->avx512bw = (ebx >> 30) & 1;
            f->avx512vl = (ebx >> 31) & 1;
            f->avx512vnni = (ecx >> 11) & 1;
        }
        if (eax >= 1) {  /* eax: the highest subleaf of leaf 7 */
            __cpuid_count(7, 1, eax, ebx, ecx, edx);
            f->avx_vnni = os_avx && ((eax >> 4) & 1);
        }
    }

    max_ext = __get_cpuid_max(0x80000000, 0);
    if (max_ext >= 0x80000001) {
        __cpuid_count(0x80000001, 0, eax, ebx, ecx, edx);
        f->lahf = ecx & 1;
        f->lzcnt = (ecx >> 5) & 1;
    }
}

#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <asm/hwcap.h>

static void scipix_detect_cpu(scipix_cpu_features *f)
{
    unsigned long hwcap = getauxval(AT_HWCAP);
    memset(f, 0, sizeof(*f));
    f->neon = (hwcap & HWCAP_ASIMD) != 0;
#ifdef HWCAP_ASIMDDP
    f->asimddp = (hwcap & HWCAP_ASIMDDP) != 0;
#endif
#ifdef HWCAP2_I8MM
    f->i8mm = (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#endif
}

#elif defined(__aarch64__)
static void scipix_detect_cpu(scipix_cpu_features *f)
{
    memset(f, 0, sizeof(*f));
    f->neon = 1;  /* mandatory in ARMv8-A */
}

#else
static void scipix_detect_cpu(scipix_cpu_features *f)
{
    memset(f, 0, sizeof(*f));
}
#endif

#endif
