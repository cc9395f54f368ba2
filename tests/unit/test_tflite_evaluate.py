"""The LiteRT evaluator, the look inside .tflite files and the affine maths, on a small model."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import artifacts, tflite_file
from helpers.affine import dequantize_values, quantize_values, representable_range
from helpers.data import holdout_range, load_preprocessed
from helpers.errors import InvalidModelError
from helpers.evaluate import (
    LiteRTModel,
    accuracy,
    confusion_matrix,
    evaluate_keras,
    evaluate_tflite,
    execution_plan,
    per_class_accuracy,
    tie_credit_accuracy,
    tied_outputs,
    top_classes,
)

LAYERS = ["conv1", "pool1", "conv2", "pool2", "flatten", "dense", "probabilities"]
# Mean absolute difference allowed between the int8 model's dequantized probabilities and the
# Keras model's: one output quantization step is 1/256 ≈ 0.004; activations add a few more.
INT8_PROBABILITY_TOLERANCE = 0.02


def test_every_variant_runs(converted, small_images):
    for variant, content in converted.items():
        scores = LiteRTModel(content).predict_proba(small_images[:10])
        assert scores.shape == (10, 10), variant
        assert np.allclose(scores.sum(axis=1), 1, atol=0.05), variant


def test_int8_io_outputs_agree_with_keras(trained, converted, small_images):
    model = LiteRTModel(converted["int8"])
    assert model.input_dtype == np.int8 and model.output_dtype == np.int8
    scale, zero_point = model.input_quantization
    assert scale == pytest.approx(1 / 255, rel=0.05) and zero_point == -128
    keras_probabilities = trained.predict(small_images, verbose=0)
    int8_probabilities = model.predict_proba(small_images)
    assert np.abs(int8_probabilities - keras_probabilities).mean() < INT8_PROBABILITY_TOLERANCE
    assert np.mean(int8_probabilities.argmax(1) == keras_probabilities.argmax(1)) >= 0.95


def test_float32_matches_keras(trained, converted, small_images):
    keras_probabilities = trained.predict(small_images, verbose=0)
    tflite_probabilities = LiteRTModel(converted["float32"]).predict_proba(small_images)
    assert np.allclose(tflite_probabilities, keras_probabilities, atol=1e-4)


def test_constant_bytes_by_role_and_type(converted):
    stored = {variant: tflite_file.constant_bytes(c) for variant, c in converted.items()}
    assert max(stored["float32"], key=stored["float32"].get) == "weights float32"
    assert max(stored["float16"], key=stored["float16"].get) == "weights float16"
    for variant in ("dynamic_range", "int8", "int16x8"):
        assert max(stored[variant], key=stored[variant].get) == "weights int8", variant
    assert "bias int32" in stored["int8"] and "bias int64" in stored["int16x8"]
    assert "weights float32" in stored["dynamic_range"]  # conv1's kernel: below the threshold
    assert set(tflite_file.op_counts(converted["float16"])) >= {"DEQUANTIZE", "CONV_2D"}


def test_per_channel_scales_and_layers_are_found(converted):
    rows = tflite_file.constants_table(converted["int8"], LAYERS)
    weights = {r["layer"]: r for r in rows if r["role"] == "weights"}
    assert {layer: r["scales"] for layer, r in weights.items()} == {
        "conv1": 32,
        "conv2": 16,
        "dense": 125,
        "probabilities": 10,
    }
    activations = tflite_file.activations_table(converted["int8"], LAYERS)
    assert activations[0]["layer"] == "input" and activations[0]["zero point"] == -128
    softmax = activations[-1]
    assert softmax["made by"] == "SOFTMAX" and softmax["scale"] == 1 / 256


def test_stored_int8_kernel_is_the_float_kernel_rounded(trained, converted):
    kernel = trained.get_layer("dense").get_weights()[0].T
    info = tflite_file.find_weight_tensor(converted["int8"], kernel.shape)
    codes = tflite_file.read_constant(converted["int8"], info)
    assert np.all(info.zero_points == 0), "weights are quantized symmetrically"
    expected = quantize_values(kernel, info.scales, 0, axis=0)
    assert np.mean(codes == expected) > 0.999  # float rounding may differ on exact halves
    assert np.abs(dequantize_values(codes, info.scales, axis=0) - kernel).max() <= (
        info.scales.max() / 2 + 1e-6
    )


def test_affine_roundtrip_error_is_at_most_half_a_step():
    values = np.linspace(-1, 1, 1001, dtype=np.float32)
    scale, zero_point = 2 / 255, -1
    codes = quantize_values(values, scale, zero_point)
    assert codes.dtype == np.int8
    assert np.abs(dequantize_values(codes, scale, zero_point) - values).max() <= scale / 2 + 1e-6
    assert representable_range(1 / 255, -128) == pytest.approx((0.0, 1.0))


def test_partial_batches_give_the_same_predictions(converted, small_images):
    model = LiteRTModel(converted["int8"])
    whole = model.predict_proba(small_images[:37], batch_size=16)
    single = np.concatenate(
        [model.predict_proba(small_images[i : i + 1], batch_size=1) for i in range(37)]
    )
    assert np.array_equal(whole, single)


def test_execution_plan_shows_what_xnnpack_takes(converted):
    float_plan = execution_plan(converted["float32"])
    assert float_plan["builtin"] == [] and "CONV_2D" in float_plan["delegated"]
    assert execution_plan(converted["int16x8"])["delegated"] == []
    assert execution_plan(converted["float32"], resolver="builtin")["delegated"] == []


def test_not_a_model_is_refused(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_text("<html>not a model</html>")
    with pytest.raises(InvalidModelError, match="is not a TensorFlow Lite model"):
        LiteRTModel(path)
    with pytest.raises(InvalidModelError, match="does not exist"):
        LiteRTModel(tmp_path / "missing.tflite")


@pytest.fixture(scope="module")
def held_out_data():
    """3,000 training images with the last 10% held out, as notebook 02 splits them."""
    return load_preprocessed(None, train_limit=3000, validation_split=0.1)


def test_evaluate_tflite_records_test_and_held_out_predictions(tmp_path, converted, held_out_data):
    path = artifacts.write_bytes(tmp_path / "int8.tflite", converted["int8"])
    result = evaluate_tflite(path, held_out_data)
    record = result.record
    assert record["file"] == "int8.tflite" and record["size_bytes"] == len(converted["int8"])
    assert record["test_accuracy"] == accuracy(result.predictions, held_out_data.y_test)
    assert record["input_dtype"] == "int8"
    assert held_out_data.holdout == (2700, 3000) and len(result.validation_predictions) == 300
    assert record["tied_outputs"] == int(result.tied.sum())
    fresh = LiteRTModel(path).predict(held_out_data.x_val)
    assert np.array_equal(result.validation_predictions, fresh)


def test_evaluate_keras_matches_model_predict(trained, held_out_data):
    result = evaluate_keras(trained, held_out_data)
    expected = trained.predict(held_out_data.x_test, verbose=0).argmax(axis=1)
    assert np.array_equal(result.predictions, expected)
    assert result.record["size_bytes"] is None and result.record["tied_outputs"] == 0


def test_ties_are_found_and_split_fairly():
    scores = np.array(
        [
            [0.1, 0.5, 0.5, 0.0],  # tie between 1 and 2: argmax says 1
            [0.7, 0.1, 0.1, 0.1],  # no tie
            [0.3, 0.3, 0.3, 0.1],  # three-way tie
        ]
    )
    labels = np.array([2, 0, 0])
    assert tied_outputs(scores).tolist() == [True, False, True]
    assert top_classes(scores)[2].tolist() == [True, True, True, False]
    assert accuracy(scores.argmax(axis=1), labels) == pytest.approx(2 / 3)  # lowest index wins
    assert tie_credit_accuracy(scores, labels) == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)


def test_metrics():
    labels = np.array([0, 0, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 0])
    assert per_class_accuracy(predictions, labels)[:3].tolist() == [0.5, 1.0, 0.0]
    matrix = confusion_matrix(predictions, labels)
    assert matrix[0, 1] == 1 and matrix[2, 0] == 1 and matrix.sum() == 5


@pytest.mark.parametrize(("examples", "split"), [(60_000, 0.1), (3000, 0.1), (999, 0.3), (57, 0.2)])
def test_holdout_range_matches_tf_keras(examples, split):
    from tf_keras.src.engine import data_adapter

    x = np.arange(examples)
    (train_x,), (validation_x,) = data_adapter.train_validation_split((x,), split)
    start, stop = holdout_range(examples, split)
    assert np.array_equal(x[start:stop], validation_x) and start == len(train_x)


def test_quantization_fingerprint_ignores_layout_but_not_numbers(trained, small_data, converted):
    from tests.unit.conftest import convert

    again = convert(trained, "int8", small_data[0][:100])  # same model, same calibration
    other = convert(trained, "int8", small_data[0][100:200])  # other calibration images
    fingerprint = tflite_file.quantization_fingerprint
    assert fingerprint(again) == fingerprint(converted["int8"])
    assert fingerprint(other) != fingerprint(converted["int8"])  # activation ranges differ
    assert fingerprint(converted["float32"]) != fingerprint(converted["int8"])
