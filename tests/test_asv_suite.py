"""The asv suite reaches scipix through its public API only, so that asv can
run today's suite against past commits."""
import ast
import contextlib
import importlib
import io
import pathlib
import sys

import pytest

SUITE = pathlib.Path(__file__).resolve().parent.parent / "asv_bench"
SUITE_FILES = sorted(SUITE.glob("*.py"))


def _is_private(dotted):
    """True unless ``dotted`` is scipix's library API: no ``_`` part, and not
    the command-line tools (``scipix.tools`` did not exist in older commits)."""
    parts = dotted.split(".")
    return parts[1:2] == ["tools"] or any(part.startswith("_") for part in parts)


def _scipix_names(tree):
    """Every scipix module or name the source imports or spells as a string."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("scipix"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                (node.module or "").startswith("scipix"):
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.startswith("scipix."):
            yield node.value


def test_suite_files_found():
    assert {"__init__.py", "_api.py", "bench_simd.py"} <= {path.name for path in SUITE_FILES}


@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda path: path.name)
def test_suite_names_only_public_scipix(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    private = [name for name in _scipix_names(tree) if _is_private(name)]
    assert private == []


def test_private_name_finder_sees_imports_and_lookups():
    tree = ast.parse("import scipix._bench\nfrom scipix.optimize import _dispatch\n"
                     "from scipix.tools.synthetic import page_rgba\npublic('scipix._soak.run')\n"
                     "from scipix.optimize import simd\n")
    assert [name for name in _scipix_names(tree) if _is_private(name)] == [
        "scipix._bench", "scipix.optimize._dispatch", "scipix.tools.synthetic",
        "scipix.tools.synthetic.page_rgba", "scipix._soak.run"]


@pytest.fixture
def suite(monkeypatch):
    """The suite's package, imported afresh from the source tree."""
    monkeypatch.syspath_prepend(str(SUITE.parent))
    for name in [name for name in sys.modules if name.split(".")[0] == "asv_bench"]:
        monkeypatch.delitem(sys.modules, name)
    return lambda module="": importlib.import_module(".".join(["asv_bench", module]).rstrip("."))


def test_importing_the_suite_prints_nothing(suite):
    # asv imports the suite once per benchmark: a report printed at import
    # would appear once per benchmark instead of once per run.
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        suite()
        for path in SUITE_FILES:
            if path.stem != "__init__":
                suite(path.stem)
    assert output.getvalue() == ""


def test_public_finds_modules_and_names(suite):
    api = suite("_api")
    import scipix.optimize
    assert api.public("scipix.optimize.simd") is scipix.optimize.simd
    assert api.public("scipix.optimize.memory.Arena") is scipix.optimize.memory.Arena


def test_public_skips_names_an_older_scipix_lacks(suite):
    api = suite("_api")
    with pytest.raises(NotImplementedError, match="scipix.optimize.no_such_kernel"):
        api.public("scipix.optimize.no_such_kernel")
    with pytest.raises(NotImplementedError, match="scipix.no_such_module.f"):
        api.public("scipix.no_such_module.f")


@pytest.mark.parametrize("name", ["scipix._bench", "scipix.optimize._dispatch.VARIANTS",
                                  "scipix.tools.synthetic", "numpy"])
def test_public_refuses_private_or_foreign_names(suite, name):
    api = suite("_api")
    with pytest.raises(ValueError, match="public API only"):
        api.public(name)
