"""Choose which compiled variant of the SIMD kernels this process runs.

Each kernel family is built once per instruction set (``_image_<variant>``,
``quantize._kernels_<variant>``, ``_warp_<variant>``, ``_resample_<variant>``,
``_yuv_<variant>``); a variant is the set of its families' modules,
:class:`Kernels`.  A variant's modules may execute its instructions as soon
as they are imported, so they are imported only after the CPU is known to
support them.  This is the one module that knows
variants exist.

Environment (read at import, like NumPy's ``NPY_DISABLE_CPU_FEATURES``):

``SCIPIX_DISABLE_CPU_FEATURES``
    Comma- or space-separated variant or feature names (``avx512``,
    ``avx2``, ``fma``, ``neondot``, ``asimddp``, ...): no variant that needs
    one of them is chosen.  The architecture's baseline (x86-64: the
    ``baseline`` variant and ``sse2``; aarch64: the ``neon`` variant and
    ``neon``, mandatory in ARMv8-A) cannot be disabled: use
    ``OptLevel.NONE`` to run the scalar reference.  Names of another
    architecture's variants and features disable nothing here.
``SCIPIX_FORCE_VARIANT``
    Run exactly this variant; an error if the CPU cannot run it or it was
    not built.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import platform
from dataclasses import dataclass, fields
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from .config import simd_enabled
from .cpu import CpuFeatures, get_features

if TYPE_CHECKING:
    from ._image import ImageKernels
    from ._resample import ResampleKernels
    from ._warp import WarpKernels
    from ._yuv import YuvKernels
    from .quantize._kernels import QuantizeKernels

__all__ = ["VARIANTS", "REFERENCE", "KERNELS", "REFERENCE_KERNELS", "Kernels", "built_variants",
           "runnable_variants", "load_variant", "active_variant", "current_kernels"]


# A frozen dataclass rather than a NamedTuple: its fields are plain instance
# attributes, which the interpreter reads faster than tuple-field descriptors,
# and the image facades read one per kernel call.
@dataclass(frozen=True)
class Kernels:
    """One variant's compiled modules, one per kernel family."""

    image: ImageKernels
    quantize: QuantizeKernels
    warp: WarpKernels
    resample: ResampleKernels
    yuv: YuvKernels


# Family -> module name prefix (setup.py's KERNEL_FAMILIES builds each).
_FAMILY_MODULES = {"image": f"{__package__}._image",
                   "quantize": f"{__package__}.quantize._kernels",
                   "warp": f"{__package__}._warp",
                   "resample": f"{__package__}._resample",
                   "yuv": f"{__package__}._yuv"}

# Best first; each with the CPU features its compiler flags let gcc use
# (-march=x86-64-v2 / -v3 (+ AVX-VNNI) / -v4 + VNNI, armv8-a,
# armv8.2-a + dot product (+ i8mm)).
_X86_64_V2 = ("sse3", "ssse3", "sse4_1", "sse4_2", "popcnt", "cx16", "lahf")
_X86_64_V3 = _X86_64_V2 + ("avx", "avx2", "fma", "f16c", "bmi1", "bmi2", "lzcnt", "movbe")
VARIANTS = {
    "avx512": _X86_64_V3 + ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl",
                            "avx512vnni"),
    "avxvnni": _X86_64_V3 + ("avx_vnni",),
    "avx2": _X86_64_V3,
    "sse42": _X86_64_V2,
    "neoni8mm": ("neon", "asimddp", "i8mm"),
    "neondot": ("neon", "asimddp"),
    "neon": ("neon",),
    "baseline": ("sse2",),
}
# The vectorization-free build: OptLevel.NONE and the tests' oracle.
REFERENCE = "scalar"

_FEATURE_NAMES = {f.name for f in fields(CpuFeatures)}
_ARCH_VARIANTS = {
    "x86_64": ("avx512", "avxvnni", "avx2", "sse42", "baseline"),
    "amd64": ("avx512", "avxvnni", "avx2", "sse42", "baseline"),
    "aarch64": ("neoni8mm", "neondot", "neon"),
    "arm64": ("neoni8mm", "neondot", "neon"),
}
# The variant and features every CPU of an architecture has: never disabled.
_X86_BASELINE = ("baseline", "sse2")
_ARM64_BASELINE = ("neon",)
_ARCH_BASELINE = {"x86_64": _X86_BASELINE, "amd64": _X86_BASELINE,
                  "aarch64": _ARM64_BASELINE, "arm64": _ARM64_BASELINE}


