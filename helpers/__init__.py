"""Shared code for the quantization notebooks: what is not the lesson.

Importing this package sets the switches that must be in place before TensorFlow is first
imported, so every notebook, test and script gets them from one place, without importing
TensorFlow itself:

* ``TF_USE_LEGACY_KERAS=1``: ``tf.keras`` resolves to ``tf_keras`` (Keras 2), the only Keras that
  ``tensorflow-model-optimization`` supports. (``import keras`` is still Keras 3.)
* ``TF_CPP_MIN_LOG_LEVEL=3`` (unless already set): hides TensorFlow's C++ log lines.
* In a notebook kernel, a filter on the process's native standard error that drops the few
  start-up lines TensorFlow prints before its logging exists (see :mod:`helpers.quiet`).

A notebook's first line is therefore ``import helpers``; its setup ends with
``run = helpers.start("<notebook>", globals())`` (:func:`helpers.notebook.start`).
"""

import os
import sys

if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    raise ImportError(
        "TensorFlow was imported before `helpers`, so TF_USE_LEGACY_KERAS=1 came too late and "
        "tensorflow-model-optimization would meet Keras 3. Restart the kernel and import helpers "
        "(or any helpers module) before tensorflow."
    )
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if "ipykernel" in sys.modules:  # a notebook: keep TensorFlow's native start-up noise out of it
    from helpers.quiet import install_stderr_filter

    install_stderr_filter()

__version__ = "0.3.0"  # pyproject.toml says the same (tests/unit/test_repository.py checks)


def start(notebook: str, namespace):
    """Check a notebook's parameters and inputs and set it up: see :func:`helpers.notebook.start`."""
    from helpers.notebook import start as _start

    return _start(notebook, namespace)
