"""Tables and computed sentences: every verdict follows a paired test, never a bare difference.

* :func:`markdown_table` / :func:`summary_markdown`: the comparison table (``summary.md``, README);
* :func:`recommend`: which variant to pick for size, accuracy and speed, and why;
* :func:`accuracy_sentence`, :func:`speed_sentence`, :func:`recommendation_text`: the sentences
  the notebooks show, built from the statistics (a tie is called a tie).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from helpers.benchmark import ratio_between, speed_verdict


def format_p(p: float) -> str:
    """A p-value for people: two significant digits, and no '0' for an underflow."""
    return "< 1e-300" if p < 1e-300 else f"{p:.2g}"


def _interval(values, fmt: str) -> str:
    low, high = values
    return f"{fmt.format(low)} to {fmt.format(high)}"


def _with_range(
    key: str, range_key: str, value: str, bounds: str
) -> Callable[[Mapping], str | None]:
    """A table cell 'value (low, high)', or None ('–') when the row lacks ``key``."""

    def cell(row: Mapping) -> str | None:
        if row.get(key) is None:
            return None
        low, high = row[range_key]
        return f"{value.format(row[key])} {bounds.format(low, high)}"

    return cell


_pp_with_ci = _with_range(
    "delta_vs_parent_pp", "delta_vs_parent_ci95_pp", "{:+.2f}", "({:+.2f}, {:+.2f})"
)
_throughput = _with_range("throughput_ips", "throughput_ips_iqr", "{:,.0f}", "({:,.0f}–{:,.0f})")
_ratio_with_ci = _with_range("throughput_ratio", "throughput_ratio_ci", "{:.2f}", "({:.2f}–{:.2f})")


def _optional(key: str, render: Callable[[object], str]) -> Callable[[Mapping], str | None]:
    """A table cell ``render(row[key])``, or None ('–') when the row lacks ``key``."""
    return lambda row: None if row.get(key) is None else render(row[key])


def _name(row: Mapping) -> str:
    return (
        row["name"] if row.get("role", "variant") == "variant" else f"{row['name']} ({row['role']})"
    )


# (heading, function of a row returning text or None for "–")
TABLE_COLUMNS: tuple[tuple[str, Callable[[Mapping], str | None]], ...] = (
    ("variant", _name),
    ("float parent", lambda r: r.get("parent")),
    ("size (bytes)", lambda r: f"{r['size_bytes']:,}"),
    ("gzip (bytes)", _optional("gzip_size_bytes", "{:,}".format)),
    ("× float32 size", lambda r: f"{r['ratio_to_float32']:.3f}"),
    ("test accuracy", lambda r: f"{r['test_accuracy']:.2%}"),
    ("Δ vs parent, pp (95% CI)", _pp_with_ci),
    ("McNemar p vs parent", _optional("p_value_vs_parent", format_p)),
    ("agreement with parent", _optional("agreement_with_parent", "{:.2%}".format)),
    ("agreement with baseline", lambda r: f"{r['agreement_with_float']:.2%}"),
    ("batch-1 µs (median)", _optional("latency_ms_batch1", lambda ms: f"{ms * 1000:.1f}")),
    ("images/s (median, IQR)", _throughput),
    ("× float32 throughput (95% CI)", _ratio_with_ci),
    ("timed in", _optional("speed_measured_in", lambda notebook: notebook[:2])),
)


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A GitHub-flavoured markdown table; missing values are shown as '–'."""
    lines = [
        "| " + " | ".join(heading for heading, _ in TABLE_COLUMNS) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(TABLE_COLUMNS))) + "|",
    ]
    for row in rows:
        cells = []
        for _, cell in TABLE_COLUMNS:
            try:
                value = cell(row)
            except (KeyError, TypeError):
                value = None
            cells.append("–" if value is None else value)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TABLE_LEGEND = (
    "*Float parent*: the float model the file was made from (PTQ files: the baseline "
    "`keras_float`; QAT: the QAT Keras model; the control's files: the control's float model). "
    "*Δ vs parent*: accuracy difference with a paired bootstrap 95% interval. *McNemar p*: exact "
    "test on the images where the two disagree in correctness. A difference is called only when "
    "the interval excludes 0 and p < 0.05; otherwise it is a tie. *Agreement*: share of test images with the same predicted class. Speed: "
    "medians over interleaved rounds; *× float32 throughput* is the median of per-round ratios "
    "to float32 with a distribution-free 95% interval (1.00 inside the interval: no measurable "
    "difference); each notebook timed its files in its own interleaved study (*timed in*), and an "
    "interval covers the noise from round to round within that study, not from one run to the "
    "next. Intervals and p-values are per comparison, not corrected for the number of "
    "comparisons in the table."
)


