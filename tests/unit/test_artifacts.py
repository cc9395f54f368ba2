"""Atomic writes, the artifacts folder, and messages for missing inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from helpers import artifacts
from helpers.errors import ArtifactsDirError, MissingArtifactError


def test_write_json_roundtrip_with_numpy(tmp_path):
    import numpy as np

    path = artifacts.write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": np.arange(3)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    artifacts.write_json(target, {"version": 1})

    def broken_save(tmp):
        tmp.write_text('{"version": 2, "half')
        raise KeyboardInterrupt  # the learner pressed stop mid-write

    with pytest.raises(KeyboardInterrupt):
        artifacts.save_with(target, broken_save)
    assert json.loads(target.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_nan_is_refused_rather_than_written(tmp_path):
    with pytest.raises(ValueError):
        artifacts.write_json(tmp_path / "x.json", {"acc": float("nan")})
    assert not (tmp_path / "x.json").exists()


def test_killed_writer_leaves_old_file_and_next_open_cleans_up(tmp_path):
    target = tmp_path / "big.bin"
    artifacts.write_bytes(target, b"old")
    script = (
        "import sys, time\n"
        "from helpers import artifacts\n"
        "def slow(tmp):\n"
        "    with open(tmp, 'wb') as f:\n"
        "        f.write(b'partial'); f.flush()\n"
        "        print('writing', flush=True); time.sleep(60)\n"
        f"artifacts.save_with({str(target)!r}, slow)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "big.bin"]
    assert leftovers, "the killed writer should have left its temporary file behind"
    assert target.read_bytes() == b"old"
    artifacts.resolve_artifacts_dir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]


def test_resolve_defaults_to_repo_artifacts(monkeypatch):
    monkeypatch.delenv(artifacts.ARTIFACTS_ENV_VAR, raising=False)
    assert artifacts.resolve_artifacts_dir(None) == artifacts.REPO_ROOT / "artifacts"


def test_resolve_uses_environment_variable_and_relative_paths_are_repo_relative(
    tmp_path, monkeypatch
):
    monkeypatch.setenv(artifacts.ARTIFACTS_ENV_VAR, str(tmp_path / "env"))
    assert artifacts.resolve_artifacts_dir(None) == tmp_path / "env"
    monkeypatch.chdir(tmp_path)
    relative = artifacts.resolve_artifacts_dir("artifacts")
    assert relative == artifacts.REPO_ROOT / "artifacts"


def test_unwritable_artifacts_dir_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ArtifactsDirError, match="cannot be written") as info:
        artifacts.resolve_artifacts_dir(blocker / "artifacts")
    assert "ARTIFACTS_DIR" in str(info.value)


def test_artifacts_dir_of_wrong_type_is_reported():
    with pytest.raises(ArtifactsDirError, match="must be a path"):
        artifacts.resolve_artifacts_dir(42)


def test_missing_artifact_names_the_notebook_to_run(tmp_path):
    with pytest.raises(MissingArtifactError, match="Run notebooks/02_baseline_cnn.ipynb first"):
        artifacts.require(tmp_path, "baseline.keras")


def test_corrupt_json_names_the_notebook_to_rerun(tmp_path):
    (tmp_path / "ptq_metrics.json").write_text('{"half": ')
    with pytest.raises(MissingArtifactError, match="03_post_training_quantization"):
        artifacts.read_json(tmp_path, "ptq_metrics.json")


def test_missing_inputs_are_all_named_with_their_notebooks_in_chain_order(tmp_path):
    (tmp_path / "baseline.keras").write_bytes(b"x")
    with pytest.raises(MissingArtifactError) as info:
        artifacts.require_all(tmp_path, ["int8.tflite", "baseline.keras", "dataset.json"])
    message = str(info.value)
    assert message.startswith("int8.tflite, dataset.json are missing")
    assert (
        "Run notebooks/01_data.ipynb, then notebooks/03_post_training_quantization.ipynb" in message
    )
