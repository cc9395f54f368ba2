"""Tables and computed sentences: every verdict follows a paired test, never a bare difference.

* :func:`markdown_table` / :func:`summary_markdown`: the comparison table (``summary.md``, README);
* :func:`recommend`: which variant to pick for size, accuracy and speed, and why;
* :func:`accuracy_sentence`, :func:`speed_sentence`, :func:`recommendation_text`: the sentences
  the notebooks show, built from the statistics (a tie is called a tie).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from helpers.benchmark import latency_between, speed_verdict


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
_latency_with_ci = _with_range("latency_ratio", "latency_ratio_ci", "{:.2f}", "({:.2f}–{:.2f})")


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
    ("tied outputs", _optional("tied_outputs", "{:,}".format)),
    ("Δ vs parent, pp (95% CI)", _pp_with_ci),
    ("McNemar p vs parent", _optional("p_value_vs_parent", format_p)),
    ("agreement with parent", _optional("agreement_with_parent", "{:.2%}".format)),
    ("agreement with baseline", lambda r: f"{r['agreement_with_float']:.2%}"),
    ("batch-1 µs (median)", _optional("latency_ms_batch1", lambda ms: f"{ms * 1000:.1f}")),
    ("× float32 time, batch 1 (95% CI)", _latency_with_ci),
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
    "the interval excludes 0 and p < 0.05; otherwise it is a tie. *Tied outputs*: test images "
    "whose largest output value is shared by two or more classes; accuracy counts them as the "
    "lowest tied class (`argmax`). *Agreement*: share of test images with the same predicted "
    "class. Speed: medians over interleaved rounds; *× float32 time, batch 1* and *× float32 "
    "throughput* (at the batch the study used) are medians of per-round ratios to float32 with a "
    "distribution-free 95% interval (1.00 inside the interval: no measurable difference; a "
    "difference within the resolution the float16 control gives is not ranked either). The "
    "files that compete for the speed recommendation are timed together in one study (*timed "
    "in*); an interval covers the noise from round to round within that study, not from one run "
    "to the next, and absolute times and images per second are comparable only between rows "
    "of the same study, not between studies, runs or machines: the ratios are what carry over. "
    "Intervals and p-values are per comparison, not "
    "corrected for the number of comparisons in the table."
)


def tflm_table(rows: Sequence[Mapping]) -> str:
    """Notebook 08's columns for every .tflite file: does LiteRT for Microcontrollers run it, the
    RAM arena it needs, its accuracy there and its agreement with LiteRT (or its refusal)."""
    lines = [
        "| file | size (bytes) | runs in TFLM | arena (bytes) | TFLM accuracy | agreement with LiteRT |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        if row.get("kind") != "tflite" or "tflm_runs" not in row:
            continue
        if row["tflm_runs"]:
            cells = [
                "yes",
                f"{row['tflm_arena_bytes']:,}",
                f"{row['tflm_accuracy']:.2%}" if row.get("tflm_accuracy") is not None else "–",
                f"{row['tflm_agreement_with_litert']:.2%}"
                if row.get("tflm_agreement_with_litert") is not None
                else "–",
            ]
        else:
            operation, reason = _refusal(row.get("tflm_error") or "")
            cells = [f"no: {operation}{reason}", "–", "–", "–"]
        lines.append(f"| {row['name']} | {row['size_bytes']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _refusal(error: str) -> tuple[str, str]:
    from helpers.mcu import refusal_reason

    operation, reason = refusal_reason(error)
    reason = reason if len(reason) <= 90 else reason[:89] + "…"
    return (f"{operation}, " if operation else ""), reason.replace("|", "\\|")


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
    """'ties with `b` (+0.01 pp, 95% interval ..., McNemar p = ...)' (or 'beats', 'loses to');
    'is right on exactly the same images as `b`' when no image separates them."""
    if delta == 0 and list(ci) == [0, 0]:
        return f"is right on exactly the same images as `{other}`"
    p_text = format_p(p)
    p_text = f"p {p_text}" if p_text.startswith("<") else f"p = {p_text}"
    numbers = f"{delta:+.2f} pp, 95% interval {_interval(ci, '{:+.2f}')}, McNemar {p_text}"
    word = {"tie": "ties with", "better": "beats", "worse": "loses to"}[verdict]
    return f"{word} `{other}` ({numbers})"


def _speed_phrase(
    name: str, verdict: str, numbers: str, ratio: float, margin: float | None, reference: str
) -> str:
    """'`x` is faster than float32 (...)', a tie called a tie, a small difference flagged."""
    if verdict == "tie":
        return f"`{name}` is not measurably faster or slower than {reference} ({numbers})"
    if margin is not None and abs(ratio - 1) < margin:
        return (
            f"`{name}` is {verdict} than {reference} by less than the {margin:.0%} this run can "
            f"resolve ({numbers})"
        )
    return f"`{name}` is {verdict} than {reference} ({numbers})"


def speed_sentence(row: Mapping, margin: float | None = None, reference: str = "float32") -> str:
    """Throughput against float32: 'faster' or 'slower' only when the interval excludes 1;
    a difference smaller than ``margin`` is flagged as too small to matter on this machine."""
    ratio, ci = row["throughput_ratio"], row["throughput_ratio_ci"]
    numbers = f"{ratio:.2f}× {reference}'s throughput, 95% interval {_interval(ci, '{:.2f}')}"
    return _speed_phrase(row["name"], speed_verdict(ci), numbers, ratio, margin, reference)


def latency_sentence(row: Mapping, margin: float | None = None, reference: str = "float32") -> str:
    """Batch-1 latency against float32: 'faster' or 'slower' only when the interval of the time
    ratio excludes 1; a difference smaller than ``margin`` is flagged as too small to rank."""
    ratio, (low, high) = row["latency_ratio"], row["latency_ratio_ci"]
    numbers = (
        f"{row['latency_ms_batch1'] * 1000:.1f} µs per image at batch 1, {ratio:.2f}× "
        f"{reference}'s time, 95% interval {low:.2f} to {high:.2f}"
    )
    verdict = speed_verdict([1 / high, 1 / low])  # a time ratio: faster means below 1
    return _speed_phrase(row["name"], verdict, numbers, ratio, margin, reference)


# --------------------------------------------------------------------------- recommendation


SIZE_TIE = 0.01  # files within 1% of the smallest are the same size for the recommendation
SPEED_MARGIN = 0.05  # speed ratios within 5% (or the control's resolution, if larger) are a tie


def speed_margin(control: Mapping | None) -> float:
    """The smallest speed difference this run can resolve: 5%, or how far the float16/float32
    control (which must be equivalent) strayed from 1, whichever is larger."""
    if not control:
        return SPEED_MARGIN
    return max(SPEED_MARGIN, *(abs(bound - 1) for bound in control["ci"]))


def shippable(rows: Sequence[Mapping]) -> list[Mapping]:
    """The files a learner could ship: ``.tflite`` variants (not references or controls) without
    a caveat (a runtime defect, or an accuracy that depends on the kernels)."""
    return [
        r
        for r in rows
        if r.get("role", "variant") == "variant" and r["kind"] == "tflite" and not r.get("caveat")
    ]


def _held_out(row: Mapping) -> Mapping | None:
    """The row's non-inferiority test on the held-out validation images, if recorded."""
    return row.get("noninferiority_validation")


