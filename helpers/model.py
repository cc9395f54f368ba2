"""The baseline CNN as the tests build it, reproducible seeding, and small Keras utilities.

Notebook 02 builds, compiles and trains the model in its own cells (the lesson);
:func:`build_baseline_cnn` is the same architecture for the unit tests (a test checks that the
two agree). Models are built with ``tf_keras`` (Keras 2): ``tensorflow-model-optimization``
cannot wrap Keras 3 models. ``helpers/__init__.py`` sets ``TF_USE_LEGACY_KERAS=1`` before this
module imports TensorFlow.
"""

from __future__ import annotations

import random

import numpy as np
import tensorflow as tf
import tf_keras as keras

from helpers.data import INPUT_SHAPE, NUM_CLASSES


def seed_everything(seed: int) -> None:
    """Same seed, same weights: seeds Python, NumPy and TensorFlow and makes ops deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def build_baseline_cnn() -> keras.Model:
    """The source article's CNN: two small conv blocks and a dense head (75,609 weights)."""
    return keras.Sequential(
        [
            keras.layers.Input(shape=INPUT_SHAPE, name="image"),
            keras.layers.Conv2D(32, kernel_size=2, activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(pool_size=2, name="pool1"),
            keras.layers.Conv2D(16, kernel_size=2, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(pool_size=2, name="pool2"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(125, activation="relu", name="dense"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="baseline_cnn",
    )


def compile_classifier(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """Adam and sparse categorical cross-entropy on integer labels, tracking accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def without_optimizer(model: keras.Model) -> keras.Model:
    """An uncompiled copy with the same architecture and weights: saves without optimizer state."""
    bare = keras.models.clone_model(model)
    bare.set_weights(model.get_weights())
    return bare


def saved_sizes(model: keras.Model, folder) -> dict[str, int]:
    """Bytes of the ``.keras`` file of ``model`` as trained, and of an uncompiled copy.

    The uncompiled copy has the same architecture and weights but no optimizer: the difference
    is what the optimizer's state (Adam keeps two moment estimates per weight) costs on disk.
    """
    from pathlib import Path

    bare = without_optimizer(model)
    sizes = {}
    for label, candidate in (("with_optimizer", model), ("without_optimizer", bare)):
        path = Path(folder) / f"size-check-{label}.keras"
        candidate.save(path)
        sizes[label] = path.stat().st_size
        path.unlink()
    return sizes
