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


def ni(bound: float, margin: float = 0.3, delta: float = 0.0) -> dict:
    """A non-inferiority result as helpers.stats.non_inferiority records it."""
    return {
        "margin_pp": margin,
        "delta_pp": delta,
        "lower_bound_pp": bound,
        "p_value": 0.01 if bound > -margin else 0.2,
        "non_inferior": bound > -margin,
        "borderline": abs(bound + margin) < 0.05,
        "images": 6000,
    }


def sized(name, size, *, held_out=-0.1, test=-0.1, validation_accuracy=0.9, **extra):
    return row(
        name,
        size=size,
        accuracy=0.9,
        noninferiority_validation=None if held_out is None else ni(held_out),
        noninferiority_test=ni(test),
        validation_accuracy=validation_accuracy,
        **extra,
    )


def test_size_is_chosen_on_held_out_images_and_confirmed_on_the_test_set():
    rows = [
        sized("float32", 300),
        sized("a", 40, test=-0.35),  # passes on the held-out images, not on the test set
        sized("b", 80, validation_accuracy=0.90),
        sized("c", 80.5, validation_accuracy=0.91),  # within 1% of b: more accurate goes first
        sized("d", 20, held_out=-0.6),  # fails on the held-out images: never tried on test
        {**sized("e", 10), "caveat": "runtime defect: only XNNPACK computes it correctly"},
    ]
    choice = report.recommend(rows, {})
    size = choice["size"]
    assert size["name"] == "c" and size["selected_on"] == "validation"
    assert [t["name"] for t in size["tried"]] == ["a", "c"]
    assert size["same_size"] == ["b"] and "d" not in size["selected"]
    assert choice["excluded"] == ["e"]
    text = report.recommendation_text(choice, rows)
    assert (
        "chosen on notebook 02's held-out validation images and confirmed on the test set" in text
    )
    assert "`a` (40 bytes) passed on the held-out images but was not confirmed" in text
    assert "lower 95% bound -0.35 pp against a margin of -0.3 pp" in text
    assert "Not recommended whatever their numbers: `e` (runtime defect" in text
    assert "the most accurate on the held-out images of the smallest files" in text
    assert "the others of that size: `b` (80 bytes)" in text
    # d is smaller than the pick and failed on the held-out images: the reader is told why
    assert "Smaller, but not within the margin on the held-out images: `d` (20 bytes" in text
    assert "`e` (10 bytes" not in text  # excluded for its caveat, not for its accuracy


def test_a_bound_near_the_margin_is_called_borderline():
    rows = [sized("float32", 300), sized("small", 40, test=-0.27)]
    text = report.recommendation_text(report.recommend(rows, {}), rows)
    assert "`small`" in text and "**borderline**" in text


def test_without_held_out_predictions_the_test_set_selects_and_says_so():
    rows = [sized("float32", 300, held_out=None), sized("small", 40, held_out=None)]
    choice = report.recommend(rows, {})
    assert choice["size"]["selected_on"] == "test" and choice["size"]["name"] == "small"
    assert "no held-out predictions were recorded" in report.recommendation_text(choice, rows)


def timed(name, latency, throughput, held_out=-0.1, **extra):
    return sized(
        name,
        80,
        held_out=held_out,
        latency_ratio=latency,
        latency_ratio_ci=[latency * 0.97, latency * 1.03],
        latency_ms_batch1=0.01 * latency,
        throughput_ratio=throughput,
        throughput_ratio_ci=[throughput * 0.95, throughput * 1.05],
        **extra,
    )


def study(latencies: dict[str, list[float]], throughputs: dict[str, float]) -> dict:
    return {
        "settings": {"pick": True, "batch_size": 256},
        "variants": {
            name: {
                "latency_rounds": rounds,
                "latency_ratio": rounds[0] / latencies["float32"][0],
                "latency_ratio_ci": [0.9 * rounds[0] / latencies["float32"][0], rounds[0]],
                "latency_ms_batch1": rounds[0],
                "throughput_ratio": throughputs[name],
                "throughput_ratio_ci": [throughputs[name] * 0.95, throughputs[name] * 1.05],
            }
            for name, rounds in latencies.items()
        },
    }