def size_pick(candidates: Sequence[Mapping]) -> dict:
    """The smallest file with no real loss, chosen without the test set and confirmed on it.

    1. Selection, on notebook 02's held-out validation images: the files non-inferior to the
       float baseline there (:func:`helpers.stats.non_inferiority`, one margin). Without recorded
       validation predictions the test set has to select, and the result says so.
    2. Confirmation, on the test set, in order of size (files within ``SIZE_TIE`` of each other
       count as the same size; the most accurate on the held-out images goes first): the first
       file non-inferior on the test set too is the pick. Every file tried is reported, so a
       smaller file that was selected but not confirmed is named with its bound.
    """
    validated = [r for r in candidates if _held_out(r) is not None]
    on_validation = len(validated) == len(candidates)
    selected = [
        r
        for r in candidates
        if (_held_out(r) if on_validation else r["noninferiority_test"])["non_inferior"]
    ]

    def accuracy(row: Mapping) -> float:
        return (row.get("validation_accuracy") if on_validation else row["test_accuracy"]) or 0.0

    remaining = sorted(selected, key=lambda r: r["size_bytes"])
    tried, pick, group = [], None, []
    while remaining and pick is None:
        # Files within SIZE_TIE of the smallest left count as one size: most accurate first.
        group = [
            r for r in remaining if r["size_bytes"] <= remaining[0]["size_bytes"] * (1 + SIZE_TIE)
        ]
        for row in sorted(group, key=lambda r: -accuracy(r)):
            tried.append({"name": row["name"], **row["noninferiority_test"]})
            if row["noninferiority_test"]["non_inferior"]:
                pick = row
                break
        remaining = [r for r in remaining if r not in group]
    same_size = [r["name"] for r in group if r is not pick] if pick else []
    return {
        "name": None if pick is None else pick["name"],
        "selected_on": "validation" if on_validation else "test",
        "candidates": [r["name"] for r in candidates],
        "selected": [r["name"] for r in selected],
        "tried": tried,
        "same_size": same_size,
        "margin_pp": None if pick is None else pick["noninferiority_test"]["margin_pp"],
    }


