import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys

import pytest

import scipix
from scipix.optimize import _dispatch, active_variant, built_variants, runnable_variants

X86 = platform.machine() in ("x86_64", "AMD64")
ARM64 = platform.machine() in ("aarch64", "arm64")
# objdump of the build machine reads its own architecture's modules.
OBJDUMP = shutil.which("objdump")


def _run(code, **env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("SCIPIX_FORCE_VARIANT", "SCIPIX_DISABLE_CPU_FEATURES")}
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=120)


def disassembly(module_name):
    """objdump's listing of a compiled module, found without importing it."""
    spec = importlib.util.find_spec(module_name)
    return subprocess.run(["objdump", "-d", "--no-show-raw-insn", spec.origin],
                          capture_output=True, text=True, check=True).stdout


def test_active_is_best_runnable():
    runnable = runnable_variants()
    assert runnable, "no SIMD variant runs on this machine"
    if not os.environ.get("SCIPIX_FORCE_VARIANT") and not os.environ.get(
            "SCIPIX_DISABLE_CPU_FEATURES"):
        assert active_variant() == runnable[0]


@pytest.mark.skipif(not X86, reason="x86-64 variants")
def test_all_x86_variants_built():
    assert built_variants() == ["avx512", "avxvnni", "avx2", "sse42", "baseline"]


@pytest.mark.skipif(not ARM64, reason="aarch64 variants")
def test_all_aarch64_variants_built():
    assert built_variants() == ["neoni8mm", "neondot", "neon"]


def test_runnable_variants_have_their_features():
    for variant in runnable_variants():
        assert not _dispatch.missing_features(variant)


def test_each_variant_was_compiled_for_its_target():
    # Guards against one variant's flags leaking into another at build time.
    expected = {"baseline": set(), "sse42": {"__SSE4_2__"},
                "avx2": {"__SSE4_2__", "__AVX2__", "__FMA__"},
                "avxvnni": {"__SSE4_2__", "__AVX2__", "__FMA__", "__AVXVNNI__"},
                "avx512": {"__SSE4_2__", "__AVX2__", "__FMA__", "__AVX512F__",
                           "__AVX512BW__", "__AVX512VNNI__"},
                "neoni8mm": {"__ARM_NEON", "__ARM_FEATURE_DOTPROD",
                             "__ARM_FEATURE_MATMUL_INT8"},
                "neondot": {"__ARM_NEON", "__ARM_FEATURE_DOTPROD"},
                "neon": {"__ARM_NEON"}, "scalar": set()}
    for variant in runnable_variants() + ["scalar"]:
        for module in vars(_dispatch.load_variant(variant)).values():
            assert set(module.target_macros()) == expected[variant], (variant, module)


# aarch64: the vector instructions that show a loop was vectorized (objdump
# spells NEON's arrangements v<n>.16b / .8h / .4s), per variant.
NEON_VECTOR = re.compile(r"\tv?(add|mul|mla|umlal|umull|smull|sdot|usmmla|uzp[12]|ld[1-4]|tbl|"
                         r"fmul|fadd)\S*\s+v\d+\.(16b|8h|4s|2d)")


@pytest.mark.skipif(not (ARM64 and OBJDUMP), reason="needs aarch64 objdump")
@pytest.mark.parametrize("variant", ["neoni8mm", "neondot", "neon"])
@pytest.mark.parametrize("family", _dispatch.module_names("neon"))
def test_aarch64_disassembly_uses_vector_registers(variant, family):
    code = disassembly(_dispatch.module_names(variant)[family])
    if "__asan_" in code:
        pytest.skip("sanitized build: instrumentation keeps loops scalar")
    vector = [line for line in code.splitlines() if NEON_VECTOR.search(line)]
    assert len(vector) >= 100, (variant, family, len(vector))


@pytest.mark.skipif(not (ARM64 and OBJDUMP), reason="needs aarch64 objdump")
@pytest.mark.parametrize("family", _dispatch.module_names("neon"))
def test_aarch64_scalar_reference_has_no_vector_arithmetic(family):
    # Built with -march=armv8-a+nosimd: no Advanced SIMD instruction at all
    # (gcc would otherwise use it for plain code too).
    code = disassembly(_dispatch.module_names(_dispatch.REFERENCE)[family])
    vector = [line for line in code.splitlines() if NEON_VECTOR.search(line)]
    assert not vector, vector[:3]


@pytest.mark.skipif(not (X86 and shutil.which("objdump")), reason="needs x86-64 objdump")
@pytest.mark.parametrize("variant, register", [("avx512", "zmm"), ("avxvnni", "ymm"),
                                               ("avx2", "ymm"), ("sse42", "xmm"),
                                               ("baseline", "xmm")])
@pytest.mark.parametrize("family", ["image", "quantize", "warp", "resample",
                                    "yuv"])
