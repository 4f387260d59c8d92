"""CPU feature detection (the spec's ``detect_features`` / ``get_features``)."""
from __future__ import annotations

import platform
from dataclasses import dataclass, fields

from ._cpu_features import read_cpu_features

__all__ = ["CpuFeatures", "cpu_name", "detect_features", "get_features"]


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
    i8mm: bool = False

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


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name, with its family and model numbers where Linux
    gives them: a virtual machine's name may be only "AMD EPYC", and the
    numbers then tell its generation (family 25 model 17: Zen 4).

    Parameters
    ----------
    cpuinfo : str
        The file to read (Linux's ``/proc/cpuinfo``); elsewhere, or when it
        cannot be read, :func:`platform.processor`.

    Returns
    -------
    str, "unknown" when nothing says
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as lines:
            first: dict[str, str] = {}
            for line in lines:
                key, _, value = line.partition(":")
                key = key.strip()
                if not key and first:
                    break                          # the end of the first CPU's block
                first.setdefault(key, value.strip())
    except OSError:
        return platform.processor() or "unknown"
    if "model name" in first:
        name = first["model name"]
        if "cpu family" in first and "model" in first:
            return f"{name} (family {first['cpu family']}, model {first['model']})"
        return name
    if "CPU part" in first:                       # aarch64: the designer's codes
        return (f"implementer {first.get('CPU implementer', '?')}, "
                f"part {first['CPU part']}")
    return platform.processor() or "unknown"