def summary_markdown(summary: Mapping) -> str:
    env = summary["environment"]
    return (
        f"# Quantization results\n\nBaseline {summary['baseline_fingerprint']}; {env['cpu']} "
        f"({env['logical_cpus']} logical cores).\n\n{markdown_table(summary['variants'])}\n\n"
        f"{TABLE_LEGEND}\n"
    )


# --------------------------------------------------------------------------- sentences


def accuracy_sentence(row: Mapping, versus: str = "parent") -> str:
    """How a row's accuracy compares with its parent (or the baseline), as the test says."""
    if versus == "parent":
        delta, ci = row["delta_vs_parent_pp"], row["delta_vs_parent_ci95_pp"]
        p, verdict, other = row["p_value_vs_parent"], row["verdict_vs_parent"], row["parent"]
    else:
        delta, ci = row["change_pp"], row["delta_vs_baseline_ci95_pp"]
        p, verdict, other = row["p_value_vs_baseline"], row["verdict_vs_baseline"], "keras_float"
    return f"`{row['name']}` {_versus_phrase(verdict, other, delta, ci, p)}"


def _versus_phrase(verdict: str, other: str, delta: float, ci, p: float) -> str:
    """'ties with `b` (+0.01 pp, 95% interval ..., McNemar p = ...)' (or 'beats', 'loses to')."""
    numbers = f"{delta:+.2f} pp, 95% interval {_interval(ci, '{:+.2f}')}, McNemar p = {format_p(p)}"
    word = {"tie": "ties with", "better": "beats", "worse": "loses to"}[verdict]
    return f"{word} `{other}` ({numbers})"


def speed_sentence(row: Mapping, margin: float | None = None, reference: str = "float32") -> str:
    """Throughput against float32: 'faster' or 'slower' only when the interval excludes 1;
    a difference smaller than ``margin`` is flagged as too small to matter on this machine."""
    ratio, ci = row["throughput_ratio"], row["throughput_ratio_ci"]
    verdict = speed_verdict(ci)
    numbers = f"{ratio:.2f}× {reference}'s throughput, 95% interval {_interval(ci, '{:.2f}')}"
    if verdict == "tie":
        return f"`{row['name']}` is not measurably faster or slower than {reference} ({numbers})"
    if margin is not None and abs(ratio - 1) < margin:
        return (
            f"`{row['name']}` is {verdict} than {reference} by less than the {margin:.0%} this run "
            f"can resolve ({numbers})"
        )
    return f"`{row['name']}` is {verdict} than {reference} ({numbers})"


# --------------------------------------------------------------------------- recommendation


NONINFERIORITY_PP = 0.3  # "no real loss": the 95% interval stays above -0.3 pp of the baseline
SIZE_TIE = 0.01  # files within 1% of the smallest are the same size for the recommendation
SPEED_MARGIN = 0.05  # speed ratios within 5% (or the control's resolution, if larger) are a tie
SPEED_STUDY = "05_comparison"  # speed is ranked only among files timed together, in notebook 05


def speed_margin(control: Mapping | None) -> float:
    """The smallest speed difference this run can resolve: 5%, or how far the float16/float32
    control (which must be equivalent) strayed from 1, whichever is larger."""
    if not control:
        return SPEED_MARGIN
    return max(SPEED_MARGIN, *(abs(bound - 1) for bound in control["ci"]))