def pick_study(studies: Mapping[str, Mapping | None]) -> tuple[str, Mapping] | None:
    """The speed study that ranks files: the last one (in chain order) marked as a pick."""
    picks = [
        (nb, study) for nb, study in studies.items() if study and study["settings"].get("pick")
    ]
    return picks[-1] if picks else None


def speed_pick(candidates: Sequence[Mapping], studies, control: Mapping | None) -> dict | None:
    """The fastest file at batch 1 (latency) among candidates timed together in the pick study,
    with the files too close to rank against it, and the throughput leader at the study's batch.
    Ratios between two files are paired by round (:func:`helpers.benchmark.ratio_between`)."""
    found = pick_study(studies)
    if found is None:
        return None
    notebook, study = found
    timed = [r for r in candidates if r["name"] in study["variants"]]
    timed = [r for r in timed if "latency_ratio" in study["variants"][r["name"]]]
    if not timed:
        return None
    margin = speed_margin(control)
    variants = study["variants"]
    fastest = min(timed, key=lambda r: variants[r["name"]]["latency_ratio"])
    others = [r for r in timed if r is not fastest]
    versus = {
        r["name"]: latency_between(study, r["name"], fastest["name"]) for r in others
    }  # > 1: the other takes longer
    tied = [name for name, ratio in versus.items() if ratio["median"] < 1 + margin]
    runner_up = min(others, key=lambda r: versus[r["name"]]["median"], default=None)
    throughput_leader = max(timed, key=lambda r: variants[r["name"]]["throughput_ratio"])
    return {
        "name": fastest["name"],
        "latency_ratio": variants[fastest["name"]]["latency_ratio"],
        "latency_ratio_ci": variants[fastest["name"]]["latency_ratio_ci"],
        "latency_ms": variants[fastest["name"]]["latency_ms_batch1"],
        "verdict_vs_float32": speed_verdict(
            [1 / high for high in variants[fastest["name"]]["latency_ratio_ci"][::-1]]
        ),
        "runner_up": None
        if runner_up is None
        else {
            "name": runner_up["name"],
            **versus[runner_up["name"]],
            # files as fast as the runner-up, within the control's margin either way
            "tied_with": [
                r["name"]
                for r in others
                if r is not runner_up
                and abs(math.log(latency_between(study, r["name"], runner_up["name"])["median"]))
                < math.log(1 + margin)
            ],
        },
        "tied_with": tied,
        "margin": margin,
        "study": notebook,
        "timed": [r["name"] for r in timed],
        "throughput": {
            "name": throughput_leader["name"],
            "batch_size": study["settings"]["batch_size"],
            "ratio": variants[throughput_leader["name"]]["throughput_ratio"],
            "ci": variants[throughput_leader["name"]]["throughput_ratio_ci"],
        },
    }


