"""What a ``.tflite`` file really stores: its operators, constant tensors and quantization.

File size alone can mislead, so the notebooks look inside. The flatbuffer is read with
TensorFlow's ``flatbuffer_utils``; nothing here runs the model.

* :func:`operators`: the graph, op by op, with input and output tensor indices;
* :func:`tensors`: every tensor with dtype, shape, bytes stored and quantization parameters;
* :func:`constants_table`: each stored constant with the role it plays (weights of a conv or
  dense layer, bias, or shape constant) and how many scales it carries (per-tensor or
  per-channel);
* :func:`activations_table`: each quantized activation tensor with scale, zero point and the
  float range its integers can express.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from helpers.affine import representable_range

WEIGHTED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
INPUT_ROLES = {1: "weights", 2: "bias"}  # operand positions of WEIGHTED_OPS


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    is_constant: bool  # stored in the file (weights, biases, shapes), not computed at run time
    nbytes: int
    scales: np.ndarray  # empty when not quantized; one per channel for per-channel tensors
    zero_points: np.ndarray
    quantized_dimension: int


@dataclass(frozen=True)
class OperatorInfo:
    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@lru_cache(maxsize=8)
def _read(content: bytes):
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.read_model_from_bytearray(bytearray(content))


@lru_cache(maxsize=1)
def _op_names() -> dict[int, str]:
    from tensorflow.lite.python import schema_py_generated as schema

    return {
        value: key
        for key, value in vars(schema.BuiltinOperator).items()
        if not key.startswith("_") and isinstance(value, int)
    }


def _text(name) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


def tensors(content: bytes) -> list[TensorInfo]:
    """Every tensor of the main graph."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = _read(bytes(content))
    infos = []
    for index, tensor in enumerate(model.subgraphs[0].tensors):
        buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
        data = getattr(buffer, "data", None)
        quant = tensor.quantization
        scales = getattr(quant, "scale", None) if quant is not None else None
        zeros = getattr(quant, "zeroPoint", None) if quant is not None else None
        infos.append(
            TensorInfo(
                index=index,
                name=_text(tensor.name),
                dtype=(flatbuffer_utils.type_to_name(tensor.type) or str(tensor.type)).lower(),
                shape=tuple(int(s) for s in (tensor.shape if tensor.shape is not None else ())),
                is_constant=data is not None and len(data) > 0,
                nbytes=0 if data is None else len(data),
                scales=np.asarray([] if scales is None else scales, dtype=float).ravel(),
                zero_points=np.asarray([] if zeros is None else zeros, dtype=np.int64).ravel(),
                quantized_dimension=int(getattr(quant, "quantizedDimension", 0) or 0),
            )
        )
    return infos


def operators(content: bytes) -> list[OperatorInfo]:
    """The operators of the main graph in execution order."""
    model = _read(bytes(content))
    names = _op_names()
    codes = [
        max(int(code.builtinCode), int(code.deprecatedBuiltinCode)) for code in model.operatorCodes
    ]
    return [
        OperatorInfo(
            index=i,
            name=names.get(codes[op.opcodeIndex], str(codes[op.opcodeIndex])),
            inputs=tuple(int(t) for t in op.inputs),
            outputs=tuple(int(t) for t in op.outputs),
        )
        for i, op in enumerate(model.subgraphs[0].operators)
    ]


