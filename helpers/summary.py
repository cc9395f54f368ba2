"""The results table every notebook adds to: one code path builds ``summary.json`` and ``summary.md``.

Each notebook that makes models records them in its metrics file under ``"models"`` (one
:func:`model_entry` per model: file, parent, accuracy, where its per-image predictions are), and
each notebook that times files records that under ``"speed"`` (the output of
:func:`helpers.benchmark.measure_interleaved`). :func:`build_summary` reads every metrics file
present, checks they come from the same baseline, computes the paired statistics of every model
against its own float parent and against the baseline, merges the speed measurements, and writes
``summary.json`` and ``summary.md`` (:func:`write_summary`). Notebook 05 calls it first; 06 and 07 call it again after
adding their variants, so the table always lists every variant measured.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from helpers import artifacts, report
from helpers.errors import StaleArtifactError
from helpers.stats import compare_predictions

BASELINE = "keras_float"  # the float Keras model of notebook 02: every comparison's anchor
SIZE_REFERENCE = "float32"  # sizes and speeds are given as multiples of the float32 file's

# (metrics file, notebook, required for a summary)
METRICS_FILES: tuple[tuple[str, str, bool], ...] = (
    ("baseline_metrics.json", "02_baseline_cnn", True),
    ("ptq_metrics.json", "03_post_training_quantization", True),
    ("qat_metrics.json", "04_quantization_aware_training", True),
    ("comparison_metrics.json", "05_comparison", True),
    ("speed_metrics.json", "06_speed", False),
    ("below8_metrics.json", "07_below_8_bits", False),
)
ROLES = ("reference", "variant", "control")
# The notebooks whose metrics list models (05 only times them).
MODEL_NOTEBOOKS = tuple(nb for _, nb, _ in METRICS_FILES if nb != "05_comparison")
# What notebook 05 compares: the notebooks before it. 06 and 07 add their files with their own
# timings, so 05 shows the same table whether or not they ran before.
_NOTEBOOKS = [nb for _, nb, _ in METRICS_FILES]
UP_TO_COMPARISON = tuple(_NOTEBOOKS[: _NOTEBOOKS.index("05_comparison") + 1])


def gzip_size(content: bytes) -> int:
    """Size after gzip -9: what a download or an app bundle would carry."""
    return len(gzip.compress(content, compresslevel=9, mtime=0))


def model_entry(
    *,
    name: str,
    file: str,
    role: str,
    parent: str | None,
    description: str,
    evaluation: Mapping,
    predictions: str,
    **extra,
) -> dict:
    """One model's record for a notebook's metrics file.

    ``role``: ``reference`` (a float Keras model others are compared with), ``variant`` (a file a
    learner could ship) or ``control`` (made only to separate one effect from another).
    ``parent``: the float model this one was made from (None for the baseline itself).
    ``evaluation``: at least ``test_accuracy`` and ``size_bytes``; ``predictions``: the path
    :func:`helpers.artifacts.save_predictions` returned.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    for key in ("test_accuracy", "size_bytes"):
        if key not in evaluation:
            raise ValueError(f"the evaluation of {name} lacks {key}")
    return {
        **dict(evaluation),
        "name": name,
        "file": file,
        "role": role,
        "parent": parent,
        "description": description,
        "predictions": predictions,
        **extra,
    }


def collect(
    artifacts_dir: Path,
    pending: Mapping[str, Mapping] | None = None,
    only: tuple[str, ...] | None = None,
) -> tuple[dict, dict, dict, list[str]]:
    """Read every metrics file present. Returns (models, speeds, metrics by notebook, notes).

    ``pending`` maps a notebook name to the metrics it is about to write (a notebook builds the
    summary with its own results before recording them). A required file from another baseline
    stops with the notebook to re-run; an optional one (06, 07) from another baseline is left
    out, with a note saying so. ``only`` limits the notebooks read (all by default).
    """
    pending = dict(pending or {})
    artifacts_dir = Path(artifacts_dir)
    baseline = artifacts.read_json(artifacts_dir, "baseline_metrics.json")
    fingerprint = baseline["baseline_fingerprint"]
    models: dict[str, dict] = {}
    speeds: dict[str, dict] = {}
    metrics: dict[str, dict] = {}
    notes: list[str] = []
    stale_required = {}
    for file_name, notebook, required in METRICS_FILES:
        if only is not None and notebook not in only:
            continue
        if notebook in pending:
            payload = pending.pop(notebook)
        elif (artifacts_dir / file_name).is_file():
            payload = artifacts.read_json(artifacts_dir, file_name)
        elif required:
            artifacts.require(artifacts_dir, file_name)  # raises, naming the notebook
        else:
            continue
        if payload.get("baseline_fingerprint") != fingerprint:
            if required:
                stale_required[file_name] = payload.get("baseline_fingerprint")
            else:
                notes.append(
                    f"{file_name} comes from another baseline and is left out: re-run "
                    f"notebooks/{notebook}.ipynb to add its results."
                )
            continue
        metrics[notebook] = payload
        for name, entry in payload.get("models", {}).items():
            if name in models:
                raise ValueError(f"model {name!r} is recorded by two notebooks")
            models[name] = {**entry, "notebook": notebook}
        study = payload.get("speed")
        if study:
            for name, record in study["variants"].items():
                if name in speeds:
                    continue  # timed again as a later notebook's reference: the first timing stays
                speeds[name] = {**record, "notebook": notebook, "settings": study["settings"]}
    if pending:
        raise KeyError(f"no metrics file is known for {', '.join(pending)}")
    if stale_required:
        artifacts.check_same_baseline(fingerprint, stale_required)
    return models, speeds, metrics, notes


