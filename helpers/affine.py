"""The affine mapping between floats and integers that TFLite quantization uses (one home for it).

    q = clip(round(x / scale) + zero_point, qmin, qmax)        x ≈ scale · (q − zero_point)

``scale`` is the float step between neighbouring integers and ``zero_point`` the integer that
stands for 0.0. Per-channel tensors have one scale (and zero point) per channel along ``axis``.
"""

from __future__ import annotations

import numpy as np


def _broadcast(parameter, values: np.ndarray, axis: int | None) -> np.ndarray:
    parameter = np.asarray(parameter, dtype=np.float64)
    if parameter.ndim == 0 or parameter.size == 1 or axis is None:
        return parameter.reshape(()) if parameter.size == 1 else parameter
    shape = [1] * values.ndim
    shape[axis] = -1
    return parameter.reshape(shape)


def quantize_values(values, scale, zero_point=0, dtype=np.int8, axis: int | None = None):
    """Floats -> integers of ``dtype``: ``clip(round(x / scale) + zero_point)``.

    ``np.round`` rounds exact halves to even; TFLite's kernels round them away from zero. Only
    values exactly halfway between two steps can differ.
    """
    values = np.asarray(values, dtype=np.float64)
    scale = _broadcast(scale, values, axis)
    zero_point = _broadcast(zero_point, values, axis)
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize_values(codes, scale, zero_point=0, axis: int | None = None) -> np.ndarray:
    """Integers -> floats: ``scale · (q − zero_point)`` (float32, as the runtime computes it)."""
    codes = np.asarray(codes)
    scale = _broadcast(scale, codes, axis)
    zero_point = _broadcast(zero_point, codes, axis)
    return ((codes.astype(np.float64) - zero_point) * scale).astype(np.float32)


def representable_range(scale: float, zero_point: int, dtype=np.int8) -> tuple[float, float]:
    """The float interval an integer tensor can express: [scale·(qmin − zp), scale·(qmax − zp)]."""
    info = np.iinfo(dtype)
    return float(scale * (info.min - zero_point)), float(scale * (info.max - zero_point))
