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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import artifacts, chain, report
from helpers.errors import StaleArtifactError
from helpers.stats import compare_predictions, non_inferiority

BASELINE = "keras_float"  # the float Keras model of notebook 02: every comparison's anchor
SIZE_REFERENCE = "float32"  # sizes and speeds are given as multiples of the float32 file's

# (metrics file, notebook, required for a summary), in chain order.
METRICS_FILES: tuple[tuple[str, str, bool], ...] = tuple(
    (step.metrics, step.name, step.summary == "required") for step in chain.summary_steps()
)
ROLES = ("reference", "variant", "control")
# The notebooks whose metrics list models (05 only times them).
MODEL_NOTEBOOKS = tuple(nb for _, nb, _ in METRICS_FILES if nb != "05_comparison")


def up_to(notebook: str) -> tuple[str, ...]:
    """The notebooks whose metrics a summary built by ``notebook`` reads: those before it, and
    itself. Metrics a later notebook left from an earlier run never enter it, so a fresh run and
    a re-run write the same summary."""
    return tuple(s.name for s in chain.before(notebook) if s.summary) + (notebook,)


# What notebook 05 compares: the notebooks before it. 06 and 07 add their files with their own
# timings, so 05 shows the same table whether or not they ran before.
UP_TO_COMPARISON = up_to("05_comparison")


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
    evaluation,
    artifacts_dir: Path,
    **extra,
) -> dict:
    """One model's record for a notebook's metrics file; saves its per-image predictions.

    ``role``: ``reference`` (a float Keras model others are compared with), ``variant`` (a file a
    learner could ship) or ``control`` (made only to separate one effect from another).
    ``parent``: the float model this one was made from (None for the baseline itself).
    ``evaluation``: a :class:`helpers.evaluate.Evaluation` (record with at least
    ``test_accuracy`` and ``size_bytes``, predictions, tied outputs, validation predictions).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    for key in ("test_accuracy", "size_bytes"):
        if evaluation.record.get(key) is None:
            raise ValueError(f"the evaluation of {name} lacks {key}")
    predictions = artifacts.save_predictions(
        artifacts_dir,
        name,
        evaluation.predictions,
        tied=evaluation.tied,
        validation=evaluation.validation_predictions,
    )
    return {
        **dict(evaluation.record),
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
        # A later notebook may add columns to models recorded before it (08: the tflm_* fields).
        for name, fields in payload.get("per_model_fields", {}).items():
            if name in models:
                models[name] = {**models[name], **fields}
        study = payload.get("speed")
        if study:
            for name, record in study["variants"].items():
                # A file's speed comes from the first study that timed it, unless a later study
                # that ranks files (a "pick") timed it too: then every ranked file's columns come
                # from that one study.
                if name in speeds and not study["settings"].get("pick"):
                    continue
                speeds[name] = {**record, "notebook": notebook, "settings": study["settings"]}
    if pending:
        raise KeyError(f"no metrics file is known for {', '.join(pending)}")
    if stale_required:
        artifacts.check_same_baseline(fingerprint, stale_required)
    return models, speeds, metrics, notes


@dataclass(frozen=True)
class Predictions:
    """Every model's recorded predictions: on the test set, which of them were tied outputs, and
    on notebook 02's held-out validation images (where recorded)."""

    test: dict[str, np.ndarray]
    tied: dict[str, np.ndarray]
    validation: dict[str, np.ndarray]
    labels: np.ndarray
    validation_labels: np.ndarray | None


def load_predictions(artifacts_dir: Path, models: Mapping) -> Predictions:
    """Every model's recorded predictions, and the labels they are scored against."""
    artifacts_dir = Path(artifacts_dir)

    def optional(kind: str) -> dict[str, np.ndarray]:
        found = {}
        for name, entry in models.items():
            path = artifacts_dir / artifacts.companion(entry["predictions"], kind)
            if path.is_file():
                found[name] = np.load(path)
        return found

    validation_labels = artifacts_dir / "validation_labels.npy"
    return Predictions(
        test={
            name: artifacts.load_array(artifacts_dir, entry["predictions"])
            for name, entry in models.items()
        },
        tied=optional("tied"),
        validation=optional("val"),
        labels=artifacts.load_array(artifacts_dir, "test_labels.npy"),
        validation_labels=np.load(validation_labels) if validation_labels.is_file() else None,
    )


