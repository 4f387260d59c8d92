"""CPU feature detection (the spec's ``detect_features`` / ``get_features``)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from ._cpu_features import read_cpu_features

__all__ = ["CpuFeatures", "detect_features", "get_features"]


@dataclass(frozen=True)
class CpuFeatures:
    """SIMD features of this CPU that the operating system has enabled.

    Read with cpuid and xgetbv on x86-64 (AVX and AVX-512 count only when the
    OS saves their registers) and ``getauxval(AT_HWCAP)`` on aarch64.
    """

    sse2: bool = False
    sse3: bool = False
    ssse3: bool = False
    sse4_1: bool = False
    sse4_2: bool = False
    popcnt: bool = False
    cx16: bool = False
    lahf: bool = False
    avx: bool = False
    avx2: bool = False
    fma: bool = False
    f16c: bool = False
    bmi1: bool = False
    bmi2: bool = False
    lzcnt: bool = False
    movbe: bool = False
    osxsave: bool = False
    avx512f: bool = False
    avx512bw: bool = False
    avx512cd: bool = False
    avx512dq: bool = False
    avx512vl: bool = False
    avx512vnni: bool = False
    avx_vnni: bool = False
    neon: bool = False
    asimddp: bool = False

    def enabled(self) -> list[str]:
        """Names of the features present, in field order."""
        return [f.name for f in fields(self) if getattr(self, f.name)]


def detect_features() -> CpuFeatures:
    """Read the CPU's features now.

    Returns
    -------
    CpuFeatures
    """
    return CpuFeatures(**read_cpu_features())


_FEATURES = detect_features()


def get_features() -> CpuFeatures:
    """The features read once at import (cheap; use this in hot paths).

    Returns
    -------
    CpuFeatures
    """
    return _FEATURES
