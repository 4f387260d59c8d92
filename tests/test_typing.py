"""The typed API: mypy --strict is clean, and the stubs of the compiled
modules match what was built."""
import ast
import inspect
import os

import pytest

from scipix.optimize import _dispatch

mypy_api = pytest.importorskip("mypy.api", reason="mypy is a test dependency")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_strict_clean():
    # pyproject.toml's [tool.mypy] names the files and turns on --strict.
    stdout, stderr, status = mypy_api.run(["--config-file", os.path.join(ROOT, "pyproject.toml"),
                                           os.path.join(ROOT, "scipix", "__init__.py"),
                                           os.path.join(ROOT, "scipix", "optimize")])
    assert status == 0, stdout + stderr


def test_stubs_match_the_compiled_modules():
    stubtest = pytest.importorskip("mypy.stubtest")
    status = stubtest.test_stubs(stubtest.parse_options([
        "--ignore-disjoint-bases", "--ignore-unused-allowlist",
        "--allowlist", os.path.join(ROOT, "tests", "stubtest_allowlist.txt"),
        "scipix.optimize._memory", "scipix.optimize._cpu_features",
        "scipix.optimize._openmp_helpers"]))
    assert status == 0


@pytest.mark.parametrize("variant", _dispatch.runnable_variants() + [_dispatch.REFERENCE])
def test_kernel_protocol_matches_every_variant(variant):
    # No module is named _simd: the stub's KernelModule protocol stands for
    # every _simd_<variant>, so check its parameter names against each.
    module = _dispatch.load_variant(variant)
    with open(os.path.join(ROOT, "scipix", "optimize", "_simd.pyi")) as stub:
        (protocol,) = [node for node in ast.parse(stub.read()).body
                       if isinstance(node, ast.ClassDef) and node.name == "KernelModule"]
    methods = [node for node in protocol.body if isinstance(node, ast.FunctionDef)]
    assert len(methods) >= 13
    for method in methods:
        stubbed = [arg.arg for arg in method.args.args[1:]]  # without self
        built = list(inspect.signature(getattr(module, method.name)).parameters)
        assert built == stubbed, method.name
