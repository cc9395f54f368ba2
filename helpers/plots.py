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
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
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
            for spine in ax.spines.values():
                spine.set_visible(False)
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
    values: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str,
    zero_line: bool = False,
    marks: Mapping[str, Sequence[bool]] | None = None,
) -> plt.Figure:
    """Grouped bars per class, one group member per entry of ``values``; ``marks`` puts a star
    over the bars flagged True (e.g. a measurable per-class difference)."""
    fig, ax = plt.subplots(figsize=(10, 4))
    positions = np.arange(len(CLASS_NAMES))
    width = 0.8 / max(1, len(values))
    for i, (label, series) in enumerate(values.items()):
        x = positions + (i - (len(values) - 1) / 2) * width
        ax.bar(x, series, width=width, label=label)
        for xi, yi, flagged in zip(x, series, (marks or {}).get(label, []), strict=False):
            if flagged:
                ax.annotate(
                    "*", (xi, yi), ha="center", va="bottom" if yi >= 0 else "top", fontsize=12
                )
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
    axes[2].locator_params(axis="x", nbins=4)
    axes[2].set_title("error after dequantizing")
    axes[2].set_xlabel("scale·(q − zero_point) − w")
    fig.tight_layout()
    return fig


def layer_errors(table) -> plt.Figure:
    """Horizontal bars of rmse/scale per quantized layer output, named by Keras layer."""
    rows = table.iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(rows) + 1.4))
    labels = [f"{layer} ({op})" for layer, op in zip(rows["layer"], rows["op_name"], strict=True)]
    ax.barh(labels, rows["rmse/scale"], color=QUANT_COLOR)
    ax.axvline(
        1 / np.sqrt(12),
        color="black",
        linestyle="--",
        linewidth=1,
        label="uniform rounding noise (1/√12 ≈ 0.29)",
    )
    ax.set_xlabel("RMSE of the layer's int8 output against its float twin, in quantization steps")
    ax.set_title("Per-layer error of the int8 model (each layer fed the same input)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def calibration_study(study, float_accuracy: float, used_samples: int) -> plt.Figure:
    """Accuracy per calibration size (every draw, mean and range) and the ranges calibrated.

    ``study`` has one row per draw: ``samples``, ``draw``, ``accuracy``, and one ``range <layer>``
    column per calibrated activation.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    sizes = sorted(study["samples"].unique())
    grouped = study.groupby("samples")["accuracy"]
    means, lows, highs = grouped.mean(), grouped.min(), grouped.max()
    left.scatter(
        study["samples"],
        study["accuracy"] * 100,
        s=14,
        color="gray",
        alpha=0.6,
        label="one random calibration set",
    )
    left.errorbar(
        sizes,
        means[sizes] * 100,
        yerr=[(means[sizes] - lows[sizes]) * 100, (highs[sizes] - means[sizes]) * 100],
        fmt="o-",
        color=QUANT_COLOR,
        capsize=4,
        label="mean (bars: lowest to highest draw)",
    )
    left.axhline(float_accuracy * 100, color=FLOAT_COLOR, linestyle="--", label="float baseline")
    left.axvline(
        used_samples,
        color="black",
        linewidth=0.8,
        linestyle=":",
        label=f"size this notebook uses ({used_samples})",
    )
    left.set_xscale("log")
    left.set_xlabel("calibration images (log scale)")
    left.set_ylabel("int8 test accuracy (%)")
    left.set_title("Accuracy against calibration set size")
    # At least one percentage point tall: a few images' difference should look like one.
    centre = float(study["accuracy"].mean()) * 100
    low_y = min(float(study["accuracy"].min()) * 100, float_accuracy * 100, centre - 0.5)
    high_y = max(float(study["accuracy"].max()) * 100, float_accuracy * 100, centre + 0.5)
    left.set_ylim(low_y - 0.05, high_y + 0.05)
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    range_columns = [c for c in study.columns if c.startswith("range ")]
    for column in range_columns:
        per_size = study.groupby("samples")[column]
        right.plot(sizes, per_size.mean()[sizes], "o-", label=column.removeprefix("range "))
        right.fill_between(sizes, per_size.min()[sizes], per_size.max()[sizes], alpha=0.2)
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("calibration images (log scale)")
    right.set_ylabel("calibrated range width (log)")
    right.set_title("What calibration sets: each activation's range")
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=4)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 05 comparison


OFF_SCALE_PP = -5.0  # files further below the baseline are drawn at the left edge, value printed


def size_vs_accuracy(
    rows: Sequence[Mapping], title: str = "Size against accuracy", margin_pp: float | None = None
) -> plt.Figure:
    """Every ``.tflite`` file on a row of its own, largest first: its size (left, KiB, log
    scale) and its accuracy change from the float baseline with the paired 95% interval (right).

    One row per file keeps every name readable however close the sizes are (a dozen files sit
    within a few KiB of each other). Filled markers are variants, hollow ones controls; float32
    is blue. A file that collapsed (below ``OFF_SCALE_PP``) is a triangle at the left edge with
    its value printed. Files whose result is a runtime defect (a ``caveat`` starting with
    "runtime defect") are drawn apart, below a line, in grey: they say nothing about
    quantization. ``margin_pp``: the non-inferiority margin, drawn as a dashed line.
    """
    from matplotlib.lines import Line2D

    def is_defect(row: Mapping) -> bool:
        return str(row.get("caveat") or "").startswith("runtime defect")

    ordered = sorted((r for r in rows if not is_defect(r)), key=lambda r: -r["size_bytes"])
    defects = sorted((r for r in rows if is_defect(r)), key=lambda r: -r["size_bytes"])
    shown = ordered + defects
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 0.34 * len(shown) + 2.2), sharey=True, width_ratios=(1, 1.6)
    )
    positions = np.arange(len(shown))
    on_scale = [
        bound
        for r in ordered
        if r["change_pp"] >= OFF_SCALE_PP
        for bound in r["delta_vs_baseline_ci95_pp"]
    ]
    spread = max(1.0, max(abs(v) for v in on_scale) * 1.15) if on_scale else 1.0
    lowest = max(-spread, OFF_SCALE_PP)
    for y, row in zip(positions, shown, strict=True):
        defect = is_defect(row)
        color = "0.6" if defect else FLOAT_COLOR if row["name"] == "float32" else QUANT_COLOR
        kib = row["size_bytes"] / 1024
        left.barh(y, kib, color=color, alpha=0.8)
        left.annotate(
            f"{kib:,.1f}",
            (kib, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
        delta = row["change_pp"]
        if delta < lowest:
            right.plot(lowest, y, marker="<", color=WRONG_COLOR if not defect else "0.5", ms=8)
            right.annotate(
                f"{delta:+.1f} pp",
                (lowest, y),
                xytext=(8, 0),
                textcoords="offset points",
                va="center",
                fontsize=7,
            )
            continue
        low, high = row["delta_vs_baseline_ci95_pp"]
        right.errorbar(
            delta,
            y,
            xerr=[[delta - low], [high - delta]],
            fmt="o",
            capsize=3,
            color=color,
            markerfacecolor="white" if row.get("role") == "control" else color,
            markersize=6,
        )
    if defects:
        for ax in (left, right):
            ax.axhline(len(ordered) - 0.5, color="black", linewidth=0.8, linestyle="--")
    labels = [
        f"{r['name']}{' (control)' if r.get('role') == 'control' else ''}"
        f"{' (runtime defect)' if is_defect(r) else ''}"
        for r in shown
    ]
    left.set_yticks(positions, labels, fontsize=8)
    left.invert_yaxis()
    left.set_xscale("log")
    sizes = [r["size_bytes"] / 1024 for r in shown]
    ticks = [
        t for t in (10, 20, 50, 100, 200, 500, 1000) if min(sizes) / 2 <= t <= max(sizes) * 1.5
    ]
    left.set_xticks(ticks, [f"{t:g}" for t in ticks])
    left.minorticks_off()
    left.set_xlabel("file size (KiB, log scale)")
    left.grid(axis="y", visible=False)
    right.axvline(0, color="black", linewidth=0.8)
    handles = [
        Line2D([], [], marker="o", color=QUANT_COLOR, linestyle="", label="variant"),
        Line2D(
            [],
            [],
            marker="o",
            color=QUANT_COLOR,
            markerfacecolor="white",
            linestyle="",
            label="control (notebook 04)",
        ),
        Line2D([], [], marker="o", color=FLOAT_COLOR, linestyle="", label="float32"),
    ]
    if margin_pp is not None:
        right.axvline(-margin_pp, color="0.4", linewidth=1, linestyle="--")
        handles.append(
            Line2D(
                [],
                [],
                color="0.4",
                linestyle="--",
                label=f"non-inferiority margin (-{margin_pp} pp)",
            )
        )
    if defects:
        handles.append(
            Line2D([], [], marker="o", color="0.6", linestyle="", label="runtime defect")
        )
    right.set_xlim(lowest - 0.1 * spread, spread)
    right.set_xlabel("accuracy − float baseline (percentage points)")
    right.grid(axis="y", visible=False)
    right.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2)
    fig.suptitle(f"{title}\n(bars: paired 95% interval; a bar crossing 0 is a tie)", y=1.0)
    fig.tight_layout()
    return fig


def speed_ratios(rows: Sequence[Mapping], threads: int, batch_size: int) -> plt.Figure:
    """Batch-1 latency and throughput as multiples of float32's: medians with 95% intervals.

    Points rather than bars: on a log scale a bar's length depends on where the axis starts."""
    rows = [r for r in rows if r.get("throughput_ratio") is not None and r.get("latency_ratio")]
    names = [r["name"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(rows) + 1.8), sharey=True)
    positions = np.arange(len(rows))
    for ax, key, label in (
        (axes[0], "latency", "batch-1 latency (× float32's time; left is faster)"),
        (axes[1], "throughput", f"throughput at batch {batch_size} (× float32; right is faster)"),
    ):
        values = np.array([r[f"{key}_ratio"] for r in rows])
        cis = np.array([r[f"{key}_ratio_ci"] for r in rows])
        ax.errorbar(
            values,
            positions,
            xerr=[values - cis[:, 0], cis[:, 1] - values],
            fmt="o",
            color=QUANT_COLOR,
            ecolor="black",
            capsize=3,
        )
        ax.axvline(1, color=FLOAT_COLOR, linewidth=1, label="float32")
        ax.set_xscale("log")
        ticks = [
            t
            for t in (0.01, 0.03, 0.1, 0.3, 0.5, 1, 2, 3, 5, 10, 30, 100)
            if cis.min() / 1.5 <= t <= cis.max() * 1.5
        ]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        for value, position in zip(values, positions, strict=True):
            ax.annotate(
                f"{value:.2f}",
                (value, position),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=8,
            )
        ax.set_xlabel(label + ", log scale")
    axes[0].set_yticks(positions, names)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Speed in LiteRT, {threads} thread: medians of interleaved rounds, 95% intervals")
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
    axes[1].set_title(f"{name} minus float baseline (counts)")
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


def grid_images(models: Mapping[str, np.ndarray], count: int, seed: int = 0):
    """Which test images a prediction grid shows: mostly images where the models disagree (that
    is where quantization shows), then a few random ones where all agree. Returns (indices,
    title)."""
    stacked = np.stack(list(models.values()))
    disagree = np.flatnonzero((stacked != stacked[0]).any(axis=0))
    agree = np.flatnonzero((stacked == stacked[0]).all(axis=0))
    shown = disagree[: max(0, count - 3)]
    rng = np.random.default_rng(seed)
    random_agreeing = rng.choice(agree, size=min(len(agree), count - len(shown)), replace=False)
    chosen = np.concatenate([shown, np.sort(random_agreeing)]).astype(int)
    title = (
        f"{len(shown)} of the {len(disagree)} test images where the {len(models)} models "
        f"disagree, then {len(random_agreeing)} where they agree"
    )
    return chosen, title


def prediction_grid(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    title: str,
) -> plt.Figure:
    """One row per model over the *same* images. Each title: ✓ or ✗, the model's prediction,
    and the true class; green/red as well, so colour is never the only cue."""
    count = len(images)
    fig, axes = plt.subplots(
        len(predictions), count, figsize=(count * 1.35, len(predictions) * 1.8), squeeze=False
    )
    for row, (model_name, predicted) in zip(axes, predictions.items(), strict=True):
        for ax, image, label, guess in zip(row, images, labels, predicted, strict=True):
            ax.imshow(np.squeeze(image), cmap="gray_r")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            right = guess == label
            ax.set_title(
                f"{'✓' if right else '✗'} {CLASS_NAMES[guess]}\n(true: {CLASS_NAMES[label]})",
                fontsize=7,
                color=CORRECT_COLOR if right else WRONG_COLOR,
            )
        row[0].set_ylabel(model_name, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 07 below 8 bits


def quantization_levels(weights: np.ndarray, schemes: Mapping[str, np.ndarray]) -> plt.Figure:
    """One channel's float weights, and where each quantization scheme puts them."""
    fig, axes = plt.subplots(len(schemes), 1, figsize=(10, 1.6 * len(schemes) + 0.6), sharex=True)
    bins = np.linspace(weights.min(), weights.max(), 120)
    for ax, (name, values) in zip(np.atleast_1d(axes), schemes.items(), strict=True):
        ax.hist(weights, bins=bins, color=FLOAT_COLOR, alpha=0.35, label="float weights")
        levels, counts = np.unique(values, return_counts=True)
        ax.vlines(levels, 0, counts, color=QUANT_COLOR, linewidth=2, label="weights per level")
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_yscale("log")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="upper left")
    np.atleast_1d(axes)[-1].set_xlabel("weight value (one output channel of the dense layer)")
    fig.suptitle("Fewer bits, fewer levels: where each scheme puts the same weights")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- 06 speed


def layer_times(table, batch_size: int) -> plt.Figure:
    """float32 and int8 time per image of each layer (single-layer models), side by side."""
    fig, ax = plt.subplots(figsize=(9, 4))
    positions = np.arange(len(table))
    ax.barh(
        positions - 0.2, table["float32 µs/image"], height=0.4, color=FLOAT_COLOR, label="float32"
    )
    ax.barh(positions + 0.2, table["int8 µs/image"], height=0.4, color=QUANT_COLOR, label="int8")
    ax.set_yticks(positions, table.index)
    ax.invert_yaxis()
    ax.set_xlabel(f"µs per image at batch {batch_size} (XNNPACK, 1 thread; median of rounds)")
    ax.set_title("Where the time goes: each layer timed as a model of its own")
    ax.legend()
    fig.tight_layout()
    return fig


def channel_sweep(table, batch_size: int, block: int = 8) -> plt.Figure:
    """Time per image of one 2x2 convolution against its number of input channels; dotted lines
    at the int8 kernel's blocks of ``block`` channels."""
    fig, ax = plt.subplots(figsize=(8, 4))
    channels = table.index.to_numpy()
    ax.plot(channels, table["float32 µs/image"], "o-", color=FLOAT_COLOR, label="float32")
    ax.plot(channels, table["int8 µs/image"], "s-", color=QUANT_COLOR, label="int8")
    for boundary in range(block, int(channels.max()) + 1, block):
        ax.axvline(boundary + 0.5, color="gray", linestyle=":", linewidth=1)
    if channels.max() / max(1, channels.min()) > 16:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(f"input channels of the convolution (dotted: blocks of {block})")
    ax.set_ylabel("µs per image")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Conv2D(32, 2×2) on 28×28: the padding effect (batch {batch_size}, XNNPACK)")
    ax.legend()
    fig.tight_layout()
    return fig


def batch_curve(curve) -> plt.Figure:
    """Time per image against batch size, one line per model; whiskers span the rounds' IQR."""
    fig, ax = plt.subplots(figsize=(8, 4))
    colors = iter([FLOAT_COLOR, QUANT_COLOR, "#8250df", "#57606a", "#cf222e"])
    markers = iter("os^Dv")
    for name, rows in curve.groupby("model", sort=False):
        err = None
        if {"µs/image low", "µs/image high"} <= set(rows.columns):
            err = [
                rows["µs/image"] - rows["µs/image low"],
                rows["µs/image high"] - rows["µs/image"],
            ]
        ax.errorbar(
            rows["batch"],
            rows["µs/image"],
            yerr=err,
            marker=next(markers),
            color=next(colors),
            capsize=3,
            label=name,
        )
    ax.set_xscale("log", base=2)
    batches = sorted(curve["batch"].unique())
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.minorticks_off()
    ax.set_xlabel("batch size (log scale)")
    ax.set_ylabel("µs per image (whiskers: interquartile range of rounds)")
    ax.set_ylim(bottom=0)
    ax.set_title("Batch size changes the answer (XNNPACK, 1 thread)")
    ax.legend()
    fig.tight_layout()
    return fig