def recommend(
    rows: Sequence[Mapping],
    studies: Mapping[str, Mapping | None],
    compare: Callable[[str, str], Mapping] | None = None,
    control: Mapping | None = None,
) -> dict:
    """Pick a variant for size, for accuracy and for speed, following the paired tests.

    Candidates: :func:`shippable` files. Each row carries its non-inferiority tests against the
    float baseline on the held-out images and on the test set (:func:`helpers.summary.build_rows`).

    * size: :func:`size_pick` (selected on the held-out images, confirmed on the test set);
    * accuracy: the file most accurate on the held-out images (the test set when none were
      recorded), with its test accuracy and the files statistically tied with it on the test set;
    * speed: :func:`speed_pick`, batch-1 latency first, among the files non-inferior on the
      held-out images and timed together in the pick study.
    """
    candidates = shippable(rows)
    if not candidates:
        raise ValueError("no shippable variant to recommend")
    size = size_pick(candidates)
    on_validation = size["selected_on"] == "validation"
    best = max(
        candidates,
        key=lambda r: (
            (r.get("validation_accuracy") if on_validation else r["test_accuracy"]) or 0.0,
            -r["size_bytes"],
        ),
    )
    tied = []
    if compare is not None:
        tied = [
            r["name"]
            for r in candidates
            if r is not best and compare(r["name"], best["name"])["verdict"] == "tie"
        ]
    selected = [r for r in candidates if r["name"] in size["selected"]] or candidates
    choice = {
        "size": size,
        "accuracy": {"name": best["name"], "tied_with": tied, "chosen_on": size["selected_on"]},
        "excluded": [r["name"] for r in rows if r.get("caveat")],
    }
    speed = speed_pick(selected, studies, control)
    if speed is not None:
        variants = pick_study(studies)[1]["variants"]
        # faster files that the accuracy rule kept out: the reader should know they exist
        speed["faster_left_out"] = [
            {"name": r["name"], "latency_ratio": variants[r["name"]]["latency_ratio"]}
            for r in candidates
            if r not in selected
            and "latency_ratio" in variants.get(r["name"], {})
            and variants[r["name"]]["latency_ratio"] < speed["latency_ratio"]
        ]
        choice["speed"] = speed
    return choice


def _bound(test: Mapping) -> str:
    from helpers.stats import BOOTSTRAP_RESAMPLES

    floor = 1 / (BOOTSTRAP_RESAMPLES + 1)  # no resample at or below -margin
    p = (
        f"p ≤ {format_p(floor)} (the bootstrap's resolution)"
        if test["p_value"] <= floor * 1.0001
        else f"p = {format_p(test['p_value'])}"
    )
    return (
        f"lower 95% bound {test['lower_bound_pp']:+.2f} pp against a margin of "
        f"-{test['margin_pp']} pp, one-sided {p}"
    )