def non_inferior(row: Mapping) -> bool:
    return row["delta_vs_baseline_ci95_pp"][0] >= -NONINFERIORITY_PP


def recommend(
    rows: Sequence[Mapping],
    studies: Mapping[str, Mapping | None],
    compare: Callable[[str, str], Mapping] | None = None,
    control: Mapping | None = None,
) -> dict:
    """Pick a variant for size, for accuracy and for speed, following the paired tests.

    Candidates are shippable ``.tflite`` variants (not references or controls) without a
    ``caveat`` (e.g. an accuracy that depends on the kernel library).

    * size: among files *non-inferior* to the float baseline (95% interval of the difference
      above ``-NONINFERIORITY_PP``), the smallest; files within ``SIZE_TIE`` of it count as the
      same size and the most accurate of them wins;
    * accuracy: the most accurate file, with the files statistically tied with it
      (``compare(a, b)`` returns the paired comparison of a with b);
    * speed: among non-inferior files timed together in ``SPEED_STUDY``, the highest median
      throughput ratio, its verdict against float32, and the files within the speed margin of it
      (ratios paired by round). Files timed in other notebooks are not ranked against these.
    """
    candidates = [
        r
        for r in rows
        if r.get("role", "variant") == "variant" and r["kind"] == "tflite" and not r.get("caveat")
    ]
    if not candidates:
        raise ValueError("no shippable variant to recommend")
    acceptable = [r for r in candidates if non_inferior(r)] or candidates
    smallest_size = min(r["size_bytes"] for r in acceptable)
    same_size = [r for r in acceptable if r["size_bytes"] <= smallest_size * (1 + SIZE_TIE)]
    smallest = max(same_size, key=lambda r: (r["test_accuracy"], -r["size_bytes"]))
    best = max(candidates, key=lambda r: (r["test_accuracy"], -r["size_bytes"]))
    tied = []
    if compare is not None:
        tied = [
            r["name"]
            for r in candidates
            if r is not best and compare(r["name"], best["name"])["verdict"] == "tie"
        ]
    choice = {
        "size": {
            "name": smallest["name"],
            "rule": f"smallest file whose 95% interval stays above -{NONINFERIORITY_PP} pp of "
            f"the baseline; sizes within {SIZE_TIE:.0%} count as equal",
            "same_size": [r["name"] for r in same_size if r is not smallest],
            "versus_same_size": {
                r["name"]: compare(smallest["name"], r["name"])
                for r in same_size
                if r is not smallest and compare is not None
            },
        },
        "accuracy": {"name": best["name"], "tied_with": tied},
        "excluded": [r["name"] for r in rows if r.get("caveat")],
    }
    study = studies.get(SPEED_STUDY)
    timed = [r for r in acceptable if r.get("speed_measured_in") == SPEED_STUDY]
    if study and timed:
        margin = speed_margin(control)
        fastest = max(timed, key=lambda r: r["throughput_ratio"])
        tied_speed = [
            other["name"]
            for other in timed
            if other is not fastest
            and ratio_between(study, fastest["name"], other["name"])["median"] < 1 + margin
        ]
        runner_up = max(
            (r for r in timed if r is not fastest),
            key=lambda r: r["throughput_ratio"],
            default=None,
        )
        choice["speed"] = {
            "name": fastest["name"],
            "versus_runner_up": None
            if runner_up is None
            else {
                "name": runner_up["name"],
                **ratio_between(study, fastest["name"], runner_up["name"]),
            },
            "verdict_vs_float32": speed_verdict(fastest["throughput_ratio_ci"]),
            "tied_with": tied_speed,
            "margin": margin,
            "study": SPEED_STUDY,
        }
    return choice


