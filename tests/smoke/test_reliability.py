"""Reproducible runs, interrupted runs, stale artifacts and bad inputs, through the real notebooks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import papermill
import psutil
import pytest

from helpers import artifacts
from helpers.cli.runner import NOTEBOOKS_DIR
from helpers.evaluate import LiteRTModel
from tests.smoke.conftest import load, run_quick_chain

pytestmark = pytest.mark.smoke


def snapshot(folder: Path) -> dict[str, str]:
    """Hash of every file below ``folder``: shows whether anything was changed or half-written."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def executed_path(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "executed"  # outside every ARTIFACTS_DIR the tests watch
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.ipynb"


def run_notebook(name: str, artifacts_dir: Path, tmp_path: Path, **parameters):
    papermill.execute_notebook(
        str(NOTEBOOKS_DIR / f"{name}.ipynb"),
        str(executed_path(tmp_path, name)),
        parameters={"ARTIFACTS_DIR": str(artifacts_dir), **parameters},
        kernel_name="python3",
        cwd=str(NOTEBOOKS_DIR),
        progress_bar=False,
    )


def expect_failure(name, artifacts_dir, tmp_path, error, message, **parameters):
    """Run a notebook that must stop; check the error type and message, and that nothing in
    ARTIFACTS_DIR changed."""
    before = snapshot(artifacts_dir)
    with pytest.raises(papermill.PapermillExecutionError) as info:
        run_notebook(name, artifacts_dir, tmp_path, **parameters)
    assert info.value.ename == error, info.value.evalue
    assert message in info.value.evalue, info.value.evalue
    assert snapshot(artifacts_dir) == before, "a failed run changed ARTIFACTS_DIR"
    return info.value.evalue


def deterministic_part(artifacts_dir: Path, metrics_file: str) -> dict:
    """What a notebook records that must not change when it runs again with the same inputs:
    everything but timings and the environment description."""
    payload = load(artifacts_dir, metrics_file)
    for volatile in ("speed", "speed_control"):
        payload.pop(volatile, None)
    for entry in payload.get("models", {}).values():
        entry.pop("conversion_seconds", None)
    return payload


def predictions_of(artifacts_dir: Path) -> dict[str, bytes]:
    folder = artifacts_dir / artifacts.PREDICTIONS_DIR
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.npy"))}


def kill_when(command: list[str], ready: Path, timeout: float = 180) -> None:
    """Start ``command`` and SIGKILL it, with every process it started, once ``ready`` exists."""
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + timeout
    while not ready.exists():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, f"{ready.name} never appeared"
        time.sleep(0.05)
    # Kill the runner *and* its kernel, as a crash or an out-of-memory kill would. The kernel
    # runs in a session of its own, so killing the runner's process group alone would let it
    # write on for a moment before it notices its parent is gone.
    family = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(family, timeout=30)
    process.wait(timeout=30)


def test_reruns_are_identical_and_an_interrupted_run_recovers(quick_chain, tmp_path):
    """The smallest chain that proves both: notebooks 02-04 again, from 01's outputs.

    02 retrains: same seed, same weights and history. 03 is killed as soon as it has written its
    first model; what it left must be whole, 05 must refuse to start, and the next 03 run must
    clean up and record exactly what the first quick chain recorded. 04 then reproduces its
    fine-tuning, QAT conversion and controls to the last prediction.
    """
    artifacts_dir = tmp_path / "artifacts"
    artifacts_dir.mkdir()
    for name in ("dataset.json", "test_labels.npy"):
        shutil.copy(quick_chain / name, artifacts_dir / name)

    run_quick_chain(tmp_path, ["02_baseline_cnn"])
    assert deterministic_part(artifacts_dir, "baseline_metrics.json") == deterministic_part(
        quick_chain, "baseline_metrics.json"
    )

    command = [sys.executable, "-m", "helpers.cli.runner", "--quick", "--no-html", "--only", "03"]
    command += ["--artifacts-dir", str(artifacts_dir), "--output-dir", str(tmp_path / "killed")]
    kill_when(command, artifacts_dir / "float32.tflite")
    assert not (artifacts_dir / "ptq_metrics.json").exists(), "killed too late to test anything"
    for path in artifacts_dir.glob("*.tflite"):  # whatever it left under a real name is whole
        LiteRTModel(path)
    for path in artifacts_dir.glob("*.json"):
        load(artifacts_dir, path.name)
    expect_failure(
        "05_comparison",
        artifacts_dir,
        tmp_path,
        "MissingArtifactError",
        "03_post_training_quantization.ipynb",
    )

    run_quick_chain(tmp_path, ["03_post_training_quantization", "04_quantization_aware_training"])
    assert not [p for p in artifacts_dir.rglob(".*") if p.is_file()], "temporary files remain"
    for metrics in ("ptq_metrics.json", "qat_metrics.json"):
        assert deterministic_part(artifacts_dir, metrics) == deterministic_part(
            quick_chain, metrics
        ), metrics
    rerun = predictions_of(artifacts_dir)
    assert rerun == {
        name: data for name, data in predictions_of(quick_chain).items() if name in rerun
    }
    assert {"keras_float.npy", "int8.npy", "qat_int8.npy", "control_int8.npy"} <= set(rerun)
    for name in ("int8.tflite", "qat_int8.tflite", "control_int8_per_tensor.tflite"):
        assert (artifacts_dir / name).read_bytes() == (quick_chain / name).read_bytes(), name


