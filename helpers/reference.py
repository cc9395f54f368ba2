"""Rebuild a ``.tflite`` model's float reference from the file's own weights, and diagnose runtimes.

When LiteRT's kernels disagree (XNNPACK against the built-in kernels) or an accuracy looks
impossible, the first question is: what *should* this file compute? This module answers it
without any runtime: it walks the file's operators in NumPy, in float32, with every constant
dequantized from the values the file stores and the scales it stores with them.

* :func:`unpack_signed` / :func:`stored_codes`: the integers of a constant as the file holds them,
  including INT4 and INT2 tensors packed two or four to a byte;
* :func:`dequantized_constant`: a constant as floats: ``scale · (q − zero_point)`` per tensor,
  per channel or per block of a blockwise tensor; float16 widened to float32;
* :func:`reference_outputs`: the model's outputs for float images;
* :func:`diagnose`: accuracy and agreement with the reference of the default (XNNPACK) and the
  built-in runtime paths, and a one-line verdict on which of them computes the file correctly.

What "reference" means. Every tensor computed at run time is kept in float32: QUANTIZE and
DEQUANTIZE of activations are identities, and dynamic-range (hybrid) kernels' on-the-fly
quantization of their inputs is not simulated. For files with float activations (float32,
float16, dynamic-range, weight-only, blockwise) that is the computation the file describes, up to
that on-the-fly rounding. For files with quantized activations (full int8, 16x8) it is the *float
reference of the same weights*: what the model would compute if only its weights were quantized.
Such a file's runtime result legitimately differs from it by its activation rounding.

Packing of sub-byte integers, as LiteRT reads them (``tensor_utils::UnpackPackedIntToInt8`` in
``tflite/kernels/internal/portable_tensor_utils.cc``): the tensor is flattened in row-major
order and packed from the lowest bits of each byte up (INT4: element ``2i`` in the low nibble of
byte ``i``, ``2i+1`` in the high nibble; INT2: element ``4i+k`` in bits ``2k..2k+1``); the last
byte is zero-padded. Blockwise FULLY_CONNECTED kernels pad each row to an even length
(``EvalBlockwise4Bit``); rows whose length is a multiple of the block size are already even, so
both readings agree. :mod:`helpers.tflite_file` reads dtypes, shapes and per-channel scales but
not packed tensors or blockwise scales (those live in a separate float16 tensor named by the
tensor's ``BlockwiseQuantization`` details), so this module reads those itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from helpers import tflite_file
from helpers.affine import dequantize_values
from helpers.evaluate import LiteRTModel, accuracy

PACKED_BITS = {"int4": 4, "int2": 2, "uint4": 4}
PADDING_VALID = 1  # schema Padding: SAME = 0, VALID = 1
BLOCKWISE_DETAILS = 2  # schema QuantizationDetails.BlockwiseQuantization
ACTIVATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    0: lambda x: x,  # NONE
    1: lambda x: np.maximum(x, 0),  # RELU
    2: lambda x: np.clip(x, -1, 1),  # RELU_N1_TO_1
    3: lambda x: np.clip(x, 0, 6),  # RELU6
    4: np.tanh,  # TANH
}
PATHS = {"xnnpack": "default", "builtin": "builtin"}  # our name -> helpers.evaluate resolver


# --------------------------------------------------------------------------- stored constants


@lru_cache(maxsize=8)
def _flatbuffer(content: bytes):
    """The file's flatbuffer object tree (operator options and quantization details)."""
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils.read_model_from_bytearray(bytearray(content))


@lru_cache(maxsize=8)
def _tensors(content: bytes) -> tuple[tflite_file.TensorInfo, ...]:
    return tuple(tflite_file.tensors(content))


def unpack_signed(raw: bytes, bits: int, count: int, signed: bool = True) -> np.ndarray:
    """The first ``count`` integers packed ``8 // bits`` to a byte, lowest bits first, as int8.

    ``signed=False`` reads unsigned codes (UINT4); otherwise two's complement (INT4, INT2).
    """
    if bits not in (2, 4):
        raise ValueError(f"only 2- and 4-bit packing is supported, not {bits}")
    per_byte = 8 // bits
    if len(raw) * per_byte < count:
        raise ValueError(f"{len(raw)} bytes cannot hold {count} {bits}-bit values")
    shifted = np.frombuffer(raw, dtype=np.uint8)[:, None] >> (bits * np.arange(per_byte))
    codes = (shifted & (2**bits - 1)).astype(np.int8).ravel()[:count]
    if signed:
        codes = np.where(codes >= 2 ** (bits - 1), codes - 2**bits, codes).astype(np.int8)
    return codes


