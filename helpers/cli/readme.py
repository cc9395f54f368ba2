"""``make readme-results``: rebuild the README's results section from a full run's summary.json.

The section (between two markers) is generated, never edited by hand: the table comes from
``summary.json`` through the same :func:`helpers.report.markdown_table` as ``summary.md``, the
figure is copied from the run's figures, and the run time from ``outputs/run_log.json``.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping

from helpers import artifacts, machine, report
from helpers.benchmark import CONTROL_BAND

README_START = "<!-- results:start (written by `make readme-results`; do not edit by hand) -->"
README_END = "<!-- results:end -->"
README_FIGURE = "docs/size_vs_accuracy.png"
SOURCE_FIGURE = "figures/07_frontier.png"  # every notebook's files, runtime defects apart
BATCH_FIGURE, BATCH_SOURCE = "docs/batch_curve.png", "figures/06_batch_curve.png"
FIGURES = ((README_FIGURE, SOURCE_FIGURE), (BATCH_FIGURE, BATCH_SOURCE))  # (README path, run's)


def seed_table(seed_study: Mapping) -> str:
    """The seed study (``make seeds``) as a markdown table, one row per seed plus mean and range."""
    fields = [
        ("baseline_accuracy", "baseline accuracy", "{:.2%}"),
        ("int8_delta_pp", "int8 − baseline (pp)", "{:+.2f}"),
        ("qat_int8_delta_pp", "QAT int8 − baseline (pp)", "{:+.2f}"),
        ("control_delta_pp", "float control − baseline (pp)", "{:+.2f}"),
        ("qat_vs_control_int8_pp", "QAT int8 − control PTQ int8, per-channel (pp)", "{:+.2f}"),
        (
            "qat_vs_control_int8_per_tensor_pp",
            "QAT int8 − control PTQ int8, per-tensor dense: like for like (pp)",
            "{:+.2f}",
        ),
    ]
    fields = [f for f in fields if f[0] in seed_study["summary"]]  # older studies lack a field
    lines = [
        "| seed | " + " | ".join(label for _, label, _ in fields) + " |",
        "|---:|" + "---:|" * len(fields),
    ]
    for row in seed_study["per_seed"]:
        lines.append(
            f"| {row['seed']} | "
            + " | ".join(fmt.format(row[key]) for key, _, fmt in fields)
            + " |"
        )
    spread = seed_study["summary"]
    lines.append(
        "| mean (lowest to highest) | "
        + " | ".join(
            f"{fmt.format(spread[key]['mean'])} ({fmt.format(spread[key]['min'])} to "
            f"{fmt.format(spread[key]['max'])})"
            for key, _, fmt in fields
        )
        + " |"
    )
    return "\n".join(lines)


def readme_results(
    summary: Mapping, run_log: Mapping | None, seed_study: Mapping | None = None
) -> str:
    """The README's results section, from a run's summary.json, run log and seed study."""
    env = summary["environment"]
    params = summary["params"]
    speed = summary["recommendation"].get("speed") or {}
    bench = summary["benchmark"].get(speed.get("study", "05_comparison"), {})
    complete = bool(run_log) and not run_log.get("quick") and len(run_log.get("notebooks", {})) > 1
    minutes = (
        f" The whole `make run-all` took {run_log['total_seconds'] / 60:.1f} minutes ("
        + ", ".join(
            f"{name[:2]}: {seconds:.0f} s" for name, seconds in run_log["notebooks"].items()
        )
        + ")."
        if complete
        else ""
    )
    control = summary.get("speed_control") or {}
    control_text = ""
    if control:
        band = control.get("band", CONTROL_BAND)
        verdict = (
            f"inside the {band[0]:.2f}–{band[1]:.2f} equivalence band, as it must be"
            if control["ok"]
            else f"NOT inside the {band[0]:.2f}–{band[1]:.2f} band: the machine was noisy"
        )
        control_text = (
            f" Built-in control: float16 (same arithmetic as float32 once loaded) measured "
            f"{control['ratio']:.2f}× float32's throughput (95% interval {control['ci'][0]:.2f}–"
            f"{control['ci'][1]:.2f}): {verdict}."
        )
    study = f"notebook {speed['study'][:2]}" if speed else "each notebook"
    lines = [
        f"From one full `make run-all` on {env['cpu']} ({env['logical_cpus']} logical cores, "
        f"{machine.feature_text(env)}; no GPU), Python {env['python']}, TensorFlow "
        f"{env['tensorflow']}, ai-edge-litert {env['ai-edge-litert']}; baseline trained for "
        f"{params['02_baseline_cnn']['EPOCHS']} epochs, QAT fine-tuned for "
        f"{params['04_quantization_aware_training']['QAT_EPOCHS']}.{minutes} Speed: LiteRT's "
        f"default (XNNPACK) path, {bench.get('threads', 1)} thread; the files that compete for "
        f"the speed recommendation were timed together in {study}, "
        f"{bench.get('rounds', '?')} interleaved rounds, each with batch-1 latency and "
        f"throughput at batch {bench.get('batch_size', '?')}.{control_text} Absolute times and "
        "images per second are comparable only within one study (the *timed in* column): not "
        "between studies, runs or machines, even on one CPU model (other work on a shared "
        "machine, clock changes). Compare rows from different studies by their × float32 "
        "columns: the ratios are what carry over.",
        "",
        report.markdown_table(summary["variants"]),
        "",
        report.TABLE_LEGEND,
        "",
        f"![Size against accuracy]({README_FIGURE})",
        "",
        report.recommendation_text(summary["recommendation"], summary["variants"]),
    ]
    between = summary.get("between_studies") or {}
    spread = between.get("int8 / float32 throughput") or {}
    if len(spread) > 1:
        lines += [
            "",
            f"One ratio, several studies of this run: int8's throughput against float32's at "
            f"batch {bench.get('batch_size', '?')} measured "
            + ", ".join(f"{ratio:.2f}× ({where})" for where, ratio in spread.items())
            + ". Each interval in the table covers one study's rounds; the spread between "
            "studies is how much more one run moves.",
        ]
    fastest = summary.get("fastest_by_batch") or []
    if fastest:
        from helpers.speed import fastest_text

        lines += [
            "",
            "Notebook 06's batch curve (float32, int8 and the files fastest at batch 1, each "
            "batch size its own interleaved study): the fastest per image at each batch size, "
            "files within the run's resolution counted as tied: " + fastest_text(fastest) + ".",
            "",
            f"![Time per image against batch size]({BATCH_FIGURE})",
        ]
    lines += ["", "Notebook 06 explains int8's speed on this CPU layer by layer; yours may differ."]
    tflm = report.tflm_table(summary["variants"])
    if tflm.count("\n") > 1:
        lines += [
            "",
            "**On a microcontroller** (notebook 08, LiteRT for Microcontrollers' reference kernels "
            "run on this CPU; arena: the RAM the interpreter needs, recorded):",
            "",
            tflm,
        ]
    if seed_study:
        lines += [
            "",
            f"**Several training seeds** (`make seeds`: notebooks 02-04 at full defaults, "
            f"{len(seed_study['seeds'])} seeds, "
            f"{seed_study.get('seconds', 0) / 60:.0f} minutes). The intervals above cover the "
            "sampling of test images, not the training; this table shows what another seed "
            "changes:",
            "",
            seed_table(seed_study),
        ]
    else:
        lines += [
            "",
            "Every training claim above (the extra training of QAT and its control, QAT against "
            "PTQ) rests on one training seed; `make seeds` repeats them with others.",
        ]
    if summary.get("notes"):
        lines += ["", *[f"Note: {note}" for note in summary["notes"]]]
    lines += [
        "",
        "Regenerate with `make run-all && make readme-results`. Speed depends on the CPU; the "
        "other columns should match on the same stack (training is deterministic for a given "
        "seed, though another CPU may round differently).",
    ]
    return "\n".join(lines)


def update_readme(readme_text: str, section: str) -> str:
    if README_START not in readme_text or README_END not in readme_text:
        raise ValueError("README.md lacks the results markers")
    head, rest = readme_text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{section}\n{README_END}{tail}"


def main() -> int:
    artifacts_dir = artifacts.resolve_artifacts_dir(None)
    summary = artifacts.read_json(artifacts_dir, "summary.json")
    seed_study = artifacts.read_optional_json(artifacts_dir, "seed_study.json")
    log_path = artifacts.REPO_ROOT / "outputs" / "run_log.json"
    run_log = json.loads(log_path.read_text()) if log_path.is_file() else None
    if run_log and run_log.get("quick"):
        print("error: the last run used QUICK=1; the README shows a full run.", file=sys.stderr)
        return 1
    readme = artifacts.REPO_ROOT / "README.md"
    artifacts.write_text(
        readme, update_readme(readme.read_text(), readme_results(summary, run_log, seed_study))
    )
    for target, source in FIGURES:
        figure = artifacts.REPO_ROOT / target
        figure.parent.mkdir(exist_ok=True)
        shutil.copy(artifacts.require(artifacts_dir, source), figure)
        print(f"Updated {figure}")
    print(f"Updated {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
