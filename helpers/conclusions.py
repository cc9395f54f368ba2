"""The notebooks' conclusions, written from the numbers of the run that shows them.

One function per conclusion (and per finding a notebook states on its way), each taking the
computed values as keyword arguments and returning Markdown; a notebook shows it with
``display(Markdown(...))``. The branches of the findings are unit-tested on constructed values
(``tests/unit/test_conclusions.py``), so a sentence cannot claim what its numbers do not say; the
long conclusions of notebooks 05-09 run on real values in every quick chain of ``make test``.
Paired comparisons are phrased by :mod:`helpers.report` (a tie is called a tie).
"""

from __future__ import annotations

import math
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
        rise = validation_loss[-1] / min(validation_loss) - 1
        gap_text += (
            f"; validation loss was lowest after epoch {best_epoch} of {epochs} "
            f"({min(validation_loss):.4f}, against {validation_loss[-1]:.4f} at the end)"
            + (
                ": still falling, no sign of overfitting in the loss"
                if best_epoch == epochs
                else f", {rise:.0%} above its lowest: mild overfitting at most"
                if rise < 0.05
                else f", {rise:.0%} above its lowest: the model has started to overfit, and "
                "fewer epochs would do as well"
            )
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
        f"int8 products ({products} per output); each product fits 16 bits, a sum of even two "
        "can exceed them, so the sums are kept in 32-bit accumulators, and the bias is added to "
        "that 32-bit sum with scale input scale × weight scale. "
        f"**16x8** stores {bias_types('int16x8')} biases, for sums of int16 × int8 products. "
        f"Weights are per-channel in both integer files: the dense kernels carry "
        f"{scales['dense']} and {scales['probabilities']} scales, one per output unit, like the "
        f"convolutions' {scales['conv1']} and {scales['conv2']}."
    )


# notebook 01's look-alikes: the upper-body garments
LOOK_ALIKES = {"T-shirt/top", "Pullover", "Coat", "Shirt"}


def ties(
    *,
    evaluations: Mapping,
    comparisons: Mapping,
    pairs: Mapping[str, int],
    builtin_tied: int,
    builtin_tied_logits: int,
    logit_step: float,
    kernels: Mapping | None = None,
) -> str:
    """Notebook 03, section 6: how many outputs tie, what ties do to accuracy and flips, where
    they start. ``evaluations``/``comparisons`` per file (against the float model); ``pairs``:
    :func:`helpers.report.tied_pairs` of the int8 file; ``builtin_*``: the int8 file's tied outputs
    with the built-in kernels, and how many of them already had tied logit codes; ``kernels``:
    the int8 file with the built-in kernels against XNNPACK (``builtin_accuracy``,
    ``differences``: images whose predicted class differs, ``tied_differences``: of those, tied
    in either)."""
    int8 = evaluations["int8"].record
    per_file = _join([f"`{name}` {e.record['tied_outputs']:,}" for name, e in evaluations.items()])
    flips = comparisons["int8"]
    pair_text = _join([f"{pair} ({count})" for pair, count in pairs.items()]) if pairs else "none"
    top_pair = set(next(iter(pairs)).split(" & ")) if pairs else set()
    look_alikes = bool(top_pair) and top_pair <= LOOK_ALIKES
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
        f"{flips.tied_flips or 0:,} are ties. The classes that tie most"
        + (" are the look-alikes of notebook 01" if look_alikes else "")
        + f": {pair_text}. Where they start: {origin}, that is, two logits less than "
        f"one step ({logit_step:.3f}) apart. A per-class accuracy change or a flip count that "
        "involves these classes is, for the most part, the tie rule at work."
        + (
            f" The table's numbers come from XNNPACK, LiteRT's default; with the built-in kernels "
            f"`int8` has {builtin_tied:,} tied outputs and scores "
            f"{kernels['builtin_accuracy']:.2%}. The two predict a different class on "
            f"{kernels['differences']:,} images, {kernels['tied_differences']:,} of them tied in "
            "one of the two: "
            + (
                "the kernel sets round a few int8 results differently, and only ties turn that "
                "into a different class."
                if kernels["differences"] == kernels["tied_differences"]
                else "some differences are not ties, so the two kernel sets compute something "
                "different on those images."
            )
            if kernels
            else ""
        )
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
    ties = (
        f"; {gap.tied_flips} of its {gap.flips} changed predictions are tied outputs"
        if gap.tied_flips
        else ""
    )
    moved_tests = [t for t in tests if t.verdict != "tie"]
    moved_flips = sum(t.flips for t in moved_tests)
    moved_tied = sum(t.tied_flips or 0 for t in moved_tests)
    tie_rule = (
        f" Of the changed predictions in those classes, {moved_tied} of {moved_flips} are tied "
        "outputs, which `argmax` gives to the class with the lower index (T-shirt/top before "
        "Shirt, Pullover before Coat): most of this pattern is the tie rule, not a class the "
        "file computes worse."
        if moved_flips and moved_tied > moved_flips / 2
        else ""
    )
    return (
        f"Class by class, {name} against {other} (paired tests on each class's images, "
        "Benjamini-Hochberg corrected for the ten classes): "
        + (f"measurable changes in {_join(moved)}" if moved else "no class changes measurably")
        + f"; the largest gap is {CLASS_NAMES[largest]}, {gap.delta_pp:+.1f} pp "
        f"({gap.only_model_right} against {gap.only_reference_right} images{ties})." + tie_rule
    )


