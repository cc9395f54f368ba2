"""The standalone recipes of notebooks 03 and 04, run as scripts against a full run.

`make test-full` first executes the committed notebooks at their full defaults into a temporary
ARTIFACTS_DIR (nbval; the standalone cells carry `nbval-skip`), then this file runs each
standalone cell as a script in a fresh interpreter from a temporary folder (the recipe imports
nothing from `helpers`; a unit test checks that), and checks the accuracy it prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers import artifacts

ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", artifacts.DEFAULT_ARTIFACTS_DIR))


def full_run_metrics(name: str) -> dict:
    path = ARTIFACTS / name
    if not path.is_file():
        pytest.skip(f"no full run in {ARTIFACTS} (make test-full makes one)")
    metrics = json.loads(path.read_text())
    if metrics["params"].get("TRAIN_LIMIT") is not None:
        pytest.skip(f"{ARTIFACTS} holds a quick run, not a full one")
    return metrics


def run_standalone(notebook: str, tmp_path: Path) -> float:
    cells = nbformat.read(artifacts.REPO_ROOT / "notebooks" / f"{notebook}.ipynb", 4).cells
    (cell,) = [c for c in cells if "standalone" in c.metadata.get("tags", [])]
    script = tmp_path / "recipe.py"
    script.write_text(cell.source + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    env["ARTIFACTS_DIR"] = str(ARTIFACTS)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"accuracy (0\.\d{4})", last)
    assert match, f"the last line should be 'accuracy 0.XXXX', got {last!r}"
    return float(match.group(1))


def test_03_recipe_reproduces_the_int8_file(tmp_path):
    recorded = full_run_metrics("ptq_metrics.json")["models"]["int8"]["test_accuracy"]
    accuracy = run_standalone("03_post_training_quantization", tmp_path)
    assert abs(accuracy - recorded) <= 0.001, (accuracy, recorded)


def test_04_recipe_keeps_the_baselines_accuracy(tmp_path):
    full_run_metrics("qat_metrics.json")
    baseline = full_run_metrics("baseline_metrics.json")["keras_test_accuracy"]
    accuracy = run_standalone("04_quantization_aware_training", tmp_path)
    assert accuracy >= baseline - 0.005, (accuracy, baseline)
