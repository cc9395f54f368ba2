"""Run ``.tflite`` models in the LiteRT interpreter and score them against labels and the float model.

Integer-I/O models take int8 (or uint8) tensors. :class:`LiteRTModel` reads each model's own input
scale and zero point to quantize the float images, and the output's to dequantize the scores, so
every variant is fed the same preprocessed images and returns comparable probabilities.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from helpers.affine import dequantize_values, quantize_values
from helpers.data import NUM_CLASSES
from helpers.errors import InvalidModelError

TFLITE_FILE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every TFLite flatbuffer

RESOLVERS = {
    # XNNPACK delegate applied automatically: what the runtime does by default on CPU.
    "default": OpResolverType.AUTO,
    # The interpreter's own optimized kernels, no delegate.
    "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
}


def read_tflite(path: str | os.PathLike) -> bytes:
    """Read a ``.tflite`` file, refusing anything that is not a TFLite flatbuffer."""
    path = Path(path)
    if not path.is_file():
        raise InvalidModelError(f"{path} does not exist.")
    content = path.read_bytes()
    check_tflite_bytes(content, str(path))
    return content


def check_tflite_bytes(content: bytes, label: str = "model") -> None:
    if len(content) < 8 or content[4:8] != TFLITE_FILE_IDENTIFIER:
        raise InvalidModelError(
            f"{label} is not a TensorFlow Lite model (no 'TFL3' identifier in its header; "
            f"{len(content)} bytes). Fix: re-run the notebook that writes it."
        )


class LiteRTModel:
    """A ``.tflite`` model in the LiteRT interpreter, fed float images, returning float scores."""

    def __init__(
        self,
        model: str | os.PathLike | bytes,
        *,
        num_threads: int = 1,
        resolver: str = "default",
    ) -> None:
        if isinstance(model, (bytes, bytearray)):
            self.content, self.label = bytes(model), "model bytes"
            check_tflite_bytes(self.content, self.label)
        else:
            self.content, self.label = read_tflite(model), str(model)
        try:
            self.interpreter = Interpreter(
                model_content=self.content,
                num_threads=num_threads,
                experimental_op_resolver_type=RESOLVERS[resolver],
            )
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise InvalidModelError(
                f"{self.label} could not be loaded by the LiteRT interpreter ({exc}). "
                "Fix: re-run the notebook that writes it."
            ) from exc
        self.num_threads = num_threads
        self.resolver = resolver
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = 1

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self._output["dtype"])

    @property
    def input_quantization(self) -> tuple[float, int]:
        """(scale, zero point) of the input; (0.0, 0) for a float input."""
        scale, zero_point = self._input["quantization"]
        return float(scale), int(zero_point)

    @property
    def output_quantization(self) -> tuple[float, int]:
        scale, zero_point = self._output["quantization"]
        return float(scale), int(zero_point)

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """Float images in [0, 1] -> the tensor this model expects (quantized if integer input)."""
        images = np.asarray(images, dtype=np.float32)
        if np.issubdtype(self.input_dtype, np.floating):
            return images.astype(self.input_dtype)
        scale, zero_point = self.input_quantization
        if scale == 0:
            raise InvalidModelError(f"{self.label} has an integer input without a scale")
        return quantize_values(images, scale, zero_point, dtype=self.input_dtype)

    def from_output(self, raw: np.ndarray) -> np.ndarray:
        """The output tensor -> float scores (dequantized if integer output)."""
        if np.issubdtype(self.output_dtype, np.floating):
            return raw.astype(np.float32)
        scale, zero_point = self.output_quantization
        return dequantize_values(raw, scale, zero_point)

    def set_batch_size(self, batch_size: int) -> None:
        if batch_size != self._batch:
            shape = [batch_size, *self._input["shape"][1:]]
            self.interpreter.resize_tensor_input(self._input["index"], shape)
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
            self._batch = batch_size

    def set_input(self, batch: np.ndarray) -> None:
        """Copy an input tensor (already in the model's type and batch size) into the model."""
        self.interpreter.set_tensor(self._input["index"], batch)

    def invoke(self) -> None:
        """Run the model on the input set last; only the computation, no copies."""
        self.interpreter.invoke()

    def invoke_tensor(self, batch: np.ndarray) -> np.ndarray:
        """One call on an input tensor already in the model's type and batch size (raw output)."""
        self.set_input(batch)
        self.invoke()
        return self.interpreter.get_tensor(self._output["index"])

    def predict_proba(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Float scores for every image; the last partial batch is padded, then trimmed."""
        tensor = self.to_input(images)
        count = len(tensor)
        batch_size = max(1, min(batch_size, count))
        self.set_batch_size(batch_size)
        outputs = []
        for start in range(0, count, batch_size):
            chunk = tensor[start : start + batch_size]
            real = len(chunk)
            if real < batch_size:
                pad = np.repeat(chunk[-1:], batch_size - real, axis=0)
                chunk = np.concatenate([chunk, pad])
            outputs.append(self.from_output(self.invoke_tensor(chunk))[:real])
        return np.concatenate(outputs)

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Predicted class per image."""
        return self.predict_proba(images, batch_size).argmax(axis=1)


# --------------------------------------------------------------------------- metrics


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    correct = np.asarray(predictions) == labels
    totals = np.bincount(labels, minlength=NUM_CLASSES)
    hits = np.bincount(labels, weights=correct, minlength=NUM_CLASSES)
    return np.divide(hits, totals, out=np.zeros(NUM_CLASSES), where=totals > 0)


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts: row = true class, column = predicted class."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def top_classes(scores: np.ndarray) -> np.ndarray:
    """Per image, which classes share the largest output value (a boolean (N, classes) mask).

    An int8 output can take only 256 values, so two close classes often get the same one: a
    *tied* output. ``argmax`` then returns the lowest class index among them, silently.
    """
    scores = np.asarray(scores)
    return scores == scores.max(axis=1, keepdims=True)


def tied_outputs(scores: np.ndarray) -> np.ndarray:
    """Per image: True when two or more classes share the largest output value."""
    return top_classes(scores).sum(axis=1) > 1


def tie_credit_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy with a fair tie rule: an image whose top output is shared by ``k`` classes, the
    right one among them, counts ``1/k`` (the expected accuracy of breaking ties at random)."""
    top = top_classes(scores)
    labels = np.asarray(labels)
    return float(np.mean(top[np.arange(len(labels)), labels] / top.sum(axis=1)))


@dataclass
class Evaluation:
    """One model on the test set (and on notebook 02's held-out images, when there are any)."""

    record: dict  # JSON-ready: accuracy, per class, ties, size and I/O types
    predictions: np.ndarray  # predicted class per test image (argmax: the lowest index on a tie)
    tied: np.ndarray  # per test image: the top output is shared by two or more classes
    validation_predictions: np.ndarray | None = None
    scores: np.ndarray | None = None  # the float outputs on the test images (not recorded)


def _evaluation(scores, data, validation_scores, **record) -> Evaluation:
    predictions = np.asarray(scores).argmax(axis=1)
    tied = tied_outputs(scores)
    return Evaluation(
        record={
            **record,
            "test_accuracy": accuracy(predictions, data.y_test),
            "per_class_accuracy": per_class_accuracy(predictions, data.y_test).tolist(),
            "tied_outputs": int(tied.sum()),
            "tie_credit_accuracy": tie_credit_accuracy(scores, data.y_test),
        },
        predictions=predictions,
        tied=tied,
        validation_predictions=None
        if validation_scores is None
        else np.asarray(validation_scores).argmax(axis=1),
        scores=np.asarray(scores),
    )


def execution_plan(model: str | os.PathLike | bytes, resolver: str = "default") -> dict:
    """Which operations a delegate (XNNPACK, by default) took, and which stay on the
    interpreter's built-in kernels: ``{"delegated": [...], "builtin": [...]}`` op names.

    The interpreter lists every original operation plus one ``DELEGATE`` node per delegated
    subgraph; an operation is delegated when it lies between a ``DELEGATE`` node's inputs and its
    outputs. Uses the interpreter's ``_get_ops_details`` (private, as TFLite's own
    QuantizationDebugger does).
    """
    details = LiteRTModel(model, resolver=resolver).interpreter._get_ops_details()
    operations = [op for op in details if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in operations for t in op["outputs"]}
    delegated: set[int] = set()
    for node in (op for op in details if op["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in node["inputs"]}
        frontier = [int(t) for t in node["outputs"]]
        while frontier:
            tensor = frontier.pop()
            index = producer.get(tensor)
            if index is None or index in delegated or tensor in boundary:
                continue
            delegated.add(index)
            frontier.extend(int(t) for t in details[index]["inputs"])
    return {
        "delegated": [op["op_name"] for op in operations if op["index"] in delegated],
        "builtin": [op["op_name"] for op in operations if op["index"] not in delegated],
    }


def evaluate_tflite(model: str | os.PathLike | bytes, data, **options) -> Evaluation:
    """Run one ``.tflite`` file (a path, or the model's bytes) on ``data``'s test images and on
    its held-out validation images; ``options`` go to :class:`LiteRTModel` (e.g. the resolver)."""
    loaded = LiteRTModel(model, **options)
    has_validation = len(data.y_val) > 0
    return _evaluation(
        loaded.predict_proba(data.x_test),
        data,
        loaded.predict_proba(data.x_val) if has_validation else None,
        file=None if isinstance(model, (bytes, bytearray)) else Path(model).name,
        size_bytes=len(loaded.content),
        input_dtype=loaded.input_dtype.name,
        output_dtype=loaded.output_dtype.name,
    )


def evaluate_keras(model, data, path: str | os.PathLike | None = None) -> Evaluation:
    """The same for a Keras model (``model.predict``); ``path``: its saved file, for the size."""
    has_validation = len(data.y_val) > 0
    return _evaluation(
        model.predict(data.x_test, batch_size=1024, verbose=0),
        data,
        model.predict(data.x_val, batch_size=1024, verbose=0) if has_validation else None,
        file=None if path is None else Path(path).name,
        size_bytes=None if path is None else Path(path).stat().st_size,
        input_dtype="float32",
        output_dtype="float32",
    )
