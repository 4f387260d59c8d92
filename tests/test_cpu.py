import dataclasses
import platform

import pytest

from scipix.optimize import CpuFeatures, detect_features, get_features


def test_detect_features_is_frozen_and_stable():
    features = detect_features()
    assert isinstance(features, CpuFeatures)
    assert features == detect_features() == get_features()
    with pytest.raises(dataclasses.FrozenInstanceError):
        features.avx2 = True


def test_spec_fields_exist():
    for name in ("sse4_2", "avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "neon"):
        assert isinstance(getattr(get_features(), name), bool)


def _cpuinfo_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    pytest.skip("no /proc/cpuinfo")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 only")
def test_x86_features_match_linux():
    # The kernel clears a flag whose register state it does not enable, so
    # /proc/cpuinfo is an independent check of the cpuid + xgetbv logic.
    flags = _cpuinfo_flags()
    features = get_features()
    pairs = {"sse2": "sse2", "ssse3": "ssse3", "sse4_1": "sse4_1", "sse4_2": "sse4_2",
             "popcnt": "popcnt", "avx": "avx", "avx2": "avx2", "fma": "fma",
             "bmi1": "bmi1", "bmi2": "bmi2", "f16c": "f16c", "movbe": "movbe",
             "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512dq": "avx512dq",
             "avx512vl": "avx512vl", "avx512cd": "avx512cd", "avx512vnni": "avx512_vnni",
             "avx_vnni": "avx_vnni"}
    for field, flag in pairs.items():
        assert getattr(features, field) == (flag in flags), field
    assert not features.neon


@pytest.mark.skipif(platform.machine() not in ("aarch64", "arm64"), reason="aarch64 only")
def test_arm_has_neon():
    assert get_features().neon
    assert not get_features().avx2
