"""The NumPy reference rebuilt from a .tflite file's own weights (helpers.reference).

Tiny models with fixed random weights, no dataset: the reference must match LiteRT where LiteRT
is right, read packed int4/int2 codes exactly as litert-quantizer wrote them, and make
``diagnose`` name a runtime path that computes something else.
"""

from __future__ import annotations

import helpers  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS before TensorFlow loads)

# isort: split
import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from litert_quantizer import qtyping, quantizer, recipe

from helpers import reference
from helpers.evaluate import LiteRTModel
from helpers.tflite_file import tensors

RNG_SEED = 0
FC = qtyping.TFLOperationName.FULLY_CONNECTED


def to_tflite(model, variant: str = "float32", calibration=None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def quantize(content: bytes, chosen_recipe=None, configure=None) -> bytes:
    qt = quantizer.Quantizer(content, chosen_recipe)
    if configure is not None:
        configure(qt)
    return bytes(qt.quantize(enable_progress_report=False).quantized_model)


def randomize(model, seed: int = RNG_SEED):
    """Fixed random weights scaled so that activations stay in a sensible range."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.normal(scale=1 / np.sqrt(np.prod(w.shape[:-1]) or 1), size=w.shape)
            for w in model.weights
        ]
    )
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).uniform(size=(64, 12, 12, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_cnn():
    """The tutorial's architecture in miniature: conv, pool, conv, pool, dense, softmax."""
    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            tf_keras.Input((12, 12, 1)),
            layers.Conv2D(4, 2, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(8, 2, activation="relu", padding="same", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(),
            layers.Dense(16, activation="relu", name="dense"),
            layers.Dense(10, activation="softmax", name="probabilities"),
        ]
    )
    return randomize(model)


@pytest.fixture(scope="module")
def float32_file(tiny_cnn):
    return to_tflite(tiny_cnn)


def litert(content: bytes, images: np.ndarray, resolver: str = "builtin") -> np.ndarray:
    return LiteRTModel(content, resolver=resolver).predict_proba(images)


# --------------------------------------------------------------------------- packing


@pytest.mark.parametrize(
    ("raw", "bits", "count", "expected"),
    [  # the vectors of LiteRT's own tests (tensor_utils_test.cc, UnpackInt4Basic and friends)
        (bytes([0x38, 0xBE]), 4, 4, [-8, 3, -2, -5]),
        (bytes([0x21, 0x43]), 4, 3, [1, 2, 3]),
        (bytes([0x6C]), 2, 4, [0, -1, -2, 1]),
        (bytes([0xD8]), 2, 3, [0, -2, 1]),
    ],
)
def test_unpack_matches_litert_test_vectors(raw, bits, count, expected):
    assert reference.unpack_signed(raw, bits, count).tolist() == expected


@pytest.mark.parametrize("bits", [2, 4])
def test_pack_then_unpack_round_trips(bits):
    codes = np.random.default_rng(bits).integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=37)
    packed = reference.pack_signed(codes, bits)
    assert len(packed) == -(-37 * bits // 8)
    assert reference.unpack_signed(packed, bits, 37).tolist() == codes.tolist()


@pytest.mark.parametrize(
    ("bits", "chosen_recipe"),
    [(4, recipe.dynamic_wi4c_afp32), (2, recipe.dynamic_wi2c_afp32)],
)
def test_codes_read_back_as_litert_quantizer_wrote_them(bits, chosen_recipe):
    """7 filters of 3x3x3 = 189 weights: an odd count, so the last byte is padded."""
    weights = np.random.default_rng(bits).normal(size=(3, 3, 3, 7)).astype(np.float32)
    model = tf_keras.Sequential([tf_keras.Input((5, 5, 3)), tf_keras.layers.Conv2D(7, 3)])
    model.set_weights([weights, np.zeros(7, np.float32)])
    content = quantize(to_tflite(model), chosen_recipe())
    (kernel,) = [t for t in tensors(content) if t.dtype == f"int{bits}"]
    assert kernel.nbytes == -(-189 * bits // 8)

    ohwi = weights.transpose(3, 0, 1, 2)  # TFLite stores conv filters (out, h, w, in)
    scales = kernel.scales.reshape(-1, 1, 1, 1)
    expected = np.clip(np.round(ohwi / scales), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    np.testing.assert_array_equal(reference.stored_codes(content, kernel.index), expected)
    np.testing.assert_allclose(
        reference.dequantized_constant(content, kernel.index), expected * scales, rtol=1e-6
    )


# --------------------------------------------------------------------------- reference vs LiteRT


@pytest.mark.parametrize("variant", ["float32", "float16"])
def test_reference_matches_litert_on_float_files(tiny_cnn, images, variant):
    content = to_tflite(tiny_cnn, variant)
    np.testing.assert_allclose(
        reference.reference_outputs(content, images), litert(content, images), atol=1e-5
    )


def test_reference_matches_litert_on_int8_weights(float32_file, images):
    content = quantize(float32_file, recipe.weight_only_wi8_afp32())
    assert sum(t.dtype == "int8" and t.is_constant for t in tensors(content)) == 4
    expected = reference.reference_outputs(content, images)
    np.testing.assert_allclose(expected, litert(content, images), atol=1e-5)
    # and the int8 weights do change the result: the reference is not the float model's
    assert np.abs(expected - reference.reference_outputs(float32_file, images)).max() > 1e-5


def test_reference_is_close_to_litert_on_dynamic_int8(float32_file, images):
    """Hybrid kernels quantize their inputs on the fly; the reference does not: close, not equal."""
    content = quantize(float32_file, recipe.dynamic_wi8_afp32())
    np.testing.assert_allclose(
        reference.reference_outputs(content, images), litert(content, images), atol=0.02
    )


def test_reference_of_full_int8_file_takes_float_images(tiny_cnn, images):
    content = to_tflite(tiny_cnn, "int8", calibration=images[:16])
    runtime = litert(content, images)
    expected = reference.reference_outputs(content, images)
    assert expected.dtype == np.float32 and expected.shape == runtime.shape
    assert np.abs(expected - runtime).mean() < 0.02  # int8 activations round; weights agree


@pytest.fixture(scope="module")
def blockwise_file():
    """A 64-input dense layer with ReLU stored as blockwise int4, then a float softmax layer."""
    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            tf_keras.Input((64,)),
            layers.Dense(32, activation="relu", name="hidden"),
            layers.Dense(10, activation="softmax", name="out"),
        ]
    )
    randomize(model, seed=3)

    def blockwise_hidden(qt):
        qt.add_dynamic_config("hidden/", FC, 4, granularity=qtyping.QuantGranularity.BLOCKWISE_32)

    return quantize(to_tflite(model), configure=blockwise_hidden)


@pytest.fixture(scope="module")
def vectors():
    return np.random.default_rng(4).normal(size=(200, 64)).astype(np.float32)


def test_reference_reads_blockwise_int4_like_xnnpack(blockwise_file, vectors):
    assert any(t.dtype == "int4" for t in tensors(blockwise_file))
    np.testing.assert_allclose(
        reference.reference_outputs(blockwise_file, vectors),
        litert(blockwise_file, vectors, resolver="default"),
        atol=0.02,
    )


# --------------------------------------------------------------------------- diagnose


def test_diagnose_finds_both_paths_right_on_a_float_file(float32_file, images):
    labels = reference.reference_outputs(float32_file, images).argmax(axis=1)
    diagnosis = reference.diagnose(float32_file, images, labels)
    assert diagnosis.verdict == "both"
    assert diagnosis.reference_accuracy == 1.0
    assert all(p.agreement == 1.0 and p.nonfinite_images == 0 for p in diagnosis.paths.values())


def test_diagnose_flags_a_synthetic_defect(float32_file, images, monkeypatch):
    """Make the built-in path return NaN for a third of the images and shuffle the rest."""

    class BrokenBuiltin(LiteRTModel):
        def predict_proba(self, images, batch_size=256):
            scores = super().predict_proba(images, batch_size)
            if self.resolver == "builtin":
                scores = np.roll(scores, 1, axis=1)
                scores[::3] = np.nan
            return scores

    monkeypatch.setattr(reference, "LiteRTModel", BrokenBuiltin)
    labels = np.zeros(len(images), dtype=np.int64)
    diagnosis = reference.diagnose(float32_file, images, labels)
    assert diagnosis.verdict == "xnnpack only"
    builtin = diagnosis.paths["builtin"]
    assert builtin.nonfinite_images == len(images[::3]) and not builtin.correct
    assert "xnnpack only" in diagnosis.summary()


def test_diagnose_names_litert_builtin_blockwise_relu_defect(blockwise_file, vectors):
    """LiteRT 2.3.0's built-in blockwise int4 kernel skips the fused ReLU (docs/upstream/).

    If this fails after a LiteRT upgrade, the defect may be fixed: update docs/upstream/README.md.
    """
    labels = reference.reference_outputs(blockwise_file, vectors).argmax(axis=1)
    diagnosis = reference.diagnose(blockwise_file, vectors, labels)
    assert diagnosis.verdict == "xnnpack only", diagnosis.summary()


@pytest.mark.parametrize(
    ("correct", "expected"),
    [
        ({"xnnpack": True, "builtin": True}, "both"),
        ({"xnnpack": True, "builtin": False}, "xnnpack only"),
        ({"xnnpack": False, "builtin": True}, "builtin only"),
        ({"xnnpack": False, "builtin": False}, "neither"),
    ],
)
def test_verdict_names_the_paths(correct, expected):
    assert reference.verdict(correct) == expected


def test_caveat_and_table_name_the_paths(blockwise_file, vectors):
    labels = reference.reference_outputs(blockwise_file, vectors).argmax(axis=1)
    check = reference.check_paths(blockwise_file, vectors, labels)
    assert check.verdict == "xnnpack only"
    text = reference.caveat(check, blockwise_file)
    assert text.startswith("runtime defect: only the default path (XNNPACK) computes it correctly")
    assert "blockwise_int4_fc_activation.py" in text and "built-in only" in text
    row = reference.checks_frame({"file": check}).loc["file"]
    assert row["computed correctly by"] == "the default path only"
    assert float(row["default path agrees with reference"].rstrip("%")) > 99
    assert float(row["built-in agrees with reference"].rstrip("%")) < 95


def test_a_neither_caveat_says_when_both_paths_share_the_builtin_kernel(float32_file, images):
    """A float file whose every operation XNNPACK takes: no shared built-in kernel to name."""
    labels = np.zeros(len(images), dtype=np.int64)
    broken = reference.Diagnosis(
        reference_accuracy=1.0,
        paths={
            name: reference.PathResult(
                accuracy=0.1, agreement=0.1, nonfinite_images=0, correct=False
            )
            for name in ("xnnpack", "builtin")
        },
        verdict="neither",
    )
    check = reference.PathCheck(
        accuracy={"xnnpack": 0.1, "builtin": 0.1},
        paths_agreement=0.5,
        largest_class_share=0.9,
        diagnosis=broken,
        images=len(labels),
    )
    text = reference.caveat(check, float32_file)
    assert "neither the default path nor the built-in kernels alone" in text
    assert "so both paths run the built-in kernel" not in text
