"""A small trained model and its TFLite conversions, shared by the unit tests (seconds).

The converter settings here mirror notebook 03's cells; the smoke tests check that the files the
notebooks themselves write have the promised types.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.data import load_preprocessed
from helpers.model import build_baseline_cnn, compile_classifier, seed_everything


@pytest.fixture(scope="session")
def small_data():
    data = load_preprocessed(None, train_limit=2000)
    return data.x_train, data.y_train, data.x_test[:500], data.y_test[:500]


@pytest.fixture(scope="session")
def small_images(small_data):
    return small_data[2]


@pytest.fixture(scope="session")
def trained(small_data):
    x_train, y_train, _, _ = small_data
    seed_everything(0)
    model = compile_classifier(build_baseline_cnn())
    model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
    return model


def convert(model, variant: str, calibration: np.ndarray | None = None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float32":
        return converter.convert()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in ("int8", "int16x8"):

        def representative_dataset():
            for image in calibration:
                yield [image[None, ...]]

        converter.representative_dataset = representative_dataset
    if variant == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if variant == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    return converter.convert()


@pytest.fixture(scope="session")
def converted(trained, small_data):
    calibration = small_data[0][:100]
    return {
        variant: convert(trained, variant, calibration)
        for variant in ("float32", "dynamic_range", "float16", "int8", "int16x8")
    }


@pytest.fixture(scope="session")
def tiny_tflite_models(converted):
    return {name: converted[name] for name in ("float32", "float16", "int8")}
