"""Shared code for the quantization notebooks.

Importing this package sets the environment switches that must be in place before TensorFlow is
first imported, so every notebook, test and script gets them from one place:

* ``TF_USE_LEGACY_KERAS=1``: ``tf.keras`` resolves to ``tf_keras`` (Keras 2), the only Keras that
  ``tensorflow-model-optimization`` supports.
* ``TF_CPP_MIN_LOG_LEVEL=3`` (unless already set): hides TensorFlow's C++ log lines.

It then imports TensorFlow once with its native start-up lines filtered (a CUDA probe and a
oneDNN notice that bypass ``TF_CPP_MIN_LOG_LEVEL``; see :mod:`helpers.quiet`). A notebook's
first import is therefore ``import helpers``; ``import tensorflow`` can follow.
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

if "tensorflow" not in sys.modules:
    from helpers.quiet import native_stderr_filtered

    with native_stderr_filtered():
        import tensorflow  # noqa: F401  (imported here, quietly, for everything that follows)

__version__ = "0.2.0"