def test_disassembly_uses_vector_registers(variant, register, family):
    # Read the machine code without importing it: works for variants this
    # CPU cannot run.  Packed integer adds show the hot loops are vectorized.
    code = disassembly(_dispatch.module_names(variant)[family])
    if "__asan_" in code:
        pytest.skip("sanitized build (.ci/sanitize): instrumentation keeps loops scalar")
    packed = [line for line in code.splitlines()
              if "\tvpadd" in line or "\tpadd" in line or "\tvpmaddwd" in line
              or "\tpmaddwd" in line]
    assert any(f"%{register}" in line for line in packed), variant
    if register == "xmm":
        assert "%ymm" not in code


# The warp family's bilinear sampling: what each variant's sampling loop
# loads taps with, and the register its float arithmetic runs in.
WARP_SAMPLING = {"avx512": ("vpgatherdq", "%zmm"), "avxvnni": ("vpgatherdq", "%ymm"),
                 "avx2": ("vpgatherdq", "%ymm"), "sse42": ("mulps", "%xmm"),
                 "baseline": ("mulps", "%xmm")}


@pytest.mark.skipif(not (X86 and shutil.which("objdump")), reason="needs x86-64 objdump")
@pytest.mark.parametrize("variant", list(WARP_SAMPLING))
def test_warp_sampling_is_vectorized(variant):
    # Gathers where the variant has them; packed float products everywhere.
    if variant not in built_variants():
        pytest.skip(f"{variant} was not built")
    code = disassembly(_dispatch.module_names(variant)["warp"])
    if "__asan_" in code:
        pytest.skip("sanitized build (.ci/sanitize): instrumentation keeps loops scalar")
    mnemonic, register = WARP_SAMPLING[variant]
    assert any(f"\t{mnemonic} " in line and register in line for line in code.splitlines())
    assert any("mulps " in line and register in line for line in code.splitlines())


@pytest.mark.skipif(not (X86 and shutil.which("objdump")), reason="needs x86-64 objdump")
@pytest.mark.parametrize("family", ["image", "quantize", "warp", "resample",
                                    "yuv"])
def test_scalar_reference_has_no_packed_arithmetic(family):
    code = disassembly(_dispatch.module_names(_dispatch.REFERENCE)[family])
    for mnemonic in ("\tpaddw", "\tpaddd", "\tpmaddwd", "\tpmullw", "\taddps", "\tmulps",
                     "\tpavgb", "\tpmaxub"):
        assert mnemonic not in code, mnemonic


def test_force_variant():
    variant = runnable_variants()[-1]
    result = _run("import scipix.optimize as o; print(o.active_variant())",
                  SCIPIX_FORCE_VARIANT=variant)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == variant


def test_force_unknown_variant_is_an_error():
    result = _run("import scipix", SCIPIX_FORCE_VARIANT="avx9000")
    assert result.returncode != 0
    assert "SCIPIX_FORCE_VARIANT" in result.stderr and "avx9000" in result.stderr


def test_force_variant_the_cpu_lacks_is_an_error():
    lacking = [v for v in built_variants() if _dispatch.missing_features(v)]
    if not lacking:
        pytest.skip("this CPU runs every built variant")
    result = _run("import scipix", SCIPIX_FORCE_VARIANT=lacking[0])
    assert result.returncode != 0
    assert "cannot run variant" in result.stderr and lacking[0] in result.stderr


def test_disable_features_falls_back():
    runnable = runnable_variants()
    if len(runnable) < 2:
        pytest.skip("only one variant runs here")
    result = _run("import scipix.optimize as o; print(o.active_variant())",
                  SCIPIX_DISABLE_CPU_FEATURES=runnable[0])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == runnable[1]