def recommendation_text(choice: Mapping, rows: Sequence[Mapping]) -> str:
    """The README's and notebook 05's recommendation paragraphs, from :func:`recommend`."""
    by_name = {r["name"]: r for r in rows}
    size = choice["size"]
    where = (
        "chosen on notebook 02's held-out validation images and confirmed on the test set"
        if size["selected_on"] == "validation"
        else "chosen and confirmed on the test set (no held-out predictions were recorded)"
    )
    if size["name"] is None:
        text = (
            "**For size:** no file keeps accuracy within the margin of the float baseline on "
            f"both the held-out images and the test set ({where})."
        )
    else:
        row, confirmed = by_name[size["name"]], size["tried"][-1]
        same = size["same_size"]
        text = (
            f"**For size:** `{row['name']}`, {row['size_bytes']:,} bytes "
            f"({row['ratio_to_float32']:.0%} of float32), "
            + (
                "the most accurate on the held-out images of the smallest files"
                if same
                else "the smallest file"
            )
            + f" whose accuracy stays within {confirmed['margin_pp']} pp of the float baseline "
            f"at 95% confidence, {where} ({_bound(confirmed)})"
        )
        if confirmed["borderline"]:
            text += "; **borderline**: the bound lies within 0.05 pp of the margin"
        text += "."
        for failed in size["tried"][:-1]:
            other = by_name[failed["name"]]
            text += (
                f" `{other['name']}` ({other['size_bytes']:,} bytes) passed on the held-out images "
                f"but was not confirmed on the test set at this margin ({_bound(failed)})."
            )
        if same:
            text += (
                " Files within 1% of each other count as one size; the others of that size: "
                + ", ".join(f"`{n}` ({by_name[n]['size_bytes']:,} bytes)" for n in same)
                + "."
            )
        smaller = [
            r
            for r in rows
            if r["name"] in size.get("candidates", [])
            and r["name"] not in size["selected"]
            and r["size_bytes"] < row["size_bytes"]
            and _held_out(r) is not None
        ]
        if smaller and size["selected_on"] == "validation":
            text += (
                " Smaller, but not within the margin on the held-out images: "
                + ", ".join(
                    f"`{r['name']}` ({r['size_bytes']:,} bytes, lower bound "
                    f"{_held_out(r)['lower_bound_pp']:+.2f} pp)"
                    for r in sorted(smaller, key=lambda r: r["size_bytes"])
                )
                + "."
            )
    parts = [text]
    best = by_name[choice["accuracy"]["name"]]
    tied = choice["accuracy"]["tied_with"]
    chosen = (
        "chosen on the held-out images"
        if choice["accuracy"].get("chosen_on") == "validation"
        else "chosen on the test set"
    )
    text = (
        f"**For accuracy:** `{best['name']}` ({chosen}) scores {best['test_accuracy']:.2%} on "
        "the test set"
    )
    if tied:
        text += (
            ", statistically tied there with "
            + ", ".join(f"`{name}`" for name in tied)
            + ": on these 10,000 images they cannot be ranked"
        )
    if best.get("parent") and best.get("verdict_vs_parent"):
        text += f". Against its own float parent: {accuracy_sentence(best)}"
        if best["verdict_vs_parent"] == "tie" and best["verdict_vs_baseline"] == "better":
            text += (
                "; so quantizing its parent cost nothing measurable, and its lead over the "
                "baseline comes with its parent's extra training"
            )
            controls = [r for r in rows if r.get("role") == "control"]
            if controls:
                text += (
                    " (the controls, trained the same way without it: "
                    + ", ".join(f"`{r['name']}` {r['test_accuracy']:.2%}" for r in controls)
                    + ")"
                )
    parts.append(text + ".")
    if "speed" in choice:
        parts.append(speed_recommendation_text(choice["speed"]))
    if choice.get("excluded"):
        parts.append(
            "Not recommended whatever their numbers: "
            + "; ".join(f"`{n}` ({by_name[n]['caveat']})" for n in choice["excluded"])
            + "."
        )
    return "\n\n".join(parts)


def speed_recommendation_text(speed: Mapping) -> str:
    """Batch-1 latency first, then the throughput leader at the study's batch size."""
    low, high = speed["latency_ratio_ci"]
    text = (
        f"**For speed on this CPU** (batch 1; files timed together in notebook "
        f"{speed['study'][:2]}): `{speed['name']}` takes {speed['latency_ms'] * 1000:.1f} µs per "
        f"image, {speed['latency_ratio']:.2f}× float32's time (95% interval "
        f"{low:.2f} to {high:.2f})"
    )
    runner_up = speed.get("runner_up")
    if runner_up:
        text += (
            f"; the next fastest, `{runner_up['name']}`"
            + (
                " (tied with " + ", ".join(f"`{n}`" for n in runner_up["tied_with"]) + ")"
                if runner_up.get("tied_with")
                else ""
            )
            + f", takes {runner_up['median']:.2f}× `{speed['name']}`'s time (95% interval "
            f"{_interval(runner_up['ci'], '{:.2f}')})"
        )
    if speed["tied_with"]:
        text += f"; within {speed['margin']:.0%} of it, too close to rank: " + ", ".join(
            f"`{n}`" for n in speed["tied_with"]
        )
    throughput = speed["throughput"]
    text += (
        f". At batch {throughput['batch_size']}, the highest throughput is `{throughput['name']}`'s"
        f", {throughput['ratio']:.2f}× float32's (95% interval "
        f"{_interval(throughput['ci'], '{:.2f}')})."
    )
    if speed.get("faster_left_out"):
        text += (
            " Faster at batch 1, but not within the accuracy margin on the held-out images, so "
            "not candidates: "
            + ", ".join(
                f"`{r['name']}` ({r['latency_ratio']:.2f}×)" for r in speed["faster_left_out"]
            )
            + "."
        )
    return text


# --------------------------------------------------------------------------- notebook tables