def pack_signed(codes: np.ndarray, bits: int) -> bytes:
    """The inverse of :func:`unpack_signed`: integers in range, packed lowest bits first."""
    codes = np.asarray(codes, dtype=np.int64).ravel()
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if codes.size and (codes.min() < low or codes.max() > high):
        raise ValueError(f"values outside [{low}, {high}] cannot be packed in {bits} bits")
    per_byte = 8 // bits
    padded = np.zeros(-(-codes.size // per_byte) * per_byte, dtype=np.int64)
    padded[: codes.size] = codes & (2**bits - 1)
    fields = padded.reshape(-1, per_byte) << (bits * np.arange(per_byte))
    return fields.sum(axis=1).astype(np.uint8).tobytes()


def _raw_bytes(content: bytes, index: int) -> bytes:
    model = _flatbuffer(content)
    return bytes(model.buffers[model.subgraphs[0].tensors[index].buffer].data)


def stored_codes(content: bytes, index: int) -> np.ndarray:
    """A constant tensor's values exactly as stored: integers (sub-byte ones unpacked) or floats."""
    info = _tensors(content)[index]
    if info.dtype in PACKED_BITS:
        count = int(np.prod(info.shape))
        codes = unpack_signed(
            _raw_bytes(content, index), PACKED_BITS[info.dtype], count, signed=info.dtype[0] != "u"
        )
        return codes.reshape(info.shape)
    return tflite_file.read_constant(content, info)


def _blockwise_details(content: bytes, index: int):
    quantization = _flatbuffer(content).subgraphs[0].tensors[index].quantization
    if quantization is not None and quantization.detailsType == BLOCKWISE_DETAILS:
        return quantization.details
    return None


def dequantized_constant(content: bytes, index: int) -> np.ndarray:
    """A constant tensor as float32, dequantized with its own scales and zero points.

    Per-tensor and per-channel (along the tensor's quantized dimension) affine parameters, and
    blockwise ones: scales (and optional zero points) of shape ``(rows, columns // block)`` in
    separate constant tensors. Integer tensors without scales (shapes, indices) come back as
    stored.
    """
    info = _tensors(content)[index]
    codes = stored_codes(content, index)
    if np.issubdtype(codes.dtype, np.floating):
        return codes.astype(np.float32)
    blockwise = _blockwise_details(content, index)
    if blockwise is not None:
        block = int(blockwise.blockSize)
        scales = np.repeat(stored_codes(content, blockwise.scales).astype(np.float32), block, -1)
        zero_points = 0
        if blockwise.zeroPoints >= 0:
            zero_points = np.repeat(stored_codes(content, blockwise.zeroPoints), block, -1)
        return ((codes.astype(np.float32) - zero_points) * scales).astype(np.float32)
    if info.scales.size == 0:
        return codes
    axis = info.quantized_dimension if info.scales.size > 1 else None
    zero_points = info.zero_points if info.zero_points.size else 0
    return dequantize_values(codes, info.scales, zero_points, axis=axis)


# --------------------------------------------------------------------------- operators


def _activation(options) -> Callable[[np.ndarray], np.ndarray]:
    code = int(getattr(options, "fusedActivationFunction", 0) or 0)
    if code not in ACTIVATIONS:
        raise NotImplementedError(f"fused activation {code} is not supported")
    return ACTIVATIONS[code]


def _pad_same(x: np.ndarray, window: tuple[int, int], stride: tuple[int, int], value: float):
    """Pad height and width as TFLite's SAME padding does (the extra row/column at the end)."""
    pads = []
    for size, k, s in zip(x.shape[1:3], window, stride, strict=True):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=value)


def _windows(x, options, window: tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """Sliding windows ``(n, out_h, out_w, channels, kh, kw)`` with stride, dilation, padding."""
    dilation = (
        int(getattr(options, "dilationHFactor", 1) or 1),
        int(getattr(options, "dilationWFactor", 1) or 1),
    )
    stride = (int(options.strideH), int(options.strideW))
    span = tuple((k - 1) * d + 1 for k, d in zip(window, dilation, strict=True))
    if options.padding != PADDING_VALID:
        x = _pad_same(x, span, stride, fill)
    views = np.lib.stride_tricks.sliding_window_view(x, span, axis=(1, 2))
    return views[:, :: stride[0], :: stride[1], :, :: dilation[0], :: dilation[1]]


def _conv_2d(x, weights, bias, options):
    out_channels, kh, kw, in_channels = weights.shape
    if in_channels != x.shape[-1]:
        raise NotImplementedError("grouped convolutions are not supported")
    y = np.einsum("nijchw,ohwc->nijo", _windows(x, options, (kh, kw)), weights, optimize=True)
    return y + (0 if bias is None else bias)


def _depthwise_conv_2d(x, weights, bias, options):
    _, kh, kw, channels_out = weights.shape
    channels = x.shape[-1]
    kernel = weights.reshape(kh, kw, channels, channels_out // channels)
    y = np.einsum("nijchw,hwcm->nijcm", _windows(x, options, (kh, kw)), kernel, optimize=True)
    return y.reshape(*y.shape[:3], channels_out) + (0 if bias is None else bias)


def _pool(x, options, reduce: str):
    window = (int(options.filterHeight), int(options.filterWidth))
    if reduce == "max":
        return _windows(x, options, window, fill=-np.inf).max(axis=(-2, -1))
    total = _windows(x, options, window).sum(axis=(-2, -1))
    count = _windows(np.ones_like(x[:1]), options, window).sum(axis=(-2, -1))
    return total / count  # SAME padding averages over the real pixels only


def _fully_connected(x, weights, bias, options):
    units, depth = weights.shape
    y = x.reshape(-1, depth) @ weights.T + (0 if bias is None else bias)
    return y.reshape(*x.shape[:-1], units) if getattr(options, "keepNumDims", False) else y


def _softmax(x, options):
    beta = float(getattr(options, "beta", 1.0) or 1.0)
    z = beta * (x - x.max(axis=-1, keepdims=True))
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _reshape(x, shape_constant, options):
    target = shape_constant if shape_constant is not None else getattr(options, "newShape", None)
    if target is None:
        raise NotImplementedError("RESHAPE without a constant target shape")
    target = [int(d) for d in np.asarray(target).ravel()]
    return x.reshape(-1, *target[1:])  # the leading dimension is the batch: keep ours


def _evaluate_op(name: str, op, inputs: list[np.ndarray | None]) -> np.ndarray:
    options = op.builtinOptions
    x = inputs[0]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        compute = {
            "CONV_2D": _conv_2d,
            "DEPTHWISE_CONV_2D": _depthwise_conv_2d,
            "FULLY_CONNECTED": _fully_connected,
        }[name]
        bias = inputs[2] if len(inputs) > 2 else None
        return _activation(options)(compute(x, inputs[1], bias, options))
    if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        return _activation(options)(_pool(x, options, "max" if name[0] == "M" else "mean"))
    if name in ("ADD", "MUL", "SUB"):
        combine = {"ADD": np.add, "MUL": np.multiply, "SUB": np.subtract}[name]
        return _activation(options)(combine(x, inputs[1]))
    simple = {
        "DEQUANTIZE": lambda: x,  # every tensor is already float here
        "QUANTIZE": lambda: x,
        "RESHAPE": lambda: _reshape(x, inputs[1] if len(inputs) > 1 else None, options),
        "SOFTMAX": lambda: _softmax(x, options),
        "RELU": lambda: np.maximum(x, 0),
        "RELU6": lambda: np.clip(x, 0, 6),
        "LOGISTIC": lambda: 1 / (1 + np.exp(-x)),
        "TANH": lambda: np.tanh(x),
    }
    if name not in simple:
        raise NotImplementedError(f"operator {name} is not supported by the NumPy reference")
    return simple[name]()


def _run_graph(content: bytes, images: np.ndarray) -> np.ndarray:
    graph = _flatbuffer(content).subgraphs[0]
    infos = _tensors(content)
    values: dict[int, np.ndarray] = {
        info.index: dequantized_constant(content, info.index) for info in infos if info.is_constant
    }
    values[int(graph.inputs[0])] = np.asarray(images, dtype=np.float32)
    for info, op in zip(tflite_file.operators(content), graph.operators, strict=True):
        inputs = [values[i] if i >= 0 else None for i in info.inputs]
        values[info.outputs[0]] = _evaluate_op(info.name, op, inputs).astype(np.float32)
    return values[int(graph.outputs[0])]


def reference_outputs(content: bytes, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The model's first output for float ``images``, computed in NumPy from the file's weights.

    ``images`` are the float inputs of the float model (for this tutorial: ``(N, 28, 28, 1)`` in
    [0, 1]), also for files whose runtime input is int8: the reference never quantizes
    activations (see the module docstring). Batches of ``batch_size`` bound the memory used.
    """
    content = bytes(content)
    if len(_flatbuffer(content).subgraphs[0].inputs) != 1:
        raise NotImplementedError("only single-input models are supported")
    images = np.asarray(images, dtype=np.float32)
    chunks = [
        _run_graph(content, images[start : start + batch_size])
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks)


# --------------------------------------------------------------------------- diagnosis


@dataclass(frozen=True)
class PathResult:
    """One runtime path's outputs compared with the labels and with the NumPy reference."""

    accuracy: float
    agreement: float  # share of images whose top class equals the reference's
    nonfinite_images: int  # images with a NaN or an infinite output
    correct: bool  # finite everywhere and agreement >= the threshold


@dataclass(frozen=True)
class Diagnosis:
    reference_accuracy: float
    paths: dict[str, PathResult]  # "xnnpack" (default resolver) and "builtin"
    verdict: str  # "both", "xnnpack only", "builtin only" or "neither"

    def summary(self) -> str:
        """One line: which runtime path computes the file correctly, with the numbers."""
        parts = ", ".join(
            f"{name} {p.accuracy:.2%} (agrees {p.agreement:.2%}"
            + (f", {p.nonfinite_images} images NaN/inf" if p.nonfinite_images else "")
            + ")"
            for name, p in self.paths.items()
        )
        return f"computed correctly by: {self.verdict}; reference {self.reference_accuracy:.2%}, {parts}"


def verdict(correct: dict[str, bool]) -> str:
    """Name the runtime paths that compute the file correctly."""
    if all(correct.values()):
        return "both"
    right = [name for name, ok in correct.items() if ok]
    return f"{right[0]} only" if right else "neither"


def diagnose(
    content: bytes,
    images: np.ndarray,
    labels: np.ndarray,
    min_agreement: float = 0.95,
    num_threads: int = 1,
) -> Diagnosis:
    """Run the file on both LiteRT CPU paths and compare each with the NumPy reference.

    A path computes the file correctly when none of its outputs is NaN or infinite and its top
    class equals the reference's on at least ``min_agreement`` of the images. Agreement below 1
    is expected where the runtime rounds what the reference keeps in float (dynamic-range inputs,
    int8 activations, ties of int8 outputs); a defect shows as far lower agreement.
    """
    labels = np.asarray(labels)
    reference_classes = reference_outputs(content, images).argmax(axis=1)
    paths = {}
    for name, resolver in PATHS.items():
        model = LiteRTModel(bytes(content), num_threads=num_threads, resolver=resolver)
        scores = model.predict_proba(images)
        classes = scores.argmax(axis=1)
        nonfinite = int((~np.isfinite(scores)).any(axis=1).sum())
        agreement = float(np.mean(classes == reference_classes))
        paths[name] = PathResult(
            accuracy=accuracy(classes, labels),
            agreement=agreement,
            nonfinite_images=nonfinite,
            correct=nonfinite == 0 and agreement >= min_agreement,
        )
    return Diagnosis(
        reference_accuracy=accuracy(reference_classes, labels),
        paths=paths,
        verdict=verdict({name: p.correct for name, p in paths.items()}),
    )


# --------------------------------------------------------------------------- the general check

PATH_DISAGREEMENT = 0.01  # the two runtime paths may disagree on at most 1% of images
COLLAPSE_SHARE = 0.25  # a class predicted for more than this share of images: a collapse
DEFECT_REPRODUCTIONS = {  # what the file stores -> the reproduction in docs/upstream/
    ("CONV_2D", "int2"): "docs/upstream/conv2d_int2_filter.py",
    ("FULLY_CONNECTED", "blockwise"): "docs/upstream/blockwise_int4_fc_activation.py",
}


@dataclass(frozen=True)
class PathCheck:
    """Both LiteRT CPU paths on some images, and the diagnosis when they give reason to doubt."""

    accuracy: dict[str, float]  # per path
    paths_agreement: float  # share of images where the two paths predict the same class
    largest_class_share: float  # of the default path's predictions
    diagnosis: Diagnosis | None  # only when the paths disagree or the file collapses
    images: int

    @property
    def doubtful(self) -> bool:
        return (
            self.paths_agreement < 1 - PATH_DISAGREEMENT
            or self.largest_class_share > COLLAPSE_SHARE
        )

    @property
    def verdict(self) -> str:
        return "both" if self.diagnosis is None else self.diagnosis.verdict

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "paths_agreement": self.paths_agreement,
            "largest_class_share": self.largest_class_share,
            "images": self.images,
            "verdict": self.verdict,
            "diagnosis": None if self.diagnosis is None else self.diagnosis.summary(),
            "reference_accuracy": None
            if self.diagnosis is None
            else self.diagnosis.reference_accuracy,
        }


def check_paths(content: bytes, images: np.ndarray, labels: np.ndarray) -> PathCheck:
    """Run a file on both LiteRT CPU paths; when they disagree on more than
    :data:`PATH_DISAGREEMENT` of the images, or the default path puts more than
    :data:`COLLAPSE_SHARE` of them in one class, rebuild the float reference from the file's own
    weights (:func:`diagnose`) to tell which path computes the file correctly."""
    classes = {
        name: LiteRTModel(bytes(content), resolver=resolver).predict(images)
        for name, resolver in PATHS.items()
    }
    share = float(np.bincount(classes["xnnpack"], minlength=10).max() / len(images))
    check = PathCheck(
        accuracy={name: accuracy(c, labels) for name, c in classes.items()},
        paths_agreement=float(np.mean(classes["xnnpack"] == classes["builtin"])),
        largest_class_share=share,
        diagnosis=None,
        images=len(images),
    )
    if check.doubtful:
        check = PathCheck(**{**check.__dict__, "diagnosis": diagnose(content, images, labels)})
    return check


def checks_frame(checks: dict):
    """The checks of several files as a table."""
    import pandas as pd

    rows = {}
    for name, check in checks.items():
        d = check.diagnosis
        rows[name] = {
            "default path (XNNPACK) accuracy": round(check.accuracy["xnnpack"], 4),
            "built-in only accuracy": round(check.accuracy["builtin"], 4),
            "paths agree on": f"{check.paths_agreement:.2%}",
            "largest class share": f"{check.largest_class_share:.0%}",
            "reference accuracy": "–" if d is None else f"{d.reference_accuracy:.2%}",
            "default path agrees with reference": "–"
            if d is None
            else f"{d.paths['xnnpack'].agreement:.2%}",
            "built-in agrees with reference": "–"
            if d is None
            else f"{d.paths['builtin'].agreement:.2%}",
            "computed correctly by": VERDICT_WORDS[check.verdict],
        }
    return pd.DataFrame(rows).T


# How each verdict reads: the default path is XNNPACK for the operations it takes and the
# built-in kernels for the rest; the other path is the built-in kernels alone.
VERDICT_WORDS = {
    "both": "both paths",
    "xnnpack only": "the default path only",
    "builtin only": "the built-in kernels only",
    "neither": "neither path",
}


def _stored_features(content: bytes) -> set[tuple[str, str]]:
    """(operator, weight kind) pairs of a file: e.g. ('CONV_2D', 'int2'), ('FULLY_CONNECTED',
    'blockwise')."""
    features = set()
    infos = _tensors(content)
    for op in tflite_file.operators(content):
        if op.name not in tflite_file.WEIGHTED_OPS or len(op.inputs) < 2 or op.inputs[1] < 0:
            continue
        weight = infos[op.inputs[1]]
        features.add((op.name, weight.dtype))
        if _blockwise_details(content, weight.index) is not None:
            features.add((op.name, "blockwise"))
    return features


def caveat(check: PathCheck, content: bytes) -> str | None:
    """The caveat a file's summary row carries: a runtime defect when no path, or only one path,
    computes the file as its own weights say (with the reproduction that shows it, where there is
    one); None when both do."""
    if check.diagnosis is None or check.verdict == "both":
        return None
    from helpers.evaluate import execution_plan

    d = check.diagnosis
    right = {
        "xnnpack only": "only the default path (XNNPACK) computes it correctly",
        "builtin only": "only the built-in kernels compute it correctly",
        "neither": "neither the default path nor the built-in kernels alone compute it correctly",
    }[check.verdict]
    if check.verdict == "neither":
        left = sorted(set(execution_plan(content)["builtin"]) & set(tflite_file.WEIGHTED_OPS))
        if left:
            right += (
                f" (XNNPACK does not take its {' and '.join(left)} operations, so both paths "
                "run the built-in kernels there)"
            )
    numbers = ", ".join(
        f"{'default path' if path == 'xnnpack' else 'built-in only'} {p.accuracy:.2%}"
        for path, p in d.paths.items()
    )
    script = reproduction(content)
    return (
        f"runtime defect: {right} (on {check.images:,} test images, the float reference rebuilt "
        f"from the file's own weights scores {d.reference_accuracy:.2%}; {numbers})"
        + (f"; reproduction: `{script}`" if script else "")
    )


def reproduction(content: bytes) -> str | None:
    """The reproduction script in ``docs/upstream/`` for the defect this file's weights meet."""
    for feature, script in DEFECT_REPRODUCTIONS.items():
        if feature in _stored_features(content):
            return script
    return None