def load_predictions(artifacts_dir: Path, models: Mapping) -> tuple[dict, np.ndarray]:
    """Every model's recorded test predictions, and the test labels."""
    labels = artifacts.load_array(artifacts_dir, "test_labels.npy")
    predictions = {
        name: artifacts.load_array(artifacts_dir, entry["predictions"])
        for name, entry in models.items()
    }
    return predictions, labels


def build_rows(
    artifacts_dir: Path, models: Mapping, speeds: Mapping, predictions: Mapping, labels
) -> list[dict]:
    """One row per model: sizes, accuracy, paired statistics, speed."""
    artifacts_dir = Path(artifacts_dir)
    if BASELINE not in models or SIZE_REFERENCE not in models:
        raise StaleArtifactError(
            f"the summary needs {BASELINE} (notebook 02) and {SIZE_REFERENCE} (notebook 03)"
        )
    reference_size = models[SIZE_REFERENCE]["size_bytes"]
    rows = []
    for name, entry in models.items():
        path = artifacts.require(artifacts_dir, entry["file"])
        row = {
            "name": name,
            "role": entry["role"],
            "notebook": entry["notebook"],
            "description": entry["description"],
            "parent": entry["parent"],
            "kind": "tflite" if entry["file"].endswith(".tflite") else "keras",
            "path": str(path),
            "size_bytes": int(entry["size_bytes"]),
            "gzip_size_bytes": gzip_size(path.read_bytes()),
            "ratio_to_float32": entry["size_bytes"] / reference_size,
            "test_accuracy": float(entry["test_accuracy"]),
            "input_dtype": entry.get("input_dtype"),
            "output_dtype": entry.get("output_dtype"),
            "per_class_accuracy": entry.get("per_class_accuracy"),
            "caveat": entry.get("caveat"),
        }
        baseline = compare_predictions(predictions[name], predictions[BASELINE], labels)
        row.update(
            {
                "agreement_with_float": baseline.agreement,  # the float baseline (keras_float)
                "flipped_predictions": baseline.flips,
                "change_pp": baseline.delta_pp,
                "delta_vs_baseline_ci95_pp": list(baseline.ci95_pp),
                "p_value_vs_baseline": baseline.p_value,
                "verdict_vs_baseline": baseline.verdict,
            }
        )
        parent = entry["parent"]
        if parent is not None:
            if parent not in predictions:
                raise StaleArtifactError(f"{name}'s parent {parent} has no recorded predictions")
            versus = compare_predictions(predictions[name], predictions[parent], labels)
            row.update(
                {
                    "agreement_with_parent": versus.agreement,
                    "flips_vs_parent": versus.flips,
                    "delta_vs_parent_pp": versus.delta_pp,
                    "delta_vs_parent_ci95_pp": list(versus.ci95_pp),
                    "p_value_vs_parent": versus.p_value,
                    "verdict_vs_parent": versus.verdict,
                    "only_variant_right_vs_parent": versus.only_model_right,
                    "only_parent_right_vs_parent": versus.only_reference_right,
                }
            )
        speed = speeds.get(name)
        if speed is not None:
            row.update(
                {
                    key: speed[key]
                    for key in (
                        "throughput_ips",
                        "throughput_ips_iqr",
                        "throughput_ratio",
                        "throughput_ratio_ci",
                        "latency_ms_batch1",
                        "latency_ms_batch1_iqr",
                        "latency_ms_batch1_p90",
                        "latency_ratio",
                        "latency_ratio_ci",
                    )
                    if key in speed
                }
            )
            row["speedup_vs_float32"] = speed["throughput_ratio"]
            row["speed_measured_in"] = speed["notebook"]
        rows.append(row)
    return rows


def build_summary(
    artifacts_dir: Path,
    environment: Mapping,
    pending: Mapping[str, Mapping] | None = None,
    only: tuple[str, ...] | None = None,
) -> dict:
    """The summary of every metrics file in ``artifacts_dir`` (plus ``pending`` ones), or of the
    notebooks in ``only``."""
    artifacts_dir = Path(artifacts_dir)
    models, speeds, metrics, notes = collect(artifacts_dir, pending, only)
    predictions, labels = load_predictions(artifacts_dir, models)
    rows = build_rows(artifacts_dir, models, speeds, predictions, labels)
    comparison = metrics["05_comparison"]

    def compare(name: str, other: str) -> dict:
        return compare_predictions(predictions[name], predictions[other], labels).as_dict()

    studies = {notebook: payload.get("speed") for notebook, payload in metrics.items()}
    return {
        "baseline_fingerprint": metrics["02_baseline_cnn"]["baseline_fingerprint"],
        "variants": rows,
        "recommendation": report.recommend(rows, studies, compare, comparison.get("speed_control")),
        "speed_control": comparison.get("speed_control"),
        "benchmark": {
            notebook: payload["speed"]["settings"]
            for notebook, payload in metrics.items()
            if payload.get("speed")
        },
        "params": {notebook: payload.get("params", {}) for notebook, payload in metrics.items()},
        "dataset": artifacts.read_json(artifacts_dir, "dataset.json"),
        "environment": dict(environment),
        "notes": notes,
    }


def write_summary(artifacts_dir: Path, summary: Mapping) -> Path:
    """Write ``summary.md`` and ``summary.json`` (last, so its presence means both are new)."""
    artifacts.write_text(Path(artifacts_dir) / "summary.md", report.summary_markdown(summary))
    return artifacts.write_json(Path(artifacts_dir) / "summary.json", summary)
