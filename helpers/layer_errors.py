"""Per-layer quantization error from TFLite's ``QuantizationDebugger``, named by Keras layer.

In its default (layer-by-layer) mode the debugger builds a model in which every quantized
operation has a float twin fed with the *same* input: the quantized op's own input,
dequantized. A ``NumericVerify`` op compares the two outputs (see the ``DEBUG`` checks in
tensorflow/compiler/mlir/lite/tests/quantize-numeric-verify.mlir). Each row therefore measures
that layer's *own* error (its weight rounding and output rounding), not the error accumulated
from earlier layers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

from helpers.tflite_file import layer_of

UNIFORM_ROUNDING = 1 / np.sqrt(12)  # RMSE of rounding a uniformly spread value, in steps


def debugger_table(debugger, layer_names: Sequence[str]):
    """The debugger's per-layer statistics as a DataFrame, worst ``rmse/scale`` first.

    ``rmse/scale`` is the root-mean-square difference between a layer's quantized output and its
    float twin's, in units of the layer's quantization step (``scale``).
    """
    import pandas as pd

    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    table = pd.DataFrame(list(csv.DictReader(io.StringIO(buffer.getvalue()))))
    for column in table.columns:
        if column not in ("op_name", "tensor_name"):
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table["layer"] = [
        layer_of(name, layer_names) or ("softmax" if op == "SOFTMAX" else name)
        for name, op in zip(table["tensor_name"], table["op_name"], strict=True)
    ]
    table["rmse/scale"] = np.sqrt(table["mean_squared_error"]) / table["scale"]
    table["num_elements"] = table["num_elements"].astype(int)
    table["zero_point"] = table["zero_point"].astype(int)
    columns = [
        "layer",
        "op_name",
        "num_elements",
        "scale",
        "zero_point",
        "mean_error",
        "max_abs_error",
        "rmse/scale",
        "tensor_name",
    ]
    return table[columns].sort_values("rmse/scale", ascending=False).reset_index(drop=True)
