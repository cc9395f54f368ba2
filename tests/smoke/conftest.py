"""The quick notebook chain, run once per test session through papermill into a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.runner import run_notebooks


def run_quick_chain(root: Path, names: list[str] | None = None) -> Path:
    """Run the notebooks with the quick parameters; return the artifacts folder."""
    artifacts_dir = root / "artifacts"
    run_notebooks(
        names,
        artifacts_dir=artifacts_dir,
        output_dir=root / "outputs",
        quick=True,
        html=False,
        progress_bar=False,
    )
    return artifacts_dir


@pytest.fixture(scope="session")
def quick_chain(tmp_path_factory) -> Path:
    """Artifacts of one complete quick run of notebooks 01-05."""
    return run_quick_chain(tmp_path_factory.mktemp("quick-chain"))


def load(artifacts_dir: Path, name: str) -> dict:
    return json.loads((artifacts_dir / name).read_text())