@pytest.mark.skipif(not X86, reason="x86-64 feature names")
def test_disable_a_feature_disables_variants_needing_it():
    result = _run("import scipix.optimize as o; print(o.active_variant())",
                  SCIPIX_DISABLE_CPU_FEATURES="sse4_2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "baseline"


# aarch64: what disabling a feature or a variant by name leaves.  A feature
# takes every variant that needs it; a variant's name takes that variant only.
ARM64_FALLBACKS = [("neondot", "asimddp", "neon"), ("neondot", "neondot,neoni8mm", "neon"),
                   ("neoni8mm", "i8mm", "neondot"), ("neoni8mm", "neoni8mm", "neondot")]


@pytest.mark.skipif(not ARM64, reason="aarch64 feature names")
@pytest.mark.parametrize("needs, disabled, expected", ARM64_FALLBACKS)
def test_disable_aarch64_features_falls_back(needs, disabled, expected):
    if needs not in runnable_variants():
        pytest.skip(f"this CPU cannot run {needs}")
    result = _run("import scipix.optimize as o; print(o.active_variant())",
                  SCIPIX_DISABLE_CPU_FEATURES=disabled)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


# The baseline of each architecture: every CPU of it runs these.
BASELINE = ["baseline", "sse2"] if X86 else ["neon"] if ARM64 else []


@pytest.mark.parametrize("name", BASELINE)
def test_disable_the_baseline_is_an_error(name):
    result = _run("import scipix", SCIPIX_DISABLE_CPU_FEATURES=name)
    assert result.returncode != 0
    assert f"cannot disable ['{name}']" in result.stderr
    assert "OptLevel.NONE" in result.stderr


@pytest.mark.parametrize("name", ["avx2", "baseline", "sse2", "neon", "asimddp"])
def test_disable_picks_the_best_variant_not_needing_it(name):
    # Names of the other architecture disable nothing here.
    if name in BASELINE:
        pytest.skip(f"{name} is this architecture's baseline")
    native = [v for v in runnable_variants() if name not in (v, *_dispatch.VARIANTS[v])]
    result = _run("import scipix.optimize as o; print(o.active_variant())",
                  SCIPIX_DISABLE_CPU_FEATURES=name)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == native[0]


def test_disable_unknown_feature_is_an_error():
    result = _run("import scipix", SCIPIX_DISABLE_CPU_FEATURES="avx2,warp_drive")
    assert result.returncode != 0
    assert "warp_drive" in result.stderr


def test_load_variant_checks():
    with pytest.raises(ValueError, match="unknown variant"):
        _dispatch.load_variant("mmx")
    for variant in built_variants():
        if _dispatch.missing_features(variant):
            with pytest.raises(RuntimeError, match="cannot run"):
                _dispatch.load_variant(variant)


def test_show_runtime(capsys):
    scipix.show_runtime()
    printed = capsys.readouterr().out
    assert re.search(rf"^active_variant\s*: {active_variant()}$", printed, re.MULTILINE)
    for variant in built_variants():
        assert variant in printed


def _functions(code, prefix):
    """``{name: body}`` of the functions in an objdump listing named ``prefix...``."""
    bodies, name = {}, None
    for line in code.splitlines():
        if line.endswith(">:"):
            symbol = line.split("<", 1)[1][:-2]
            name = symbol if symbol.startswith(prefix) else None
            if name:
                bodies[name] = []
        elif name and line.strip():
            bodies[name].append(line)
    return bodies


# A vector register stored to the stack frame (x86: AT&T operand order;
# aarch64: q registers stored by str/stp/st1 to sp or x29).
SPILL = re.compile(r"%[xyz]mm\d+,[^,\s]*\(%(rsp|rbp)|\t(str|stp|st1)\s+[^\[]*\bq\d+.*\[(sp|x29)")

# The int8 matrix product's instruction in each variant's micro-kernels, as
# objdump spells it (the VEX form of AVX-VNNI is marked {vex}), and the
# name each module reports.
DOT_PRODUCTS = {"avx512": ("vpdpbusd", "%zmm", "vpdpbusd-zmm"),
                "avxvnni": ("{vex} vpdpbusd", "%ymm", "vpdpbusd-ymm"),
                "avx2": ("vpmaddubsw", "%ymm", "vpmaddubsw"),
                "neoni8mm": ("usmmla", ".4s", "usmmla"),
                "neondot": ("sdot", ".4s", "sdot")}
# The variants whose kernels the build machine's objdump reads.
NATIVE_DOT_PRODUCTS = [v for v in DOT_PRODUCTS if v in _dispatch.VARIANTS
                       and v in _dispatch._ARCH_VARIANTS.get(platform.machine().lower(), ())]


@pytest.mark.skipif(not (NATIVE_DOT_PRODUCTS and OBJDUMP), reason="needs objdump")
@pytest.mark.parametrize("variant", NATIVE_DOT_PRODUCTS)
def test_qgemm_micro_kernels_keep_their_sums_in_registers(variant):
    # Read without importing: covers variants this CPU cannot run (avxvnni
    # here).  A spill is a vector register stored to the stack frame.
    if variant not in built_variants():
        pytest.skip(f"{variant} was not built")
    mnemonic, register, _ = DOT_PRODUCTS[variant]
    code = disassembly(_dispatch.module_names(variant)["quantize"])
    if "<scipix_" not in code:
        pytest.skip("stripped module (a repaired wheel): no symbols to find the kernels by")
    kernels = _functions(code, "scipix_qgemm_kernel_")
    assert len(kernels) >= 4, sorted(kernels)
    for name, body in kernels.items():
        # objdump pads x86 mnemonics with spaces, aarch64 ones with a tab.
        assert any(re.search(rf"\t{re.escape(mnemonic)}\s", line) and register in line
                   for line in body), name
        spills = [line for line in body if SPILL.search(line)]
        assert not spills, (name, spills[:3])


def test_variants_report_their_dot_product():
    for variant in runnable_variants() + [_dispatch.REFERENCE]:
        reported = _dispatch.load_variant(variant).quantize.dot_product()
        assert reported == DOT_PRODUCTS.get(variant, (None, None, "plain"))[2], variant


def test_layer_asks_the_running_variant_for_its_activation_bits():
    # A forced avx2 on a VNNI CPU must take the 7-bit path that its
    # vpmaddubsw kernel runs fast, whatever the CPU's features say.
    code = ("import numpy as np; from scipix.optimize.quantize import QuantizedLinear; "
            "print(QuantizedLinear(np.ones((2, 3), np.float32)).reduce_range)")
    for variant in runnable_variants():
        result = _run(code, SCIPIX_FORCE_VARIANT=variant)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(variant == "avx2"), variant
