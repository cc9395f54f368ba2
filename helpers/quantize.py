"""TensorFlow Lite conversion in every flavour the converter offers, and tools to look inside.

Variants (file name = variant name + ``.tflite``):

=================  ==========================================  ====================  ===========
variant            weights                                     activations           model I/O
=================  ==========================================  ====================  ===========
``float32``        float32                                     float32               float32
``dynamic_range``  int8 (per-channel), dequantized or used      float32 (quantized    float32
                   by hybrid kernels at run time               on the fly)
``float16``        float16, dequantized to float32 on CPU      float32               float32
``int8``           int8                                        int8 (calibrated)     int8
``int16x8``        int8                                        int16 (calibrated)    float32
``qat_int8``       int8, learned with fake quantization        int8 (learned)        int8
=================  ==========================================  ====================  ===========
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from helpers.params import check_int

PTQ_VARIANTS: dict[str, str] = {
    "float32": "No optimization: the float model in TFLite format (the reference)",
    "dynamic_range": "int8 weights, float activations quantized on the fly; no calibration",
    "float16": "float16 weights; computed in float32 on CPU",
    "int8": "Full integer: int8 weights and activations, int8 input and output",
    "int16x8": "int16 activations, int8 weights (more precise, reference kernels on CPU)",
}
QAT_VARIANT = "qat_int8"
ALL_VARIANTS: tuple[str, ...] = (*PTQ_VARIANTS, QAT_VARIANT)
NEEDS_CALIBRATION = {"int8", "int16x8"}

RepresentativeDataset = Callable[[], Iterator[list[np.ndarray]]]


def representative_dataset(
    x_preprocessed: np.ndarray, num_samples: int, seed: int = 0
) -> RepresentativeDataset:
    """Calibration data for the converter: ``num_samples`` random training images, one at a time.

    ``x_preprocessed`` must come from :func:`helpers.data.preprocess`, the exact preprocessing the
    model was trained with: calibrating on raw 0-255 pixels would give ranges 255 times too wide.
    """
    num_samples = check_int(
        "CALIBRATION_SAMPLES", num_samples, minimum=1, maximum=len(x_preprocessed)
    )
    if x_preprocessed.dtype != np.float32:
        raise TypeError(f"calibration images must be float32, got {x_preprocessed.dtype}")
    rng = np.random.default_rng(seed)
    chosen = x_preprocessed[rng.choice(len(x_preprocessed), size=num_samples, replace=False)]

    def generator() -> Iterator[list[np.ndarray]]:
        for image in chosen:
            yield [image[None, ...]]

    return generator


def make_converter(
    model,
    variant: str,
    representative_data: RepresentativeDataset | None = None,
    *,
    integer_io: bool = True,
) -> tf.lite.TFLiteConverter:
    """A converter configured for ``variant`` (see the module table).

    ``integer_io=False`` keeps float input and output on the int8 variants; the quantization
    debugger needs that form.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float32":
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "dynamic_range":
        return converter
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return converter
    if variant in NEEDS_CALIBRATION:
        if representative_data is None:
            raise ValueError(f"variant {variant!r} needs representative (calibration) data")
        converter.representative_dataset = representative_data
    if variant in ("int8", QAT_VARIANT):
        if variant == "int8":
            # Fail rather than silently keep float ops: a "full integer" model is integer only.
            # (A QAT model carries its own ranges; this setting would demand calibration data.)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter
    if variant == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        return converter
    raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(ALL_VARIANTS)}")


def convert(model, variant: str, representative_data: RepresentativeDataset | None = None) -> bytes:
    """Convert a Keras model (float, or QAT-wrapped for ``qat_int8``) to TFLite bytes."""
    return make_converter(model, variant, representative_data).convert()


# --------------------------------------------------------------------------- inside a .tflite


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    is_constant: bool  # stored in the file (weights, biases) rather than computed at run time
    nbytes: int
    scales: np.ndarray  # empty when not quantized; one per channel for per-channel weights
    zero_points: np.ndarray


