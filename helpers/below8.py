"""Notebook 07's bookkeeping: every file it makes, measured the same way, and the layer choice.

* :class:`Ledger`: size, accuracy on the test set and on the held-out images, tied outputs, the
  paired comparison with the parent file, and the weight type of each layer, for every file;
* :func:`choose_layers`: which layers may go to fewer bits, chosen on notebook 02's held-out
  images with the tutorial's one non-inferiority rule (:func:`helpers.stats.non_inferiority`),
  so that the test set is left for the final score.

The quantizer recipes themselves are the lesson and stay in the notebook; it passes them in as
functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from helpers import stats, tflite_file
from helpers.evaluate import evaluate_tflite


@dataclass
class Ledger:
    """Every file notebook 07 makes, measured against ``parent_predictions`` (float32's)."""

    data: object  # helpers.data.Preprocessed
    parent_predictions: np.ndarray
    parent_size: int
    layers: Sequence[str]
    entries: dict = field(default_factory=dict)

    def measure(self, name: str, content: bytes, description: str) -> None:
        """Evaluate ``content`` and keep it under ``name`` (``ledger[name]`` reads it back)."""
        evaluation = evaluate_tflite(content, self.data)
        weights = {
            r["layer"]: r["dtype"]
            for r in tflite_file.constants_table(content, list(self.layers))
            if r["role"] == "weights"
        }
        self.entries[name] = {
            "description": description,
            "content": content,
            "evaluation": evaluation,
            "versus": stats.compare_predictions(
                evaluation.predictions,
                self.parent_predictions,
                self.data.y_test,
                tied=evaluation.tied,
            ),
            "weights": "/".join(weights.get(layer, "?") for layer in self.layers),
        }

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> dict:
        return self.entries[name]

    def table(self, names: Sequence[str]):
        """One row per file: weight types, size, I/O, accuracy, ties, paired comparison."""
        import pandas as pd

        rows = {}
        for name in names:
            entry = self.entries[name]
            record, versus = entry["evaluation"].record, entry["versus"]
            rows[name] = {
                f"weights {'/'.join(self.layers)}": entry["weights"],
                "bytes": record["size_bytes"],
                "× float32": round(record["size_bytes"] / self.parent_size, 3),
                "I/O": record["input_dtype"],
                "accuracy": record["test_accuracy"],
                "tied outputs": record["tied_outputs"],
                "Δ vs float32 (pp)": round(versus.delta_pp, 2),
                "95% interval": "{:+.2f} to {:+.2f}".format(*versus.ci95_pp),
                "agreement": round(versus.agreement, 4),
                "verdict": versus.verdict,
            }
        return pd.DataFrame(rows).T

    def summary(self) -> dict:
        """JSON-ready: what every explored file measured."""
        return {
            name: {
                "description": e["description"],
                "size_bytes": e["evaluation"].record["size_bytes"],
                "test_accuracy": e["evaluation"].record["test_accuracy"],
                "tied_outputs": e["evaluation"].record["tied_outputs"],
                "versus_float32": e["versus"].as_dict(),
                "weights": e["weights"],
            }
            for name, e in self.entries.items()
        }


def choose_layers(
    layers: Sequence[str],
    predict_held_out: Callable[[list[str]], np.ndarray],
    reference: np.ndarray,
    labels: np.ndarray,
    *,
    margin_pp: float | None = None,
):
    """Which layers may go to fewer bits, chosen on held-out images with one rule.

    ``predict_held_out(layers)`` makes the file with those layers at fewer bits (and the rest as
    in the reference file) and returns its predictions on the held-out images; ``reference`` is
    the reference file's predictions there. First each layer alone is tested for
    non-inferiority to the reference (:func:`helpers.stats.non_inferiority`, ``margin_pp``
    defaulting to the tutorial's margin); then the layers that pass are added one at a time,
    least harmful first, and the combination is tested after each addition: a layer that makes
    it fail stays at the reference's bits. Returns (chosen layers, per-layer table, steps table).
    """
    import pandas as pd

    sensitivity, steps, chosen = {}, [], []
    for layer in layers:
        test = stats.non_inferiority(
            predict_held_out([layer]), reference, labels, margin_pp=margin_pp
        )
        sensitivity[layer] = test
    passed = sorted(
        (layer for layer in layers if sensitivity[layer].non_inferior),
        key=lambda layer: -sensitivity[layer].delta_pp,
    )
    for layer in passed:
        trial = [*chosen, layer]
        test = (
            sensitivity[layer]
            if not chosen
            else stats.non_inferiority(
                predict_held_out(trial), reference, labels, margin_pp=margin_pp
            )
        )
        steps.append({"fewer bits on": ", ".join(trial), **_row(test), "kept": test.non_inferior})
        if test.non_inferior:
            chosen = trial
    per_layer = pd.DataFrame({layer: _row(test) for layer, test in sensitivity.items()}).T
    return chosen, per_layer, pd.DataFrame(steps)


def _row(test: stats.NonInferiority) -> dict:
    return {
        "Δ vs reference (pp)": round(test.delta_pp, 2),
        "lower 95% bound (pp)": round(test.lower_bound_pp, 2),
        "one-sided p": float(f"{test.p_value:.2g}"),
        "non-inferior": test.non_inferior,
        "borderline": test.borderline,
    }


def symmetric_rows(kernel: np.ndarray, bits: int) -> np.ndarray:
    """Per-output-channel symmetric quantization of a Keras kernel (output channels last),
    returned dequantized, as rows (one per output channel)."""
    rows = kernel.reshape(-1, kernel.shape[-1]).T
    steps = 2 ** (bits - 1) - 1
    scales = np.abs(rows).max(axis=1, keepdims=True) / steps
    return np.clip(np.round(rows / scales), -steps, steps) * scales


def rounded_keras(model, bits: int):
    """A copy of a Keras model whose kernels are rounded per channel to ``bits`` (biases float):
    what weight rounding alone does, with float arithmetic everywhere else."""
    import tf_keras

    copy = tf_keras.models.clone_model(model)
    copy.set_weights(
        [
            symmetric_rows(w, bits).T.reshape(w.shape) if w.ndim > 1 else w
            for w in model.get_weights()
        ]
    )
    return copy


def zero_share(model, bits: int, layers: Sequence[str]) -> dict[str, float]:
    """Per layer, the share of kernel weights that ``bits``-bit symmetric rounding sends to 0."""
    return {
        name: float(np.mean(symmetric_rows(model.get_layer(name).get_weights()[0], bits) == 0))
        for name in layers
    }