def op_counts(content: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op in operators(content):
        counts[op.name] = counts.get(op.name, 0) + 1
    return counts


def read_constant(content: bytes, info: TensorInfo) -> np.ndarray:
    """The stored values of a constant tensor, as the integers or floats in the file."""
    if not info.is_constant:
        raise ValueError(f"{info.name} is not a constant tensor")
    model = _read(bytes(content))
    tensor = model.subgraphs[0].tensors[info.index]
    raw = bytes(model.buffers[tensor.buffer].data)
    return np.frombuffer(raw, dtype=np.dtype(info.dtype)).reshape(info.shape)


def layer_of(tensor_name: str, layer_names: Sequence[str]) -> str | None:
    """The Keras layer a tensor belongs to, read from its name (``model/conv1/Relu;...``).

    Layers wrapped by tensorflow-model-optimization appear as ``quant_<layer>``.
    """
    first = tensor_name.split(";")[0]
    for layer in layer_names:
        if re.search(rf"(^|/)(quant_)?{re.escape(layer)}(/|$)", first):
            return layer
    return None


def _roles(content: bytes) -> dict[int, tuple[str, int]]:
    """Constant tensor index -> (role, index of the weighted op using it)."""
    ops = operators(content)
    consumers: dict[int, list[tuple[OperatorInfo, int]]] = {}
    for op in ops:
        for position, tensor in enumerate(op.inputs):
            consumers.setdefault(tensor, []).append((op, position))

    def role(tensor: int) -> tuple[str, int]:
        for op, position in consumers.get(tensor, []):
            if op.name in WEIGHTED_OPS and position in INPUT_ROLES:
                return INPUT_ROLES[position], op.index
            if op.name == "DEQUANTIZE":  # float16 weights are widened by a DEQUANTIZE op first
                return role(op.outputs[0])
        return "shape/other", -1

    return {info.index: role(info.index) for info in tensors(content) if info.is_constant}


def constants_table(content: bytes, layer_names: Sequence[str] = ()) -> list[dict]:
    """One row per stored constant: its layer, role, dtype, shape, bytes and scales."""
    roles = _roles(content)
    rows = []
    for info in tensors(content):
        if not info.is_constant:
            continue
        role, _ = roles[info.index]
        rows.append(
            {
                "tensor": info.name.split(";")[0],
                "layer": layer_of(info.name, layer_names) or "–",
                "role": role,
                "dtype": info.dtype,
                "shape": "x".join(map(str, info.shape)),
                "bytes": info.nbytes,
                "scales": int(info.scales.size),
                "zero-point values": ",".join(map(str, sorted(set(info.zero_points.tolist()))))
                if info.zero_points.size
                else "–",
            }
        )
    return rows


def constant_bytes(content: bytes) -> dict[str, int]:
    """Bytes of constants per ``"<role> <dtype>"``, e.g. ``{"weights int8": 74432, ...}``."""
    totals: dict[str, int] = {}
    for row in constants_table(content):
        key = f"{row['role']} {row['dtype']}"
        totals[key] = totals.get(key, 0) + row["bytes"]
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def activations_table(content: bytes, layer_names: Sequence[str] = ()) -> list[dict]:
    """One row per computed (non-constant) tensor that carries quantization parameters."""
    ops = operators(content)
    producers = {tensor: op for op in ops for tensor in op.outputs}
    infos = tensors(content)
    rows = []
    for info in infos:
        if info.is_constant or info.scales.size == 0:
            continue
        scale, zero_point = float(info.scales[0]), int(info.zero_points[0])
        low, high = representable_range(scale, zero_point, np.dtype(info.dtype))
        producer = producers.get(info.index)
        rows.append(
            {
                "tensor": info.name.split(";")[0],
                "layer": layer_of(info.name, layer_names)
                or ("input" if producer is None else f"{producer.name.lower()} output"),
                "made by": producer.name if producer else "(model input)",
                "dtype": info.dtype,
                "scale": scale,
                "zero point": zero_point,
                "range low": low,
                "range high": high,
            }
        )
    return rows


def find_weight_tensor(content: bytes, shape: tuple[int, ...]) -> TensorInfo:
    """The largest constant tensor with this shape (e.g. a Dense kernel, stored transposed)."""
    matches = [t for t in tensors(content) if t.is_constant and t.shape == tuple(shape)]
    if not matches:
        raise LookupError(f"no constant tensor of shape {shape} in this model")
    return max(matches, key=lambda t: t.nbytes)


def scale_counts(content: bytes, layer_names: Sequence[str] = ()) -> dict[tuple[str, str], int]:
    """Scales stored per weight and bias tensor, keyed by (layer, role): 1 means per-tensor."""
    return {
        (row["layer"], row["role"]): row["scales"]
        for row in constants_table(content, layer_names)
        if row["role"] != "shape/other"
    }


def code_entropy(content: bytes, shape: tuple[int, ...]) -> float:
    """Entropy in bits per value of the int8 codes of the constant tensor with this shape: how
    varied the stored bytes are, which is what gzip can squeeze."""
    codes = read_constant(content, find_weight_tensor(content, shape))
    counts = np.bincount(codes.ravel().astype(np.int64) + 128, minlength=256)
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log2(share)).sum())


def weight_dequantizes(content: bytes) -> list[tuple[OperatorInfo, TensorInfo]]:
    """Every DEQUANTIZE operation whose input is a stored constant (weights widened to float at
    run time), with that constant."""
    infos = tensors(content)
    return [
        (op, infos[op.inputs[0]])
        for op in operators(content)
        if op.name == "DEQUANTIZE" and infos[op.inputs[0]].is_constant
    ]


def quantization_fingerprint(content: bytes) -> tuple:
    """What a file's quantization consists of, independent of graph layout: every stored weight
    tensor (shape, type, bytes, scales) and every computed tensor's type, scales and zero points.
    Two files with the same fingerprint store the same numbers and quantize the same way, even
    if their operations differ (notebook 09: Keras 3's extra shape operations)."""
    infos = tensors(content)
    weights = sorted(
        (
            tuple(t.shape),
            t.dtype,
            read_constant(content, t).tobytes(),
            tuple(np.round(t.scales, 12).tolist()),
        )
        for t in infos
        if t.is_constant and t.nbytes > 64
    )
    activations = sorted(
        (t.dtype, tuple(np.round(t.scales, 12).tolist()), tuple(t.zero_points.tolist()))
        for t in infos
        if not t.is_constant and t.scales.size
    )
    return tuple(weights), tuple(activations)
