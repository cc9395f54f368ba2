"""The comparison table, ``summary.json`` / ``summary.md``, and the computed recommendation."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence

import numpy as np

# Columns of the comparison table: (key in a row, heading, format)
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("name", "variant", "{}"),
    ("size_bytes", "size (bytes)", "{:,}"),
    ("gzip_size_bytes", "gzip (bytes)", "{:,}"),
    ("ratio_to_float32", "× float32 size", "{:.3f}"),
    ("test_accuracy", "test accuracy", "{:.2%}"),
    ("change_pp", "Δ vs float (pp)", "{:+.2f}"),
    ("agreement_with_float", "agreement", "{:.2%}"),
    ("flipped_predictions", "flipped", "{:,}"),
    ("latency_ms_batch1", "batch-1 ms (median)", "{:.4f}"),
    ("throughput_ips", "images/s @256", "{:,.0f}"),
    ("speedup_vs_float32", "throughput × float32", "{:.2f}"),
)

ACCURACY_TOLERANCE_PP = 0.3  # "no real loss": within this many points of float32 TFLite


def gzip_size(content: bytes) -> int:
    """Size after gzip -9: what a download or an app bundle would carry."""
    return len(gzip.compress(content, compresslevel=9, mtime=0))


def variant_row(
    name: str,
    record: Mapping,
    speed: Mapping | None,
    content: bytes,
    float32_size: int,
    float_accuracy: float,
    float32_throughput: float | None,
) -> dict:
    """One row of the table from an evaluation record, a speed result and the file's bytes."""
    row = {
        "name": name,
        "path": record["path"],
        "size_bytes": int(record["size_bytes"]),
        "gzip_size_bytes": gzip_size(content),
        "ratio_to_float32": record["size_bytes"] / float32_size,
        "test_accuracy": float(record["test_accuracy"]),
        "change_pp": (record["test_accuracy"] - float_accuracy) * 100,
        "agreement_with_float": float(record["agreement_with_float"]),
        "flipped_predictions": int(record["flipped_predictions"]),
        "input_dtype": record["input_dtype"],
        "output_dtype": record.get("output_dtype"),
        "per_class_accuracy": list(record["per_class_accuracy"]),
    }
    if speed is not None:
        row.update(
            {
                "latency_ms_batch1": speed["latency_ms_batch1"],
                "latency_ms_batch1_p90": speed["latency_ms_batch1_p90"],
                "throughput_ips": speed["throughput_ips"],
                "speedup_vs_float32": (
                    speed["throughput_ips"] / float32_throughput if float32_throughput else None
                ),
            }
        )
    return row


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A GitHub-flavoured markdown table; missing values are shown as '–'."""
    lines = [
        "| " + " | ".join(heading for _, heading, _ in TABLE_COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(TABLE_COLUMNS))) + "|",
    ]
    for row in rows:
        cells = []
        for key, _, fmt in TABLE_COLUMNS:
            value = row.get(key)
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            cells.append("–" if missing else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recommend(variants: Sequence[Mapping], reference_accuracy: float) -> dict[str, str]:
    """Pick a variant for size, for accuracy and for speed, from the measured rows.

    * size: the smallest file whose accuracy is within ACCURACY_TOLERANCE_PP of float32 TFLite;
    * accuracy: the highest test accuracy (smaller file on a tie);
    * speed: the highest batch-256 throughput among those within the tolerance.
    """
    within = [
        v
        for v in variants
        if (v["test_accuracy"] - reference_accuracy) * 100 >= -ACCURACY_TOLERANCE_PP
    ]
    pool = within or list(variants)
    return {
        "size": min(pool, key=lambda v: v["size_bytes"])["name"],
        "accuracy": max(variants, key=lambda v: (v["test_accuracy"], -v["size_bytes"]))["name"],
        "speed": max(pool, key=lambda v: v.get("throughput_ips") or 0)["name"],
    }


# --------------------------------------------------------------------------- README results

README_START = "<!-- results:start (written by `make readme-results`; do not edit by hand) -->"
README_END = "<!-- results:end -->"
README_FIGURE = "docs/size_vs_accuracy.png"


def readme_results(summary: Mapping, table_markdown: str, run_log: Mapping | None) -> str:
    """The README's results section, from a run's summary.json, summary.md table and run log."""
    env = summary["environment"]
    bench = summary["benchmark"]
    by_name = {v["name"]: v for v in summary["variants"]}
    params = summary["params"]
    wall = (
        f" The whole `make run-all` took {run_log['total_seconds'] / 60:.1f} minutes."
        if run_log and not run_log.get("quick")
        else ""
    )
    lines = [
        f"From one full `make run-all` on {env['cpu']} ({env['logical_cpus']} logical cores, no "
        f"GPU), Python {env['python']}, TensorFlow {env['tensorflow']}, "
        f"{bench['runtime']}; baseline trained for {params['baseline']['EPOCHS']} epochs, QAT "
        f"fine-tuned for {params['qat']['QAT_EPOCHS']}.{wall} Latency: median of "
        f"{bench['latency_runs']} single-image calls after {bench['warmup_runs']} warm-up calls; "
        f"throughput: best of {bench['throughput_repeats']} passes over "
        f"{bench['throughput_batches']} batches of {bench['batch_size']} test images; "
        f"{bench['threads']} interpreter thread, LiteRT's default (XNNPACK) path.",
        "",
        table_markdown,
        "",
        f"![Size against accuracy]({README_FIGURE})",
        "",
        f"int8 is {by_name['int8']['ratio_to_float32']:.0%} of the float32 file and "
        f"{by_name['int8']['change_pp']:+.2f} percentage points from the float model; on this "
        f"x86 CPU its throughput is {by_name['int8']['speedup_vs_float32']:.2f}× float32's "
        f"with XNNPACK and {by_name['int8'].get('speedup_vs_float32_builtin', float('nan')):.2f}× "
        "with the interpreter's built-in kernels: whether int8 is faster depends on the kernel "
        "library as much as on the data type. Notebook 05 discusses why phones and "
        "microcontrollers differ from this x86 machine.",
        "",
        "Regenerate with `make run-all && make readme-results`; your numbers will differ in the "
        "speed columns (they depend on the CPU); the others should match on the same stack "
        "(training is deterministic for a given seed, though another CPU may round differently).",
    ]
    return "\n".join(lines)


def update_readme(readme_text: str, section: str) -> str:
    if README_START not in readme_text or README_END not in readme_text:
        raise ValueError("README.md lacks the results markers")
    head, rest = readme_text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{section}\n{README_END}{tail}"


def main() -> int:
    """``python -m helpers.report``: copy a full run's results into README.md and docs/."""
    import json
    import shutil
    import sys

    from helpers import artifacts

    artifacts_dir = artifacts.resolve_artifacts_dir(None)
    summary = artifacts.read_json(artifacts_dir, "summary.json")
    table = artifacts.require(artifacts_dir, "summary.md").read_text().split("\n\n", 2)[-1]
    log_path = artifacts.REPO_ROOT / "outputs" / "run_log.json"
    run_log = json.loads(log_path.read_text()) if log_path.is_file() else None
    if run_log and run_log.get("quick"):
        print("error: the last run used QUICK=1; the README shows a full run.", file=sys.stderr)
        return 1
    readme = artifacts.REPO_ROOT / "README.md"
    section = readme_results(summary, table.strip(), run_log)
    artifacts.write_text(readme, update_readme(readme.read_text(), section))
    figure = artifacts.REPO_ROOT / README_FIGURE
    figure.parent.mkdir(exist_ok=True)
    shutil.copy(artifacts_dir / "figures" / "05_size_vs_accuracy.png", figure)
    print(f"Updated {readme} and {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
