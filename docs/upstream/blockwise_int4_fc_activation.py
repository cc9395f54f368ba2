"""LiteRT bug: the built-in blockwise int4 FULLY_CONNECTED kernel ignores the fused activation.

A one-layer Keras model (Dense, 32 inputs -> 4 units, ReLU, fixed random weights) is converted to
a float .tflite and quantized by litert-quantizer with dynamic int4 weights in blocks of 32
(``Granularity.BLOCKWISE_32``). The file's FULLY_CONNECTED keeps ``fused_activation_function =
RELU``. XNNPACK (the default resolver) returns non-negative outputs; the built-in kernels
(``EvalBlockwise4Bit`` in tflite/kernels/fully_connected.cc) return negative ones: the ReLU is
never applied.

The expected output is computed with NumPy from the file's own int4 codes times its own float16
block scales, once with the ReLU and once without.

Run from the repository root: ``.venv/bin/python docs/upstream/blockwise_int4_fc_activation.py``
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf_keras (Keras 2) for the converter
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402
from litert_quantizer import qtyping, quantizer  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

rng = np.random.default_rng(0)
model = tf_keras.Sequential([tf_keras.Input((32,)), tf_keras.layers.Dense(4, activation="relu")])
model.set_weights([rng.normal(size=(32, 4)), rng.normal(size=4)])
float_tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
inputs = rng.normal(size=(3, 32)).astype(np.float32)

qt = quantizer.Quantizer(float_tflite)
qt.add_dynamic_config(
    ".*",
    qtyping.TFLOperationName.FULLY_CONNECTED,
    4,
    granularity=qtyping.QuantGranularity.BLOCKWISE_32,
)
content = bytes(qt.quantize(enable_progress_report=False).quantized_model)


def run(resolver: OpResolverType) -> np.ndarray:
    interpreter = Interpreter(model_content=content, experimental_op_resolver_type=resolver)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], inputs.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], inputs)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def file_layer() -> tuple[np.ndarray, np.ndarray, str]:
    """The dense layer as the file stores it: dequantized weights, float bias, activation."""
    flatbuffer = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = flatbuffer.subgraphs[0]
    fc = graph.operators[0]
    kernel, bias = graph.tensors[fc.inputs[1]], graph.tensors[fc.inputs[2]]
    units, depth = kernel.shape
    raw = np.frombuffer(bytes(flatbuffer.buffers[kernel.buffer].data), np.uint8)
    nibbles = np.stack([raw & 0xF, raw >> 4], axis=1).ravel()[: units * depth]  # low nibble first
    codes = np.where(nibbles >= 8, nibbles.astype(np.int8) - 16, nibbles).reshape(units, depth)
    details = kernel.quantization.details  # BlockwiseQuantization: float16 scales per block
    scale_tensor = graph.tensors[details.scales]
    scales = np.frombuffer(bytes(flatbuffer.buffers[scale_tensor.buffer].data), np.float16)
    block = details.blockSize
    weights = codes * np.repeat(scales.reshape(units, depth // block), block, axis=1)
    bias_values = np.frombuffer(bytes(flatbuffer.buffers[bias.buffer].data), np.float32)
    activation = {0: "NONE", 1: "RELU"}[fc.builtinOptions.fusedActivationFunction]
    kind = f"{flatbuffer_utils.type_to_name(kernel.type)} in blocks of {block}"
    return weights, bias_values, f"weights {kind}, fused activation {activation}"


weights, bias, description = file_layer()
without_relu = inputs @ weights.T.astype(np.float32) + bias
np.set_printoptions(precision=3, linewidth=100)
print(f"FULLY_CONNECTED: {description}")
rows = {
    "reference with ReLU": np.maximum(without_relu, 0),
    "reference without ReLU": without_relu,
    "XNNPACK (default)": run(OpResolverType.AUTO),
    "built-in kernels": run(OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
}
for label, output in rows.items():
    print(f"{label:24s}: {output.ravel()[:8]}  min {output.min():+.3f}")
for label in ("XNNPACK (default)", "built-in kernels"):
    errors = {ref: np.abs(rows[label] - rows[ref]).max() for ref in list(rows)[:2]}
    print(f"{label} max |error|: " + ", ".join(f"vs {k} {v:.3f}" for k, v in errors.items()))
