"""Every figure of the tutorial: one function per figure, each returning the matplotlib Figure.

Notebooks call one function per figure and :func:`save_figure` to keep a PNG in
``ARTIFACTS_DIR/figures``. Nothing here computes results; it only draws what it is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from helpers import artifacts
from helpers.data import CLASS_NAMES

CORRECT_COLOR = "#1a7f37"
WRONG_COLOR = "#cf222e"
FLOAT_COLOR = "#0969da"
QUANT_COLOR = "#bf8700"


def use_style() -> None:
    """One plot style for every notebook."""
    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "figure.figsize": (8, 4.5),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
        }
    )


def save_figure(fig: plt.Figure, artifacts_dir: Path, name: str) -> None:
    """Write ``fig`` atomically to ``ARTIFACTS_DIR/figures/<name>.png``.

    Returns None on purpose: as the last line of a cell it then adds no output under the figure.
    """
    target = Path(artifacts_dir) / "figures" / f"{name}.png"
    artifacts.save_with(target, lambda tmp: fig.savefig(tmp, bbox_inches="tight"))


# --------------------------------------------------------------------------- 01 data


def class_balance(train_counts: Sequence[int], test_counts: Sequence[int]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(9, 4))
    positions = np.arange(len(CLASS_NAMES))
    ax.bar(positions - 0.2, train_counts, width=0.4, label="train", color=FLOAT_COLOR)
    ax.bar(positions + 0.2, test_counts, width=0.4, label="test", color=QUANT_COLOR)
    ax.set_xticks(positions, CLASS_NAMES, rotation=30, ha="right")
    ax.set_ylabel("images")
    ax.set_title("Images per class")
    ax.legend()
    fig.tight_layout()
    return fig


def samples_per_class(
    images: np.ndarray, labels: np.ndarray, per_class: int = 6, seed: int = 0
) -> plt.Figure:
    """A grid with one row per class and ``per_class`` random examples of it."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(
        len(CLASS_NAMES), per_class, figsize=(per_class * 1.1, len(CLASS_NAMES) * 1.15)
    )
    for cls, row in enumerate(axes):
        picks = rng.choice(np.flatnonzero(labels == cls), size=per_class, replace=False)
        for ax, index in zip(row, picks, strict=True):
            ax.imshow(np.squeeze(images[index]), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        row[0].set_ylabel(CLASS_NAMES[cls], rotation=0, ha="right", va="center")
    fig.suptitle("Random training images of every class")
    fig.tight_layout()
    return fig


def pixel_histogram(train_images: np.ndarray, test_images: np.ndarray) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bins = np.arange(257) - 0.5
    for images, label, color in (
        (train_images, "train", FLOAT_COLOR),
        (test_images, "test", QUANT_COLOR),
    ):
        counts = np.bincount(images.ravel(), minlength=256) / images.size
        ax.stairs(counts, bins, label=label, color=color)
    ax.set_yscale("log")
    ax.set_xlabel("raw pixel value (0 = background)")
    ax.set_ylabel("share of pixels (log)")
    ax.set_title("Pixel value distribution")
    ax.legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 02 baseline


def training_curves(history: Mapping[str, Sequence[float]]) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, history[metric], "o-", label="train", color=FLOAT_COLOR)
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", label="validation", color=QUANT_COLOR)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend()
    fig.tight_layout()
    return fig


