"""Quantization-aware training with ``tensorflow-model-optimization``.

``quantize_model`` wraps each layer so that, during training, weights and activations pass
through *fake quantization*: they are rounded to the int8 grid in the forward pass while the
gradients flow as if no rounding happened (straight-through estimator). The model learns weights
that survive rounding, and learns the activation ranges the converter would otherwise have to
estimate from calibration data.

A QAT model does not round-trip through the ``.keras`` format (the quantize layer's variables do
not load back), so notebook 04 converts it to TFLite in the same session.
"""

from __future__ import annotations

import tensorflow_model_optimization as tfmot
import tf_keras as keras

from helpers.model import compile_classifier


def make_qat_model(float_model: keras.Model, learning_rate: float) -> keras.Model:
    """Wrap a trained float model for quantization-aware fine-tuning (weights are kept)."""
    qat_model = tfmot.quantization.keras.quantize_model(float_model)
    return compile_classifier(qat_model, learning_rate)


def clone_float_model(float_model: keras.Model, learning_rate: float) -> keras.Model:
    """An independent copy of a float model with the same weights, ready to fine-tune."""
    copy = keras.models.clone_model(float_model)
    copy.set_weights(float_model.get_weights())
    return compile_classifier(copy, learning_rate)
