"""One call in, one call out: a notebook's setup (:func:`start`) and its record (:meth:`Run.record`).

``run = helpers.start("03_post_training_quantization", globals())`` does, in this order, before
the notebook does any work:

1. checks every parameter against the notebook's spec in :mod:`helpers.chain` (a typo stops
   here, naming the parameter, before anything is written);
2. resolves ``ARTIFACTS_DIR`` (created, checked writable, leftovers of an interrupted write
   removed) and exports it as ``$ARTIFACTS_DIR``, where the standalone recipes look;
3. checks that every file the notebook needs from earlier notebooks is there, and that their
   results all come from the baseline now in ``ARTIFACTS_DIR``, naming the notebooks to run;
4. seeds Python, NumPy and TensorFlow (deterministic ops), sets the plot style, silences log
   lines that say nothing about the results, and prints the versions and the CPU.

``run.record(metrics)`` writes the notebook's metrics file (with the baseline's fingerprint and
the parameters) and, for the notebooks that add variants, rebuilds ``summary.json``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import artifacts, chain, machine
from helpers.params import check_parameters

BASELINE_METRICS = "baseline_metrics.json"


@dataclass
class Run:
    """What a notebook knows about its own run."""

    notebook: str
    params: dict[str, Any]  # checked parameter values, recorded with the results
    artifacts_dir: Path
    environment: dict  # versions, CPU, SIMD features, caches
    fingerprint: str | None  # the baseline's weights fingerprint (None before notebook 02 ran)
    data_dir: str | None = None  # the DATA_DIR parameter

    def load_data(self, train_limit: int | None = None):
        """Fashion-MNIST, preprocessed (:func:`helpers.data.load_preprocessed`), with notebook
        02's held-out validation images marked as ``x_val``/``y_val``."""
        from helpers.data import load_preprocessed

        holdout = None
        if (self.artifacts_dir / BASELINE_METRICS).is_file():
            holdout = artifacts.read_json(self.artifacts_dir, BASELINE_METRICS).get(
                "validation_images"
            )
        return load_preprocessed(self.data_dir, train_limit, tuple(holdout) if holdout else None)

    @property
    def step(self) -> chain.Step:
        return chain.step(self.notebook)

    def path(self, name: str) -> Path:
        """``ARTIFACTS_DIR/name``."""
        return self.artifacts_dir / name

    def entry(self, name: str, evaluation, *, parent: str | None, description: str, **extra):
        """One model's record for the metrics file (:func:`helpers.summary.model_entry`), its
        predictions saved; ``file`` defaults to ``<name>.tflite`` and ``role`` to a variant."""
        from helpers.summary import model_entry

        extra.setdefault("file", f"{name}.tflite")
        extra.setdefault("role", "variant")
        return model_entry(
            name=name,
            parent=parent,
            description=description,
            evaluation=evaluation,
            artifacts_dir=self.artifacts_dir,
            **extra,
        )

    def write(self, name: str, content: bytes) -> Path:
        """Write ``content`` to ``ARTIFACTS_DIR/name`` atomically (a temporary file, then a
        rename), so an interrupted run never leaves half a file; returns the path."""
        return artifacts.write_bytes(self.path(name), content)

    def read(self, name: str) -> dict:
        """A JSON file of ARTIFACTS_DIR (naming the notebook to run if it is missing)."""
        return artifacts.read_json(self.artifacts_dir, name)

    def read_optional(self, name: str) -> dict | None:
        """A JSON file that may legitimately be absent (e.g. the seed study): None if it is."""
        return artifacts.read_optional_json(self.artifacts_dir, name)

    def _payload(self, metrics: dict) -> dict:
        payload = dict(metrics)
        if self.fingerprint is not None:
            payload.setdefault("baseline_fingerprint", self.fingerprint)
        payload["params"] = self.params
        return payload

    def summary(self, metrics: dict, only: tuple[str, ...] | None = None) -> dict:
        """The summary (:func:`helpers.summary.build_summary`) with this notebook's metrics
        added before they are recorded; ``only``: the notebooks to include, by default this one
        and those before it (:func:`helpers.summary.up_to`)."""
        from helpers import summary

        return summary.build_summary(
            self.artifacts_dir,
            self.environment,
            {self.notebook: self._payload(metrics)},
            summary.up_to(self.notebook) if only is None else only,
        )

    def record(self, metrics: dict, arrays: dict | None = None) -> None:
        """Write this notebook's metrics file (atomically), adding the baseline's fingerprint and
        the parameters; notebooks that add variants rebuild ``summary.json`` too. ``arrays``:
        ``{file name: array}`` to store as ``.npy`` beside it (e.g. the test labels).

        The summary is built first, with these metrics, so a failure leaves every file as it was;
        ``summary.json`` is written last, so its presence means everything before it is new.
        """
        payload = self._payload(metrics)
        results = self.summary(metrics) if self.step.rebuilds_summary else None
        for name, values in (arrays or {}).items():
            print(f"Wrote {artifacts.write_array(self.path(name), values)}")
        path = artifacts.write_json(self.path(self.step.metrics), payload)
        print(f"Wrote {path}")
        if results is not None:
            from helpers import summary

            print(f"Wrote {summary.write_summary(self.artifacts_dir, results)}")


