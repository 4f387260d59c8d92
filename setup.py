"""Build scipix's compiled modules.

Each kernel family (``KERNEL_FAMILIES``: the image kernels, the INT8
kernels, the perspective crops, the resampling, the YUV conversions) is one
Cython source compiled once per instruction-set variant into
separately named extension modules (``scipix.optimize._image_avx2``,
``scipix.optimize.quantize._kernels_avx2``, ...).  The dispatcher,
``scipix/optimize/_dispatch.py``, imports the best variant the CPU can run.

Set ``SCIPIX_VARIANTS=scalar,avx2`` to build only some variants (a quicker
development build); the default is every variant of the build machine's
architecture.  Set ``SCIPIX_SANITIZE=address,undefined`` to build every
extension with AddressSanitizer and UBSan (docs/getting-started.rst says how
to run it), and ``SCIPIX_BOUNDSCHECK=1`` to build with Cython's bounds and wraparound
checks on (a debugging build, as scikit-learn's ``SKLEARN_ENABLE_DEBUG_CYTHON_DIRECTIVES``).
"""
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PACKAGE_DIR = os.path.join("scipix", "optimize")
INCLUDE_DIR = os.path.join(PACKAGE_DIR, "include")

# Module name prefix -> source of each family compiled once per variant.
KERNEL_FAMILIES = {
    "scipix.optimize._image": os.path.join(PACKAGE_DIR, "_image.pyx"),
    "scipix.optimize.quantize._kernels": os.path.join(PACKAGE_DIR, "quantize", "_kernels.pyx"),
    "scipix.optimize._warp": os.path.join(PACKAGE_DIR, "_warp.pyx"),
    "scipix.optimize._resample": os.path.join(PACKAGE_DIR, "_resample.pyx"),
    "scipix.optimize._yuv": os.path.join(PACKAGE_DIR, "_yuv.pyx"),
}

_CHECKED = os.environ.get("SCIPIX_BOUNDSCHECK", "") not in ("", "0")
CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": _CHECKED,
    "wraparound": _CHECKED,
    "cdivision": True,
    "initializedcheck": _CHECKED,
    "embedsignature": True,
}

# Flags of each kernel variant.  ``scalar`` is the reference used by
# OptLevel.NONE and by the tests: the same source with vectorization off and
# the plain-loop side of the headers in include/.
X86_VARIANTS = {
    "scalar": ["-O2", "-march=x86-64", "-fno-tree-vectorize", "-fno-tree-slp-vectorize",
               "-DSCIPIX_SCALAR_REFERENCE"],
    "baseline": ["-O3", "-march=x86-64"],
    "sse42": ["-O3", "-march=x86-64-v2"],
    "avx2": ["-O3", "-march=x86-64-v3"],
    # AVX2 plus the VEX-encoded vpdpbusd (CPUs with AVX-VNNI but no AVX-512).
    "avxvnni": ["-O3", "-march=x86-64-v3", "-mavxvnni"],
    # gcc keeps 256-bit vectors for x86-64-v4 unless told to prefer 512.
    "avx512": ["-O3", "-march=x86-64-v4", "-mavx512vnni", "-mprefer-vector-width=512"],
}
# Every ARMv8-A CPU has Advanced SIMD (NEON) and gcc uses it for plain
# scalar code too (__ARM_NEON is always defined): the reference turns it off.
ARM64_VARIANTS = {
    "scalar": ["-O2", "-march=armv8-a+nosimd", "-fno-tree-vectorize",
               "-fno-tree-slp-vectorize", "-DSCIPIX_SCALAR_REFERENCE"],
    "neon": ["-O3", "-march=armv8-a"],
    # ARMv8.2-A's sdot/udot (HWCAP_ASIMDDP): the INT8 matrix product's kernel.
    "neondot": ["-O3", "-march=armv8.2-a+dotprod"],
    # Armv8.6's INT8 matrix multiply (HWCAP2_I8MM): usmmla in the INT8 product.
    "neoni8mm": ["-O3", "-march=armv8.2-a+dotprod+i8mm"],
}
OTHER_VARIANTS = {
    "scalar": ["-O2", "-fno-tree-vectorize", "-fno-tree-slp-vectorize",
               "-DSCIPIX_SCALAR_REFERENCE"],
}
# No FMA contraction: float kernels then round identically on every variant.
# No trapping math: float compares may be if-converted (vectorized clamps);
# scipix never reads the FP exception flags, so no result changes.
COMMON_FLAGS = ["-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
                "-Wno-unused-function", "-Wno-psabi"]
OPENMP_FLAG = "-fopenmp"
# The kernels' plain entry points read ndarrays through NumPy's C API.  NumPy
# 2's headers build modules that also import on older NumPy, down to the
# target version: the oldest NumPy that pyproject.toml's dependency allows.
NUMPY_MACROS = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                ("NPY_TARGET_VERSION", "NPY_1_22_API_VERSION")]