def check_recorded_predictions(artifacts_dir: Path, models: Mapping, images) -> dict:
    """Run every ``.tflite`` model again on ``images``; each must predict exactly what its
    notebook recorded, or this stops, naming the notebook to re-run. Returns the predictions."""
    from helpers.evaluate import LiteRTModel

    fresh = {}
    for name, entry in models.items():
        path = artifacts.require(artifacts_dir, entry["file"])
        fresh[name] = LiteRTModel(path).predict(images)
        recorded = artifacts.load_array(artifacts_dir, entry["predictions"])
        if not np.array_equal(fresh[name], recorded):
            raise StaleArtifactError(
                f"{path.name} now predicts differently on "
                f"{int(np.sum(fresh[name] != recorded))} test images from what was recorded when "
                f"it was made. Fix: re-run notebooks/{entry['notebook']}.ipynb and this notebook."
            )
    return fresh


def build_rows(
    artifacts_dir: Path, models: Mapping, speeds: Mapping, recorded: Predictions
) -> list[dict]:
    """One row per model: sizes, accuracy, tied outputs, paired statistics, speed."""
    predictions, labels, tied = recorded.test, recorded.labels, recorded.tied
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
            "tied_outputs": entry.get("tied_outputs"),
            "tie_credit_accuracy": entry.get("tie_credit_accuracy"),
            "caveat": entry.get("caveat"),
            **{key: value for key, value in entry.items() if key.startswith("tflm_")},
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
        row["noninferiority_test"] = non_inferiority(
            predictions[name], predictions[BASELINE], labels
        ).as_dict()
        if name in recorded.validation and BASELINE in recorded.validation:
            held_out = recorded.validation[name]
            row["validation_accuracy"] = float(np.mean(held_out == recorded.validation_labels))
            row["noninferiority_validation"] = non_inferiority(
                held_out, recorded.validation[BASELINE], recorded.validation_labels
            ).as_dict()
        if name in tied:  # how many of the flips are images whose top output was a tie
            flipped = predictions[name] != predictions[BASELINE]
            row["flipped_tied"] = int(np.sum(flipped & tied[name]))
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
            if name in tied:
                flipped = predictions[name] != predictions[parent]
                row["flips_vs_parent_tied"] = int(np.sum(flipped & tied[name]))
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
    recorded = load_predictions(artifacts_dir, models)
    rows = build_rows(artifacts_dir, models, speeds, recorded)
    predictions, labels = recorded.test, recorded.labels

    def compare(name: str, other: str) -> dict:
        return compare_predictions(predictions[name], predictions[other], labels).as_dict()

    studies = {notebook: payload.get("speed") for notebook, payload in metrics.items()}
    picked = report.pick_study(studies)
    control = metrics[picked[0]].get("speed_control") if picked else None
    return {
        "baseline_fingerprint": metrics["02_baseline_cnn"]["baseline_fingerprint"],
        "variants": rows,
        "recommendation": report.recommend(rows, studies, compare, control),
        "speed_control": control,
        "between_studies": next(
            (
                p["between_studies"]
                for p in reversed(list(metrics.values()))
                if p.get("between_studies")
            ),
            None,
        ),
        "fastest_by_batch": _latest(metrics, "fastest_by_batch"),
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


def _latest(metrics: Mapping[str, Mapping], key: str):
    """``key`` from the last notebook (in chain order) whose metrics have it, else None."""
    return next((p[key] for p in reversed(list(metrics.values())) if p.get(key)), None)


def write_summary(artifacts_dir: Path, summary: Mapping) -> Path:
    """Write ``summary.md`` and ``summary.json`` (last, so its presence means both are new)."""
    artifacts.write_text(Path(artifacts_dir) / "summary.md", report.summary_markdown(summary))
    return artifacts.write_json(Path(artifacts_dir) / "summary.json", summary)
