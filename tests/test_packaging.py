"""What a PyPI user sees of scipix: metadata, version, license, README."""
import importlib.metadata
import pathlib
import re
import subprocess
import sys

import pytest

import scipix

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pyproject():
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_has_one_source(pyproject):
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "scipix.__version__"}
    assert importlib.metadata.version("scipix") == scipix.__version__


def test_python_m_scipix_version():
    result = subprocess.run([sys.executable, "-m", "scipix", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"scipix {scipix.__version__}"


def test_license_is_an_spdx_expression_with_its_file(pyproject):
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert importlib.metadata.metadata("scipix")["License-Expression"] == "MIT"


def test_build_requirements_are_bounded(pyproject):
    for requirement in pyproject["build-system"]["requires"]:
        assert re.search(r">=[\d.]+,<[\d.]+$", requirement), requirement
    setuptools = next(r for r in pyproject["build-system"]["requires"]
                      if r.startswith("setuptools"))
    assert setuptools.startswith("setuptools>=77,")  # the first to read SPDX strings


def test_classifiers_state_typing_os_and_pythons(pyproject):
    classifiers = pyproject["project"]["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert "Operating System :: POSIX :: Linux" in classifiers
    minimum = pyproject["project"]["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {minimum}" in classifiers
    assert (pathlib.Path(scipix.__file__).parent / "py.typed").exists()  # installed


def test_readme_opening_points_nowhere_outside_the_repository():
    opening = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "../" not in opening