def inspect_tensors(tflite_model: bytes) -> list[TensorInfo]:
    """Every tensor of the model's main graph, with dtype, size and quantization parameters."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_model))
    infos = []
    for tensor in model.subgraphs[0].tensors:
        buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
        data = getattr(buffer, "data", None)
        quant = tensor.quantization
        scales = np.asarray(_field(quant, "scale"), dtype=float).ravel()
        zeros = np.asarray(_field(quant, "zeroPoint"), dtype=np.int64).ravel()
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        shape = tuple(int(s) for s in (tensor.shape if tensor.shape is not None else ()))
        infos.append(
            TensorInfo(
                name=name,
                dtype=(flatbuffer_utils.type_to_name(tensor.type) or str(tensor.type)).lower(),
                shape=shape,
                is_constant=data is not None and len(data) > 0,
                nbytes=0 if data is None else len(data),
                scales=scales,
                zero_points=zeros,
            )
        )
    return infos


def _field(quantization, name: str):
    """A quantization field of a flatbuffer tensor, [] when absent (float tensors have none)."""
    value = getattr(quantization, name, None) if quantization is not None else None
    return [] if value is None else value


def weight_bytes_by_dtype(tflite_model: bytes) -> dict[str, int]:
    """Bytes of constant tensors (weights and biases) per dtype: shows what the file really stores."""
    totals: dict[str, int] = {}
    for info in inspect_tensors(tflite_model):
        if info.is_constant:
            totals[info.dtype] = totals.get(info.dtype, 0) + info.nbytes
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def find_weight_tensor(tflite_model: bytes, shape: tuple[int, ...]) -> TensorInfo:
    """The constant tensor with this shape (e.g. a Dense kernel, stored transposed in TFLite)."""
    matches = [t for t in inspect_tensors(tflite_model) if t.is_constant and t.shape == shape]
    if not matches:
        raise LookupError(f"no constant tensor of shape {shape} in this model")
    return max(matches, key=lambda t: t.nbytes)


def read_constant(tflite_model: bytes, info: TensorInfo) -> np.ndarray:
    """The stored values of a constant tensor, as the integers or floats in the file."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_model))
    for tensor in model.subgraphs[0].tensors:
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        if name == info.name:
            raw = bytes(model.buffers[tensor.buffer].data)
            return np.frombuffer(raw, dtype=np.dtype(info.dtype)).reshape(info.shape)
    raise LookupError(info.name)


# --------------------------------------------------------------------------- affine quantization


def quantize_values(values: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """q = clip(round(x / scale) + zero_point): the affine mapping TFLite uses."""
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize_values(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """x ≈ scale * (q - zero_point)."""
    return (q.astype(np.float32) - zero_point) * scale


# --------------------------------------------------------------------------- per-layer error


def layer_error_table(model, representative_data: RepresentativeDataset, debug_data):
    """Per-layer quantization error of the int8 model, from TFLite's QuantizationDebugger.

    Returns a pandas DataFrame sorted by ``rmse/scale``: the root-mean-square difference between
    each quantized layer output and its float counterpart, in units of that layer's quantization
    step. Pure rounding noise gives about 0.29 (= 1/sqrt(12)); much larger values point at layers
    whose range the int8 grid covers badly.
    """
    import pandas as pd

    converter = make_converter(model, "int8", representative_data, integer_io=False)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=debug_data
    )
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    table = pd.DataFrame(rows)
    for column in table.columns:
        if column not in ("op_name", "tensor_name"):
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table["range"] = 255.0 * table["scale"]
    table["rmse/scale"] = np.sqrt(table["mean_squared_error"]) / table["scale"]
    columns = [
        "op_name",
        "tensor_name",
        "num_elements",
        "range",
        "scale",
        "zero_point",
        "mean_error",
        "max_abs_error",
        "rmse/scale",
    ]
    return table[columns].sort_values("rmse/scale", ascending=False).reset_index(drop=True)