def test_speed_is_ranked_at_batch_1_in_the_last_pick_study():
    rows = [
        timed("float32", 1.0, 1.0),
        timed("int8", 1.5, 0.95),
        timed("fix", 0.66, 1.2),
        timed("near", 0.68, 1.1),  # within 5% of fix at batch 1: too close to rank
        timed("worse", 0.1, 9.0, held_out=-2.0),  # fast but loses accuracy
    ]
    early = study({"float32": [1.0] * 6, "int8": [1.5] * 6}, {"float32": 1.0, "int8": 0.95})
    late = study(
        {
            "float32": [1.0] * 6,
            "int8": [1.5] * 6,
            "fix": [0.66] * 6,
            "near": [0.68] * 6,
            "worse": [0.1] * 6,
        },
        {"float32": 1.0, "int8": 0.95, "fix": 1.2, "near": 1.1, "worse": 9.0},
    )
    choice = report.recommend(rows, {"05_comparison": early, "06_speed": late})
    speed = choice["speed"]
    assert speed["study"] == "06_speed" and speed["name"] == "fix"
    assert speed["tied_with"] == ["near"] and speed["runner_up"]["name"] == "near"
    assert speed["throughput"]["name"] == "fix" and "worse" not in speed["timed"]
    text = report.speed_recommendation_text(speed)
    assert text.startswith(
        "**For speed on this CPU** (batch 1; files timed together in notebook 06)"
    )
    assert "too close to rank: `near`" in text and "At batch 256, the highest throughput" in text
    assert speed["runner_up"]["tied_with"] == []
    assert "the next fastest, `near`, takes" in text
    # `worse` is faster (0.1×) but fails the accuracy rule on the held-out images: named
    assert speed["faster_left_out"] == [{"name": "worse", "latency_ratio": 0.1}]
    assert "not candidates: `worse` (0.10×)." in text


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
    qat = sized("qat_int8", 78, verdict_baseline="better", parent="qat_keras")
    choice = report.recommend([qat], {})
    text = report.recommendation_text(choice, [qat])
    assert "its lead over the baseline comes with its parent's extra training" in text
    assert "the controls" not in text  # none recorded
    control = {**sized("control_int8", 79), "role": "control", "test_accuracy": 0.917}
    text = report.recommendation_text(report.recommend([qat, control], {}), [qat, control])
    assert "(the controls, trained the same way without it: `control_int8` 91.70%)" in text


def test_a_p_value_at_the_bootstrap_floor_is_called_a_bound():
    from helpers.stats import BOOTSTRAP_RESAMPLES

    floor = {**ni(0.5), "p_value": 1 / (BOOTSTRAP_RESAMPLES + 1)}
    assert "one-sided p ≤ 0.0001 (the bootstrap's resolution)" in report._bound(floor)
    assert "one-sided p = 0.02" in report._bound({**ni(0.5), "p_value": 0.02})


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


def study_frame(draws: dict[int, list[tuple[float, str]]]) -> pd.DataFrame:
    """Calibration draws: per size, (accuracy difference to int8 in pp, verdict) per draw."""
    return pd.DataFrame(
        [
            {
                "samples": size,
                "draw": draw,
                "accuracy": 0.91 + delta / 100,
                "Δ vs int8 (pp)": delta,
                "verdict vs int8": verdict,
            }
            for size, values in draws.items()
            for draw, (delta, verdict) in enumerate(values)
        ]
    )


