"""Looking inside a model wrapped by ``tensorflow-model-optimization`` for quantization-aware training.

The wrapping itself (``tfmot.quantization.keras.quantize_model``) is the lesson of notebook 04
and happens there. What tfmot 0.8.1 does underneath, read from its source
(``tensorflow_model_optimization/python/core/quantization/keras/``):

* the input gets a ``QuantizeLayer`` with an ``AllValuesQuantizer`` whose min and max variables
  start at 0.0 (``quantizers.py``, ``AllValuesQuantizer.build``) and, during training, widen to
  the smallest and largest values seen;
* each layer's output gets a ``MovingAverageQuantizer``: min and max start at -6.0 and 6.0
  (``_add_range_weights``) and follow an exponential moving average of each batch's min and max
  (``quant_ops.MovingAvgQuantize``, ``ema_decay=0.999``). They are non-trainable: gradients do not
  move them.
"""

from __future__ import annotations

import numpy as np


def range_variables(qat_model) -> list[dict]:
    """Every ``*_min`` / ``*_max`` pair tfmot keeps, per layer: the ranges the converter will use."""
    rows = []
    for layer in qat_model.layers:
        values = {w.name.split("/")[-1].split(":")[0]: w.numpy() for w in layer.weights}
        for key, minimum in values.items():
            if not key.endswith("_min"):
                continue
            maximum = values.get(key[: -len("_min")] + "_max")
            if maximum is None:
                continue
            rows.append(
                {
                    "layer": layer.name,
                    "quantizer": key[: -len("_min")],
                    "min": float(np.min(minimum)),
                    "max": float(np.max(maximum)),
                    "per channel": np.size(minimum) > 1,
                }
            )
    return rows


def input_range(qat_model) -> tuple[float, float]:
    """(min, max) of the input QuantizeLayer: what every image is clipped to before conv1."""
    for row in range_variables(qat_model):
        if row["layer"].startswith("quantize_layer"):
            return row["min"], row["max"]
    raise LookupError("this model has no tfmot QuantizeLayer")