def per_class_bars(
    values: Mapping[str, Sequence[float]], title: str, ylabel: str, zero_line: bool = False
) -> plt.Figure:
    """Grouped bars per class, one group member per entry of ``values``."""
    fig, ax = plt.subplots(figsize=(10, 4))
    positions = np.arange(len(CLASS_NAMES))
    width = 0.8 / max(1, len(values))
    for i, (label, series) in enumerate(values.items()):
        ax.bar(positions + (i - (len(values) - 1) / 2) * width, series, width=width, label=label)
    ax.set_xticks(positions, CLASS_NAMES, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if zero_line:
        ax.axhline(0, color="black", linewidth=0.8)
    if len(values) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 03 PTQ


def weight_quantization(
    float_weights: np.ndarray, int_weights: np.ndarray, dequantized: np.ndarray, layer: str
) -> plt.Figure:
    """Float weights, their int8 codes, and the rounding error after dequantizing."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].hist(float_weights.ravel(), bins=80, color=FLOAT_COLOR)
    axes[0].set_title(f"{layer}: float32 weights")
    axes[0].set_xlabel("value")
    axes[1].hist(int_weights.ravel(), bins=np.arange(-128, 129) - 0.5, color=QUANT_COLOR)
    axes[1].set_title("stored int8 codes")
    axes[1].set_xlabel("q (integer)")
    error = (dequantized - float_weights).ravel()
    axes[2].hist(error, bins=80, color="gray")
    axes[2].set_title("error after dequantizing")
    axes[2].set_xlabel("scale·(q − zero_point) − w")
    fig.tight_layout()
    return fig


def layer_errors(table, top: int = 12) -> plt.Figure:
    """Horizontal bars of rmse/scale per layer, the worst at the top."""
    rows = table.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.2))
    labels = [f"{op} #{i}" for op, i in zip(rows["op_name"], rows.index, strict=True)]
    ax.barh(labels, rows["rmse/scale"], color=QUANT_COLOR)
    ax.axvline(
        1 / np.sqrt(12),
        color="black",
        linestyle="--",
        linewidth=1,
        label="pure rounding noise (1/√12 ≈ 0.29)",
    )
    ax.set_xlabel("RMSE of layer output / quantization step")
    ax.set_title("Per-layer quantization error of the int8 model")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def calibration_curve(
    samples: Sequence[int], accuracies: Sequence[float], float_accuracy: float
) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(samples, np.asarray(accuracies) * 100, "o-", color=QUANT_COLOR, label="int8 TFLite")
    ax.axhline(float_accuracy * 100, color=FLOAT_COLOR, linestyle="--", label="float32 TFLite")
    ax.set_xscale("log")
    ax.set_xlabel("calibration samples (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("int8 accuracy against calibration set size")
    ax.legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 05 comparison


def size_vs_accuracy(rows: Sequence[Mapping]) -> plt.Figure:
    """Each variant as a point: file size (KiB) against test accuracy."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for row in rows:
        ax.scatter(row["size_bytes"] / 1024, row["test_accuracy"] * 100, s=60)
        ax.annotate(
            row["name"],
            (row["size_bytes"] / 1024, row["test_accuracy"] * 100),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=9,
        )
    ax.set_xlabel("file size (KiB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Size against accuracy (LiteRT, full test set)")
    fig.tight_layout()
    return fig


def speed_bars(rows: Sequence[Mapping], threads: int) -> plt.Figure:
    names = [row["name"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    latency = [row["latency_ms_batch1"] for row in rows]
    p90 = [row["latency_ms_batch1_p90"] for row in rows]
    axes[0].bar(names, latency, color=FLOAT_COLOR, label="median")
    axes[0].scatter(names, p90, color="black", marker="_", s=300, label="p90", zorder=3)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ms per image (log)")
    axes[0].set_title(f"Batch-1 latency ({threads} thread)")
    axes[0].legend()
    axes[1].bar(
        names, [row["throughput_ips"] for row in rows], color=QUANT_COLOR, label="default (XNNPACK)"
    )
    if all("throughput_ips_builtin" in row for row in rows):
        axes[1].scatter(
            names,
            [row["throughput_ips_builtin"] for row in rows],
            color="black",
            marker="D",
            label="built-in kernels",
            zorder=3,
        )
    axes[1].set_yscale("log")
    axes[1].set_ylabel("images per second (log)")
    axes[1].set_title(f"Throughput at batch 256 ({threads} thread)")
    axes[1].legend(fontsize=8, loc="lower left")
    for ax in axes:
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def confusion_pair(float_matrix: np.ndarray, quant_matrix: np.ndarray, name: str) -> plt.Figure:
    """The quantized model's confusion matrix, and its difference from the float model's."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    image = axes[0].imshow(quant_matrix, cmap="Blues")
    fig.colorbar(image, ax=axes[0], fraction=0.046)
    axes[0].set_title(f"{name}: confusion matrix")
    diff = quant_matrix - float_matrix
    limit = max(1, int(np.abs(diff).max()))
    image = axes[1].imshow(diff, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=axes[1], fraction=0.046)
    axes[1].set_title(f"{name} minus float (counts)")
    for ax, matrix in ((axes[0], quant_matrix), (axes[1], diff)):
        ax.set_xticks(range(len(CLASS_NAMES)), CLASS_NAMES, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(CLASS_NAMES)), CLASS_NAMES, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.grid(False)
        for (i, j), value in np.ndenumerate(matrix):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=6)
    fig.tight_layout()
    return fig


def prediction_grid(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    title: str,
) -> plt.Figure:
    """One row per model over the *same* images; titles 'predicted (true)', green when right."""
    count = len(images)
    fig, axes = plt.subplots(
        len(predictions), count, figsize=(count * 1.35, len(predictions) * 1.7), squeeze=False
    )
    for row, (model_name, predicted) in zip(axes, predictions.items(), strict=True):
        for ax, image, label, guess in zip(row, images, labels, predicted, strict=True):
            ax.imshow(np.squeeze(image), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            color = CORRECT_COLOR if guess == label else WRONG_COLOR
            ax.set_title(f"{CLASS_NAMES[guess]}\n({CLASS_NAMES[label]})", fontsize=7, color=color)
        row[0].set_ylabel(model_name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
