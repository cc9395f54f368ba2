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