def start(notebook: str, namespace: dict) -> Run:
    """Check and set up a notebook (see the module docstring); returns its :class:`Run`."""
    step = chain.step(notebook)
    params = check_parameters(notebook, namespace)
    artifacts_dir = artifacts.resolve_artifacts_dir(namespace.get("ARTIFACTS_DIR"))
    # The standalone recipes (03, 04) read $ARTIFACTS_DIR like a script would: the same folder.
    os.environ["ARTIFACTS_DIR"] = str(artifacts_dir)
    artifacts.require_all(artifacts_dir, step.needs)
    fingerprint = check_inputs_agree(artifacts_dir, step.needs)
    quiet_known_noise()
    from helpers import plots
    from helpers.model import seed_everything

    seed_everything(namespace["SEED"])
    plots.use_style()
    environment = machine.describe()
    print(" | ".join(f"{name} {environment[name]}" for name in ("python", *machine.PACKAGES)))
    print(
        f"CPU: {environment['cpu']} ({environment['logical_cpus']} logical cores; "
        f"{machine.feature_text(environment)}); seed {namespace['SEED']}"
    )
    if step.needs:
        print(f"Inputs found in {artifacts_dir}: {', '.join(step.needs)}")
    return Run(notebook, params, artifacts_dir, environment, fingerprint, namespace["DATA_DIR"])


def check_inputs_agree(artifacts_dir: Path, needs) -> str | None:
    """The baseline's fingerprint, after checking that every needed result was made from it.

    ``baseline.keras`` must be the model ``baseline_metrics.json`` describes, and every needed
    metrics file must record that same fingerprint; otherwise stop, naming what to re-run.
    """
    if BASELINE_METRICS not in needs:
        return None  # notebooks 01 and 02 come before the baseline exists
    fingerprint = artifacts.read_json(artifacts_dir, BASELINE_METRICS)["baseline_fingerprint"]
    recorded = {
        name: artifacts.read_json(artifacts_dir, name).get("baseline_fingerprint")
        for name in needs
        if name.endswith(".json") and name not in (BASELINE_METRICS, "dataset.json")
    }
    if "baseline.keras" in needs:
        import tf_keras

        model = tf_keras.models.load_model(artifacts_dir / "baseline.keras", compile=False)
        recorded["baseline.keras"] = artifacts.weights_fingerprint(model)
    artifacts.check_same_baseline(fingerprint, recorded)
    return fingerprint


def quiet_known_noise() -> None:
    """Hide log lines and warnings that say nothing about this tutorial's results.

    * TensorFlow's INFO logs ("Assets written to ...") during every conversion.
    * "Statistics for quantized inputs were expected": the converter refers to the old
      ``quantized_input_stats`` API; with a representative dataset the input range is calibrated.
    * "tf.lite.Interpreter is deprecated": raised inside TensorFlow's own QuantizationDebugger.
      This project runs models in ``ai_edge_litert`` everywhere else.
    * "Enabling `experimental_preserve_all_tensors` ... is intended for debugging": LiteRT's
      reminder when every intermediate tensor is kept, which is what notebook 03's probe and the
      quantizer's calibrate() and validate() (07, 08) do on purpose.

    It also lets pandas show long table cells whole instead of cutting them with "...".
    """
    import pandas as pd
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
    warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
    warnings.filterwarnings("ignore", message=r".*experimental_preserve_all_tensors")
    pd.set_option("display.max_colwidth", None)
