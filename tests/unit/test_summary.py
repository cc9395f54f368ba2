"""The summary builder: every notebook's models in one table, with paired statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import artifacts, summary
from helpers.benchmark import summarise
from helpers.errors import MissingArtifactError, StaleArtifactError
from helpers.evaluate import Evaluation

FINGERPRINT = "0123456789abcdef"


def entry(name, parent, predictions, folder, role="variant", file=None, tied=None, held_out=None):
    file = file or f"{name}.tflite"
    (folder / file).write_bytes(b"\x00" * 100)  # contents only matter for the gzip size
    evaluation = Evaluation(
        record={"test_accuracy": 0.0, "size_bytes": 100 if name != "float32" else 400},
        predictions=predictions,
        tied=np.zeros(len(predictions), bool) if tied is None else tied,
        validation_predictions=held_out,
    )
    return summary.model_entry(
        name=name,
        file=file,
        role=role,
        parent=parent,
        description=name,
        evaluation=evaluation,
        artifacts_dir=folder,
    )


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 10_000)
    artifacts.write_array(tmp_path / "test_labels.npy", labels)
    artifacts.write_json(tmp_path / "dataset.json", {"test_examples": 10_000})
    baseline = labels.copy()
    baseline[:1000] = (labels[:1000] + 1) % 10  # 90% right
    int8 = baseline.copy()
    int8[1000:1003] = (labels[1000:1003] + 1) % 10  # 3 more wrong: a tie
    bad = baseline.copy()
    bad[1000:1200] = (labels[1000:1200] + 1) % 10  # 200 more wrong: worse
    write = artifacts.write_json
    write(
        tmp_path / "baseline_metrics.json",
        {
            "baseline_fingerprint": FINGERPRINT,
            "models": {
                "keras_float": entry(
                    "keras_float", None, baseline, tmp_path, "reference", "baseline.keras"
                )
            },
            "params": {"EPOCHS": 1},
        },
    )
    write(
        tmp_path / "ptq_metrics.json",
        {
            "baseline_fingerprint": FINGERPRINT,
            "models": {
                "float32": entry("float32", "keras_float", baseline, tmp_path),
                "int8": entry("int8", "keras_float", int8, tmp_path),
                "bad": entry("bad", "keras_float", bad, tmp_path),
            },
        },
    )
    write(tmp_path / "qat_metrics.json", {"baseline_fingerprint": FINGERPRINT, "models": {}})
    rounds = {"float32": [100.0] * 6, "int8": [200.0, 190, 210, 200, 205, 195], "bad": [900.0] * 6}
    latency = {"float32": [0.02] * 6, "int8": [0.01] * 6, "bad": [0.002] * 6}
    settings = {"pick": True, "batch_size": 256, "reference": "float32"}
    write(
        tmp_path / "comparison_metrics.json",
        {
            "baseline_fingerprint": FINGERPRINT,
            "speed": summarise(rounds, latency, reference="float32", settings=settings),
        },
    )
    return tmp_path


def test_rows_carry_paired_statistics_and_speed(folder):
    result = summary.build_summary(folder, {"cpu": "test", "logical_cpus": 2})
    rows = {row["name"]: row for row in result["variants"]}
    assert list(rows) == ["keras_float", "float32", "int8", "bad"]
    assert rows["float32"]["p_value_vs_parent"] == 1.0
    assert rows["float32"]["delta_vs_parent_ci95_pp"] == [0.0, 0.0]
    assert rows["int8"]["verdict_vs_parent"] == "tie" and rows["int8"]["flips_vs_parent"] == 3
    assert rows["bad"]["verdict_vs_parent"] == "worse" and rows["bad"]["p_value_vs_parent"] < 1e-6
    assert rows["int8"]["throughput_ratio"] == pytest.approx(2.0)
    assert rows["int8"]["speed_measured_in"] == "05_comparison"
    assert rows["int8"]["ratio_to_float32"] == 0.25 and rows["keras_float"]["kind"] == "keras"
    assert "p_value_vs_parent" not in rows["keras_float"]  # the baseline has no parent
    # "bad" is fastest but measurably worse than the baseline: never recommended for speed.
    assert result["recommendation"]["speed"]["name"] == "int8"
    assert result["recommendation"]["size"]["name"] == "int8"


def test_write_summary_writes_markdown_and_json(folder):
    result = summary.build_summary(folder, {"cpu": "test", "logical_cpus": 2})
    summary.write_summary(folder, result)
    assert json.loads((folder / "summary.json").read_text())["variants"][2]["name"] == "int8"
    assert "| int8 | keras_float |" in (folder / "summary.md").read_text()


def test_pending_metrics_are_used_before_they_are_written(folder):
    (folder / "comparison_metrics.json").unlink()
    with pytest.raises(MissingArtifactError, match="05_comparison"):
        summary.build_summary(folder, {})
    result = summary.build_summary(
        folder, {}, pending={"05_comparison": {"baseline_fingerprint": FINGERPRINT}}
    )
    assert "throughput_ratio" not in result["variants"][2]


def test_required_results_of_another_baseline_stop_the_summary(folder):
    payload = json.loads((folder / "ptq_metrics.json").read_text())
    payload["baseline_fingerprint"] = "ffffffffffffffff"
    artifacts.write_json(folder / "ptq_metrics.json", payload)
    with pytest.raises(StaleArtifactError, match="03_post_training_quantization"):
        summary.build_summary(folder, {})


def test_optional_results_of_another_baseline_are_left_out_with_a_note(folder):
    artifacts.write_json(
        folder / "below8_metrics.json",
        {"baseline_fingerprint": "ffffffffffffffff", "models": {"int4": {}}},
    )
    result = summary.build_summary(folder, {})
    assert "int4" not in {row["name"] for row in result["variants"]}
    assert "below8_metrics.json comes from another baseline" in result["notes"][0]


def test_a_model_recorded_twice_is_an_error(folder):
    payload = json.loads((folder / "qat_metrics.json").read_text())
    payload["models"] = {
        "int8": json.loads((folder / "ptq_metrics.json").read_text())["models"]["int8"]
    }
    artifacts.write_json(folder / "qat_metrics.json", payload)
    with pytest.raises(ValueError, match="recorded by two notebooks"):
        summary.build_summary(folder, {})


@pytest.mark.parametrize("pick", [False, True])
def test_a_later_study_replaces_a_timing_only_when_it_ranks_files(folder, pick):
    later = summarise(
        {"float32": [50.0] * 6, "new": [500.0] * 6},
        {"float32": [0.02] * 6, "new": [0.002] * 6},
        reference="float32",
        settings={"pick": pick, "batch_size": 256, "reference": "float32"},
    )
    artifacts.write_json(
        folder / "speed_metrics.json",
        {
            "baseline_fingerprint": FINGERPRINT,
            "models": {"new": entry("new", "keras_float", np.zeros(10_000, int), folder)},
            "speed": later,
        },
    )
    result = summary.build_summary(folder, {})
    rows = {row["name"]: row for row in result["variants"]}
    # A study that ranks files (a pick) times them all in the same rounds: its numbers win.
    assert rows["float32"]["throughput_ips"] == (50.0 if pick else 100.0)
    assert rows["float32"]["speed_measured_in"] == ("06_speed" if pick else "05_comparison")
    assert (
        rows["new"]["throughput_ratio"] == 10.0 and rows["new"]["speed_measured_in"] == "06_speed"
    )


def test_ties_among_the_flips_are_counted(folder):
    labels = np.load(folder / "test_labels.npy")
    predictions = np.load(folder / "predictions/keras_float.npy").copy()
    predictions[5000:5010] = (predictions[5000:5010] + 1) % 10  # ten flips ...
    tied = np.zeros(10_000, bool)
    tied[5000:5004] = True  # ... four of them tied outputs
    tied[6000] = True  # a tie that did not flip
    artifacts.write_json(
        folder / "speed_metrics.json",
        {
            "baseline_fingerprint": FINGERPRINT,
            "models": {"tied": entry("tied", "keras_float", predictions, folder, tied=tied)},
        },
    )
    rows = {row["name"]: row for row in summary.build_summary(folder, {})["variants"]}
    assert rows["tied"]["flips_vs_parent"] == 10 and rows["tied"]["flips_vs_parent_tied"] == 4
    assert rows["tied"]["flipped_tied"] == 4 and len(labels) == 10_000


def test_the_margin_is_one_rule_for_notebook_07_and_the_summary(folder, monkeypatch):
    """Change the margin: 07's layer choice and the summary's size pick both follow it."""
    from helpers import below8, stats

    labels = np.load(folder / "test_labels.npy")
    baseline = np.load(folder / "predictions/keras_float.npy")
    int8 = np.load(folder / "predictions/int8.npy")  # 3 more images wrong than the baseline

    def choose(margin):
        monkeypatch.setattr(stats, "NONINFERIORITY_MARGIN_PP", margin)
        layers, _, _ = below8.choose_layers(["layer"], lambda _: int8, baseline, labels)
        return layers, summary.build_summary(folder, {})["recommendation"]["size"]["name"]

    assert choose(0.3) == (["layer"], "int8")
    assert choose(0.01) == ([], "float32")


def test_role_is_checked(tmp_path):
    with pytest.raises(ValueError, match="role"):
        entry("x", None, np.zeros(10, int), tmp_path, role="other")


def test_the_comparison_can_leave_out_the_later_notebooks(folder):
    later = entry("int4", "keras_float", np.zeros(10_000, dtype=np.int64), folder)
    artifacts.write_json(
        folder / "below8_metrics.json",
        {"baseline_fingerprint": FINGERPRINT, "models": {"int4": later}},
    )
    everything = summary.build_summary(folder, {})
    assert "int4" in {row["name"] for row in everything["variants"]}
    compared = summary.build_summary(folder, {}, only=summary.UP_TO_COMPARISON)
    assert "int4" not in {row["name"] for row in compared["variants"]}
    assert summary.UP_TO_COMPARISON[-1] == "05_comparison"


def test_a_notebook_summary_leaves_out_what_later_notebooks_left_from_an_earlier_run(folder):
    from helpers.notebook import Run

    later = entry("int4", "keras_float", np.zeros(10_000, dtype=np.int64), folder)
    artifacts.write_json(
        folder / "below8_metrics.json",
        {"baseline_fingerprint": FINGERPRINT, "models": {"int4": later}},
    )

    def names(notebook):
        run = Run(notebook, {}, folder, {}, FINGERPRINT)
        return {row["name"] for row in run.summary({})["variants"]}

    assert "int4" not in names("06_speed")  # 07's file of an earlier run stays out
    assert "int4" in names("08_microcontroller")  # a notebook after 07 sees it
