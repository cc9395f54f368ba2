"""Computed sentences and verdicts: each branch (tie / better / worse) on constructed rows."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import report


def row(name, *, size, accuracy, verdict_baseline="tie", ratio=None, ci=None, **extra):
    base = {
        "name": name,
        "role": "variant",
        "kind": "tflite",
        "size_bytes": size,
        "ratio_to_float32": size / 300,
        "test_accuracy": accuracy,
        "change_pp": 0.0,
        "delta_vs_baseline_ci95_pp": [-0.1, 0.1],
        "p_value_vs_baseline": 0.5,
        "verdict_vs_baseline": verdict_baseline,
        "agreement_with_float": 0.99,
        "parent": "keras_float",
        "delta_vs_parent_pp": 0.0,
        "delta_vs_parent_ci95_pp": [-0.1, 0.1],
        "p_value_vs_parent": 0.5,
        "verdict_vs_parent": "tie",
    }
    if ratio is not None:
        base.update(
            throughput_ratio=ratio,
            throughput_ratio_ci=ci,
            speed_measured_in="05_comparison",
            throughput_ips=1000 * ratio,
            throughput_ips_iqr=[900 * ratio, 1100 * ratio],
        )
    return {**base, **extra}


STUDY = {
    "05_comparison": {
        "variants": {
            "float32": {"throughput_rounds": [100, 100, 100, 100, 100, 100]},
            "int8": {"throughput_rounds": [200, 210, 190, 205, 195, 200]},
            "qat_int8": {"throughput_rounds": [199, 212, 188, 206, 196, 201]},
            "tiny": {"throughput_rounds": [900] * 6},
        }
    }
}


def test_recommendation_follows_the_tests():
    rows = [
        row("float32", size=300, accuracy=0.910, ratio=1.0, ci=[1.0, 1.0]),
        row("int8", size=80, accuracy=0.909, ratio=2.0, ci=[1.9, 2.1]),
        row(
            "qat_int8", size=78, accuracy=0.917, verdict_baseline="better", ratio=2.0, ci=[1.9, 2.1]
        ),
        row(
            "tiny",
            size=10,
            accuracy=0.80,
            verdict_baseline="worse",
            ratio=9.0,
            ci=[8, 10],
            delta_vs_baseline_ci95_pp=[-12.0, -8.0],
        ),
        {**row("control_int8", size=5, accuracy=0.99), "role": "control"},
    ]

    def compare(a, b):
        return {"verdict": "tie" if {a, b} <= {"float32", "int8", "qat_int8"} else "worse"}

    choice = report.recommend(rows, STUDY, compare)
    # The smallest non-inferior file; "int8" is within 1% of its size and less accurate.
    assert choice["size"]["name"] == "qat_int8"
    assert choice["accuracy"] == {"name": "qat_int8", "tied_with": ["float32", "int8"]}
    assert choice["speed"]["name"] in ("int8", "qat_int8")  # "tiny" is worse than the baseline
    assert choice["speed"]["verdict_vs_float32"] == "faster"
    assert set(choice["speed"]["tied_with"]) == {"int8", "qat_int8"} - {choice["speed"]["name"]}
    text = report.recommendation_text(choice, rows)
    assert "statistically tied with `float32`, `int8`" in text
    assert "**For speed on this CPU** (files timed together in notebook 05)" in text
    assert "faster than float32" in text
    runner_up = choice["speed"]["versus_runner_up"]
    assert {runner_up["name"], choice["speed"]["name"]} == {"int8", "qat_int8"}
    assert f"against the next fastest, `{runner_up['name']}`, {runner_up['median']:.2f}×" in text


def test_size_recommendation_needs_non_inferiority_and_breaks_size_ties_on_accuracy():
    rows = [
        row("float32", size=300, accuracy=0.910),
        row("a", size=80, accuracy=0.905, delta_vs_baseline_ci95_pp=[-0.5, 0.1]),  # could lose 0.5
        row("b", size=90, accuracy=0.909),
        row("c", size=90.5, accuracy=0.912),  # within 1% of b's size, more accurate
        {**row("d", size=50, accuracy=0.911), "caveat": "accuracy depends on XNNPACK"},
    ]
    choice = report.recommend(rows, {})
    assert choice["size"]["name"] == "c" and choice["size"]["same_size"] == ["b"]
    assert choice["excluded"] == ["d"]
    text = report.recommendation_text(choice, rows)
    assert "Not recommended whatever their numbers: `d` (accuracy depends on XNNPACK)" in text
    assert "files within 1% of that size count as the same size" in text
    assert "`b` (90 bytes) is as small, and `c` scores higher." in text

    def compare(a, b):
        return {"delta_pp": 0.3, "ci95_pp": [0.1, 0.5], "p_value": 0.01, "verdict": "better"}

    choice = report.recommend(rows, {}, compare)
    assert choice["size"]["versus_same_size"]["b"]["verdict"] == "better"
    assert "`c` beats `b` (+0.30 pp" in report.recommendation_text(choice, rows)
    alone = report.recommend(rows[:3], {})
    assert alone["size"]["name"] == "b" and not alone["size"]["same_size"]
    assert "the smallest file whose accuracy stays within" in report.recommendation_text(
        alone, rows[:3]
    )


def test_speed_margin_comes_from_the_control():
    assert report.speed_margin(None) == report.SPEED_MARGIN
    assert report.speed_margin({"ci": [0.93, 1.02]}) == pytest.approx(0.07)
    row_ = row("int8", size=80, accuracy=0.9, ratio=1.03, ci=[1.01, 1.05])
    assert "by less than the 5% this run can resolve" in report.speed_sentence(row_, 0.05)


def test_accuracy_sentence_branches():
    tie = row("int8", size=80, accuracy=0.9)
    assert report.accuracy_sentence(tie).startswith("`int8` ties with `keras_float`")
    better = {**tie, "verdict_vs_parent": "better", "delta_vs_parent_pp": 0.5}
    assert "`int8` beats `keras_float` (+0.50 pp" in report.accuracy_sentence(better)
    worse = {**tie, "verdict_vs_parent": "worse", "delta_vs_parent_pp": -0.5}
    assert "loses to" in report.accuracy_sentence(worse)


def test_speed_sentence_branches():
    faster = row("int8", size=80, accuracy=0.9, ratio=1.5, ci=[1.2, 1.8])
    assert "is faster than float32 (1.50×" in report.speed_sentence(faster)
    tie = {**faster, "throughput_ratio": 1.02, "throughput_ratio_ci": [0.9, 1.1]}
    assert "not measurably faster or slower" in report.speed_sentence(tie)
    slower = {**faster, "throughput_ratio": 0.6, "throughput_ratio_ci": [0.55, 0.7]}
    assert "is slower than float32" in report.speed_sentence(slower)


def test_qat_lead_from_training_is_attributed_to_training():
    qat = row("qat_int8", size=78, accuracy=0.917, verdict_baseline="better", parent="qat_keras")
    choice = {"size": {"name": "qat_int8"}, "accuracy": {"name": "qat_int8", "tied_with": []}}
    text = report.recommendation_text(choice, [qat])
    assert "comes from its parent's extra training, not from quantization" in text


def test_markdown_table_shows_intervals_and_dashes():
    table = report.markdown_table(
        [
            row("int8", size=84656, accuracy=0.9093, ratio=0.81, ci=[0.7, 0.9]),
            {
                "name": "keras_float",
                "role": "reference",
                "size_bytes": 944703,
                "ratio_to_float32": 3.087,
                "test_accuracy": 0.91,
                "agreement_with_float": 1.0,
            },
        ]
    )
    assert "| int8 | keras_float | 84,656 |" in table
    assert "+0.00 (-0.10, +0.10)" in table and "0.81 (0.70–0.90)" in table
    assert "| keras_float (reference) | – | 944,703 |" in table


def study_frame(accuracies: dict[int, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"samples": size, "draw": draw, "accuracy": value}
            for size, values in accuracies.items()
            for draw, value in enumerate(values)
        ]
    )


def test_calibration_finding_names_the_size_from_which_it_stops_mattering():
    finding = report.calibration_finding(
        study_frame(
            {1: [0.85, 0.86], 10: [0.905, 0.907], 100: [0.908, 0.910], 1000: [0.909, 0.910]}
        )
    )
    assert finding["threshold_samples"] == 100 and finding["differing_samples"] == [1, 10]
    assert "from 100 images on: no measurable difference" in finding["text"]
    assert (
        "1 image(s): mean 85.50%" in finding["text"] and "lower than with 1000" in finding["text"]
    )
    higher = report.calibration_finding(study_frame({1: [0.95, 0.96], 100: [0.90, 0.91]}))
    assert "higher than with 100" in higher["text"]
    everywhere = report.calibration_finding(study_frame({10: [0.90, 0.91], 100: [0.905, 0.906]}))
    assert everywhere["threshold_samples"] == 10
    assert "no measurable difference at any size tried" in everywhere["text"]


def test_delegation_text():
    assert report.delegation_text({"delegated": ["A", "B"], "builtin": []}) == "all 2 operations"
    assert report.delegation_text({"delegated": [], "builtin": ["A"]}) == "none of its 1 operations"
    assert "(not SOFTMAX)" in report.delegation_text({"delegated": ["A"], "builtin": ["SOFTMAX"]})


@pytest.mark.parametrize("verdict", ["tie", "better", "worse"])
def test_comparison_frame_has_the_verdict(verdict):
    frame = report.comparison_frame(
        {
            "int8": {
                "accuracy": 0.9,
                "delta_pp": 0.1,
                "ci95_pp": [-0.1, 0.3],
                "p_value": 0.3,
                "agreement": 0.99,
                "flips": 80,
                "only_model_right": 45,
                "only_reference_right": 35,
                "verdict": verdict,
            }
        },
        parent="keras_float",
    )
    assert frame.loc["int8", "verdict"] == verdict


def test_qat_versus_ptq_sentence_branches():
    sentence = report.qat_versus_ptq_sentence
    assert "nothing for QAT to win back" in sentence(verdict="tie", ptq_loss="tie")
    assert "too small for these 10,000 images" in sentence(verdict="tie", ptq_loss="worse")
    assert "QAT keeps measurably more" in sentence(verdict="better", ptq_loss="worse")
    assert "PTQ of the same model keeps" in sentence(verdict="worse", ptq_loss="tie")
    with pytest.raises(ValueError, match="verdict"):
        sentence(verdict="maybe", ptq_loss="tie")