def comparison_clause(comparison, other: str) -> str:
    """The verb phrase only: 'ties with `b` (+0.01 pp, ...)', for sentences with their own subject."""
    c = comparison if isinstance(comparison, Mapping) else comparison.as_dict()
    return _versus_phrase(c["verdict"], other, c["delta_pp"], c["ci95_pp"], c["p_value"])


def comparison_sentence(comparison, name: str, other: str) -> str:
    """'`a` ties with `b` (+0.01 pp, 95% interval ..., McNemar p = ...)' from a paired comparison."""
    return f"`{name}` {comparison_clause(comparison, other)}"


def comparison_frame(comparisons: Mapping, parent: str, evaluations: Mapping | None = None):
    """A table of paired comparisons, one row per model, all against ``parent``.

    With ``evaluations`` (name -> :class:`helpers.evaluate.Evaluation`), it also shows how many
    test images had a tied top output, the accuracy with ties split (``1/k`` credit), and how
    many of the flipped predictions were ties.
    """
    import pandas as pd

    rows = []
    for name, comparison in comparisons.items():
        c = comparison if isinstance(comparison, Mapping) else comparison.as_dict()
        low, high = c["ci95_pp"]
        row = {
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
        if evaluations is not None and name in evaluations:
            record = evaluations[name].record
            row["tied top outputs"] = record["tied_outputs"]
            row["accuracy, ties split"] = round(record["tie_credit_accuracy"], 5)
            row["flips that are ties"] = c.get("tied_flips")
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def speed_frame(study: Mapping):
    """One row per file of an interleaved study: batch-1 latency first (the cost of one request),
    then throughput at the study's batch size, each with its ratio to the reference."""
    import pandas as pd

    batch = study["settings"]["batch_size"]
    reference = study["settings"]["reference"]
    rows = {}
    for name, v in study["variants"].items():
        row = {}
        if "latency_ms_batch1" in v:
            low, high = v["latency_ratio_ci"]
            row["batch-1 µs (median)"] = round(v["latency_ms_batch1"] * 1000, 1)
            row[f"× {reference} time"] = round(v["latency_ratio"], 3)
            row["95% interval (time)"] = f"{low:.2f}–{high:.2f}"
        low, high = v["throughput_ratio_ci"]
        row[f"images/s at batch {batch}"] = round(v["throughput_ips"])
        row[f"× {reference} throughput"] = round(v["throughput_ratio"], 3)
        row["95% interval (throughput)"] = f"{low:.2f}–{high:.2f}"
        rows[name] = row
    return pd.DataFrame(rows).T


def levels_frame(weights, schemes: Mapping):
    """Notebook 07: what each quantization scheme leaves of one channel's weights."""
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            name: {
                "levels used": len(np.unique(values)),
                "weights rounded to 0": f"{np.mean(values == 0):.0%}",
                "RMSE / weight std": round(
                    float(np.sqrt(np.mean((values - weights) ** 2)) / weights.std()), 3
                ),
            }
            for name, values in schemes.items()
        }
    ).T


def constants_frame(content: bytes, layer_names):
    """Every stored constant of a file: layer, role, type, shape, bytes, scales."""
    import pandas as pd

    from helpers import tflite_file

    return pd.DataFrame(tflite_file.constants_table(content, layer_names)).drop(columns="tensor")


def plans_frame(plans: Mapping):
    """Which operations XNNPACK takes in each file (:func:`helpers.evaluate.execution_plan`)."""
    import pandas as pd

    return pd.DataFrame(
        {
            name: {
                "XNNPACK takes": delegation_text(plan),
                "left to built-in kernels": ", ".join(sorted(set(plan["builtin"]))) or "–",
            }
            for name, plan in plans.items()
        }
    ).T


def validation_frame(results: Mapping, ledger, layer_names):
    """The quantizer's validate() per file: output SNR (dB) and cosine, each layer's weight SNR,
    beside the file's test accuracy."""
    import numpy as np
    import pandas as pd

    from helpers.tflite_file import layer_of

    rows = {}
    for name, comparison in results.items():
        output = next(iter(comparison.output_tensors.values()))
        row = {
            "accuracy": ledger[name]["evaluation"].record["test_accuracy"],
            "output SNR (dB)": 10 * np.log10(output["snr"]),
            "output cosine": output["cosine_similarity"],
        }
        for tensor, values in comparison.constant_tensors.items():
            layer = layer_of(tensor, list(layer_names))
            if layer and tensor.split(";")[0].endswith(("/Conv2D", "/MatMul")):
                row[f"{layer} weight SNR (dB)"] = 10 * np.log10(values["snr"])
        rows[name] = row
    return pd.DataFrame(rows).T


