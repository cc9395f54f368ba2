"""Smoke test: the whole chain with the quick parameters, judged by what it recorded."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from helpers import quantize
from helpers.data import load_prepared
from helpers.evaluate import LiteRTModel
from helpers.runner import NOTEBOOKS
from tests.smoke.conftest import load

pytestmark = pytest.mark.smoke


def test_every_notebook_ran_without_error(quick_chain):
    outputs = quick_chain.parent / "outputs"
    for name in NOTEBOOKS:
        notebook = nbformat.read(outputs / f"{name}.ipynb", as_version=4)
        errors = [
            o
            for c in notebook.cells
            if c.cell_type == "code"
            for o in c.outputs
            if o.output_type == "error"
        ]
        assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"


def test_dataset_facts(quick_chain):
    facts = load(quick_chain, "dataset.json")
    assert facts["train_examples"] == 60_000 and facts["test_examples"] == 10_000
    assert facts["train_class_counts"] == [6000] * 10
    assert facts["source"]


def test_baseline_learned_something(quick_chain):
    metrics = load(quick_chain, "baseline_metrics.json")
    # One epoch on 3,000 images: far from the full run, far above chance (10%).
    assert 0.5 < metrics["keras_test_accuracy"] <= 1.0
    assert metrics["params"]["EPOCHS"] == 1 and metrics["params"]["TRAIN_LIMIT"] == 3000
    assert len(metrics["baseline_fingerprint"]) == 16
    assert (quick_chain / "baseline.keras").stat().st_size > 0


@pytest.fixture(scope="module")
def test_images():
    data = load_prepared(None)
    return data.x_test, data.y_test


def test_recorded_accuracy_equals_a_fresh_evaluation(quick_chain, test_images):
    x_test, y_test = test_images
    recorded = {
        **load(quick_chain, "ptq_metrics.json")["variants"],
        "qat_int8": load(quick_chain, "qat_metrics.json")["qat_int8"],
    }
    assert set(recorded) == set(quantize.ALL_VARIANTS)
    for name in quantize.ALL_VARIANTS:
        model = LiteRTModel(quick_chain / f"{name}.tflite")
        fresh = float(np.mean(model.predict(x_test) == y_test))
        assert fresh == pytest.approx(recorded[name]["test_accuracy"], abs=1e-12), name


def test_integer_variants_have_integer_io(quick_chain):
    for name in ("int8", "qat_int8"):
        model = LiteRTModel(quick_chain / f"{name}.tflite")
        assert model.input_dtype == np.int8 and model.output_dtype == np.int8
    for name in ("float32", "dynamic_range", "float16", "int16x8"):
        assert LiteRTModel(quick_chain / f"{name}.tflite").input_dtype == np.float32


def test_summary_holds_every_variant_with_sane_values(quick_chain):
    summary = load(quick_chain, "summary.json")
    variants = {v["name"]: v for v in summary["variants"]}
    assert list(variants) == list(quantize.ALL_VARIANTS)
    for name, v in variants.items():
        for key in (
            "path",
            "size_bytes",
            "test_accuracy",
            "agreement_with_float",
            "latency_ms_batch1",
            "throughput_ips",
            "input_dtype",
        ):
            assert key in v, f"{name} lacks {key}"
        assert v["size_bytes"] > 0 and v["gzip_size_bytes"] > 0
        assert 0.5 < v["test_accuracy"] <= 1.0, name
        assert 0.0 <= v["agreement_with_float"] <= 1.0, name
        assert v["latency_ms_batch1"] > 0 and v["throughput_ips"] > 0, name
    size = {name: v["size_bytes"] for name, v in variants.items()}
    assert size["float32"] > size["float16"] > size["int8"]
    assert size["float32"] > size["float16"] > size["dynamic_range"]
    assert size["float32"] > size["float16"] > size["int16x8"]
    assert size["float32"] > size["float16"] > size["qat_int8"]
    assert size["int8"] <= 0.3 * size["float32"]
    assert size["float16"] <= 0.52 * size["float32"]
    assert variants["float32"]["agreement_with_float"] == 1.0  # same math as Keras
    assert variants["int8"]["input_dtype"] == "int8"
    assert summary["baseline"]["keras_test_accuracy"] == pytest.approx(
        variants["float32"]["test_accuracy"], abs=0.002
    )
    assert summary["dataset"]["test_examples"] == 10_000
    assert summary["environment"]["tensorflow"] == "2.21.0"
    assert summary["params"]["baseline"]["EPOCHS"] == 1
    assert set(summary["recommendation"]) == {"size", "accuracy", "speed"}
    assert "| int8 |" in (quick_chain / "summary.md").read_text()


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
    ):
        assert expected in figures
