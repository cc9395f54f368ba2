"""The quick notebook chain, run once per `make test` and shared by every smoke test.

`make test` first executes the committed notebooks with the quick parameters under nbval, into
a temporary ARTIFACTS_DIR that it passes here as ``QUICK_CHAIN_ARTIFACTS``: the smoke tests judge
what that run recorded, so no notebook runs twice for them. Run on their own (``pytest tests``),
they run the quick chain once through papermill instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.cli.runner import run_notebooks

CHAIN_ENV_VAR = "QUICK_CHAIN_ARTIFACTS"


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
    """Artifacts of one complete quick run of every notebook (treat as read-only)."""
    given = os.environ.get(CHAIN_ENV_VAR)
    if given:
        folder = Path(given)
        if not (folder / "summary.json").is_file():
            pytest.fail(f"{CHAIN_ENV_VAR}={folder} holds no summary.json: the nbval run failed?")
        return folder
    return run_quick_chain(tmp_path_factory.mktemp("quick-chain"))


def load(artifacts_dir: Path, name: str) -> dict:
    return json.loads((artifacts_dir / name).read_text())
