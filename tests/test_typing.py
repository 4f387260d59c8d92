"""The typed API: mypy --strict is clean, and the stubs of the compiled
modules match what was built."""
import ast
import inspect
import os

import pytest

import scipix
from scipix.optimize import _dispatch

mypy_api = pytest.importorskip("mypy.api", reason="mypy is a test dependency")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The package under test, wherever it is installed (the sources, or a wheel
# tested from an unpacked sdist that has no scipix/ beside the tests).
PACKAGE = os.path.dirname(os.path.abspath(scipix.__file__))


@pytest.mark.skipif(PACKAGE != os.path.join(ROOT, "scipix"),
                    reason="mypy checks the sources; this run tests an installed wheel")
def test_mypy_strict_clean():
    # pyproject.toml's [tool.mypy] names the files and turns on --strict.
    stdout, stderr, status = mypy_api.run(["--config-file", os.path.join(ROOT, "pyproject.toml"),
                                           os.path.join(PACKAGE, "__init__.py"),
                                           os.path.join(PACKAGE, "optimize")])
    assert status == 0, stdout + stderr


def test_stubs_match_the_compiled_modules():
    stubtest = pytest.importorskip("mypy.stubtest")
    status = stubtest.test_stubs(stubtest.parse_options([
        "--ignore-disjoint-bases", "--ignore-unused-allowlist",
        "--allowlist", os.path.join(ROOT, "tests", "stubtest_allowlist.txt"),
        "scipix.optimize._memory", "scipix.optimize._cpu_features",
        "scipix.optimize._openmp_helpers"]))
    assert status == 0


@pytest.mark.parametrize("family, stub, protocol", [
    ("image", ("_image.pyi",), "ImageKernels"),
    ("quantize", ("quantize", "_kernels.pyi"), "QuantizeKernels"),
    ("warp", ("_warp.pyi",), "WarpKernels"),
    ("resample", ("_resample.pyi",), "ResampleKernels"),
    ("yuv", ("_yuv.pyi",), "YuvKernels")])
@pytest.mark.parametrize("variant", _dispatch.runnable_variants() + [_dispatch.REFERENCE])
def test_kernel_protocols_match_every_variant(variant, family, stub, protocol):
    # No module is named _image or _kernels: each family's protocol stands
    # for all its per-variant modules, so check parameter names against each.
    module = getattr(_dispatch.load_variant(variant), family)
    with open(os.path.join(PACKAGE, "optimize", *stub)) as source:
        (found,) = [node for node in ast.parse(source.read()).body
                    if isinstance(node, ast.ClassDef) and node.name == protocol]
    methods = [node for node in found.body if isinstance(node, ast.FunctionDef)]
    compiled = {name for name, value in vars(module).items()
                if not name.startswith("_") and callable(value) and not isinstance(value, type)}
    assert {method.name for method in methods} == compiled
    for method in methods:
        stubbed = [arg.arg for arg in method.args.args[1:]]  # without self
        built = list(inspect.signature(getattr(module, method.name)).parameters)
        assert built == stubbed, method.name
