"""Notebook plumbing: the environment a notebook reports, and computed-markdown output."""

from __future__ import annotations

import warnings

from helpers import machine


def quiet_known_noise() -> None:
    """Hide log lines and warnings that say nothing about this tutorial's results.

    * TensorFlow's INFO logs ("Assets written to ...") during every conversion.
    * "Statistics for quantized inputs were expected": the converter refers to the old
      ``quantized_input_stats`` API; with a representative dataset the input range is calibrated.
    * "tf.lite.Interpreter is deprecated": raised inside TensorFlow's own QuantizationDebugger.
      This project runs models in ``ai_edge_litert`` everywhere else.
    * Native lines TensorFlow prints straight to standard error (see :mod:`helpers.quiet`).

    It also lets pandas show long table cells whole instead of cutting them with "...".
    """
    import pandas as pd
    import tensorflow as tf

    from helpers.quiet import install_stderr_filter

    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
    warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
    install_stderr_filter()
    pd.set_option("display.max_colwidth", None)


def describe_environment(seed: int | None = None) -> dict:
    """Print versions and the CPU in two lines; return them for the records."""
    info = machine.describe()
    versions = machine.package_versions()
    print(" | ".join(f"{name} {version}" for name, version in versions.items()))
    seeded = f"; seed {seed}" if seed is not None else ""
    print(
        f"CPU: {info['cpu']} ({info['logical_cpus']} logical cores; "
        f"{machine.feature_text(info)}){seeded}"
    )
    return info


def show_markdown(text: str) -> None:
    """Display markdown built from this run's numbers (conclusions are never typed by hand)."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_table(frame) -> None:
    from IPython.display import display

    display(frame)