def held_out_frame(rows: Sequence[Mapping]):
    """The one rule for "no real loss" (:func:`helpers.stats.non_inferiority`) on notebook 02's
    held-out images and on the test set, side by side, for every variant that has both (the
    reference models and the controls are not candidates)."""
    import pandas as pd

    def verdict(test: Mapping) -> str:
        if test["non_inferior"]:
            return "borderline pass" if test["borderline"] else "pass"
        return "borderline fail" if test["borderline"] else "fail"

    table = {}
    for row in rows:
        held_out, test = row.get("noninferiority_validation"), row.get("noninferiority_test")
        if not held_out or not test or row.get("role", "variant") != "variant":
            continue
        table[row["name"]] = {
            "bytes": row["size_bytes"],
            "held-out accuracy (%)": None
            if row.get("validation_accuracy") is None
            else 100 * row["validation_accuracy"],
            "held-out Δ (pp)": held_out["delta_pp"],
            "held-out lower bound (pp)": held_out["lower_bound_pp"],
            "held-out": verdict(held_out),
            "test Δ (pp)": test["delta_pp"],
            "test lower bound (pp)": test["lower_bound_pp"],
            "test": verdict(test),
        }
    return pd.DataFrame.from_dict(table, orient="index")  # one dtype per column, so round() works


def tied_pairs(evaluation, limit: int = 4) -> dict[str, int]:
    """The class pairs that tie most often in an evaluation's outputs: {"T-shirt/top & Shirt": 44}.

    An image tied among three or more classes counts once for each pair among them."""
    from itertools import combinations

    from helpers.data import CLASS_NAMES
    from helpers.evaluate import top_classes

    counts: dict[str, int] = {}
    for row in top_classes(evaluation.scores[evaluation.tied]):
        for a, b in combinations(row.nonzero()[0], 2):
            key = f"{CLASS_NAMES[a]} & {CLASS_NAMES[b]}"
            counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return dict(ordered[:limit])


def calibration_row(versus, content: bytes, layer_names) -> dict:
    """One draw of the calibration study: accuracy, its paired comparison with the reference
    int8 file, and the width of each calibrated activation range."""
    from helpers import tflite_file

    c = versus if isinstance(versus, Mapping) else versus.as_dict()
    ranges = {
        f"range {'logits' if row['layer'] == 'probabilities' else row['layer']}": (
            row["range high"] - row["range low"]
        )
        for row in tflite_file.activations_table(content, layer_names)
        if row["layer"] in ("conv1", "conv2", "dense", "probabilities")
        and row["made by"] != "SOFTMAX"
    }
    return {
        "accuracy": c["accuracy"],
        "Δ vs int8 (pp)": c["delta_pp"],
        "McNemar p vs int8": c["p_value"],
        "verdict vs int8": c["verdict"],
        "flips vs int8": c["flips"],
        **ranges,
    }