def recommendation_text(choice: Mapping, rows: Sequence[Mapping]) -> str:
    by_name = {r["name"]: r for r in rows}
    size = by_name[choice["size"]["name"]]
    same_size = choice["size"].get("same_size") or []
    rule = (
        f"whose accuracy stays within {NONINFERIORITY_PP} pp of the float baseline at 95% "
        "confidence"
    )
    against_baseline = accuracy_sentence(size, "baseline")
    head = (
        f"**For size:** `{size['name']}`, {size['size_bytes']:,} bytes "
        f"({size['ratio_to_float32']:.0%} of float32)"
    )
    if not same_size:
        text = f"{head}: the smallest file {rule} ({against_baseline})."
    else:
        others = [by_name[name] for name in same_size]
        text = (
            f"{head}: {against_baseline}. The rule: the smallest file {rule}; files within "
            f"{SIZE_TIE:.0%} of that size count as the same size, and the most accurate of them "
            "is chosen. "
            + ", ".join(f"`{o['name']}` ({o['size_bytes']:,} bytes)" for o in others)
            + (" is" if len(others) == 1 else " are")
            + f" as small, and `{size['name']}` scores higher"
        )
        versus = choice["size"].get("versus_same_size") or {}
        if versus:
            text += ": " + "; ".join(
                comparison_sentence(comparison, size["name"], name)
                for name, comparison in versus.items()
            )
        text += "."
    parts = [text]
    best = by_name[choice["accuracy"]["name"]]
    tied = choice["accuracy"]["tied_with"]
    text = f"**For accuracy:** `{best['name']}` scores highest ({best['test_accuracy']:.2%})"
    if tied:
        text += (
            ", but it is statistically tied with "
            + ", ".join(f"`{name}`" for name in tied)
            + ": on these 10,000 images they cannot be ranked"
        )
    if best.get("parent") and best.get("verdict_vs_parent"):
        text += f". Against its own float parent: {accuracy_sentence(best)}"
        if best["verdict_vs_parent"] == "tie" and best["verdict_vs_baseline"] == "better":
            text += (
                "; so its lead over the baseline comes from its parent's extra training, not "
                "from quantization"
            )
    parts.append(text + ".")
    if "speed" in choice:
        fast = by_name[choice["speed"]["name"]]
        text = (
            f"**For speed on this CPU** (files timed together in notebook "
            f"{choice['speed']['study'][:2]}): {speed_sentence(fast, choice['speed']['margin'])}"
        )
        runner_up = choice["speed"].get("versus_runner_up")
        if runner_up:
            text += (
                f"; against the next fastest, `{runner_up['name']}`, {runner_up['median']:.2f}× "
                f"(95% interval {_interval(runner_up['ci'], '{:.2f}')})"
            )
        if choice["speed"]["tied_with"]:
            text += (
                f"; within {choice['speed']['margin']:.0%} of it, too close to rank: "
                + ", ".join(f"`{n}`" for n in choice["speed"]["tied_with"])
            )
        parts.append(text + ".")
    if choice.get("excluded"):
        parts.append(
            "Not recommended whatever their numbers: "
            + ", ".join(f"`{n}` ({by_name[n]['caveat']})" for n in choice["excluded"])
            + "."
        )
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- notebook tables


def comparison_clause(comparison, other: str) -> str:
    """The verb phrase only: 'ties with `b` (+0.01 pp, ...)', for sentences with their own subject."""
    c = comparison if isinstance(comparison, Mapping) else comparison.as_dict()
    return _versus_phrase(c["verdict"], other, c["delta_pp"], c["ci95_pp"], c["p_value"])


def comparison_sentence(comparison, name: str, other: str) -> str:
    """'`a` ties with `b` (+0.01 pp, 95% interval ..., McNemar p = ...)' from a paired comparison."""
    return f"`{name}` {comparison_clause(comparison, other)}"