def _sanitizer_flags():
    """Compile and link flags for ``SCIPIX_SANITIZE`` (e.g. ``address,undefined``).

    UBSan aborts on the first report instead of printing and going on, so a
    test run fails on it.
    """
    sanitizers = os.environ.get("SCIPIX_SANITIZE", "").replace(" ", "")
    if not sanitizers:
        return [], []
    compile_flags = [f"-fsanitize={sanitizers}", "-fno-omit-frame-pointer", "-g"]
    if "undefined" in sanitizers.split(","):
        compile_flags.append("-fno-sanitize-recover=undefined")
    if not _compiler_accepts(compile_flags):
        sys.exit(f"SCIPIX_SANITIZE={sanitizers}: the compiler rejects {compile_flags}")
    return compile_flags, [f"-fsanitize={sanitizers}"]


def _machine_variants():
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return X86_VARIANTS
    if machine in ("aarch64", "arm64"):
        return ARM64_VARIANTS
    return OTHER_VARIANTS


def _compiler():
    """The C compiler command (``CC``, else Python's), split into words.

    Stops the build with a message saying what to do when it cannot be found:
    the kernels are compiled at install time.
    """
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        sys.exit(f"scipix: no C compiler found (tried {cc[0]!r}"
                 f"{', from CC' if os.environ.get('CC') else ''}). scipix's kernels are "
                 "C compiled when it is installed from source: install gcc or clang "
                 "(e.g. apt-get install gcc) or point CC at one, or install a prebuilt "
                 "wheel.")
    return cc


def _compiler_accepts(flags):
    """True when the C compiler builds (and, for OpenMP, links) with ``flags``."""
    cc = _compiler()
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as f:
            f.write("int main(void) { return 0; }\n")
        command = cc + flags + [source, "-o", os.path.join(tmp, "probe")]
        return subprocess.run(command, capture_output=True).returncode == 0


def _selected_variants():
    variants = _machine_variants()
    wanted = os.environ.get("SCIPIX_VARIANTS")
    if wanted:
        names = {name.strip() for name in wanted.split(",") if name.strip()}
        unknown = names - set(variants)
        if unknown:
            sys.exit(f"SCIPIX_VARIANTS names unknown variants {sorted(unknown)}; "
                     f"this machine builds {sorted(variants)}")
        names.add("scalar")
        variants = {name: flags for name, flags in variants.items() if name in names}
    usable = {}
    for name, flags in variants.items():
        if _compiler_accepts(flags):
            usable[name] = flags
        else:
            print(f"scipix: the compiler rejects {flags}; skipping variant {name!r}")
    return usable


def _extensions():
    if not _compiler_accepts([]):
        sys.exit(f"scipix: the C compiler {' '.join(_compiler())!r} cannot build a "
                 "program; check the compiler installation or CC")
    openmp = [OPENMP_FLAG] if _compiler_accepts([OPENMP_FLAG]) else []
    if not openmp:
        # scipix.show_runtime() reports such a build (openmp: False).
        print("scipix: the C compiler has no OpenMP support; building without it, "
              "every kernel will run on one thread")

    sanitize_compile, sanitize_link = _sanitizer_flags()
    extensions = []
    for module in ("_cpu_features", "_openmp_helpers", "_memory"):
        (ext,) = cythonize(
            Extension(f"scipix.optimize.{module}", [os.path.join(PACKAGE_DIR, module + ".pyx")]),
            compiler_directives=CYTHON_DIRECTIVES,
            build_dir=os.path.join("build", "cython", "common"),
        )
        ext.include_dirs = [PACKAGE_DIR]
        ext.extra_compile_args = ["-O2"] + COMMON_FLAGS + openmp + sanitize_compile
        ext.extra_link_args = openmp + sanitize_link
        extensions.append(ext)

    # Each variant gets its own Cython build_dir (one generated .c per module
    # name) and its flags are set after cythonize: Cython caches per-source
    # metadata, so flags given before would leak from one variant to the next.
    for variant, flags in _selected_variants().items():
        for prefix, source in KERNEL_FAMILIES.items():
            (ext,) = cythonize(
                Extension(f"{prefix}_{variant}", [source]),
                compiler_directives=CYTHON_DIRECTIVES,
                build_dir=os.path.join("build", "cython", variant),
            )
            ext.include_dirs = [INCLUDE_DIR, numpy.get_include()]
            ext.define_macros = NUMPY_MACROS
            ext.extra_compile_args = flags + COMMON_FLAGS + openmp + sanitize_compile
            ext.extra_link_args = openmp + sanitize_link
            extensions.append(ext)
    return extensions


class ParallelBuildExt(build_ext):
    """Compile the variants on every core; pip passes no ``-j``."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1


setup(ext_modules=_extensions(), cmdclass={"build_ext": ParallelBuildExt})
