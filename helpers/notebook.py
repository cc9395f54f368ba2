"""Notebook plumbing: the setup every notebook runs first, and computed-markdown output."""

from __future__ import annotations

import os
import platform
import warnings
from importlib import metadata

from helpers import plots
from helpers.model import seed_everything

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


def setup(seed: int) -> dict:
    """Seed everything, make ops deterministic, set the plot style, print versions."""
    quiet_known_noise()
    seed_everything(seed)
    plots.use_style()
    info = environment_info()
    print(" | ".join(f"{name} {version}" for name, version in package_versions().items()))
    print(f"CPU: {info['cpu']} ({info['logical_cpus']} logical cores); seed {seed}")
    return info


def show_markdown(text: str) -> None:
    """Display markdown built from this run's numbers (conclusions are never typed by hand)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_table(frame) -> None:
    from IPython.display import display

    display(frame)
