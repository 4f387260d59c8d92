"""Raw CPU feature bits, read with cpuid/xgetbv or getauxval (see the header)."""

cdef extern from "_cpu_features.h":
    ctypedef struct scipix_cpu_features:
        int sse2, sse3, ssse3, sse4_1, sse4_2, popcnt, cx16, lahf
        int avx, avx2, fma, f16c, bmi1, bmi2, lzcnt, movbe, osxsave
        int avx512f, avx512bw, avx512cd, avx512dq, avx512vl, avx512vnni
        int avx_vnni
        int neon, asimddp, i8mm
    void scipix_detect_cpu(scipix_cpu_features *f) noexcept nogil


def read_cpu_features():
    """Return the CPU's features as a dict of ``name -> bool``.

    Compiled for the baseline architecture, so it is safe to call on any CPU.
    """
    cdef scipix_cpu_features f
    scipix_detect_cpu(&f)
    cdef dict raw = f
    return {name: bool(value) for name, value in raw.items()}