def module_names(variant: str) -> dict[str, str]:
    """The module name of each kernel family of ``variant``."""
    return {family: f"{prefix}_{variant}" for family, prefix in _FAMILY_MODULES.items()}


def built_variants() -> list[str]:
    """Variants compiled for this machine's architecture (every family), best first."""
    candidates = _ARCH_VARIANTS.get(platform.machine().lower(), ())
    return [v for v in candidates
            if all(importlib.util.find_spec(name) is not None
                   for name in module_names(v).values())]


def missing_features(variant: str, features: CpuFeatures | None = None) -> list[str]:
    """Features ``variant`` needs that the CPU lacks."""
    features = features or get_features()
    return [name for name in VARIANTS[variant] if not getattr(features, name)]


def runnable_variants() -> list[str]:
    """Built variants this CPU can execute, best first (ignores the environment)."""
    return [v for v in built_variants() if not missing_features(v)]


def load_variant(name: str) -> Kernels:
    """Import the kernel modules of variant ``name`` after checking the CPU.

    ``name`` may also be ``"scalar"``, the reference build.

    Raises
    ------
    ValueError
        Unknown variant name.
    RuntimeError
        The variant was not built, or this CPU cannot run it.
    """
    if name != REFERENCE:
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; expected one of {sorted(VARIANTS)}")
        if name not in built_variants():
            raise RuntimeError(f"variant {name!r} was not built; built: {built_variants()}")
        lacking = missing_features(name)
        if lacking:
            raise RuntimeError(f"this CPU cannot run variant {name!r}: it lacks {lacking}")
    modules = {family: importlib.import_module(module)
               for family, module in module_names(name).items()}
    return Kernels(image=cast("ImageKernels", modules["image"]),
                   quantize=cast("QuantizeKernels", modules["quantize"]),
                   warp=cast("WarpKernels", modules["warp"]),
                   resample=cast("ResampleKernels", modules["resample"]),
                   yuv=cast("YuvKernels", modules["yuv"]))


def _parse_names(value: str, env_name: str) -> list[str]:
    names = [n.strip().lower() for n in value.replace(",", " ").split() if n.strip()]
    unknown = [n for n in names if n not in VARIANTS and n not in _FEATURE_NAMES]
    if unknown:
        raise ValueError(f"{env_name} names unknown variants or features {unknown}; "
                         f"variants: {sorted(VARIANTS)}")
    return names


def _choose(environ: Mapping[str, str]) -> str:
    forced = environ.get("SCIPIX_FORCE_VARIANT", "").strip().lower()
    if forced:
        if forced not in VARIANTS:
            raise ValueError(f"SCIPIX_FORCE_VARIANT={forced!r} is not a variant; "
                             f"expected one of {sorted(VARIANTS)}")
        load_variant(forced)  # raises when not built or not runnable
        return forced
    disabled = set(_parse_names(environ.get("SCIPIX_DISABLE_CPU_FEATURES", ""),
                                "SCIPIX_DISABLE_CPU_FEATURES"))
    machine = platform.machine().lower()
    baseline = disabled.intersection(_ARCH_BASELINE.get(machine, ()))
    if baseline:
        raise ValueError(f"SCIPIX_DISABLE_CPU_FEATURES cannot disable {sorted(baseline)}: "
                         f"the baseline every {machine} CPU runs; OptLevel.NONE runs "
                         "the scalar reference")
    for variant in runnable_variants():
        if variant not in disabled and disabled.isdisjoint(VARIANTS[variant]):
            return variant
    return REFERENCE


_ACTIVE = _choose(os.environ)
# Module attributes rather than accessors: simd.py reads one per kernel call.
KERNELS = load_variant(_ACTIVE)               # the chosen variant's modules
REFERENCE_KERNELS = load_variant(REFERENCE)   # the scalar reference (OptLevel.NONE)


def active_variant() -> str:
    """Name of the variant the kernels run (``"scalar"`` where none fits)."""
    return _ACTIVE


def current_kernels() -> Kernels:
    """The kernel modules calls use now: the reference at ``OptLevel.NONE``."""
    return KERNELS if simd_enabled() else REFERENCE_KERNELS
