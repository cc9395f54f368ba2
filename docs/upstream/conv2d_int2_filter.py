"""LiteRT bug: CONV_2D with a float input and an int2 filter returns garbage (NaN, ~1e31).

A one-layer Keras model (Conv2D, 4 filters of 2x2, fixed random weights) is converted to a float
.tflite and quantized by litert-quantizer's ``recipe.dynamic_wi2c_afp32()``: the filter is stored
as INT2 (four 2-bit codes per byte, per-channel scales), input and output stay float32. LiteRT's
CONV_2D takes its hybrid (dynamic-range) path only for uint8, int8 and int4 filters; an int2
filter falls through to the float kernel, which reads the packed bytes as float32. XNNPACK
does not take an int2 convolution, so the default resolver runs the same built-in kernel.

The expected output is computed with NumPy from the file's own int2 codes times its own scales.
As a control, the same model quantized to int4 (``dynamic_wi4c_afp32``) matches its reference.

Run from the repository root: ``.venv/bin/python docs/upstream/conv2d_int2_filter.py``
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf_keras (Keras 2) for the converter
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402
from litert_quantizer import quantizer, recipe  # noqa: E402
from tensorflow.lite.tools import flatbuffer_utils  # noqa: E402

BITS = {"INT2": 2, "INT4": 4}

rng = np.random.default_rng(0)
model = tf_keras.Sequential([tf_keras.Input((3, 3, 1)), tf_keras.layers.Conv2D(4, 2)])
model.set_weights([rng.normal(size=(2, 2, 1, 4)), rng.normal(size=4)])
float_tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
image = rng.uniform(size=(1, 3, 3, 1)).astype(np.float32)


def run(content: bytes, resolver: OpResolverType) -> np.ndarray:
    interpreter = Interpreter(model_content=content, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def unpack(raw: bytes, bits: int, count: int) -> np.ndarray:
    """Signed codes packed lowest bits first, as tensor_utils::UnpackPackedIntToInt8 reads them."""
    shifted = np.frombuffer(raw, np.uint8)[:, None] >> (bits * np.arange(8 // bits))
    codes = (shifted & (2**bits - 1)).astype(np.int8).ravel()[:count]
    return np.where(codes >= 2 ** (bits - 1), codes - 2**bits, codes)


def reference(content: bytes) -> tuple[str, np.ndarray]:
    """The filter's stored type, and the convolution in NumPy with the file's own weights."""
    flatbuffer = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph = flatbuffer.subgraphs[0]
    _, kernel, bias = (graph.tensors[i] for i in graph.operators[0].inputs)
    kind = flatbuffer_utils.type_to_name(kernel.type)
    shape = tuple(kernel.shape)  # (out channels, height, width, in channels)
    raw = bytes(flatbuffer.buffers[kernel.buffer].data)
    codes = unpack(raw, BITS[kind], int(np.prod(shape))).reshape(shape)
    weights = codes * np.asarray(kernel.quantization.scale).reshape(-1, 1, 1, 1)
    bias_values = np.frombuffer(bytes(flatbuffer.buffers[bias.buffer].data), np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(image, shape[1:3], axis=(1, 2))
    output = np.einsum("nijchw,ohwc->nijo", windows, weights) + bias_values
    return f"{kind}, {len(raw)} bytes for {codes.size} weights", output


np.set_printoptions(precision=4, linewidth=100)
for name, chosen in [
    ("dynamic_wi2c_afp32", recipe.dynamic_wi2c_afp32()),
    ("dynamic_wi4c_afp32 (control)", recipe.dynamic_wi4c_afp32()),
]:
    quantized = quantizer.Quantizer(float_tflite, chosen).quantize(enable_progress_report=False)
    content = bytes(quantized.quantized_model)
    stored, expected = reference(content)
    print(f"== {name}: conv filter stored as {stored}")
    print(f"expected (NumPy, file's own weights): {expected.ravel()[:8]}")
    for label, resolver in [
        ("XNNPACK (default)", OpResolverType.AUTO),
        ("built-in kernels", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
    ]:
        output = run(content, resolver)
        error = np.abs(output - expected).max()
        print(
            f"{label:18s}: {output.ravel()[:8]}  max |error| {error:.3g}, "
            f"NaN: {int(np.isnan(output).sum())} of {output.size}"
        )