def calibration_finding(study, reference_samples: int) -> dict:
    """What a calibration study says, from paired tests: every draw was compared image by image
    with the notebook's own int8 file (calibrated on ``reference_samples`` images).

    ``study`` has one row per draw: ``samples``, ``draw``, ``accuracy``, ``Δ vs int8 (pp)`` and
    ``verdict vs int8`` (:func:`calibration_row`). A size *differs* when any of its draws is
    measurably better or worse than the reference file; the threshold is the smallest size from
    which no larger size differs.
    """
    sizes = sorted(int(s) for s in study["samples"].unique())
    draws = int(study.groupby("samples").size().min())
    differing = {
        size: study[(study["samples"] == size) & (study["verdict vs int8"] != "tie")]
        for size in sizes
    }
    differing = {size: rows for size, rows in differing.items() if len(rows)}
    threshold = next((s for s in sizes if not any(d >= s for d in differing)), None)
    deltas = study.groupby("samples")["Δ vs int8 (pp)"]
    low, high = deltas.min(), deltas.max()
    spread = "; ".join(f"{s}: {low[s]:+.2f} to {high[s]:+.2f}" for s in sizes)
    flips_text = ""
    if "flips vs int8" in study.columns:
        most = study.groupby("samples")["flips vs int8"].max()
        flips_text = (
            f"up to {most[sizes[0]]:,} predictions of `int8` with {sizes[0]} calibration image"
            f"{'s' if sizes[0] > 1 else ''} and up to {most[sizes[-1]]:,} with {sizes[-1]}"
        )
    head = (
        f"In the calibration study ({draws} random sets per size), each file was compared image "
        f"by image with the `int8` file (calibrated on {reference_samples} images)."
    )
    if not differing:
        text = (
            f"{head} No draw of any size from {sizes[0]} to {sizes[-1]} images differs measurably "
            f"from it (paired tests; accuracy differences in pp, lowest to highest draw: {spread})."
            " A tie is not proof of equivalence, though"
            + (
                f": the draws change {flips_text}, but not measurably how many images are right."
                if flips_text
                else "."
            )
        )
    else:
        details = "; ".join(
            f"{size} image(s): {len(rows)} of {draws} draws measurably "
            + " or ".join(sorted(set(rows["verdict vs int8"])))
            for size, rows in differing.items()
        )
        after = (
            f"From {threshold} images on, no draw differs measurably"
            if threshold is not None
            else "Even at the largest size tried, some draws differ"
        )
        text = (
            f"{head} Draws that differ measurably: {details}. {after} (accuracy differences in "
            f"pp, lowest to highest draw: {spread})."
        )
    return {
        "threshold_samples": None if threshold is None else int(threshold),
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
            "PTQ int8 shows no measurable loss against its float parent (a tie, which is not proof "
            "that no loss exists: its interval is in the table above), so this test could not "
            "show QAT winning anything back."
        )
    return (
        "QAT does not measurably beat post-training quantization here, although PTQ int8 does "
        "lose measurable accuracy against its float parent: the gap between them is too small "
        "for these 10,000 images to resolve."
    )


# --------------------------------------------------------------------------- notebook 09


def first_error_line(message: str) -> str:
    """The first line of a converter error that says what failed (MLIR's 'error:' lines)."""
    for line in message.splitlines():
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return message.strip().splitlines()[0] if message.strip() else message


def twins_frame(files: Mapping, twins: Mapping):
    """Each file beside its twin made another way: bytes, operations, batch dimension, XNNPACK."""
    import pandas as pd

    from helpers import tflite_file
    from helpers.evaluate import LiteRTModel, execution_plan

    rows, fingerprints = {}, {}
    for name, path in {
        **files,
        **{f"{n} ({t.stem}, tf_keras)": t for n, t in twins.items()},
    }.items():
        content = path.read_bytes()
        fingerprints[path] = tflite_file.quantization_fingerprint(content)
        model = LiteRTModel(content)
        rows[name] = {
            "bytes": len(content),
            "operations": ", ".join(
                f"{op} {n}" for op, n in tflite_file.op_counts(content).items()
            ),
            "input shape": str(
                model.interpreter.get_input_details()[0]["shape_signature"].tolist()
            ),
            "XNNPACK takes": delegation_text(execution_plan(content)),
        }
    for name, path in files.items():
        rows[name]["same weights and scales as its twin"] = (
            fingerprints[path] == fingerprints[twins[name]]
        )
    return pd.DataFrame(rows).T


def twin_speed_frame(study: Mapping, twins: Mapping):
    """Each file's batch-1 time and batch throughput against its twin's, paired by round."""
    import pandas as pd

    from helpers.benchmark import latency_between, ratio_between

    rows = {}
    for name, twin in twins.items():
        latency, throughput = latency_between(study, name, twin), ratio_between(study, name, twin)
        rows[f"{name} vs {twin}"] = {
            "× twin's time, batch 1": round(latency["median"], 3),
            "95% interval (time)": "{:.2f}–{:.2f}".format(*latency["ci"]),
            f"× twin's throughput, batch {study['settings']['batch_size']}": round(
                throughput["median"], 3
            ),
            "95% interval (throughput)": "{:.2f}–{:.2f}".format(*throughput["ci"]),
        }
    return pd.DataFrame(rows).T
