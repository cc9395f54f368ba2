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
from helpers.evaluate import LiteRTModel
from helpers.runner import NOTEBOOKS_DIR
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


def recorded_results(artifacts_dir: Path) -> dict:
    """Everything deterministic a run records: accuracies, agreement, sizes, fingerprints."""
    baseline = load(artifacts_dir, "baseline_metrics.json")
    ptq = load(artifacts_dir, "ptq_metrics.json")
    qat = load(artifacts_dir, "qat_metrics.json")
    summary = load(artifacts_dir, "summary.json")
    return {
        "baseline": {
            k: baseline[k]
            for k in ("baseline_fingerprint", "keras_test_accuracy", "train_accuracy", "history")
        },
        "ptq": {
            name: {
                k: v[k]
                for k in (
                    "test_accuracy",
                    "agreement_with_float",
                    "size_bytes",
                    "flipped_predictions",
                )
            }
            for name, v in ptq["variants"].items()
        },
        "calibration_study": ptq["calibration_study"],
        "qat": {
            "keras": qat["qat_keras_test_accuracy"],
            **{
                k: qat["qat_int8"][k]
                for k in ("test_accuracy", "agreement_with_float", "size_bytes")
            },
        },
        "control": qat["control"]["keras_test_accuracy"],
        "summary": [
            {
                k: v[k]
                for k in (
                    "name",
                    "size_bytes",
                    "gzip_size_bytes",
                    "test_accuracy",
                    "agreement_with_float",
                )
            }
            for v in summary["variants"]
        ],
    }


def test_rerun_in_place_gives_identical_results(quick_chain):
    """`make run-all` twice in a row: the second run retrains and reconverts everything over the
    first run's files, and with the same SEED records exactly the same results."""
    first = recorded_results(quick_chain)
    rerun = run_quick_chain(quick_chain.parent)
    assert rerun == quick_chain
    assert recorded_results(quick_chain) == first


def test_interrupted_run_leaves_nothing_half_written_and_the_next_run_recovers(
    quick_chain, tmp_path
):
    artifacts_dir = tmp_path / "artifacts"
    for name in ("dataset.json", "baseline.keras", "baseline_metrics.json"):
        artifacts_dir.mkdir(exist_ok=True)
        shutil.copy(quick_chain / name, artifacts_dir / name)
    command = [
        sys.executable,
        "-m",
        "helpers.runner",
        "--quick",
        "--no-html",
        "--only",
        "03",
        "04",
        "--artifacts-dir",
        str(artifacts_dir),
        "--output-dir",
        str(tmp_path / "out"),
    ]
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    # Kill as soon as notebook 03 has written its first model: in the middle of its work.
    while not (artifacts_dir / "float32.tflite").exists():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "notebook 03 never started writing"
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
    assert not (artifacts_dir / "ptq_metrics.json").exists(), "killed too late to test anything"

    # Whatever the killed run left under its real name is complete and usable.
    for path in artifacts_dir.glob("*.tflite"):
        LiteRTModel(path)
    for path in artifacts_dir.glob("*.json"):
        load(artifacts_dir, path.name)
    # The comparison refuses to start on the incomplete set, naming what to run.
    expect_failure(
        "05_comparison",
        artifacts_dir,
        tmp_path,
        "MissingArtifactError",
        "03_post_training_quantization.ipynb",
    )
    # The next run recovers: leftovers are cleared and the chain completes.
    assert (
        run_quick_chain(
            tmp_path,
            ["03_post_training_quantization", "04_quantization_aware_training", "05_comparison"],
        )
        == artifacts_dir
    )
    assert not [p for p in artifacts_dir.rglob(".*") if p.is_file()], "temporary files remain"
    summary = load(artifacts_dir, "summary.json")
    assert [v["name"] for v in summary["variants"]][-1] == "qat_int8"


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
    expect_failure(
        "04_quantization_aware_training",
        empty,
        tmp_path,
        "MissingArtifactError",
        "Run notebooks/02_baseline_cnn.ipynb first",
    )


@pytest.mark.parametrize(
    ("notebook", "parameters", "message"),
    [
        ("02_baseline_cnn", {"EPOCHS": 0}, "Parameter EPOCHS must be an integer >= 1, got 0"),
        (
            "02_baseline_cnn",
            {"EPOCHS": "ten"},
            "Parameter EPOCHS must be an integer >= 1, got 'ten'",
        ),
        ("02_baseline_cnn", {"VALIDATION_SPLIT": 0.9}, "Parameter VALIDATION_SPLIT"),
        (
            "03_post_training_quantization",
            {"CALIBRATION_SAMPLES": 100_000},
            "Parameter CALIBRATION_SAMPLES must be an integer from 1 to 60000, got 100000",
        ),
    ],
)
def test_bad_parameters_stop_with_a_clear_message(
    quick_chain, tmp_path, notebook, parameters, message
):
    artifacts_dir = tmp_path / "artifacts"
    shutil.copytree(quick_chain, artifacts_dir)
    expect_failure(notebook, artifacts_dir, tmp_path, "ParameterError", message, **parameters)


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
