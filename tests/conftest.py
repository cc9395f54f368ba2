"""Shared fixtures. Tests run on the real Fashion-MNIST files (``make data`` puts them in place)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import data


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The folder of the real dataset files; fails (not skips) when they are absent."""
    directory, _ = data.find_data_dir(download=False)
    return directory


@pytest.fixture
def data_copy(real_data_dir, tmp_path) -> Path:
    """A private copy of the four real files, safe to damage."""
    target = tmp_path / "fashion-mnist"
    target.mkdir()
    for name in data.FILE_NAMES:
        shutil.copy(real_data_dir / name, target / name)
    return target
