"""Smoke test: the whole chain with the quick parameters, judged by what it recorded."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import artifacts, summary, tflite_file
from helpers.data import load_preprocessed
from helpers.evaluate import LiteRTModel, accuracy
from helpers.stats import compare_predictions
from tests.smoke.conftest import load

pytestmark = pytest.mark.smoke

LAYERS = ["conv1", "pool1", "conv2", "pool2", "flatten", "dense", "probabilities"]


def test_every_notebook_recorded_its_results(quick_chain):
    for name in (
        "dataset.json",
        "test_labels.npy",
        "baseline_metrics.json",
        "ptq_metrics.json",
        "qat_metrics.json",
        "comparison_metrics.json",
        "speed_metrics.json",
        "below8_metrics.json",
        "summary.json",
        "summary.md",
    ):
        assert (quick_chain / name).is_file(), name
    assert not [p for p in quick_chain.rglob(".*") if p.is_file()], "temporary files left"


def test_dataset_facts(quick_chain):
    facts = load(quick_chain, "dataset.json")
    assert facts["train_examples"] == 60_000 and facts["test_examples"] == 10_000
    assert facts["train_class_counts"] == [6000] * 10
    assert np.bincount(np.load(quick_chain / "test_labels.npy")).tolist() == [1000] * 10


def test_baseline_learned_something(quick_chain):
    metrics = load(quick_chain, "baseline_metrics.json")
    # One epoch on 3,000 images: far from the full run, far above chance (10%).
    assert 0.5 < metrics["keras_test_accuracy"] <= 1.0
    assert metrics["params"]["EPOCHS"] == 1 and metrics["params"]["TRAIN_LIMIT"] == 3000
    assert metrics["validation_images"] == [2700, 3000]  # Keras' split of the 3,000 images
    assert len(np.load(quick_chain / "validation_labels.npy")) == 300
    sizes = metrics["keras_file_bytes"]
    assert sizes["with_optimizer"] > sizes["without_optimizer"] > 0


@pytest.fixture(scope="module")
def test_images_and_labels():
    data = load_preprocessed(None)
    return data.x_test, data.y_test


@pytest.fixture(scope="module")
def models(quick_chain):
    return summary.collect(quick_chain, only=summary.MODEL_NOTEBOOKS)[0]


def test_recorded_predictions_equal_a_fresh_evaluation(quick_chain, models, test_images_and_labels):
    x_test, y_test = test_images_and_labels
    tflite = {name: e for name, e in models.items() if e["file"].endswith(".tflite")}
    assert {"float32", "int8", "int16x8", "int8_selective", "qat_int8", "control_int8"} <= set(
        tflite
    )
    for name, entry in tflite.items():
        # The first 2,000 images: enough to catch a file that changed, a fifth of the time.
        fresh = LiteRTModel(quick_chain / entry["file"]).predict(x_test[:2000])
        recorded = np.load(quick_chain / entry["predictions"])
        assert np.array_equal(fresh, recorded[:2000]), name
        assert accuracy(recorded, y_test) == pytest.approx(entry["test_accuracy"], abs=1e-12), name


def weights(content: bytes) -> dict[str, dict]:
    return {
        r["layer"]: r
        for r in tflite_file.constants_table(content, LAYERS)
        if r["role"] == "weights"
    }


def activation_types(content: bytes) -> set[str]:
    infos = tflite_file.tensors(content)
    return {t.dtype for t in infos if not t.is_constant}


def test_each_file_has_the_settings_its_notebook_promised(quick_chain):
    """Catches a notebook whose converter cell and file disagree (e.g. int8 without int8 I/O)."""
    files = {p.stem: p.read_bytes() for p in quick_chain.glob("*.tflite")}
    io = {
        name: (LiteRTModel(c).input_dtype.name, LiteRTModel(c).output_dtype.name)
        for name, c in files.items()
    }
    assert io["float32"] == io["dynamic_range"] == io["float16"] == ("float32", "float32")
    assert io["int8"] == io["qat_int8"] == io["control_int8"] == ("int8", "int8")
    assert io["int16x8"] == ("float32", "float32")
    assert io["int8_selective"] == ("int8", "int8")  # fully_quantize=True
    assert io["int8_float_head"] == ("float32", "float32")  # fully_quantize=False: float logits
    assert {r["dtype"] for r in weights(files["float32"]).values()} == {"float32"}
    assert {r["dtype"] for r in weights(files["float16"]).values()} == {"float16"}
    assert "DEQUANTIZE" in tflite_file.op_counts(files["float16"])
    dynamic = {layer: r["dtype"] for layer, r in weights(files["dynamic_range"]).items()}
    assert dynamic["dense"] == "int8" and activation_types(files["dynamic_range"]) == {"float32"}
    assert {r["dtype"] for r in weights(files["int8"]).values()} == {"int8"}
    assert activation_types(files["int8"]) == {"int8"}  # full integer: no float tensor anywhere
    assert "int16" in activation_types(files["int16x8"])
    assert "bias int64" in tflite_file.constant_bytes(files["int16x8"])
    selective = {layer: r["dtype"] for layer, r in weights(files["int8_selective"]).items()}
    assert "float32" in selective.values() and "int8" in selective.values()
    assert weights(files["qat_int8"])["dense"]["scales"] == 1  # tfmot: per-tensor dense
    assert weights(files["control_int8_per_tensor"])["dense"]["scales"] == 1
    assert weights(files["control_int8"])["dense"]["scales"] == 125  # converter: per-channel


def test_summary_holds_every_model_with_its_statistics(quick_chain, models):
    result = load(quick_chain, "summary.json")
    rows = {row["name"]: row for row in result["variants"]}
    assert list(rows) == list(models)
    labels = np.load(quick_chain / "test_labels.npy")
    for name, row in rows.items():
        assert row["size_bytes"] > 0 and row["gzip_size_bytes"] > 0, name
        if name != "aeq_int2":  # two bits collapse by design (notebook 07)
            assert 0.5 < row["test_accuracy"] <= 1.0, name
        if row["parent"] is None:
            continue
        mine = np.load(quick_chain / models[name]["predictions"])
        parent = np.load(quick_chain / models[row["parent"]]["predictions"])
        expected = compare_predictions(mine, parent, labels)
        assert row["p_value_vs_parent"] == pytest.approx(expected.p_value), name
        assert row["delta_vs_parent_ci95_pp"] == pytest.approx(list(expected.ci95_pp)), name
        assert row["agreement_with_parent"] == pytest.approx(expected.agreement), name
    for name in ("float32", "dynamic_range", "float16", "int8", "int16x8", "qat_int8"):
        row = rows[name]
        assert row["throughput_ips"] > 0 and row["latency_ms_batch1"] > 0, name
        low, high = row["throughput_ratio_ci"]
        assert low <= row["throughput_ratio"] <= high, name
        q1, q3 = row["throughput_ips_iqr"]
        assert q1 <= row["throughput_ips"] <= q3, name
    size = {name: row["size_bytes"] for name, row in rows.items()}
    assert size["float32"] > size["float16"] > size["int8"] > 0
    assert size["int8"] <= 0.3 * size["float32"] and size["float16"] <= 0.52 * size["float32"]
    assert rows["float32"]["agreement_with_parent"] == 1.0  # same maths as Keras
    assert rows["qat_int8"]["parent"] == "qat_keras"
    assert rows["control_int8"]["parent"] == "control_keras"
    assert result["environment"]["tensorflow"] == "2.21.0"
    assert result["params"]["02_baseline_cnn"]["EPOCHS"] == 1
    assert set(result["recommendation"]) >= {"size", "accuracy", "speed"}
    assert result["speed_control"]["name"] == "float16"
    assert "| int8 | keras_float |" in (quick_chain / "summary.md").read_text()
    for name, row in rows.items():
        if row["kind"] == "tflite":
            tied = np.load(quick_chain / f"predictions/{name}.tied.npy")
            assert row["tied_outputs"] == int(tied.sum()), name
            assert row["noninferiority_validation"]["images"] == 300, name


def test_calibration_study_and_layer_errors_were_recorded(quick_chain):
    ptq = load(quick_chain, "ptq_metrics.json")
    study = ptq["calibration_study"]
    draws = ptq["params"]["CALIBRATION_DRAWS"]
    sizes = set(ptq["params"]["CALIBRATION_STUDY"]) | {ptq["params"]["CALIBRATION_SAMPLES"]}
    assert len(study) == draws * len(sizes)
    assert ptq["calibration_finding"]["threshold_samples"] in sizes | {None}
    assert {row["verdict vs int8"] for row in study} <= {"tie", "better", "worse"}
    layers = {row["layer"] for row in ptq["layer_errors"]}
    assert {"conv1", "conv2", "dense", "probabilities"} <= layers
    assert ptq["selective"]["kept_float"] in layers


def test_qat_before_finetuning_collapses_to_one_class(quick_chain):
    qat = load(quick_chain, "qat_metrics.json")
    assert qat["before_finetuning"]["input_range"] == [0.0, 0.0]
    assert qat["before_finetuning"]["distinct_predictions"] == 1


def test_figures_were_written(quick_chain):
    figures = {p.name for p in (quick_chain / "figures").glob("*.png")}
    for expected in (
        "01_class_balance.png",
        "02_training_curves.png",
        "03_layer_errors.png",
        "03_calibration_study.png",
        "04_per_class_change.png",
        "05_size_vs_accuracy.png",
        "05_speed.png",
        "05_confusion_int8.png",
        "05_prediction_grid.png",
        "06_batch_curve.png",
        "07_frontier.png",
    ):
        assert expected in figures
    assert artifacts.PREDICTIONS_DIR in {p.name for p in quick_chain.iterdir()}


def test_speed_notebook_recorded_its_analysis(quick_chain):
    speed = load(quick_chain, "speed_metrics.json")
    (fix_name,) = speed["models"]
    assert fix_name == f"int8_float_{speed['layer_finding']['slowest']}"
    assert (quick_chain / f"{fix_name}.tflite").is_file()
    assert {row["layer"] for row in speed["per_layer"]} >= {"conv1", "pool1", "dense"}
    for dtype in ("float32", "int8"):
        totals = speed["per_layer_totals"][dtype]
        assert totals["sum of layers"] > 0 and totals["whole model"] > 0
    conv1 = next(row for row in speed["work"] if row["layer"] == "conv1")
    kernel = speed["machine"]["expected_int8_kernel"]
    kr, block = (kernel["kr"], kernel["channel_block"]) if kernel else (8, 8)  # default off x86
    # 1 input channel: padded to kr for the multiplies, one block per tap for the time
    assert conv1[f"int8 multiply-adds, channels padded to {kr}"] == kr * conv1["multiply-adds"]
    assert conv1[f"int8 blocks of {block} channels per tap"] == 1
    finding = speed["layer_finding"]
    if finding["slowest"] == "conv1":
        assert finding["slowest_block_factor"] == block
    rows = {row["name"]: row for row in load(quick_chain, "summary.json")["variants"]}
    assert rows[fix_name]["speed_measured_in"] == "06_speed"
    assert rows[fix_name]["input_dtype"] == "int8"  # fully_quantize=True kept int8 I/O
    # 06's study ranks the candidates: 03's and 04's files are timed there too, at batch 1 first.
    summary_json = load(quick_chain, "summary.json")
    assert rows["int8"]["speed_measured_in"] == rows["qat_int8"]["speed_measured_in"] == "06_speed"
    assert summary_json["recommendation"]["speed"]["study"] == "06_speed"
    assert fix_name in summary_json["recommendation"]["speed"]["timed"]


def test_below_8_bits_notebook_recorded_its_files(quick_chain):
    below8 = load(quick_chain, "below8_metrics.json")
    mixed = {"aeq_int4_mixed"} if below8["int4_layers"] else set()  # no layer: no duplicate file
    assert set(below8["models"]) == {
        "aeq_int8_weights",
        "aeq_int4_weights",
        "aeq_int4_asym",
        "aeq_int4_blockwise",
        "aeq_static_int8",
        "aeq_int2",
        "aeq_int2_dense",
        *mixed,
    }
    assert (quick_chain / "aeq_int4_mixed.tflite").is_file() == bool(mixed)
    assert "not divisible by block size" in below8["blockwise_error"]
    files = {name: (quick_chain / f"{name}.tflite").read_bytes() for name in below8["models"]}
    assert {r["dtype"] for r in weights(files["aeq_int4_weights"]).values()} == {"int4"}
    assert {r["dtype"] for r in weights(files["aeq_int8_weights"]).values()} == {"int8"}
    assert len(files["aeq_int4_weights"]) < 0.6 * len(files["aeq_int8_weights"])
    rows = {row["name"]: row for row in load(quick_chain, "summary.json")["variants"]}
    assert rows["aeq_int4_weights"]["parent"] == "float32"
    assert rows["aeq_int4_weights"]["speed_measured_in"] == "07_below_8_bits"
    # The int2 convolution is a runtime defect, named as one and kept out of the picks.
    assert rows["aeq_int2"]["caveat"].startswith("runtime defect")
    assert "conv2d_int2_filter.py" in rows["aeq_int2"]["caveat"]
    recommendation = load(quick_chain, "summary.json")["recommendation"]
    assert "aeq_int2" in recommendation["excluded"]
    picked = {recommendation["size"]["name"], recommendation["accuracy"]["name"]}
    assert not picked & set(recommendation["excluded"])


def test_tied_outputs_agree_with_an_independent_count(quick_chain, test_images_and_labels):
    """Count ties afresh from the int8 file's own outputs, without the notebooks' helpers that
    recorded them: the summary must say the same."""
    x_test, _ = test_images_and_labels
    rows = {row["name"]: row for row in load(quick_chain, "summary.json")["variants"]}
    for name in ("int8", "int16x8", "float32"):
        scores = LiteRTModel(quick_chain / f"{name}.tflite").predict_proba(x_test)
        top = scores.max(axis=1, keepdims=True)
        assert rows[name]["tied_outputs"] == int(np.sum((scores == top).sum(axis=1) > 1)), name
    assert rows["float32"]["tied_outputs"] == 0


def test_microcontroller_fields_and_refusals_are_recorded(quick_chain):
    rows = {row["name"]: row for row in load(quick_chain, "summary.json")["variants"]}
    tflite = {name: row for name, row in rows.items() if row["kind"] == "tflite"}
    for name, row in tflite.items():
        for field in ("tflm_runs", "tflm_error", "tflm_arena_bytes", "tflm_accuracy"):
            assert field in row, (name, field)
        assert "tflm_agreement_with_litert" in row, name
    assert rows["int8"]["tflm_runs"] and rows["float32"]["tflm_runs"]
    assert rows["int8"]["tflm_arena_bytes"] <= rows["float32"]["tflm_arena_bytes"] / 2
    assert "Hybrid models are not supported" in rows["dynamic_range"]["tflm_error"]
    assert (
        "DEQUANTIZE" in rows["float16"]["tflm_error"]
        or "dequantize" in rows["float16"]["tflm_error"]
    )
    assert rows["int8"]["tflm_agreement_with_litert"] > 0.99


def test_the_int8_model_as_c_source_compiles_and_matches_the_file(quick_chain, tmp_path):
    import shutil
    import subprocess

    from tests.unit.test_mcu import MAIN_CC, _fnv1a

    compiler = shutil.which("g++")
    assert compiler, "notebook 08's C source needs a C++ compiler to check (apt-get install g++)"
    for name in ("int8_model.h", "int8_model.cc"):
        shutil.copy(quick_chain / "mcu" / name, tmp_path / name)
    (tmp_path / "main.cc").write_text(MAIN_CC)
    subprocess.run(
        [compiler, "-std=c++17", "-o", "check", "main.cc", "int8_model.cc"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    printed = subprocess.run(
        [str(tmp_path / "check")], check=True, capture_output=True, text=True
    ).stdout
    length, checksum, misalignment = (int(v) for v in printed.split())
    content = (quick_chain / "int8.tflite").read_bytes()
    assert (length, checksum, misalignment) == (len(content), _fnv1a(content), 0)


def test_keras3_files_join_the_summary_with_their_parent(quick_chain):
    rows = {row["name"]: row for row in load(quick_chain, "summary.json")["variants"]}
    for name in ("keras3_float32", "keras3_int8"):
        assert rows[name]["parent"] == "keras3_keras" and rows[name]["kind"] == "tflite"
        assert rows[name]["p_value_vs_parent"] is not None
    assert rows["keras3_keras"]["agreement_with_float"] == 1.0  # the baseline's weights, same model
    assert rows["keras3_int8"]["input_dtype"] == "int8"