def test_calibration_finding_comes_from_the_paired_tests_of_each_draw():
    finding = report.calibration_finding(
        study_frame(
            {
                1: [(-3.0, "worse"), (-0.1, "tie")],
                10: [(-0.4, "worse"), (0.0, "tie")],
                100: [(0.05, "tie"), (-0.05, "tie")],
                1000: [(0.02, "tie"), (0.0, "tie")],
            }
        ),
        reference_samples=500,
    )
    assert finding["threshold_samples"] == 100 and finding["differing_samples"] == [1, 10]
    assert "1 image(s): 1 of 2 draws measurably worse" in finding["text"]
    assert "From 100 images on, no draw differs measurably" in finding["text"]
    none = report.calibration_finding(
        study_frame({10: [(0.1, "tie")], 100: [(-0.1, "tie")]}), reference_samples=500
    )
    assert none["threshold_samples"] == 10 and "No draw of any size" in none["text"]
    assert "A tie is not proof of equivalence" in none["text"]
    flipped = study_frame({1: [(0.1, "tie"), (0.0, "tie")], 500: [(-0.1, "tie")]})
    flipped["flips vs int8"] = [148, 85, 40]
    text = report.calibration_finding(flipped, reference_samples=500)["text"]
    assert (
        "change up to 148 predictions of `int8` with 1 calibration image and up to 40 with 500"
        in text
    )
    last = report.calibration_finding(
        study_frame({10: [(0.1, "tie")], 100: [(-0.5, "worse")]}), reference_samples=500
    )
    assert last["threshold_samples"] is None
    assert "Even at the largest size tried, some draws differ" in last["text"]


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
    assert "could not show QAT winning anything back" in sentence(verdict="tie", ptq_loss="tie")
    assert "too small for these 10,000 images" in sentence(verdict="tie", ptq_loss="worse")
    assert "QAT keeps measurably more" in sentence(verdict="better", ptq_loss="worse")
    assert "PTQ of the same model keeps" in sentence(verdict="worse", ptq_loss="tie")
    with pytest.raises(ValueError, match="verdict"):
        sentence(verdict="maybe", ptq_loss="tie")


def test_the_runner_up_names_the_files_it_ties_with():
    rows = [timed("float32", 1.0, 1.0), timed("float16", 1.01, 0.99), timed("fix", 0.66, 1.2)]
    late = study(
        {"float32": [1.0] * 6, "float16": [1.01] * 6, "fix": [0.66] * 6},
        {"float32": 1.0, "float16": 0.99, "fix": 1.2},
    )
    speed = report.recommend(rows, {"06_speed": late})["speed"]
    assert speed["name"] == "fix" and speed["runner_up"]["name"] == "float32"
    assert speed["runner_up"]["tied_with"] == ["float16"]
    text = report.speed_recommendation_text(speed)
    assert "the next fastest, `float32` (tied with `float16`), takes" in text
    assert "× `fix`'s time (95% interval" in text  # relative to the pick, named


def test_held_out_frame_puts_both_verdicts_side_by_side():
    rows = [
        sized("int8", 84, held_out=-0.52, test=-0.25),
        sized("qat_int8", 82, held_out=0.2, test=0.39),
        sized("keras_float", 300, held_out=None),
        {**sized("control_int8", 84), "role": "control"},
    ]
    frame = report.held_out_frame(rows)
    assert list(frame.index) == ["int8", "qat_int8"]  # no baseline, no control
    assert frame.loc["int8", "held-out"] == "fail"
    assert frame.loc["int8", "test"] == "borderline pass"
    assert frame.loc["qat_int8", "held-out lower bound (pp)"] == 0.2
    assert frame["held-out lower bound (pp)"].dtype == float  # numeric columns stay numeric


def test_no_separating_image_is_said_plainly():
    same = {**row("float16", size=80, accuracy=0.9), "delta_vs_parent_pp": 0.0}
    same["delta_vs_parent_ci95_pp"] = [0.0, 0.0]
    assert report.accuracy_sentence(same) == (
        "`float16` is right on exactly the same images as `keras_float`"
    )
