"""Checks for notebook parameters: wrong types and out-of-range values stop with a clear message.

papermill passes parameters from the command line (``-p EPOCHS 10``) and YAML; a typo there
should fail in the first cells with the parameter's name, not deep inside TensorFlow.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from helpers.errors import ParameterError


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _fail(name: str, expected: str, value: Any) -> ParameterError:
    return ParameterError(
        f"Parameter {name} must be {expected}, got {_describe(value)}. "
        f"Fix it in the parameters cell (or papermill's -p {name} ...)."
    )


def check_int(
    name: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """Return ``value`` if it is an int in [minimum, maximum] (or None when allowed)."""
    bounds = _bounds_text(minimum, maximum)
    expected = f"an integer{bounds}" + (" or None" if allow_none else "")
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(name, expected, value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(name, expected, value)
    return int(value)


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """Return ``value`` as float if it is a real number within the given bounds."""
    lo = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum}"
    hi = "" if maximum is None else f"{'<' if exclusive_maximum else '<='} {maximum}"
    expected = "a number" + (f" {lo}" if lo else "") + (" and" if lo and hi else "")
    expected += f" {hi}" if hi else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(name, expected, value)
    value = float(value)
    too_low = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    too_high = maximum is not None and (value >= maximum if exclusive_maximum else value > maximum)
    if too_low or too_high or value != value:  # value != value catches NaN
        raise _fail(name, expected, value)
    return value


def check_int_list(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> list[int]:
    """Return a non-empty list of ints, each within the bounds."""
    expected = f"a non-empty list of integers{_bounds_text(minimum, maximum)}"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise _fail(name, expected, value)
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise _fail(name, expected, value)
        if (minimum is not None and item < minimum) or (maximum is not None and item > maximum):
            raise _fail(name, expected, value)
    return [int(item) for item in value]


def check_optional_path(name: str, value: Any) -> str | None:
    """Return ``value`` if it is None or a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, "a folder path (string) or None", value)
    return value


def _bounds_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""
