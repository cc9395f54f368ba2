"""Every conclusion is a function of computed values: each branch says what its numbers say."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from helpers import conclusions
from helpers.stats import compare_predictions


def comparison(delta_right: int, delta_wrong: int, total: int = 10_000, tied=None):
    """A paired comparison with ``delta_right`` images only the model gets right and
    ``delta_wrong`` only the reference gets right."""
    labels = np.zeros(total, int)
    model = np.zeros(total, int)
    reference = np.zeros(total, int)
    model[:delta_wrong] = 1
    reference[delta_wrong : delta_wrong + delta_right] = 1
    return compare_predictions(model, reference, labels, tied=tied)


def evaluation(accuracy=0.9, tied=0, size=1000, credit=None):
    return SimpleNamespace(
        record={
            "test_accuracy": accuracy,
            "tied_outputs": tied,
            "tie_credit_accuracy": credit if credit is not None else accuracy,
            "size_bytes": size,
        }
    )


FACTS = {
    "source": "Debian package",
    "train_examples": 60_000,
    "test_examples": 10_000,
    "image_shape": [28, 28],
    "train_class_counts": [6000] * 10,
    "train_zero_share": 0.5,
    "train_pixel_mean": 72.9,
}


def test_data_says_balanced_or_not_and_flags_a_loader_mismatch():
    text = conclusions.data(FACTS, same_as_helper=True)
    assert "perfectly balanced" in text and "returns exactly the arrays" in text
    unbalanced = conclusions.data(
        {**FACTS, "train_class_counts": [5000] + [6000] * 9}, same_as_helper=False
    )
    assert "between 5,000 and 6,000 images per class" in unbalanced
    assert "do not go on before finding out why" in unbalanced


def test_baseline_gap_both_ways_and_without_validation():
    scores = {"train": [0.2, 0.95], "validation": [0.3, 0.91], "test": [0.3, 0.91]}
    text = conclusions.baseline(
        epochs=3,
        train_count=54_000,
        scores=scores,
        weights=75_609,
        validation_loss=[0.4, 0.3, 0.35],
        class_accuracy=[0.9] * 6 + [0.6] + [0.99] * 3,
    )
    assert "4.0 percentage points above validation" in text and "lowest after epoch 2 of 3" in text
    assert "17% above its lowest: the model has started to overfit" in text

    def with_loss(losses):
        return conclusions.baseline(
            epochs=len(losses),
            train_count=54_000,
            scores=scores,
            weights=75_609,
            validation_loss=losses,
            class_accuracy=[0.9] * 10,
        )

    assert "still falling, no sign of overfitting" in with_loss([0.4, 0.3, 0.29])
    assert "1% above its lowest: mild overfitting at most" in with_loss([0.4, 0.3, 0.303])
    assert "hardest class is **Shirt** (60.0%)" in text
    reversed_gap = conclusions.baseline(
        epochs=1,
        train_count=100,
        scores={"train": [0.3, 0.8], "test": [0.3, 0.85]},
        weights=1,
        validation_loss=None,
        class_accuracy=[0.5] * 10,
    )
    assert "Test accuracy is 5.0 percentage points above train accuracy" in reversed_gap
    assert "validation loss" not in reversed_gap


def test_ties_name_where_they_start():
    evaluations = {"float32": evaluation(tied=0), "int8": evaluation(0.909, 173, credit=0.910)}
    tied = np.zeros(10_000, bool)
    tied[:84] = True
    comparisons = {"int8": comparison(33, 42, tied=tied)}
    common = {
        "evaluations": evaluations,
        "comparisons": comparisons,
        "pairs": {"Shirt & Coat": 20},
        "logit_step": 0.36,
    }
    all_logits = conclusions.ties(**common, builtin_tied=164, builtin_tied_logits=164)
    assert "every one of the 164 ties" in all_logits and "`int8` 173" in all_logits
    assert "90.90%, or 91.00% with ties split" in all_logits
    some = conclusions.ties(**common, builtin_tied=10, builtin_tied_logits=7)
    assert "7 of the 10 ties" in some and "softmax's own 1/256 step" in some
    none = conclusions.ties(**common, builtin_tied=0, builtin_tied_logits=0)
    assert "produce no tie at all" in none
    assert "tie most are the look-alikes of notebook 01" in all_logits  # Shirt & Coat
    common["pairs"] = {"Shirt & T-shirt/top": 20, "Bag & Sandal": 3}
    assert "tie most are the look-alikes of notebook 01" in conclusions.ties(
        **common, builtin_tied=164, builtin_tied_logits=164
    )
    common["pairs"] = {"Bag & Sandal": 20}
    assert "look-alikes" not in conclusions.ties(**common, builtin_tied=1, builtin_tied_logits=1)
    kernels = {"builtin_accuracy": 0.9096, "differences": 11, "tied_differences": 11}
    text = conclusions.ties(**common, builtin_tied=164, builtin_tied_logits=164, kernels=kernels)
    assert "with the built-in kernels `int8` has 164 tied outputs and scores 90.96%" in text
    assert "11 images, 11 of them tied" in text and "only ties turn that" in text
    kernels["tied_differences"] = 9
    text = conclusions.ties(**common, builtin_tied=164, builtin_tied_logits=164, kernels=kernels)
    assert "compute something different" in text


def test_selective_says_whether_the_float_head_removes_the_ties():
    evaluations = {
        "int8": evaluation(tied=173),
        "int8_selective": evaluation(tied=163),
        "int8_float_head": evaluation(tied=0),
    }
    comparisons = {name: comparison(10, 12) for name in evaluations}
    versus = {name: comparison(5, 5) for name in evaluations}
    sizes = {"int8": 84_656, "int8_selective": 297_880, "int8_float_head": 88_312}
    text = conclusions.selective(
        worst_layer="dense",
        kept_share=0.95,
        sizes=sizes,
        evaluations=evaluations,
        comparisons=comparisons,
        versus_int8=versus,
    )
    assert "the file is mostly float again" in text and "+3,656 against `int8`" in text
    assert "remove the ties entirely" in text
    evaluations["int8_float_head"] = evaluation(tied=4)
    still = conclusions.selective(
        worst_layer="conv1",
        kept_share=0.01,
        sizes=sizes,
        evaluations=evaluations,
        comparisons=comparisons,
        versus_int8=versus,
    )
    assert "still tie" in still and "mostly float" not in still


def test_per_class_reports_corrected_changes_or_none():
    labels = np.repeat(np.arange(10), 1000)
    reference = labels.copy()
    model = labels.copy()
    shirts = np.flatnonzero(labels == 6)[:60]
    model[shirts] = 0  # 60 shirts wrong: a measurable change
    from helpers.stats import per_class_comparisons

    tests = per_class_comparisons(model, reference, labels)
    text = conclusions.per_class(tests, "`a`", "`b`")
    assert "measurable changes in Shirt -6.0 pp" in text and "Benjamini-Hochberg" in text
    calm = conclusions.per_class(per_class_comparisons(reference, reference, labels), "`a`", "`b`")
    assert "no class changes measurably" in calm
    assert "tie rule" not in text  # ties unknown
    tied = np.zeros(len(labels), bool)
    tied[shirts[:40]] = True
    tied_text = conclusions.per_class(
        per_class_comparisons(model, reference, labels, tied=tied), "`a`", "`b`"
    )
    assert "40 of 60 are tied outputs" in tied_text and "the tie rule" in tied_text
    tied[shirts[20:40]] = False
    few = conclusions.per_class(
        per_class_comparisons(model, reference, labels, tied=tied), "`a`", "`b`"
    )
    assert "tie rule" not in few  # 20 of 60: not most of the pattern


def test_seeds_quote_the_study_or_say_it_is_one_seed():
    assert "one training run" in conclusions.seeds(None)
    study = {
        "seeds": [1, 2, 3],
        "summary": {key: {"mean": 0.1, "min": -0.2, "max": 0.4} for key in conclusions.SEED_FIELDS},
    }
    text = conclusions.seeds(study)
    assert "Across the 3 training seeds" in text and "not an interval" in text
    assert "+0.10 pp on average (lowest -0.20, highest +0.40)" in text
    assert "per-tensor dense weights (like for like)" in text  # both QAT comparisons quoted
    assert "the control's per-channel PTQ int8" in text
    older = {**study, "summary": {k: v for k, v in study["summary"].items() if "tensor" not in k}}
    assert "like for like" not in conclusions.seeds(older)  # a study without the field


def test_control_in_band_or_not():
    ok = {"ratio": 0.99, "ci": [0.95, 1.03], "band": [0.9, 1.1], "ok": True}
    assert "equivalent within that band." in conclusions.control(ok, 0.05)
    off_one = conclusions.control({**ok, "ci": [0.941, 0.993]}, 0.06)
    assert "though the interval excludes 1.00" in off_one
    noisy = {**ok, "ci": [0.85, 1.09], "ok": False}
    assert "too noisy during this study" in conclusions.control(noisy, 0.15)
    assert "another study in the same run can move a ratio further" in conclusions.control(ok, 0.05)


def test_padding_finding_shapes_the_sentence():
    finding = {
        "block": 8,
        "from": 1,
        "to": 8,
        "int8_growth": 1.01,
        "float32_growth": 3.8,
        "int8_at_one": 18.1,
        "float32_at_one": 3.0,
        "block_cost_us": 0.3,
    }
    text = conclusions.padding(finding)
    assert "paying for a whole block" in text and "requantization" in text
    assert "17.80 µs" in text and "1 channel " in text
    blurred = conclusions.padding({**finding, "int8_growth": 2.0, "block_cost_us": None})
    assert "does not show the flat-then-step pattern" in blurred and "requantization" not in blurred


def test_layers_calls_a_tie_a_tie():
    finding = {
        "totals": {d: {"sum of layers": 18.0, "whole model": 20.0} for d in ("float32", "int8")},
        "slowest": "conv1",
        "slowest_time_ratio": 1.02,
        "slowest_time_ratio_ci": [0.95, 1.1],
        "slowest_coverage": 0.961,
        "heaviest_float": "conv2",
        "heaviest_float_us": 6.3,
        "biggest_saving": "pool1",
        "biggest_saving_us": 3.4,
        "biggest_saving_share": 0.45,
        "biggest_saving_macs": 0,
    }
    text = conclusions.layers(finding, 256)
    assert "no measurable difference" in text and "no multiply-adds at all" in text
    slower = conclusions.layers(
        {**finding, "slowest_time_ratio_ci": [1.5, 2.0], "biggest_saving_macs": 5}, 256
    )
    assert "int8 is measurably slower" in slower and "multiply-adds at all" not in slower


def test_qat_conclusion_attributes_granularity_from_gzip_sizes():
    versus = {
        "qat_int8 vs qat_keras": comparison(1, 1),
        "control_keras vs keras_float": comparison(170, 90),
        "qat_int8 vs control_int8_per_tensor (like for like)": comparison(20, 15),
        "control_int8_per_tensor vs control_keras": comparison(10, 20),
    }
    evaluations = {"qat_keras": evaluation(0.917), "qat_int8": evaluation(0.917)}
    sizes = pd.DataFrame(
        {
            "gzip bytes": {
                "qat_int8": 60_366,
                "control_int8_per_tensor": 60_416,
                "control_int8": 73_100,
            }
        }
    )
    before = {"accuracy": 0.1, "classes": 1, "fixed_input_accuracy": 0.9077}
    text = conclusions.qat(
        qat_epochs=2,
        before=before,
        evaluations=evaluations,
        versus=versus,
        sizes=sizes,
        seed_study=None,
    )
    assert "in 1 of the 10 classes" in text and "follows the dense layers' granularity" in text
    assert "`control_keras` beats `keras_float`" in text and "one training run" in text
    sizes.loc["qat_int8", "gzip bytes"] = 70_000
    assert "do not split by granularity alone" in conclusions.qat(
        qat_epochs=2,
        before=before,
        evaluations=evaluations,
        versus=versus,
        sizes=sizes,
        seed_study=None,
    )


@pytest.mark.parametrize("names", [["a"], ["a", "b"], ["a", "b", "c"]])
def test_join(names):
    assert conclusions._join(names) == {1: "a", 2: "a and b", 3: "a, b and c"}[len(names)]


def keras3_text(tmp_path, tflm=None, twin_tflm=None, export_error="ConverterError: no", **extra):
    files, twins = {}, {}
    for name, twin, size, twin_size in (
        ("keras3_float32", "float32", 1_100, 1_000),
        ("keras3_int8", "int8", 600, 500),
    ):
        files[name] = tmp_path / f"{name}.tflite"
        files[name].write_bytes(b"x" * size)
        twins[name] = tmp_path / f"{twin}.tflite"
        twins[name].write_bytes(b"x" * twin_size)
    rounds = {"latency_rounds": [1.0] * 6, "throughput_rounds": [1.0] * 6}
    timing = {
        "settings": {"batch_size": 256},
        "variants": {
            "keras3_float32": {
                "latency_rounds": [1.5, 1.6, 1.5, 1.4, 1.5, 1.6],
                "throughput_rounds": [0.96, 0.95, 0.96, 0.97, 0.96, 0.96],
            },
            "float32": rounds,
            "keras3_int8": {
                "latency_rounds": [1.0, 1.01, 0.99, 1.0, 1.02, 0.98],
                "throughput_rounds": [1.0] * 6,
            },
            "int8": rounds,
        },
    }
    return conclusions.keras3(
        same=1.0,
        evaluations={name: evaluation(0.91) for name in files},
        versus_parent={name: comparison(0, 0) for name in files},
        twins=twins,
        files=files,
        timing=timing,
        touched=["dense", "probabilities"],
        skipped=["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten"],
        quantized_accuracy=0.9101,
        export_error=export_error,
        tflm=tflm,
        twin_tflm=twin_tflm,
        **extra,
    )


def test_keras3_conclusion_says_when_its_control_failed(tmp_path):
    noisy = {"ratio": 1.015, "ci": [0.985, 1.115], "band": [0.9, 1.1], "ok": False}
    text = keras3_text(tmp_path, control=noisy)
    assert "measured 1.01× (95% interval 0.98–1.11), outside the 0.9–1.1 band" in text
    assert "resolves only differences of about 12%" in text
    calm = keras3_text(tmp_path, control={**noisy, "ci": [0.97, 1.03], "ok": True})
    assert "outside" not in calm and "resolves speed differences of about 5%" in calm


def tflm_fields(runs=True, arena=33_056, agreement=0.9989, untied=0, error=None):
    return {
        "tflm_runs": runs,
        "tflm_error": error,
        "tflm_arena_bytes": arena if runs else None,
        "tflm_agreement_with_litert": agreement if runs else None,
        "tflm_untied_disagreements": untied if runs else None,
    }


def test_keras3_conclusion_follows_sizes_speed_and_the_export(tmp_path):
    text = keras3_text(tmp_path)
    assert "1,100 bytes (+100 against `float32`)" in text
    assert "takes 1.50× `float32`'s time at batch 1 (95% interval" in text
    assert "1.40–1.60: slower)" in text  # 50% slower: beyond the 5% the study resolves
    # 4% lower throughput, measurably, but not beyond the 5% margin: not a ranking
    assert "0.96× its throughput at batch 256 (0.95–0.97: within what this study resolves)" in text
    assert "`int8`'s time at batch 1" in text and "Keras 3's `Flatten`" in text
    assert "`dense` and `probabilities`" in text
    assert "warned that InputLayer, Conv2D (×2), MaxPooling2D (×2) and Flatten have no" in text
    assert "each file stores the same weights and scales as its twin" in text
    assert "fails (ConverterError: no)" in text
    assert "TFLM" not in text  # no microcontroller sentence without the measurement
    assert "succeeded in this run" in keras3_text(tmp_path, export_error=None)


def test_keras3_conclusion_reports_tflm_against_the_twins(tmp_path):
    twin_tflm = {"int8": {"tflm_arena_bytes": 32_608}, "float32": {"tflm_arena_bytes": 117_632}}
    text = keras3_text(
        tmp_path,
        tflm={
            "keras3_float32": tflm_fields(arena=118_080, agreement=1.0),
            "keras3_int8": tflm_fields(),
        },
        twin_tflm=twin_tflm,
    )
    assert "`keras3_int8` in an arena of 33,056 bytes (+448 against `int8`)" in text
    assert "99.89% of the images (every difference a tied output)" in text
    assert "`keras3_float32` in an arena of 118,080 bytes (+448 against `float32`)" in text
    assert "100.00% of the images." in text
    text = keras3_text(
        tmp_path,
        tflm={
            "keras3_float32": tflm_fields(runs=False, error="DEQUANTIZE refused"),
            "keras3_int8": tflm_fields(agreement=0.7, untied=3000),
        },
        twin_tflm={},
    )
    assert "TFLM does not run `keras3_float32`: DEQUANTIZE refused." in text
    assert "3,000 of the differences untied" in text and "against" not in text.split("TFLM runs")[1]


def test_sweep_clause_says_what_share_padding_takes():
    finding = {"block": 64, "int8_at_one": 10.0, "block_cost_us": 2.0}
    assert "most of its int8 time in a cost per output value" in conclusions._sweep_clause(finding)
    heavy = conclusions._sweep_clause({**finding, "block_cost_us": 7.0})
    assert "one block of 64 channels is 70% of the 1-channel int8 convolution's time" in heavy
    assert "did not go past one block" in conclusions._sweep_clause(
        {**finding, "block_cost_us": None}
    )


def below8_row(name, *, ratio=0.15, latency=1.0, ci=(0.98, 1.02), caveat=None, bound=0.1):
    return {
        "name": name,
        "kind": "tflite",
        "role": "variant",
        "parent": "float32",
        "ratio_to_float32": ratio,
        "delta_vs_parent_pp": -0.1,
        "delta_vs_parent_ci95_pp": [-0.3, 0.1],
        "p_value_vs_parent": 0.4,
        "verdict_vs_parent": "tie",
        "latency_ms_batch1": 0.02,
        "latency_ratio": latency,
        "latency_ratio_ci": list(ci),
        "caveat": caveat,
        "noninferiority_test": {
            "lower_bound_pp": bound,
            "p_value": 0.01,
            "non_inferior": bound > -0.3,
            "borderline": False,
        },
    }


def below8_text(rows, int4_layers, plans):
    sensitivity = pd.DataFrame(
        {"lower 95% bound (pp)": [-0.4, -0.38]}, index=pd.Index(["conv2", "dense"])
    )
    return conclusions.below8(
        rows=rows,
        ledger=SimpleNamespace(data=SimpleNamespace(y_val=np.zeros(6000))),
        int4_layers=int4_layers,
        sensitivity=sensitivity,
        size_target=0.16,
        checks={},
        int2_keras_accuracy=0.3,
        int2_keras_classes=4,
        plans=plans,
        int4_vs_builtin={"median": 0.6, "ci": [0.58, 0.62]},
        recommendation={"size": {"name": None}},
    )


def test_below8_conclusion_without_a_mixed_file_and_with_speed_lists():
    rows = {
        "aeq_int8_weights": below8_row("aeq_int8_weights", latency=0.99, ci=(0.985, 0.995)),
        "aeq_int4_weights": below8_row("aeq_int4_weights", latency=1.6, ci=(1.55, 1.65)),
        "aeq_int4_asym": below8_row("aeq_int4_asym"),
        "aeq_int4_blockwise": below8_row("aeq_int4_blockwise", latency=0.89, ci=(0.88, 0.91)),
    }
    plans = {
        "aeq_int4_weights": {
            "delegated": ["MAX_POOL_2D", "RESHAPE", "SOFTMAX", "MAX_POOL_2D"],
            "builtin": ["DEQUANTIZE", "CONV_2D", "FULLY_CONNECTED"],
        },
        "aeq_int4_asym": {"delegated": ["CONV_2D"], "builtin": []},
        "aeq_int8_weights": {"delegated": ["CONV_2D"], "builtin": []},
        "aeq_int4_blockwise": {"delegated": ["FULLY_CONNECTED"], "builtin": []},
    }
    text = below8_text(rows, [], plans)
    assert "no layer: none passed alone (the closest, dense" in text
    assert "no separate file is made" in text and "On the test set the mixed file" not in text
    # 1% faster, measurably: below the 5% this tutorial ranks, so not listed
    assert "faster than float32 by more than 5%: `aeq_int4_blockwise` (0.89×);" in text
    assert "slower by more than that: `aeq_int4_weights` (1.60×)" in text
    assert "so its CONV_2D and FULLY_CONNECTED layers run on the built-in kernels" in text
    assert "Weight-only int4 is a storage format here" in text
    rows["aeq_int4_mixed"] = below8_row("aeq_int4_mixed", bound=-0.28)
    plans["aeq_int4_weights"] = {"delegated": ["CONV_2D"], "builtin": []}
    text = below8_text(rows, ["conv2"], plans)
    assert "int4 on conv2, int8 on the rest" in text
    assert "On the test set the mixed file `aeq_int4_mixed` ties with `float32`" in text
    assert "storage format" not in text  # XNNPACK took everything: no such claim
