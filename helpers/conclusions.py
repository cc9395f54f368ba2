"""The notebooks' conclusions, written from the numbers of the run that shows them.

One function per conclusion (and per finding a notebook states on its way), each taking the
computed values as keyword arguments and returning Markdown; a notebook shows it with
``display(Markdown(...))``. Every branch is unit-tested (``tests/unit/test_conclusions.py``), so
a sentence cannot claim what its numbers do not say. Paired comparisons are phrased by
:mod:`helpers.report` (a tie is called a tie).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from helpers.data import CLASS_NAMES


def data(facts: Mapping, *, same_as_helper: bool) -> str:
    """Notebook 01: where the data came from, its size, balance and pixels.

    ``facts``: :meth:`helpers.data.FashionMNIST.facts`; ``same_as_helper``: whether the loader
    gave the arrays the notebook read by hand."""
    counts = facts["train_class_counts"]
    largest, smallest = max(counts), min(counts)
    balance = (
        "perfectly balanced"
        if largest == smallest
        else f"between {smallest:,} and {largest:,} images per class"
    )
    helper = (
        "The loader the other notebooks use, `helpers.data.load_fashion_mnist`, returns exactly "
        "the arrays read by hand above, after checking every header against its data and every "
        "label against the ten classes."
        if same_as_helper
        else "**The loader the other notebooks use returned different arrays from the ones read "
        "by hand above: do not go on before finding out why.**"
    )
    height, width = facts["image_shape"]
    return (
        f"The data came from **{facts['source']}**. It holds **{facts['train_examples']:,}** "
        f"training and **{facts['test_examples']:,}** test images of {height}x{width} pixels. "
        f"{helper} The training set is {balance}, so plain accuracy is a fair score. "
        f"{facts['train_zero_share']:.0%} of training pixels are background zeros; the mean "
        f"pixel is {facts['train_pixel_mean']:.1f} of 255. Next: `02_baseline_cnn.ipynb` trains "
        "the float model every variant is compared with."
    )


def baseline(
    *,
    epochs: int,
    train_count: int,
    scores: Mapping[str, Sequence[float]],
    weights: int,
    validation_loss: Sequence[float] | None,
    class_accuracy: Sequence[float],
) -> str:
    """Notebook 02: the baseline's accuracy, its train/validation gap and its hardest class.

    ``scores``: split name -> (loss, accuracy) for "train", "test" and, when a validation split
    was held out, "validation"; ``validation_loss``: per epoch, or None without one.
    """
    checked = "validation" if "validation" in scores else "test"
    gap = (scores["train"][1] - scores[checked][1]) * 100
    if gap >= 0:
        gap_text = f"Train accuracy is {gap:.1f} percentage points above {checked} accuracy"
    else:
        gap_text = (
            f"{checked.capitalize()} accuracy is {-gap:.1f} percentage points above train accuracy"
        )
    if validation_loss:
        best_epoch = min(range(len(validation_loss)), key=validation_loss.__getitem__) + 1
        gap_text += (
            f"; validation loss was lowest after epoch {best_epoch} of {epochs} "
            f"({min(validation_loss):.4f}, against {validation_loss[-1]:.4f} at the end)"
        )
    worst = min(range(len(class_accuracy)), key=class_accuracy.__getitem__)
    best = max(range(len(class_accuracy)), key=class_accuracy.__getitem__)
    return (
        f"After {epochs} epoch(s) on {train_count:,} images, the baseline's test accuracy is "
        f"**{scores['test'][1]:.2%}** (loss {scores['test'][0]:.3f}), with {weights:,} weights. "
        f"{gap_text}. The hardest class is **{CLASS_NAMES[worst]}** "
        f"({class_accuracy[worst]:.1%}), the easiest **{CLASS_NAMES[best]}** "
        f"({class_accuracy[best]:.1%}). Next: `03_post_training_quantization.ipynb` shrinks this "
        "model without retraining it."
    )


# --------------------------------------------------------------------------- 03 PTQ


def _join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def stored_content(
    *, constants, float16_dequantize_ops: int, products_per_output: Mapping[str, int]
) -> str:
    """Notebook 03, section 3: what the weight and bias tables say, per file.

    ``constants``: rows indexed by (file, layer, role) with ``dtype``, ``shape`` and ``scales``;
    ``products_per_output``: per weighted layer, the products each of its outputs sums.
    """

    def cell(file: str, layer: str, role: str, column: str):
        return constants.loc[(file, layer, role), column]

    def bias_types(file: str) -> str:
        biases = constants.xs(file, level="file").xs("bias", level="role")
        return ", ".join(f"`{t}`" for t in sorted(set(biases["dtype"])))

    conv1_type = cell("dynamic_range", "conv1", "weights", "dtype")
    conv1_elements = 1
    for size in str(cell("dynamic_range", "conv1", "weights", "shape")).split("x"):
        conv1_elements *= int(size)
    products = _join([f"{layer} {count:,}" for layer, count in products_per_output.items()])
    scales = {
        layer: int(cell("int8", layer, "weights", "scales"))
        for layer in ("conv1", "conv2", "dense", "probabilities")
    }
    dynamic = (
        f"**Dynamic range** keeps conv1's kernel in `{conv1_type}`: it has {conv1_elements} "
        "elements, fewer than the 1,024 a weight needs before the converter's dynamic-range "
        "quantizer touches it (`minimum_elements_for_weights` in TensorFlow's MLIR quantization "
        f"config), and its biases stay {bias_types('dynamic_range')}."
        if conv1_type == "float32"
        else f"**Dynamic range** stores every kernel in int8 and its biases as "
        f"{bias_types('dynamic_range')}."
    )
    return (
        f"{dynamic} **float16** stores every weight and bias as float16 and adds "
        f"{float16_dequantize_ops} `DEQUANTIZE` operations that widen them to float32 before the "
        f"first computation. **int8** stores {bias_types('int8')} biases: each output sums int8 × "
        f"int8 products ({products} per output), each product fits 16 bits and their sum needs "
        "32, and the bias is added to that 32-bit sum with scale input scale × weight scale. "
        f"**16x8** stores {bias_types('int16x8')} biases, for sums of int16 × int8 products. "
        f"Weights are per-channel in both integer files: the dense kernels carry "
        f"{scales['dense']} and {scales['probabilities']} scales, one per output unit, like the "
        f"convolutions' {scales['conv1']} and {scales['conv2']}."
    )


def ties(
    *,
    evaluations: Mapping,
    comparisons: Mapping,
    pairs: Mapping[str, int],
    builtin_tied: int,
    builtin_tied_logits: int,
    logit_step: float,
) -> str:
    """Notebook 03, section 6: how many outputs tie, what ties do to accuracy and flips, where
    they start. ``evaluations``/``comparisons`` per file (against the float model); ``pairs``:
    :func:`helpers.report.tied_pairs` of the int8 file; ``builtin_*``: the int8 file's tied outputs
    with the built-in kernels, and how many of them already had tied logit codes."""
    int8 = evaluations["int8"].record
    per_file = _join([f"`{name}` {e.record['tied_outputs']:,}" for name, e in evaluations.items()])
    flips = comparisons["int8"]
    pair_text = _join([f"{pair} ({count})" for pair, count in pairs.items()]) if pairs else "none"
    if builtin_tied and builtin_tied_logits == builtin_tied:
        origin = (
            f"every one of the {builtin_tied:,} ties the built-in kernels produce already has the "
            "same logit code in both classes"
        )
    elif builtin_tied:
        origin = (
            f"{builtin_tied_logits:,} of the {builtin_tied:,} ties the built-in kernels produce "
            "already have the same logit code in both classes; the rest come from the softmax's "
            "own 1/256 step"
        )
    else:
        origin = "the built-in kernels produce no tie at all"
    return (
        f"Test images whose top output is tied: {per_file}. `int8` counts each of its "
        f"{int8['tied_outputs']:,} ties as the lowest tied class: accuracy "
        f"{int8['test_accuracy']:.2%}, or {int8['tie_credit_accuracy']:.2%} with ties split. Of its "
        f"{flips.flips:,} predictions that differ from the float model's, "
        f"{flips.tied_flips or 0:,} are ties. The classes that tie most are the look-alikes of "
        f"notebook 01: {pair_text}. Where they start: {origin}, that is, two logits less than "
        f"one step ({logit_step:.3f}) apart. A per-class accuracy change or a flip count that "
        "involves these classes is, for the most part, the tie rule at work."
    )


def selective(
    *,
    worst_layer: str,
    kept_share: float,
    sizes: Mapping[str, int],
    evaluations: Mapping,
    comparisons: Mapping,
    versus_int8: Mapping,
) -> str:
    """Notebook 03, section 8: the debugger's selective file and the float-head file, judged by
    what reaches the output (flips against the float model, ties, paired tests)."""
    from helpers.report import comparison_clause

    def judged(name: str) -> str:
        c, record = comparisons[name], evaluations[name].record
        return (
            f"{c.flips:,} predictions differ from the float model's ({c.tied_flips or 0:,} of "
            f"them ties), {record['tied_outputs']:,} tied outputs (int8: "
            f"{evaluations['int8'].record['tied_outputs']:,}); against `int8` it "
            f"{comparison_clause(versus_int8[name], 'int8')}"
        )

    mostly_float = ", so the file is mostly float again" if kept_share > 0.5 else ""
    head_extra = sizes["int8_float_head"] - sizes["int8"]
    removed = evaluations["int8_float_head"].record["tied_outputs"] == 0
    return (
        f"The debugger's pick, `{worst_layer}` (the largest error of its own), holds "
        f"{kept_share:.0%} of the weights{mostly_float}: `int8_selective` is "
        f"{sizes['int8_selective']:,} bytes ({sizes['int8_selective'] / sizes['int8']:.2f}× "
        f"`int8`). Judged by its output: {judged('int8_selective')}. Keeping the head in float "
        f"instead, `int8_float_head` is {sizes['int8_float_head']:,} bytes ({head_extra:+,} "
        f"against `int8`): {judged('int8_float_head')}. "
        + (
            "The float logits remove the ties entirely, for a few kilobytes."
            if removed
            else "Even with float logits some outputs still tie."
        )
    )


def ptq(*, evaluations: Mapping, comparisons: Mapping, worst, calibration_text: str) -> str:
    """Notebook 03's conclusion: every file against the float model, the worst layer, the ties,
    the calibration study."""
    from helpers.layer_errors import UNIFORM_ROUNDING
    from helpers.report import comparison_sentence

    float32 = evaluations["float32"].record
    variants = "; ".join(
        comparison_sentence(comparisons[name], name, "keras_float")
        + f" at {e.record['size_bytes'] / float32['size_bytes']:.0%} of float32's size"
        for name, e in evaluations.items()
        if name != "float32"
    )
    ties = evaluations["int8"].record["tied_outputs"]
    head = evaluations.get("int8_float_head")
    remedy = (
        "; keeping the last layer and the softmax in float (`int8_float_head`) removes them"
        if head is not None and head.record["tied_outputs"] == 0 and ties
        else ""
    )
    return (
        f"The float32 TFLite file scores **{float32['test_accuracy']:.2%}**, agreeing with the "
        f"Keras model on {comparisons['float32'].agreement:.2%} of test images. {variants}. "
        f"`int8`'s top output is tied on {ties:,} test images, where its accuracy depends on the "
        f"tie rule{remedy}. The int8 layer with the "
        f"largest error of its own is `{worst['layer']}` (rmse/scale {worst['rmse/scale']:.2f}, "
        f"uniform rounding being {UNIFORM_ROUNDING:.2f}). {calibration_text} Accuracy is not the "
        "whole story: notebook 05 times every file on this CPU, `int16x8` included. Next: "
        "`04_quantization_aware_training.ipynb` trains the model to expect int8."
    )


# --------------------------------------------------------------------------- 04 QAT


def per_class(tests: Sequence, name: str, other: str) -> str:
    """Per-class paired tests (:func:`helpers.stats.per_class_comparisons`, already corrected for
    the ten classes), as one sentence naming the classes that changed measurably."""
    moved = [
        f"{CLASS_NAMES[c]} {t.delta_pp:+.1f} pp" for c, t in enumerate(tests) if t.verdict != "tie"
    ]
    largest = max(range(len(tests)), key=lambda c: abs(tests[c].delta_pp))
    gap = tests[largest]
    ties = f", {gap.tied_flips} of its flips tied outputs" if gap.tied_flips else ""
    return (
        f"Class by class, {name} against {other} (paired tests on each class's images, "
        "Benjamini-Hochberg corrected for the ten classes): "
        + (f"measurable changes in {_join(moved)}" if moved else "no class changes measurably")
        + f"; the largest gap is {CLASS_NAMES[largest]}, {gap.delta_pp:+.1f} pp "
        f"({gap.only_model_right} against {gap.only_reference_right} images{ties})."
    )


SEED_FIELDS = {
    "int8_delta_pp": "PTQ int8 against its float baseline",
    "control_delta_pp": "the extra training alone (float control against the baseline)",
    "qat_vs_control_int8_pp": "QAT int8 against PTQ int8 of the equally trained control",
}


def seeds(seed_study: Mapping | None, fields: Sequence[str] = tuple(SEED_FIELDS)) -> str:
    """What several training seeds say (``make seeds``), or that these numbers are one seed."""
    if not seed_study:
        return (
            "All of this is one training run: the intervals cover the sampling of test images, "
            "not the training; `make seeds` repeats the training with other seeds."
        )
    spread = seed_study["summary"]
    parts = [
        f"{SEED_FIELDS.get(f, f)} {spread[f]['mean']:+.2f} pp on average "
        f"({spread[f]['min']:+.2f} to {spread[f]['max']:+.2f})"
        for f in fields
    ]
    return (
        f"Across the {len(seed_study['seeds'])} training seeds of the seed study (`make seeds`): "
        + "; ".join(parts)
        + "."
    )


def qat(
    *,
    qat_epochs: int,
    before: Mapping,
    evaluations: Mapping,
    versus: Mapping,
    sizes,
    seed_study: Mapping | None,
) -> str:
    """Notebook 04's conclusion: the wrapper before training, the QAT file against its parent,
    the extra training alone, QAT against PTQ like for like, several seeds, compressed sizes."""
    from helpers.report import comparison_sentence, qat_versus_ptq_sentence

    like_for_like = versus["qat_int8 vs control_int8_per_tensor (like for like)"]
    gzip_qat = sizes.loc["qat_int8", "gzip bytes"]
    gzip_tensor = sizes.loc["control_int8_per_tensor", "gzip bytes"]
    gzip_channel = sizes.loc["control_int8", "gzip bytes"]
    granularity = (
        "the two per-tensor files are within 1% of each other and the per-channel one stands "
        "apart, so the difference follows the dense layers' granularity, not QAT."
        if abs(gzip_qat - gzip_tensor) < 0.01 * gzip_tensor
        and abs(gzip_channel - gzip_tensor) >= 0.01 * gzip_tensor
        else "the files do not split by granularity alone here."
    )
    return (
        f"Before fine-tuning, the wrapped model put every test image in {before['classes']} of "
        f"the 10 classes ({before['accuracy']:.2%} accuracy): its input range started at [0, 0] "
        f"(set to [0, 1] by hand, it scored {before['fixed_input_accuracy']:.2%}). After "
        f"{qat_epochs} epoch(s) of fine-tuning, the QAT Keras model scores "
        f"{evaluations['qat_keras'].record['test_accuracy']:.2%} and its int8 file "
        f"{evaluations['qat_int8'].record['test_accuracy']:.2%}: "
        + comparison_sentence(versus["qat_int8 vs qat_keras"], "qat_int8", "qat_keras")
        + ". The extra training alone: "
        + comparison_sentence(
            versus["control_keras vs keras_float"], "control_keras", "keras_float"
        )
        + ". QAT against post-training quantization of the same, equally trained float model, "
        "both with per-tensor dense weights: "
        + comparison_sentence(like_for_like, "qat_int8", "control_int8_per_tensor")
        + ". "
        + qat_versus_ptq_sentence(
            verdict=like_for_like.verdict,
            ptq_loss=versus["control_int8_per_tensor vs control_keras"].verdict,
        )
        + " "
        + seeds(seed_study)
        + f" Gzipped, the QAT file is {gzip_qat:,} bytes, the per-tensor control {gzip_tensor:,} "
        f"and the per-channel control {gzip_channel:,}: {granularity} Next: `05_comparison.ipynb` "
        "puts every variant side by side, with speed."
    )
