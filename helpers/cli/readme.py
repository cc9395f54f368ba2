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
SOURCE_FIGURE = "figures/05_size_vs_accuracy.png"


def readme_results(summary: Mapping, run_log: Mapping | None) -> str:
    """The README's results section, from a run's summary.json and run log."""
    env = summary["environment"]
    params = summary["params"]
    bench = summary["benchmark"].get("05_comparison", {})
    by_name = {row["name"]: row for row in summary["variants"]}
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
            f"{control['ratio']:.2f}× float32 (95% interval {control['ci'][0]:.2f}–"
            f"{control['ci'][1]:.2f}): {verdict}."
        )
    lines = [
        f"From one full `make run-all` on {env['cpu']} ({env['logical_cpus']} logical cores, "
        f"{machine.feature_text(env)}; no GPU), Python {env['python']}, TensorFlow "
        f"{env['tensorflow']}, ai-edge-litert {env['ai-edge-litert']}; baseline trained for "
        f"{params['02_baseline_cnn']['EPOCHS']} epochs, QAT fine-tuned for "
        f"{params['04_quantization_aware_training']['QAT_EPOCHS']}.{minutes} Speed: LiteRT's "
        f"default (XNNPACK) path, {bench.get('threads', 1)} thread, "
        f"{bench.get('rounds', '?')} interleaved rounds; throughput at batch "
        f"{bench.get('batch_size', '?')}.{control_text}",
        "",
        report.markdown_table(summary["variants"]),
        "",
        report.TABLE_LEGEND,
        "",
        f"![Size against accuracy]({README_FIGURE})",
        "",
        report.recommendation_text(summary["recommendation"], summary["variants"]),
    ]
    if "int8" in by_name and by_name["int8"].get("throughput_ratio") is not None:
        lines += [
            "",
            "On this CPU, " + report.speed_sentence(by_name["int8"]) + ". Notebook 06 explains "
            "why, layer by layer; your CPU's answer may differ.",
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
    log_path = artifacts.REPO_ROOT / "outputs" / "run_log.json"
    run_log = json.loads(log_path.read_text()) if log_path.is_file() else None
    if run_log and run_log.get("quick"):
        print("error: the last run used QUICK=1; the README shows a full run.", file=sys.stderr)
        return 1
    readme = artifacts.REPO_ROOT / "README.md"
    artifacts.write_text(
        readme, update_readme(readme.read_text(), readme_results(summary, run_log))
    )
    figure = artifacts.REPO_ROOT / README_FIGURE
    figure.parent.mkdir(exist_ok=True)
    shutil.copy(artifacts.require(artifacts_dir, SOURCE_FIGURE), figure)
    print(f"Updated {readme} and {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
