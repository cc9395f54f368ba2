"""``make seeds``: the training claims of notebooks 02-04 under several training seeds.

    python -m helpers.cli.seeds                 # seeds 1, 2, 3
    python -m helpers.cli.seeds --seeds 5       # seeds 1 to 5

McNemar tests and bootstrap intervals cover the sampling of test images, not the training run:
"the extra training gains 0.8 pp" or "QAT ties with PTQ" rest on one seed. This tool runs
notebooks 01-04 with ``SEED=s`` at their full default parameters (notebook 03's calibration study
cut to one draw of its default size, which none of these numbers uses), each seed in its own
``artifacts/seeds/seed_<s>/`` so the main run's files are never touched, and writes
``artifacts/seed_study.json``:

    {"seeds": [...], "per_seed": [{"seed", "baseline_accuracy", "int8_delta_pp",
     "qat_int8_delta_pp", "control_delta_pp", "qat_vs_control_int8_pp", ...}, ...],
     "summary": {field: {"mean", "min", "max"}}, "seconds": ...}

A seed whose notebooks already finished (its ``qat_metrics.json`` records that seed) is not run
again, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from helpers import artifacts
from helpers.cli.runner import DEFAULT_OUTPUT_DIR, run_notebooks

NOTEBOOKS = (
    "01_data",
    "02_baseline_cnn",
    "03_post_training_quantization",
    "04_quantization_aware_training",
)
CUT_STUDY = {"03_post_training_quantization": {"CALIBRATION_STUDY": [500], "CALIBRATION_DRAWS": 1}}
FIELDS = (
    "baseline_accuracy",
    "int8_delta_pp",
    "qat_int8_delta_pp",
    "control_delta_pp",
    "qat_vs_control_int8_pp",
    "qat_vs_control_int8_per_tensor_pp",
)


def seed_record(folder: Path, seed: int) -> dict:
    """One seed's numbers, from the predictions its notebooks recorded (paired comparisons)."""
    from helpers.stats import compare_predictions

    labels = np.load(folder / "test_labels.npy")

    def predictions(name: str) -> np.ndarray:
        return np.load(folder / artifacts.PREDICTIONS_DIR / f"{name}.npy")

    def delta(name: str, other: str) -> dict:
        return compare_predictions(predictions(name), predictions(other), labels).as_dict()

    pairs = {
        "int8": ("int8", "keras_float"),
        "qat_int8": ("qat_int8", "keras_float"),
        "control": ("control_keras", "keras_float"),
        "qat_vs_control_int8": ("qat_int8", "control_int8"),
        "qat_vs_control_int8_per_tensor": ("qat_int8", "control_int8_per_tensor"),
    }
    comparisons = {key: delta(*pair) for key, pair in pairs.items()}
    baseline = artifacts.read_json(folder, "baseline_metrics.json")
    return {
        "seed": seed,
        "baseline_fingerprint": baseline["baseline_fingerprint"],
        "baseline_accuracy": baseline["keras_test_accuracy"],
        **{
            f"{key}_delta_pp" if key in ("int8", "qat_int8", "control") else f"{key}_pp": c[
                "delta_pp"
            ]
            for key, c in comparisons.items()
        },
        "verdicts": {key: c["verdict"] for key, c in comparisons.items()},
    }


def finished(folder: Path, seed: int) -> bool:
    path = folder / "qat_metrics.json"
    if not path.is_file():
        return False
    try:
        return artifacts.read_json(folder, "qat_metrics.json")["params"]["SEED"] == seed
    except (KeyError, artifacts.MissingArtifactError):
        return False


def run_seed(seed: int, root: Path, output_root: Path) -> dict:
    folder = root / f"seed_{seed}"
    if finished(folder, seed):
        print(f"seed {seed}: already done in {folder}", flush=True)
    else:
        for name in NOTEBOOKS:
            run_notebooks(
                [name],
                artifacts_dir=folder,
                output_dir=output_root / f"seed_{seed}",
                extra_parameters={"SEED": seed, **CUT_STUDY.get(name, {})},
                html=False,
            )
    return seed_record(folder, seed)


def summarise(per_seed: list[dict]) -> dict:
    return {
        field: {
            "mean": float(np.mean([row[field] for row in per_seed])),
            "min": float(np.min([row[field] for row in per_seed])),
            "max": float(np.max([row[field] for row in per_seed])),
        }
        for field in FIELDS
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="how many seeds (1 to N; default 3)")
    parser.add_argument("--artifacts-dir", help="the main ARTIFACTS_DIR (default artifacts/)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        print("error: --seeds must be at least 1", file=sys.stderr)
        return 1
    main_dir = artifacts.resolve_artifacts_dir(args.artifacts_dir)
    root, output_root = main_dir / "seeds", DEFAULT_OUTPUT_DIR / "seeds"
    seeds = list(range(1, args.seeds + 1))
    started = time.perf_counter()
    per_seed = []
    for position, seed in enumerate(seeds, start=1):
        print(f"== seed {seed} ({position}/{len(seeds)}): notebooks 01-04 into {root}", flush=True)
        per_seed.append(run_seed(seed, root, output_root))
    study = {
        "seeds": seeds,
        "per_seed": per_seed,
        "summary": summarise(per_seed),
        "seconds": round(time.perf_counter() - started, 1),
        "notebooks": list(NOTEBOOKS),
        "note": "notebook 03's calibration study cut to one draw of its default size",
    }
    path = artifacts.write_json(main_dir / "seed_study.json", study)
    print(f"Wrote {path} ({study['seconds'] / 60:.1f} minutes)")
    for row in per_seed:
        print(
            "  "
            + ", ".join(
                f"{k} {row[k]:+.2f}" if k != "seed" else f"seed {row[k]}" for k in ("seed", *FIELDS)
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
