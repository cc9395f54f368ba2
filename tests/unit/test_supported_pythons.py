"""The supported Pythons: one list, declared the same way everywhere."""

from __future__ import annotations

import tomllib

import yaml
from packaging.specifiers import SpecifierSet

from helpers import artifacts

ROOT = artifacts.REPO_ROOT


def test_supported_pythons_agree_everywhere():
    """Makefile's list, pyproject's requires-python and the README name the same versions;
    environment.yml's Python is one of them."""
    makefile = (ROOT / "Makefile").read_text()
    supported = makefile.split("SUPPORTED_PYTHONS := ", 1)[1].splitlines()[0].split()
    assert supported == ["3.11", "3.12", "3.13"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    allowed = [f"3.{minor}" for minor in range(6, 20) if f"3.{minor}.0" in SpecifierSet(requires)]
    assert allowed == supported
    readme = (ROOT / "README.md").read_text()
    assert "Python 3.11, 3.12 and 3.13" in readme and "make setup PYTHON=python3.13" in readme
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = [d for d in environment["dependencies"] if str(d).startswith("python=")]
    assert len(conda_python) == 1 and conda_python[0].removeprefix("python=") in supported