def test_missing_input_names_the_notebook_to_run(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    expect_failure(
        "03_post_training_quantization",
        empty,
        tmp_path,
        "MissingArtifactError",
        "Run notebooks/02_baseline_cnn.ipynb first",
    )
    # 04 needs 03's int8.tflite too: it says so before any fine-tuning starts.
    expect_failure(
        "04_quantization_aware_training",
        empty,
        tmp_path,
        "MissingArtifactError",
        "Run notebooks/02_baseline_cnn.ipynb, then notebooks/03_post_training_quantization.ipynb",
    )


def test_bad_parameter_stops_the_notebook_with_a_clear_message(quick_chain, tmp_path):
    """Every rule is unit-tested in tests/unit/test_params.py; this shows a notebook applies them
    in its first cells, before touching ARTIFACTS_DIR."""
    artifacts_dir = tmp_path / "artifacts"
    shutil.copytree(quick_chain, artifacts_dir)
    expect_failure(
        "03_post_training_quantization",
        artifacts_dir,
        tmp_path,
        "ParameterError",
        "Parameter CALIBRATION_SAMPLES must be an integer from 1 to 60000, got 100000",
        CALIBRATION_SAMPLES=100_000,
    )


def test_data_dir_that_does_not_exist(tmp_path):
    artifacts_dir = tmp_path / "artifacts"
    artifacts_dir.mkdir()
    artifacts.write_json(artifacts_dir / "dataset.json", {"kept": True})
    expect_failure(
        "01_data",
        artifacts_dir,
        tmp_path,
        "DatasetError",
        "does not exist",
        DATA_DIR=str(tmp_path / "nowhere"),
    )


def test_unwritable_artifacts_dir(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(papermill.PapermillExecutionError) as info:
        run_notebook("01_data", blocker / "artifacts", tmp_path)
    assert info.value.ename == "ArtifactsDirError" and "cannot be written" in info.value.evalue


def test_comparison_refuses_artifacts_of_another_baseline(quick_chain, tmp_path):
    artifacts_dir = tmp_path / "artifacts"
    shutil.copytree(quick_chain, artifacts_dir)
    qat = load(artifacts_dir, "qat_metrics.json")
    qat["baseline_fingerprint"] = "0123456789abcdef"  # as if 04 ran against an older baseline
    artifacts.write_json(artifacts_dir / "qat_metrics.json", qat)
    message = expect_failure(
        "05_comparison",
        artifacts_dir,
        tmp_path,
        "StaleArtifactError",
        "qat_metrics.json (0123456789abcdef)",
    )
    assert "re-run 04_quantization_aware_training.ipynb" in message


def test_comparison_refuses_a_tflite_that_is_not_a_model(quick_chain, tmp_path):
    artifacts_dir = tmp_path / "artifacts"
    shutil.copytree(quick_chain, artifacts_dir)
    (artifacts_dir / "int8.tflite").write_bytes(b"this is not a flatbuffer" * 10)
    expect_failure(
        "05_comparison",
        artifacts_dir,
        tmp_path,
        "InvalidModelError",
        "int8.tflite is not a TensorFlow Lite model",
    )
