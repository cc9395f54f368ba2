"""Notebook 06's plumbing: the work each layer does, and each layer as a model of its own.

* :func:`layer_work`: multiply-adds, weights and activation bytes per image, computed from the
  Keras model, plus the multiply-adds an int8 kernel performs when it pads every kernel tap's
  input channels to a multiple of ``channel_block`` (XNNPACK's x86 int8 kernels use blocks of 8:
  ``round_up_po2(group_input_channels, kr * sr)`` in ``src/operators/convolution-nhwc.c`` and the
  per-tap zero fill in ``xnn_pack_qs8_conv_goki_w``, ``src/reference/packing.cc``).
* :func:`single_layer_models` and :func:`layer_inputs`: every layer rebuilt alone with its real
  input shape and weights, and the activations it really sees, to time layers one by one.
* :func:`expected_int8_kernel`: which int8 convolution kernel XNNPACK's x86 selection code would
  choose for the CPU features present (``init_qs8_qc8w_gemm_config`` in
  ``src/configs/gemm-config.c``, XNNPACK 8388bd78, the version LiteRT 2.3.0's build pins). The
  runtime does not report its choice; this is what the source says it picks.
"""

from __future__ import annotations

import math

import numpy as np
import tf_keras as keras

# (feature flags required, kernel, how it multiplies int8) in XNNPACK's order of preference on x86.
X86_INT8_KERNELS: tuple[tuple[frozenset[str], str, str], ...] = (
    (frozenset({"amx_int8", "avx512_vnni"}), "qs8-qc8w igemm 16x64c4 avx512amx", "AMX tiles"),
    (
        frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni"}),
        "qs8-qc8w igemm 7x16c8 avx512vnni",
        "8-bit dot products (vpdpbusd)",
    ),
    (frozenset({"avx2", "avx_vnni", "gfni"}), "qs8-qc8w igemm 5x8c8 avxvnni", "8-bit dot products"),
    (
        frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl"}),
        "qs8-qc8w igemm 7x16c8 avx512skx",
        "widened to 16 bits, then vpmaddwd",
    ),
    (frozenset({"avx2"}), "qs8-qc8w igemm 3x8c8 avx2", "widened to 16 bits, then vpmaddwd"),
)


def expected_int8_kernel(flags: set[str]) -> dict | None:
    """XNNPACK's expected x86 int8 convolution kernel for these CPU flags (None off x86)."""
    for required, kernel, multiply in X86_INT8_KERNELS:
        if required <= flags:
            return {
                "kernel": kernel,
                "multiply": multiply,
                "channel_block": 4 if "amx" in kernel else 8,
            }
    return None


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def layer_work(model: keras.Model, channel_block: int = 8) -> list[dict]:
    """Per layer and per image: multiply-adds, weights, and output bytes in float32 and int8."""
    rows = []
    for layer in model.layers:
        in_shape = tuple(layer.input_shape[1:])
        out_shape = tuple(layer.output_shape[1:])
        outputs = int(np.prod(out_shape))
        weights = int(sum(np.prod(w.shape) for w in layer.get_weights()))
        macs = padded = 0
        if isinstance(layer, keras.layers.Conv2D):
            kernel_taps = int(np.prod(layer.kernel_size))
            channels = in_shape[-1]
            macs = outputs * kernel_taps * channels
            padded = outputs * kernel_taps * _round_up(channels, channel_block)
        elif isinstance(layer, keras.layers.Dense):
            macs = outputs * in_shape[-1]
            padded = outputs * _round_up(in_shape[-1], channel_block)
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "input": "x".join(map(str, in_shape)),
                "output": "x".join(map(str, out_shape)),
                "multiply-adds": macs,
                f"int8 multiply-adds, channels padded to {channel_block}": padded,
                "weights": weights,
                "float32 output bytes": 4 * outputs,
                "int8 output bytes": outputs,
            }
        )
    return rows


def single_layer_models(model: keras.Model) -> dict[str, keras.Model]:
    """Each layer of a Sequential model alone: same class, config and weights, real input shape."""
    singles = {}
    for layer in model.layers:
        clone = type(layer).from_config(layer.get_config())
        single = keras.Sequential(
            [keras.layers.Input(shape=layer.input_shape[1:]), clone], name=f"only_{layer.name}"
        )
        clone.set_weights(layer.get_weights())
        singles[layer.name] = single
    return singles


def layer_inputs(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> dict:
    """The activations that enter each layer of ``model`` for ``images`` (float32)."""
    probe = keras.Model(model.inputs, [layer.input for layer in model.layers])
    values = probe.predict(images, batch_size=batch_size, verbose=0)
    return {
        layer.name: np.asarray(value, dtype=np.float32)
        for layer, value in zip(model.layers, values, strict=True)
    }