def comparison_frame(comparisons: Mapping, parent: str):
    """A table of paired comparisons, one row per model, all against ``parent``."""
    import pandas as pd

    rows = []
    for name, comparison in comparisons.items():
        c = comparison if isinstance(comparison, Mapping) else comparison.as_dict()
        low, high = c["ci95_pp"]
        rows.append(
            {
                "variant": name,
                "test accuracy": c["accuracy"],
                f"Δ vs {parent} (pp)": round(c["delta_pp"], 2),
                "95% interval (pp)": f"{low:+.2f} to {high:+.2f}",
                "McNemar p": float(f"{c['p_value']:.3g}"),
                "right only for the variant": c["only_model_right"],
                f"right only for {parent}": c["only_reference_right"],
                f"agreement with {parent}": round(c["agreement"], 4),
                "flipped predictions": c["flips"],
                "verdict": c["verdict"],
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def calibration_finding(study) -> dict:
    """From a calibration study (rows: samples, draw, accuracy): from which size on does the
    calibration set size stop mattering, and which sizes differ, in which direction?

    Two sizes are 'not measurably different' when the ranges of their draws' accuracies overlap:
    the difference between them is then no larger than the luck of the draw. The threshold is the
    smallest size from which every larger size overlaps the largest size tried.
    """
    grouped = study.groupby("samples")["accuracy"]
    lows, highs, means = grouped.min(), grouped.max(), grouped.mean()
    sizes = sorted(lows.index)
    largest = sizes[-1]

    def overlaps(size: int) -> bool:
        return lows[size] <= highs[largest] and lows[largest] <= highs[size]

    threshold = largest
    for size in reversed(sizes):
        if not overlaps(size):
            break
        threshold = size
    differing = [size for size in sizes if not overlaps(size)]
    draws = int(study.groupby("samples").size().min())
    band = f"{lows[largest]:.2%}–{highs[largest]:.2%}"
    if not differing:
        text = (
            f"In the calibration study ({draws} random sets per size), every size from "
            f"{sizes[0]} to {largest} images gave accuracies overlapping those of {largest} "
            f"images ({band}): no measurable difference at any size tried, for this model "
            "(overlapping ranges over random draws, not a paired test of two files)."
        )
    else:
        details = "; ".join(
            f"{size} image(s): mean {means[size]:.2%}, draws {lows[size]:.2%}–{highs[size]:.2%}, "
            f"{'lower' if means[size] < means[largest] else 'higher'} than with {largest}"
            for size in differing
        )
        text = (
            f"In the calibration study ({draws} random sets per size), the accuracies overlap "
            f"those of {largest} images ({band}) from {threshold} images on: no measurable "
            f"difference there. Sizes that differ by more than the luck of the draw: {details}."
        )
    return {
        "threshold_samples": int(threshold),
        "largest_samples": int(largest),
        "differing_samples": [int(s) for s in differing],
        "draws": draws,
        "text": text,
    }


def delegation_text(plan: Mapping) -> str:
    """'all 8 operations' / 'none of its 10 operations' / '7 of its 8 operations (not SOFTMAX)'."""
    delegated, builtin = plan["delegated"], plan["builtin"]
    total = len(delegated) + len(builtin)
    if not builtin:
        return f"all {total} operations"
    if not delegated:
        return f"none of its {total} operations"
    return f"{len(delegated)} of its {total} operations (not {', '.join(sorted(set(builtin)))})"


def qat_versus_ptq_sentence(*, verdict: str, ptq_loss: str) -> str:
    """Notebook 04's verdict on QAT against PTQ of the same, equally trained float model.

    ``verdict``: QAT int8 against PTQ int8 of the control; ``ptq_loss``: that PTQ file against
    its own float parent (did post-training quantization lose anything to win back?).
    """
    for name, value in (("verdict", verdict), ("ptq_loss", ptq_loss)):
        if value not in ("tie", "better", "worse"):
            raise ValueError(f"{name} must be 'tie', 'better' or 'worse', got {value!r}")
    if verdict == "better":
        return "Here QAT keeps measurably more test images right than PTQ of the same model."
    if verdict == "worse":
        return "Here PTQ of the same model keeps measurably more test images right than QAT."
    if ptq_loss == "tie":
        return (
            "On this small model, then, QAT does not measurably beat post-training quantization: "
            "PTQ int8 loses no measurable accuracy against its float parent (any loss is too small "
            "for the test set to resolve), so there is nothing for QAT to win back that this "
            "test could show."
        )
    return (
        "QAT does not measurably beat post-training quantization here, although PTQ int8 does "
        "lose measurable accuracy against its float parent: the gap between them is too small "
        "for these 10,000 images to resolve."
    )
