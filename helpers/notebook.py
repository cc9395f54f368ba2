"""Notebook plumbing: the setup every notebook runs first, and computed-markdown output."""

from __future__ import annotations

import os
import platform
import warnings
from importlib import metadata
from pathlib import Path

from helpers import artifacts, plots
from helpers.model import seed_everything
from helpers.params import check_int, check_optional_path

PACKAGES = (
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "ai-edge-litert",
    "numpy",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_description() -> str:
    """The CPU model name (Linux), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info() -> dict:
    return {
        **package_versions(),
        "cpu": cpu_description(),
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def quiet_known_noise() -> None:
    """Hide log lines and warnings that say nothing about this tutorial's results.

    * TensorFlow's INFO logs ("Assets written to ...") during every conversion.
    * "Statistics for quantized inputs were expected": the converter refers to the old
      ``quantized_input_stats`` API; with a representative dataset the input range is calibrated.
    * "tf.lite.Interpreter is deprecated": raised inside TensorFlow's own QuantizationDebugger.
      This project runs models in ``ai_edge_litert`` everywhere else.
    """
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
    warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")


def setup(seed, data_dir, artifacts_dir) -> tuple[Path, dict]:
    """The first thing every notebook runs, with its SEED, DATA_DIR and ARTIFACTS_DIR parameters.

    Checks the parameters all notebooks share, resolves (and checks writable) the artifacts
    folder, seeds everything with op determinism, sets the plot style, and prints versions.
    Returns the artifacts folder and a description of the environment for the records.
    """
    check_int("SEED", seed, minimum=0)
    check_optional_path("DATA_DIR", data_dir)
    folder = artifacts.resolve_artifacts_dir(artifacts_dir)
    quiet_known_noise()
    seed_everything(seed)
    plots.use_style()
    info = environment_info()
    print(" | ".join(f"{name} {version}" for name, version in package_versions().items()))
    print(f"CPU: {info['cpu']} ({info['logical_cpus']} logical cores); seed {seed}")
    print(f"Artifacts folder: {folder}")
    return folder, info


def show_markdown(text: str) -> None:
    """Display markdown built from this run's numbers (conclusions are never typed by hand)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_table(frame) -> None:
    from IPython.display import display

    display(frame)
