"""Converters, the LiteRT evaluator, the benchmark and the report, on a small quickly trained model."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import artifacts, quantize, report
from helpers.benchmark import benchmark
from helpers.data import load_prepared
from helpers.errors import InvalidModelError, ParameterError, StaleArtifactError
from helpers.evaluate import LiteRTModel, confusion_matrix, per_class_accuracy, score_predictions
from helpers.model import (
    build_baseline_cnn,
    compile_classifier,
    predict_proba,
    seed_everything,
    train,
)

# Mean absolute difference allowed between the int8 model's dequantized probabilities and the
# Keras model's: one output quantization step is 1/256 ≈ 0.004; activations add a few more.
INT8_PROBABILITY_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def small_data():
    data = load_prepared(None, train_limit=2000)
    return data.x_train, data.y_train, data.x_test[:500], data.y_test[:500]


@pytest.fixture(scope="module")
def trained(small_data):
    x_train, y_train, _, _ = small_data
    seed_everything(0)
    model = compile_classifier(build_baseline_cnn())
    train(model, x_train, y_train, epochs=1, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def converted(trained, small_data):
    calibration = quantize.representative_dataset(small_data[0], 100, seed=0)
    return {
        variant: quantize.convert(trained, variant, calibration)
        for variant in quantize.PTQ_VARIANTS
    }


def test_every_variant_converts_and_runs(converted, small_data):
    _, _, x_test, _ = small_data
    for variant, content in converted.items():
        scores = LiteRTModel(content).predict_proba(x_test[:10])
        assert scores.shape == (10, 10), variant
        assert np.allclose(scores.sum(axis=1), 1, atol=0.05), variant


def test_int8_io_outputs_agree_with_keras(trained, converted, small_data):
    _, _, x_test, _ = small_data
    model = LiteRTModel(converted["int8"])
    assert model.input_dtype == np.int8 and model.output_dtype == np.int8
    scale, zero_point = model.input_quantization
    assert scale == pytest.approx(1 / 255, rel=0.05) and zero_point == -128
    keras_probabilities = predict_proba(trained, x_test)
    int8_probabilities = model.predict_proba(x_test)
    assert np.abs(int8_probabilities - keras_probabilities).mean() < INT8_PROBABILITY_TOLERANCE
    agreement = np.mean(int8_probabilities.argmax(1) == keras_probabilities.argmax(1))
    assert agreement >= 0.95


def test_float32_matches_keras_exactly_in_class(trained, converted, small_data):
    _, _, x_test, _ = small_data
    keras_probabilities = predict_proba(trained, x_test)
    tflite_probabilities = LiteRTModel(converted["float32"]).predict_proba(x_test)
    assert np.allclose(tflite_probabilities, keras_probabilities, atol=1e-4)


def test_weights_are_stored_in_the_promised_type(converted):
    stored = {variant: quantize.weight_bytes_by_dtype(c) for variant, c in converted.items()}
    assert max(stored["float32"], key=stored["float32"].get) == "float32"
    assert max(stored["float16"], key=stored["float16"].get) == "float16"
    for variant in ("dynamic_range", "int8", "int16x8"):
        assert max(stored[variant], key=stored[variant].get) == "int8", variant
    assert len(converted["int8"]) < 0.3 * len(converted["float32"])


def test_stored_int8_kernel_is_the_float_kernel_rounded(trained, converted):
    kernel = trained.get_layer("dense").get_weights()[0].T
    info = quantize.find_weight_tensor(converted["int8"], kernel.shape)
    codes = quantize.read_constant(converted["int8"], info)
    scales = np.broadcast_to(info.scales.reshape(-1, 1), kernel.shape)
    assert np.all(info.zero_points == 0), "weights are quantized symmetrically"
    expected = np.clip(np.round(kernel / scales), -127, 127)
    assert np.mean(codes == expected) > 0.999  # float rounding may differ on exact halves
    assert np.abs(codes * scales - kernel).max() <= scales.max() / 2 + 1e-6


def test_affine_roundtrip_error_is_at_most_half_a_step():
    values = np.linspace(-1, 1, 1001, dtype=np.float32)
    scale, zero_point = 2 / 255, -1
    codes = quantize.quantize_values(values, scale, zero_point)
    assert codes.dtype == np.int8
    assert np.abs(quantize.dequantize_values(codes, scale, zero_point) - values).max() <= (
        scale / 2 + 1e-6
    )


def test_representative_dataset_yields_float_samples(small_data):
    generator = quantize.representative_dataset(small_data[0], 7, seed=1)
    samples = list(generator())
    assert len(samples) == 7
    assert all(s[0].shape == (1, 28, 28, 1) and s[0].dtype == np.float32 for s in samples)
    with pytest.raises(ParameterError, match="CALIBRATION_SAMPLES"):
        quantize.representative_dataset(small_data[0], 10**6)


def test_calibration_without_data_is_refused(trained):
    with pytest.raises(ValueError, match="representative"):
        quantize.make_converter(trained, "int8")


def test_partial_batches_give_the_same_predictions(converted, small_data):
    _, _, x_test, _ = small_data
    model = LiteRTModel(converted["int8"])
    whole = model.predict_proba(x_test[:37], batch_size=16)
    single = np.concatenate(
        [model.predict_proba(x_test[i : i + 1], batch_size=1) for i in range(37)]
    )
    assert np.array_equal(whole, single)


def test_not_a_model_is_refused(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_text("<html>not a model</html>")
    with pytest.raises(InvalidModelError, match="is not a TensorFlow Lite model"):
        LiteRTModel(path)
    with pytest.raises(InvalidModelError, match="does not exist"):
        LiteRTModel(tmp_path / "missing.tflite")


def test_layer_error_table(trained, small_data):
    calibration = quantize.representative_dataset(small_data[0], 50, seed=0)
    debug = quantize.representative_dataset(small_data[0], 20, seed=1)
    table = quantize.layer_error_table(trained, calibration, debug)
    assert {"CONV_2D", "FULLY_CONNECTED"} <= set(table["op_name"])
    assert table["rmse/scale"].is_monotonic_decreasing
    assert (table["rmse/scale"] >= 0).all()


def test_metrics():
    labels = np.array([0, 0, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 0])
    assert per_class_accuracy(predictions, labels)[:3].tolist() == [0.5, 1.0, 0.0]
    matrix = confusion_matrix(predictions, labels)
    assert matrix[0, 1] == 1 and matrix[2, 0] == 1 and matrix.sum() == 5
    record = score_predictions(predictions, labels, float_predictions=np.array([0, 0, 1, 1, 0]))
    assert record["test_accuracy"] == 0.6
    assert record["agreement_with_float"] == 0.8 and record["flipped_predictions"] == 1


def test_benchmark_reports_positive_speeds(tmp_path, converted, small_data):
    path = artifacts.write_bytes(tmp_path / "int8.tflite", converted["int8"])
    result = benchmark(
        path,
        small_data[2],
        latency_runs=5,
        warmup_runs=1,
        batch_size=64,
        throughput_batches=2,
        throughput_repeats=1,
    )
    assert result.latency_ms_batch1 > 0 and result.latency_ms_batch1_p90 >= result.latency_ms_batch1
    assert result.throughput_ips > 0 and result.throughput_images == 128
    with pytest.raises(ValueError, match="at least"):
        benchmark(path, small_data[2][:10], latency_runs=1, batch_size=64)


def test_recommendation_and_table():
    rows = [
        {"name": "float32", "size_bytes": 300, "test_accuracy": 0.90, "throughput_ips": 100},
        {"name": "int8", "size_bytes": 80, "test_accuracy": 0.899, "throughput_ips": 300},
        {"name": "tiny_but_bad", "size_bytes": 10, "test_accuracy": 0.80, "throughput_ips": 900},
    ]
    choice = report.recommend(rows, reference_accuracy=0.90)
    assert choice == {"size": "int8", "accuracy": "float32", "speed": "int8"}
    table = report.markdown_table([{"name": "x", "size_bytes": 1234, "test_accuracy": 0.5}])
    assert "| x | 1,234 | – |" in table and "50.00%" in table


def test_stale_baseline_is_named():
    artifacts.check_same_baseline("abc", {"ptq_metrics.json": "abc"})
    with pytest.raises(StaleArtifactError, match="re-run 04_quantization_aware_training"):
        artifacts.check_same_baseline("abc", {"ptq_metrics.json": "abc", "qat_metrics.json": "old"})