SEED_FIELDS = {
    "int8_delta_pp": "PTQ int8 against its float baseline",
    "control_delta_pp": "the extra training alone (float control against the baseline)",
    "qat_vs_control_int8_per_tensor_pp": (
        "QAT int8 against PTQ int8 of the equally trained control with per-tensor dense weights "
        "(like for like)"
    ),
    "qat_vs_control_int8_pp": "QAT int8 against the control's per-channel PTQ int8",
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
        f"(lowest {spread[f]['min']:+.2f}, highest {spread[f]['max']:+.2f})"
        for f in fields
        if f in spread
    ]
    return (
        f"Across the {len(seed_study['seeds'])} training seeds of the seed study (`make seeds`; "
        "the mean, and the lowest and highest seed, not an interval): " + "; ".join(parts) + "."
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


# --------------------------------------------------------------------------- 05 comparison


def control(control: Mapping, margin: float) -> str:
    """The float16/float32 speed control of an interleaved study, and what it lets the run rank."""
    low, high = control["ci"]
    band_low, band_high = control["band"]
    head = (
        f"**Control:** float16 measured {control['ratio']:.3f}× float32's throughput (95% "
        f"interval {low:.3f}–{high:.3f}). "
    )
    if control["ok"]:
        return head + (
            f"The whole interval lies within {band_low}–{band_high}: the two files are "
            "equivalent within that band"
            + (
                ", though the interval excludes 1.00: two files with the same arithmetic still "
                "differ a little here (memory layout, the order of the rounds)"
                if low > 1 or high < 1
                else ""
            )
            + f". This study resolves speed differences of about {margin:.0%}; smaller ones are "
            "not ranked. That is the noise within one study: another study in the same run can "
            "move a ratio further (notebook 06 compares its studies side by side)."
        )
    return head + (
        f"That interval reaches outside {band_low}–{band_high}, though the two files compute the "
        "same thing: the machine was too noisy during this study to rank files whose speeds are "
        f"this close (differences under {margin:.0%} are not ranked). Re-run on a quieter machine "
        "before trusting small speed differences."
    )


def _per_image(record: Mapping, batch_size: int) -> str:
    alone = record["latency_ms_batch1"] * 1000
    batched = 1e6 / record["throughput_ips"]
    if alone > batched * 1.1:
        relation = f"batching makes each image {alone / batched:.1f}× cheaper"
    elif alone > batched / 1.1:
        relation = "within 10% of each other"
    else:
        relation = f"one image alone is {batched / alone:.1f}× cheaper than its share of a batch"
    return (
        f"{alone:.1f} µs for one image alone and {batched:.1f} µs per image at batch "
        f"{batch_size}: {relation}"
    )


def comparison(
    *,
    results: Mapping,
    speed: Mapping,
    control: Mapping,
    plans: Mapping[str, Mapping],
    environment: Mapping,
    seed_study: Mapping | None,
) -> str:
    """Notebook 05's conclusion: the recommendation, speed as measured (batch 1 first), what
    the training seeds say, and what does not carry over to other hardware."""
    from helpers import report

    rows = {row["name"]: row for row in results["variants"]}
    settings = speed["settings"]
    margin = report.speed_margin(control)
    variants = speed["variants"]
    threads = settings["threads"]
    return (
        report.recommendation_text(results["recommendation"], results["variants"])
        + "\n\n**Speed, as measured here** "
        f"({environment['cpu']}, {threads} thread{'s' if threads > 1 else ''}, LiteRT's default "
        "XNNPACK path; both times count the computation only, not copying the input in): "
        + report.latency_sentence(rows["int8"], margin)
        + "; at batch "
        f"{settings['batch_size']}, "
        + report.speed_sentence(rows["int8"], margin)
        + ". Both intervals cover this study's rounds only: notebook 06 times the same files "
        "again and sets its studies side by side, and within one run the same ratio can move "
        "between studies by more than these intervals. float32 takes "
        + _per_image(variants["float32"], settings["batch_size"])
        + "; int8 takes "
        + _per_image(variants["int8"], settings["batch_size"])
        + ". "
        + report.latency_sentence(rows["int16x8"])
        + f": LiteRT handed {report.delegation_text(plans['int16x8'])} to XNNPACK (int8: "
        f"{report.delegation_text(plans['int8'])}), so it runs on the interpreter's built-in "
        "kernels, and its int64 biases send the convolutions to TFLite's reference "
        'implementation (`conv.cc`: "Fallback to reference kernel when bias_type is int64"). '
        "Keep 16x8 for accuracy studies or hardware with int16 support, not for CPU speed. "
        "Notebook 06 takes the speed question apart, layer by layer and batch size by batch "
        "size, and ranks its fix with these files.\n\n"
        + seeds(seed_study)
        + "\n\n**What does not carry over** (not measured here): the size column holds on any "
        "device; the accuracy column holds where the same kernels compute (notebook 07 meets "
        "files whose accuracy changes when XNNPACK is switched off); the speed columns hold only "
        "on this CPU, and even there absolute images per second move between runs: compare "
        "ratios within one run. On phones, LiteRT's GPU delegate computes in float16 or float32 "
        "(the `float16` file is the variant made for it), and NPUs and DSPs usually want "
        "full-integer models; on microcontrollers, LiteRT for Microcontrollers runs int8 kernels "
        "(notebook 08 measures which files it accepts). Measure on the target device before "
        "promising a speed-up."
    )


# --------------------------------------------------------------------------- 06 speed

_VERDICT_WORDS = {
    "faster": "int8 is measurably faster",
    "slower": "int8 is measurably slower",
    "tie": "no measurable difference",
}


def _coverage(coverage: float) -> str:
    return f"{coverage:.0%} interval" if abs(coverage - 0.95) > 0.02 else "95% interval"


def layers(finding: Mapping, batch_size: int) -> str:
    """Notebook 06, section 3: where the time goes, from :func:`helpers.speed.layer_finding`."""
    totals = finding["totals"]
    low, high = finding["slowest_time_ratio_ci"]
    verdict = "tie" if low <= 1 <= high else "slower" if low > 1 else "faster"
    verdict_text = (
        _VERDICT_WORDS[verdict]
        if finding["slowest_coverage"] >= 0.93
        else "too few rounds for a verdict"
    )
    return (
        f"Per image at batch {batch_size}, the layers add up to "
        f"{totals['float32']['sum of layers'] / totals['float32']['whole model']:.0%} of the whole "
        f"float32 model's time and {totals['int8']['sum of layers'] / totals['int8']['whole model']:.0%}"
        f" of the int8 model's. Of the layers with weights, int8 does worst on "
        f"**{finding['slowest']}**: int8 takes {finding['slowest_time_ratio']:.2f}× its float32 time "
        f"({_coverage(finding['slowest_coverage'])} of that time ratio {low:.2f}–{high:.2f}: "
        f"{verdict_text}). The layer that costs float32 the most is "
        f"**{finding['heaviest_float']}** ({finding['heaviest_float_us']:.2f} µs per image), and "
        f"int8 saves the most time on **{finding['biggest_saving']}** "
        f"({finding['biggest_saving_us']:.2f} µs per image, {finding['biggest_saving_share']:.0%} "
        "of the time saved on the layers that int8 makes faster"
        + (
            "; a layer with no multiply-adds at all: it only reads and compares its input, a "
            "quarter of the bytes in int8)."
            if finding["biggest_saving_macs"] == 0
            else ")."
        )
    )


FIXED_COST_CANDIDATES = (
    "turning every 32-bit sum back into int8 (requantization: a float multiply by the scale, "
    "rounding, the zero point, clamping), combining the partial sums a kernel keeps for each "
    "output, and reading the input through the indirection buffer (one pointer per output pixel "
    "and kernel tap)"
)


def padding(finding: Mapping) -> str:
    """Notebook 06, section 4: the channel sweep, from :func:`helpers.speed.sweep_finding`."""
    text = (
        f"From {finding['from']} to {finding['to']} input channels "
        f"({finding['to'] // finding['from']}× the multiply-adds), the int8 convolution's time "
        f"changes by a factor of {finding['int8_growth']:.2f} and the float32 one's by "
        f"{finding['float32_growth']:.2f}. "
    )
    if finding["int8_growth"] < 1.5 and finding["float32_growth"] > 2:
        text += (
            "int8 barely notices the extra channels, float32 pays for each: the int8 kernel was "
            "paying for a whole block of channels all along."
        )
    else:
        text += (
            "This run does not show the flat-then-step pattern clearly; look at the table before "
            "drawing a conclusion (a noisy machine blurs it)."
        )
    if finding["block_cost_us"] is not None:
        fixed = finding["int8_at_one"] - finding["block_cost_us"]
        text += (
            f" One more block of {finding['block']} input channels adds "
            f"{finding['block_cost_us']:.2f} µs per image to the int8 convolution (its mean time "
            "past one block minus its mean time within it); the other "
            f"{fixed:.2f} µs of its {finding['int8_at_one']:.2f} µs at {finding['from']} channel"
            f"{'s' if finding['from'] > 1 else ''} "
            f"do not depend on the channel count, against {finding['float32_at_one']:.2f} µs for "
            "the whole float32 convolution. The 1-channel convolution pays for one block, so "
            f"even if its channels cost nothing it would still take about {fixed:.2f} µs (medians "
            "of one study, no interval). The part that "
            "does not grow with the channels is work done once per output value; the candidates, "
            f"none of them timed on its own here: {FIXED_COST_CANDIDATES}. With 4 useful "
            "multiply-adds per output, as in `conv1`, nothing hides such a cost; with many input "
            "channels it is a small share."
        )
    return text


def _block_clause(kernel: Mapping | None, layers: Mapping) -> str:
    """How the int8 kernel treats the slowest layer's few input channels: what it multiplies
    (padded to ``kr``) and, where its blocks are wider than that, what its time pays for."""
    from helpers.speed import DEFAULT_INT8_KERNEL

    kernel = kernel or DEFAULT_INT8_KERNEL
    kr, block = kernel["kr"], kernel["channel_block"]
    padded = (
        f"which the int8 kernel pads to a multiple of {kr} "
        f"({layers['slowest_padding_factor']:.0f}× its real multiply-adds)"
    )
    if block <= kr:
        return padded
    return (
        f"{padded} and handles in blocks of {block} per kernel tap, so each tap costs what "
        f"{block} channels would ({layers['slowest_block_factor']:.0f}× its real channels)"
    )


def _sweep_clause(sweep: Mapping) -> str:
    """What section 4's sweep says about the share of padding in the 1-channel int8 time."""
    if sweep.get("block_cost_us") is None:
        return " (the sweep of section 4 did not go past one block)"
    fixed_share = 1 - sweep["block_cost_us"] / sweep["int8_at_one"]
    if fixed_share > 0.5:
        return (
            ", but the sweep of section 4 puts most of its int8 time in a cost per output value "
            "that does not depend on the channel count"
        )
    return (
        f", and in the sweep of section 4 one block of {sweep['block']} channels is "
        f"{1 - fixed_share:.0%} of the 1-channel int8 convolution's time"
    )


def speed(
    *,
    environment: Mapping,
    kernel: Mapping | None,
    layers: Mapping,
    sweep: Mapping,
    fix_name: str,
    fix_vs_int8,
    fix_bytes: int,
    pick: Mapping,
    control: Mapping,
    curve,
    curve_studies: Mapping,
    fastest: Sequence[Mapping],
    kernels: Mapping,
    files: Mapping,
    between: Mapping,
    batch_size: int,
    fix_held_out: Mapping | None = None,
) -> str:
    """Notebook 06's conclusion: batch 1 first, the batch curve, the layer that int8 does worst,
    the fix at every batch size, the kernel library and threads, and how far one ratio moves
    between the studies of one run. ``fastest``: :func:`helpers.speed.fastest_by_batch` of
    ``curve_studies`` with the margin of ``control``, as the notebook records it."""
    from helpers import machine, report
    from helpers.benchmark import latency_between, ratio_between, speed_verdict
    from helpers.speed import fastest_text

    v = pick["variants"]
    lat_low, lat_high = v["int8"]["latency_ratio_ci"]
    thr_low, thr_high = v["int8"]["throughput_ratio_ci"]
    lat_verdict = speed_verdict([1 / lat_high, 1 / lat_low])
    spread = between["int8 / float32 throughput"]
    spread_text = ", ".join(f"{where} {ratio:.2f}×" for where, ratio in spread.items())
    inside = all(thr_low <= r <= thr_high for r in spread.values())
    per_model = curve.pivot_table(index="batch", columns="model", values="µs/image")
    margin = report.speed_margin(control)
    fastest_at = fastest_text(fastest)
    float32_range = (
        f"; float32 takes from {per_model['float32'].min():.2f} to "
        f"{per_model['float32'].max():.2f} µs per image across these batch sizes"
        if len(per_model.index) > 1
        else ""
    )
    fix_at = {
        b: ratio_between(s, fix_name, "int8")
        for b, s in curve_studies.items()
        if fix_name in s["variants"]
    }
    faster = [b for b, r in fix_at.items() if r["ci"][0] > 1]
    slower = [b for b, r in fix_at.items() if r["ci"][1] < 1]
    fix_latency = latency_between(pick, fix_name, "int8")
    builtin = ratio_between(kernels, "int8, builtin, 1 thread(s)", "float32, builtin, 1 thread(s)")
    builtin_vs_xnnpack = ratio_between(
        kernels, "int8, builtin, 1 thread(s)", "float32, default, 1 thread(s)"
    )

    def thread_text(resolver: str) -> str:
        parts = []
        for n in files:
            r = ratio_between(
                kernels, f"{n}, {resolver}, 2 thread(s)", f"{n}, {resolver}, 1 thread(s)"
            )
            word = {"faster": "faster", "slower": "slower", "tie": "no measurable change"}[
                speed_verdict(r["ci"])
            ]
            parts.append(f"`{n}` {r['median']:.2f}× ({r['ci'][0]:.2f}–{r['ci'][1]:.2f}: {word})")
        return ", ".join(parts)

    padded = layers["slowest_block_factor"] > 1.5
    superlinear = any(
        ratio_between(kernels, f"{n}, {r}, 2 thread(s)", f"{n}, {r}, 1 thread(s)")["median"] > 2
        for n in files
        for r in ("default", "builtin")
    )
    if fix_held_out:
        keeps = fix_held_out["non_inferior"]
        fix_candidate = (
            f" On notebook 02's held-out images `{fix_name}` has a lower bound of "
            f"{fix_held_out['lower_bound_pp']:+.2f} pp against the float baseline (margin "
            f"-{fix_held_out['margin_pp']} pp): "
            + (
                "it keeps accuracy by the tutorial's rule, so it competes for the speed "
                "recommendation."
                if keeps
                else "it does not keep accuracy by the tutorial's rule, so however fast it is, "
                "the speed recommendation (notebook 05's rule, in the summary) is another file."
            )
        )
    else:
        fix_candidate = ""
    text = (
        f"On {environment['cpu']} ({machine.feature_text(environment)}), with XNNPACK and 1 "
        f"thread, **one image at a time** full int8 takes {v['int8']['latency_ratio']:.2f}× "
        f"float32's time (95% interval {lat_low:.2f}–{lat_high:.2f}: "
        f"{_VERDICT_WORDS[lat_verdict]}); at batch {batch_size} it runs at "
        f"{v['int8']['throughput_ratio']:.2f}× float32's throughput ({thr_low:.2f}–{thr_high:.2f}). "
        f"The same throughput ratio in this run's other studies: {spread_text}. Each interval "
        "covers one study's rounds; "
        + (
            "the other studies fall inside this one's interval."
            if inside
            else "the spread between studies is wider than this interval, so read the interval "
            "as a lower bound on how much the ratio moves within a run."
        )
        + " Fastest per image at each batch size of the curve (files within the "
        f"{margin:.0%} that section 6's control resolves count as tied): "
        + fastest_at
        + float32_range
        + ". Of the time int8 saves on the layers it speeds up, the largest share "
        f"({layers['biggest_saving_share']:.0%}) is on **{layers['biggest_saving']}**. Layer by "
        f"layer, int8 does worst on **{layers['slowest']}** ({layers['slowest_time_ratio']:.2f}× "
        "its float32 time)"
        + (
            f": its input has {layers['slowest_input_channels']} channel"
            f"{'s' if layers['slowest_input_channels'] > 1 else ''}, "
            + _block_clause(kernel, layers)
            + _sweep_clause(sweep)
            + ". "
            if padded
            else ". "
        )
        + f"Keeping {layers['slowest']} in float (`{fix_name}`, {fix_bytes:,} bytes; against full "
        f"int8 it {report.comparison_clause(fix_vs_int8, 'int8')}) takes "
        f"{fix_latency['median']:.2f}× int8's time at batch 1 (95% interval "
        f"{fix_latency['ci'][0]:.2f}–{fix_latency['ci'][1]:.2f}) and is "
        + (
            f"faster than full int8 at batch {', '.join(map(str, faster))}"
            if faster
            else "not measurably faster than full int8 at any batch size of the curve"
        )
        + (f" and slower at batch {', '.join(map(str, slower))}" if slower else "")
        + "."
        + fix_candidate
        + " With the interpreter's built-in kernels for both, int8 runs at "
        f"{builtin['median']:.2f}× float32's throughput ({builtin['ci'][0]:.2f}–"
        f"{builtin['ci'][1]:.2f}); against float32 on XNNPACK, built-in int8 runs at "
        f"{builtin_vs_xnnpack['median']:.2f}× ({builtin_vs_xnnpack['ci'][0]:.2f}–"
        f"{builtin_vs_xnnpack['ci'][1]:.2f}). A second thread, against one, with XNNPACK: "
        + thread_text("default")
        + "; with the built-in kernels: "
        + thread_text("builtin")
        + f". This machine has {environment['logical_cpus']} logical cores and anything else "
        "running on it competes with a second thread, so these thread ratios are this run's (the "
        "causes are not examined here)"
        + (
            "; a ratio above 2× from a second thread is more than the second core alone "
            "explains (more than linear scaling): do not expect it elsewhere"
            if superlinear
            else ""
        )
        + '. The answer to "is int8 faster?" depends on the CPU\'s '
        "instructions, the kernel library, the batch size and the layer shapes: measure it, "
        "layer by layer if it surprises you."
    )
    return text


# --------------------------------------------------------------------------- 07 below 8 bits


def below8(
    *,
    rows: Mapping,
    ledger,
    int4_layers: Sequence[str],
    sensitivity,
    size_target: float,
    checks: Mapping,
    int2_keras_accuracy: float,
    int2_keras_classes: int,
    plans: Mapping,
    int4_vs_builtin: Mapping,
    recommendation: Mapping,
) -> str:
    """Notebook 07's conclusion: int4 by range method, the mixed recipe chosen on held-out
    images and confirmed (or not) on the test set, runtime defects named as such, int2 where the
    runtime can compute it, and what fewer bits do to speed here."""
    from helpers import report
    from helpers.benchmark import speed_verdict
    from helpers.stats import NONINFERIORITY_MARGIN_PP

    def row_text(name: str) -> str:
        row = rows[name]
        return f"{report.accuracy_sentence(row)}, at {row['ratio_to_float32']:.3f}× float32's size"

    closest = sensitivity["lower 95% bound (pp)"].astype(float).idxmax()
    chosen = (
        f"int4 on {_join(int4_layers)}, int8 on the rest"
        if int4_layers
        else "no layer: none passed alone (the closest, "
        f"{closest}, has a lower bound of {float(sensitivity.loc[closest, 'lower 95% bound (pp)']):+.2f}"
        " pp), so the mixed recipe is the all-int8 one, `aeq_int8_weights`, and no separate file "
        "is made"
    )
    small = [
        n
        for n, r in rows.items()
        if r.get("kind") == "tflite"
        and r.get("role") == "variant"
        and not r.get("caveat")
        and r["ratio_to_float32"] <= size_target
    ]
    small_ok = [n for n in small if rows[n]["noninferiority_test"]["non_inferior"]]
    size = recommendation["size"]
    defects = [
        n for n, r in rows.items() if str(r.get("caveat") or "").startswith("runtime defect")
    ]
    text = (
        "Naive int4 (symmetric min-max on every layer): "
        + row_text("aeq_int4_weights")
        + ". Asymmetric ranges: "
        + row_text("aeq_int4_asym")
        + f". Chosen on {ledger.data.y_val.size:,} held-out images with "
        f"the tutorial's one rule (lower 95% bound above -{NONINFERIORITY_MARGIN_PP} pp): "
        f"{chosen}. "
    )
    if "aeq_int4_mixed" in rows:
        test = rows["aeq_int4_mixed"]["noninferiority_test"]
        text += (
            "On the test set the mixed file "
            + row_text("aeq_int4_mixed")
            + f"; against the margin: lower bound {test['lower_bound_pp']:+.2f} pp, one-sided "
            f"p = {report.format_p(test['p_value'])}: "
            + ("non-inferior" if test["non_inferior"] else "not confirmed")
            + (" (**borderline**: within 0.05 pp of the margin)" if test["borderline"] else "")
            + ". "
        )
    text += (
        f"Files of at most {size_target}× float32's size that keep accuracy within the margin on "
        "the test set: "
        + (
            _join([f"`{n}` ({rows[n]['ratio_to_float32']:.3f}×)" for n in small_ok])
            if small_ok
            else "none"
        )
        + ". "
    )
    if size.get("name"):
        text += f"The summary's size pick, over every notebook's files: `{size['name']}`. "
    if defects:
        text += (
            "Runtime defects, not quantization results, and kept out of the recommendations and "
            "the frontier: "
            + "; ".join(f"`{n}`: {rows[n]['caveat']}" for n in defects)
            + " (`docs/upstream/README.md` explains both, with the source lines). "
        )
    if "aeq_int2" in checks and checks["aeq_int2"].diagnosis is not None:
        text += (
            f"The same int2 rounding of the Keras weights alone, in float arithmetic, scores "
            f"{int2_keras_accuracy:.2%} with {int2_keras_classes} classes predicted: two bits "
            "lose most of this model even where the arithmetic is right. Where the runtime can "
            "compute int2 (the fully connected layers only), " + row_text("aeq_int2_dense") + ". "
        )
    timed = [n for n in plans if rows.get(n, {}).get("latency_ratio_ci")]

    def at_batch_1(verdict: str) -> list[str]:
        """Files whose batch-1 time ratio is measurably off 1, and by more than SPEED_MARGIN."""
        found = []
        for n in timed:
            ratio, (low, high) = rows[n]["latency_ratio"], rows[n]["latency_ratio_ci"]
            large = abs(math.log(ratio)) > math.log(1 + report.SPEED_MARGIN)
            if large and speed_verdict([1 / high, 1 / low]) == verdict:
                found.append(f"`{n}` ({ratio:.2f}×)")
        return found

    weight_only = plans["aeq_int4_weights"]
    left = sorted(set(weight_only["builtin"]) & {"CONV_2D", "FULLY_CONNECTED"})
    text += (
        f"On this CPU, at batch 1, measurably faster than float32 by more than "
        f"{report.SPEED_MARGIN:.0%}: "
        + (_join(at_batch_1("faster")) if at_batch_1("faster") else "none")
        + "; measurably slower by more than that: "
        + (_join(at_batch_1("slower")) if at_batch_1("slower") else "none")
        + " (this study has no control of its own; notebook 06's says what this machine "
        "resolves). "
        + report.latency_sentence(rows["aeq_int4_weights"])
        + ": in that file XNNPACK takes "
        + report.delegation_text(weight_only)
        + (
            f", so its {_join(left)} layers run on the built-in kernels, behind a `DEQUANTIZE` "
            f"that widens the int4 weights to float; it runs at {int4_vs_builtin['median']:.2f}× "
            "the throughput of float32 on the built-in kernels. Weight-only int4 is a storage "
            "format here: it shrinks the file, not the arithmetic."
            if left
            else "."
        )
    )
    return text


# --------------------------------------------------------------------------- 09 Keras 3


def keras3(
    *,
    same: float,
    evaluations: Mapping,
    versus_parent: Mapping,
    twins: Mapping,
    files: Mapping,
    timing: Mapping,
    touched: Sequence[str],
    skipped: Sequence[str],
    quantized_accuracy: float,
    export_error: str | None,
    tflm: Mapping | None = None,
    twin_tflm: Mapping | None = None,
    control: Mapping | None = None,
    same_quantization: bool = True,
) -> str:
    """Notebook 09's conclusion: the Keras 3 export against the tf_keras files, what Keras 3's
    own quantization does, and (``tflm``: each file's ``tflm_*`` fields, ``twin_tflm``: those of
    its tf_keras twin, from notebook 08) how the files fare in LiteRT for Microcontrollers.
    ``skipped``: the layer classes Keras 3 warned about; ``control``: the study's float16 control,
    which sets the speed difference it resolves (:func:`helpers.report.speed_margin`) and whose
    failure the text states;
    ``same_quantization``: every file stores its twin's weights and scales
    (:func:`helpers.tflite_file.quantization_fingerprint`)."""
    from collections import Counter

    from helpers import report
    from helpers.benchmark import latency_between, ratio_between, speed_verdict

    margin = report.speed_margin(control)

    def speed_word(low: float, high: float, median: float) -> str:
        """An interval of a speed ratio (>1: faster): a verdict only beyond ``margin``."""
        if abs(math.log(median)) <= math.log(1 + margin) or speed_verdict([low, high]) == "tie":
            return "within what this study resolves"
        return speed_verdict([low, high])

    parts = [
        f"Rebuilt in Keras 3 with the baseline's weights, the model predicts the same class as "
        f"the `tf_keras` baseline on {same:.2%} of the test images."
    ]
    for name, twin_path in twins.items():
        twin = twin_path.stem
        size, twin_size = files[name].stat().st_size, twin_path.stat().st_size
        latency = latency_between(timing, name, twin)
        throughput = ratio_between(timing, name, twin)
        batch = timing["settings"]["batch_size"]
        parts.append(
            f"`{name}` is {size:,} bytes ({size - twin_size:+,} against `{twin}`), scores "
            f"{evaluations[name].record['test_accuracy']:.2%} ("
            + report.comparison_clause(versus_parent[name], "keras3_keras")
            + f"), takes {latency['median']:.2f}× `{twin}`'s time at batch 1 (95% interval "
            f"{latency['ci'][0]:.2f}–{latency['ci'][1]:.2f}: "
            + speed_word(1 / latency["ci"][1], 1 / latency["ci"][0], 1 / latency["median"])
            + f") and runs at {throughput['median']:.2f}× its throughput at batch {batch} "
            f"({throughput['ci'][0]:.2f}–{throughput['ci'][1]:.2f}: "
            + speed_word(*throughput["ci"], throughput["median"])
            + ")."
        )
    if control and not control["ok"]:
        low, high = control["ci"]
        band_low, band_high = control["band"]
        resolution = (
            f"This study's control, float16 against float32 (the same arithmetic), measured "
            f"{control['ratio']:.2f}× (95% interval {low:.2f}–{high:.2f}), outside the "
            f"{band_low}–{band_high} band it must stay in: the machine was noisy during this "
            f"study, so it resolves only differences of about {margin:.0%}; smaller ones are not "
            "rankings."
        )
    else:
        resolution = (
            f"This study resolves speed differences of about {margin:.0%} (its float16 control); "
            "smaller ones are not rankings."
        )
    parts.append(
        resolution + " The extra bytes and operations come from Keras 3's "
        "`Flatten`, which reads the batch size at run time where `tf_keras`'s reshapes to a "
        "constant shape"
        + (
            "; each file stores the same weights and scales as its twin, so `model.export` is "
            "how a Keras 3 model reaches LiteRT."
            if same_quantization
            else "; the stored weights or scales differ from the twins' too (see the table)."
        )
    )
    for name, fields in (tflm or {}).items():
        twin = twins[name].stem
        twin_arena = (twin_tflm or {}).get(twin, {}).get("tflm_arena_bytes")
        if not fields["tflm_runs"]:
            parts.append(f"TFLM does not run `{name}`: {fields['tflm_error']}.")
            continue
        arena = f"an arena of {fields['tflm_arena_bytes']:,} bytes"
        if twin_arena:
            arena += f" ({fields['tflm_arena_bytes'] - twin_arena:+,} against `{twin}`)"
        untied = fields["tflm_untied_disagreements"]
        parts.append(
            f"TFLM runs `{name}` in {arena} and predicts the LiteRT class on "
            f"{fields['tflm_agreement_with_litert']:.2%} of the images"
            + (
                " (every difference a tied output)."
                if untied == 0 and fields["tflm_agreement_with_litert"] < 1
                else "."
                if untied == 0
                else f", {untied:,} of the differences untied: the runtimes compute something "
                "different."
            )
        )
    counts = Counter(skipped)
    warned = _join([f"{k} (×{v})" if v > 1 else k for k, v in counts.items()]) if counts else ""
    parts.append(
        f'Keras 3\'s `quantize("int8")` quantized {_join([f"`{n}`" for n in touched]) or "no layer"}'
        + (f" and warned that {warned} have no `quantize` method" if warned else "")
        + f"; in Keras the quantized model scores {quantized_accuracy:.2%}. "
        + (
            f"Its export to LiteRT fails ({export_error}): Keras 3 quantization serves int8 "
            "inside Keras; for a LiteRT file, quantize with the converter (notebook 03) or LiteRT "
            "Quantizer (notebook 07)."
            if export_error
            else "Its export to LiteRT succeeded in this run."
        )
    )
    parts.append(
        "Quantization-aware training still needs `tf_keras`: tfmot does not support Keras 3 "
        "(tensorflow/model-optimization#1119)."
    )
    return " ".join(parts)
