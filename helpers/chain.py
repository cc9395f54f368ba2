"""The chain of notebooks, defined once: order, inputs, outputs, metrics file, parameters.

Every tool that needs to know about the notebooks reads this module: the runner (order, quick
parameters), the parameter checks (:func:`helpers.params.check_parameters`), a notebook's start
(:func:`helpers.notebook.start` checks its inputs before any work), the "run notebook X first"
messages (:func:`producer_of`) and the summary (which metrics files exist, in which order).
Adding a notebook means one :class:`Step` here plus the notebook itself.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from helpers.params import COMMON, TRAIN_IMAGES, Float, Int, IntList, NameList, Requirement


@dataclass(frozen=True)
class Step:
    """One notebook of the chain."""

    name: str  # file name without .ipynb, e.g. "03_post_training_quantization"
    needs: tuple[str, ...]  # files of earlier notebooks it reads, checked before any work
    writes: tuple[str, ...]  # files it writes (shell patterns allowed), for "run X first"
    metrics: str | None  # the JSON its record() writes
    parameters: Mapping[str, Any]  # name -> rule (helpers.params), one per parameters-cell line
    quick: Mapping[str, Any] = field(default_factory=dict)  # small values for tests and QUICK=1
    requirements: tuple[Requirement, ...] = ()  # rules across parameters
    summary: str | None = None  # "required" / "optional": its metrics feed summary.json
    rebuilds_summary: bool = False  # record() rebuilds summary.json with its results

    @property
    def file(self) -> str:
        return f"{self.name}.ipynb"


CHAIN: tuple[Step, ...] = (
    Step(
        name="01_data",
        needs=(),
        writes=("dataset.json", "test_labels.npy"),
        metrics="dataset.json",
        parameters={**COMMON},
    ),
    Step(
        name="02_baseline_cnn",
        needs=("dataset.json",),
        writes=("baseline.keras", "baseline_metrics.json", "validation_labels.npy"),
        metrics="baseline_metrics.json",
        parameters={
            **COMMON,
            "EPOCHS": Int(minimum=1),
            "BATCH_SIZE": Int(minimum=1),
            "TRAIN_LIMIT": Int(minimum=10, maximum=TRAIN_IMAGES, allow_none=True),
            "VALIDATION_SPLIT": Float(minimum=0, maximum=0.5),
            "LEARNING_RATE": Float(minimum=0, maximum=1, exclusive_minimum=True),
        },
        quick={"EPOCHS": 1, "TRAIN_LIMIT": 3000},
        summary="required",
    ),
    Step(
        name="03_post_training_quantization",
        needs=("baseline.keras", "baseline_metrics.json"),
        writes=(
            "float32.tflite",
            "dynamic_range.tflite",
            "float16.tflite",
            "int8.tflite",
            "int16x8.tflite",
            "int8_selective.tflite",
            "int8_float_head.tflite",
            "ptq_metrics.json",
        ),
        metrics="ptq_metrics.json",
        parameters={
            **COMMON,
            "CALIBRATION_SAMPLES": Int(minimum=1, maximum=TRAIN_IMAGES),
            "CALIBRATION_STUDY": IntList(minimum=1, maximum=TRAIN_IMAGES),
            "CALIBRATION_DRAWS": Int(minimum=1, maximum=50),
            "DEBUG_SAMPLES": Int(minimum=1, maximum=TRAIN_IMAGES),
        },
        quick={
            "CALIBRATION_SAMPLES": 100,
            "CALIBRATION_STUDY": [10],
            "CALIBRATION_DRAWS": 2,
            "DEBUG_SAMPLES": 32,
        },
        summary="required",
    ),
    Step(
        name="04_quantization_aware_training",
        # int8.tflite: section 6 sets the QAT file beside notebook 03's PTQ file.
        needs=("baseline.keras", "baseline_metrics.json", "int8.tflite"),
        writes=(
            "qat_model.h5",
            "qat_int8.tflite",
            "control.keras",
            "control_int8.tflite",
            "control_int8_per_tensor.tflite",
            "qat_metrics.json",
        ),
        metrics="qat_metrics.json",
        parameters={
            **COMMON,
            "QAT_EPOCHS": Int(minimum=1),
            "BATCH_SIZE": Int(minimum=1),
            "LEARNING_RATE": Float(minimum=0, maximum=1, exclusive_minimum=True),
            "TRAIN_LIMIT": Int(minimum=10, maximum=TRAIN_IMAGES, allow_none=True),
            "CALIBRATION_SAMPLES": Int(minimum=1, maximum=TRAIN_IMAGES),
        },
        quick={"QAT_EPOCHS": 1, "TRAIN_LIMIT": 3000},
        requirements=(
            Requirement(
                lambda p: p["TRAIN_LIMIT"] is None or p["CALIBRATION_SAMPLES"] <= p["TRAIN_LIMIT"],
                "CALIBRATION_SAMPLES cannot exceed TRAIN_LIMIT: calibration images are drawn "
                "from the training images the notebook loads",
            ),
        ),
        summary="required",
    ),
    Step(
        name="05_comparison",
        needs=(
            "dataset.json",
            "test_labels.npy",
            "baseline_metrics.json",
            "ptq_metrics.json",
            "qat_metrics.json",
        ),
        writes=("comparison_metrics.json", "summary.json", "summary.md"),
        metrics="comparison_metrics.json",
        parameters={
            **COMMON,
            "ROUNDS": Int(minimum=1, maximum=1000),
            "MIN_PASS_SECONDS": Float(minimum=0, maximum=60, exclusive_minimum=True),
            "LATENCY_SECONDS": Float(minimum=0, maximum=60, exclusive_minimum=True),
            "BATCH_SIZE": Int(minimum=1, maximum=10_000),
            "NUM_THREADS": Int(minimum=1, maximum=256),
            "GRID_IMAGES": Int(minimum=1, maximum=40),
        },
        quick={"ROUNDS": 3, "MIN_PASS_SECONDS": 0.05, "LATENCY_SECONDS": 0.01},
        summary="required",
        rebuilds_summary=True,
    ),
    Step(
        name="06_speed",
        needs=(
            "baseline.keras",
            "baseline_metrics.json",
            "float32.tflite",
            "int8.tflite",
            "ptq_metrics.json",
            "qat_metrics.json",
            "comparison_metrics.json",
        ),
        writes=("int8_float_*.tflite", "speed_metrics.json"),
        metrics="speed_metrics.json",
        parameters={
            **COMMON,
            "BATCH_SIZE": Int(minimum=1, maximum=4096),
            "ROUNDS": Int(minimum=1, maximum=1000),
            "MIN_PASS_SECONDS": Float(minimum=0, maximum=60, exclusive_minimum=True),
            "CALIBRATION_SAMPLES": Int(minimum=1, maximum=TRAIN_IMAGES),
            "SWEEP_CHANNELS": IntList(minimum=1, maximum=256, allow_none=True),
            "SWEEP_BATCH": Int(minimum=1, maximum=256),
            "BATCH_CURVE": IntList(minimum=1, maximum=4096),
        },
        quick={
            "ROUNDS": 2,
            "MIN_PASS_SECONDS": 0.01,
            "CALIBRATION_SAMPLES": 100,
            "SWEEP_CHANNELS": [1, 8],
            "BATCH_CURVE": [8],
        },
        summary="optional",
        rebuilds_summary=True,
    ),
    Step(
        name="07_below_8_bits",
        needs=(
            "baseline.keras",
            "baseline_metrics.json",
            "float32.tflite",
            "int8.tflite",
            "comparison_metrics.json",
        ),
        writes=("aeq_*.tflite", "below8_metrics.json"),
        metrics="below8_metrics.json",
        parameters={
            **COMMON,
            "CALIBRATION_IMAGES": Int(minimum=1, maximum=TRAIN_IMAGES),
            "CALIBRATION_BATCHES": Int(minimum=1, maximum=9),
            "VALIDATE_IMAGES": Int(minimum=1, maximum=10_000),
            "CHECK_IMAGES": Int(minimum=1, maximum=10_000),
            "ROUNDS": Int(minimum=1, maximum=1000),
            "MIN_PASS_SECONDS": Float(minimum=0, maximum=60, exclusive_minimum=True),
            "LATENCY_SECONDS": Float(minimum=0, maximum=60, exclusive_minimum=True),
            "NUM_THREADS": Int(minimum=1, maximum=256),
            "SIZE_TARGET": Float(minimum=0, maximum=1, exclusive_minimum=True),
        },
        quick={
            "CALIBRATION_IMAGES": 200,
            "VALIDATE_IMAGES": 64,
            "CHECK_IMAGES": 200,
            "ROUNDS": 2,
            "MIN_PASS_SECONDS": 0.02,
            "LATENCY_SECONDS": 0.005,
        },
        requirements=(
            Requirement(
                lambda p: p["CALIBRATION_BATCHES"] <= p["CALIBRATION_IMAGES"],
                "CALIBRATION_BATCHES cannot exceed CALIBRATION_IMAGES: every batch needs an image",
            ),
        ),
        summary="optional",
        rebuilds_summary=True,
    ),
    Step(
        name="08_microcontroller",
        needs=(
            "baseline_metrics.json",
            "summary.json",
            "float32.tflite",
            "int8.tflite",
            "int16x8.tflite",
            "speed_metrics.json",
            "below8_metrics.json",
        ),
        writes=("mcu/*", "mcu_metrics.json"),
        metrics="mcu_metrics.json",
        parameters={
            **COMMON,
            "TEST_IMAGES": Int(minimum=1, maximum=10_000, allow_none=True),
            "ARENA_SIZE": Int(minimum=1024, maximum=1 << 30),
            "SMALLEST_ARENA_FOR": NameList(),
            "RAM_BUDGET_KB": Float(minimum=0, exclusive_minimum=True),
            "FLASH_BUDGET_KB": Float(minimum=0, exclusive_minimum=True),
            "CALIBRATION_IMAGES": Int(minimum=1, maximum=TRAIN_IMAGES),
        },
        quick={"TEST_IMAGES": 100, "SMALLEST_ARENA_FOR": ["int8"], "CALIBRATION_IMAGES": 20},
        summary="optional",
        rebuilds_summary=True,
    ),
    Step(
        name="09_keras3",
        needs=(
            "baseline.keras",
            "baseline_metrics.json",
            "float32.tflite",
            "float16.tflite",
            "int8.tflite",
            "mcu_metrics.json",
        ),
        writes=("keras3.keras", "keras3_*.tflite", "keras3_metrics.json"),
        metrics="keras3_metrics.json",
        parameters={
            **COMMON,
            "CALIBRATION_SAMPLES": Int(minimum=1, maximum=TRAIN_IMAGES),
            "ROUNDS": Int(minimum=1, maximum=1000),
            "MIN_PASS_SECONDS": Float(minimum=0, maximum=60, exclusive_minimum=True),
            "ARENA_SIZE": Int(minimum=1024, maximum=1 << 30),
            "TEST_IMAGES": Int(minimum=1, maximum=10_000, allow_none=True),
        },
        quick={"ROUNDS": 2, "MIN_PASS_SECONDS": 0.02, "TEST_IMAGES": 100},
        summary="optional",
        rebuilds_summary=True,
    ),
)

NOTEBOOKS: tuple[str, ...] = tuple(step.name for step in CHAIN)
SPECS: dict[str, Mapping[str, Any]] = {step.name: step.parameters for step in CHAIN}
_BY_NAME = {step.name: step for step in CHAIN}


def step(name: str) -> Step:
    """The chain entry of a notebook (``"03_post_training_quantization"``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no notebook {name!r} in the chain; have {', '.join(NOTEBOOKS)}") from None


def producer_of(file_name: str) -> Step | None:
    """The notebook that writes ``file_name`` (a name inside ARTIFACTS_DIR), if any."""
    base = file_name.rsplit("/", 1)[-1]
    for candidate in CHAIN:
        if any(fnmatch.fnmatchcase(base, pattern) for pattern in candidate.writes):
            return candidate
    return None


def before(name: str) -> tuple[Step, ...]:
    """The notebooks that come before ``name`` in the chain."""
    index = NOTEBOOKS.index(step(name).name)
    return CHAIN[:index]


def summary_steps() -> tuple[Step, ...]:
    """The notebooks whose metrics feed summary.json, in chain order."""
    return tuple(s for s in CHAIN if s.summary)
