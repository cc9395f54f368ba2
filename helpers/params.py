"""Notebook parameters: one spec per notebook, one call that checks them all.

papermill passes parameters from the command line (``-p EPOCHS 10``) and YAML; a typo there
should fail in the first cells with the parameter's name, not deep inside TensorFlow. Each
notebook's parameters cell holds the defaults; :mod:`helpers.chain` holds the rules (built from the
classes here); and :func:`helpers.start` runs ``check_parameters(name, globals())``, which checks
every parameter and returns the dict the notebook records with its results.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from helpers.errors import ParameterError

# Paths depend on the machine, not on the experiment: checked, but not recorded.
NOT_RECORDED = ("DATA_DIR", "ARTIFACTS_DIR")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _fail(name: str, expected: str, value: Any) -> ParameterError:
    return ParameterError(
        f"Parameter {name} must be {expected}, got {_describe(value)}. "
        f"Fix it in the parameters cell (or papermill's -p {name} ...)."
    )


def _bounds_text(minimum, maximum, exclusive_minimum: bool = False) -> str:
    low = f"{'>' if exclusive_minimum else '>='} {minimum}"
    if minimum is not None and maximum is not None and not exclusive_minimum:
        return f" from {minimum} to {maximum}"
    if minimum is not None and maximum is not None:
        return f" {low} and <= {maximum}"
    if minimum is not None:
        return f" {low}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


@dataclass(frozen=True)
class Int:
    minimum: int | None = None
    maximum: int | None = None
    allow_none: bool = False

    def check(self, name: str, value: Any) -> int | None:
        expected = f"an integer{_bounds_text(self.minimum, self.maximum)}"
        expected += " or None" if self.allow_none else ""
        if value is None and self.allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _fail(name, expected, value)
        if (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            raise _fail(name, expected, value)
        return int(value)


@dataclass(frozen=True)
class Float:
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def check(self, name: str, value: Any) -> float:
        expected = "a number" + _bounds_text(self.minimum, self.maximum, self.exclusive_minimum)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _fail(name, expected, value)
        value = float(value)
        too_low = self.minimum is not None and (
            value <= self.minimum if self.exclusive_minimum else value < self.minimum
        )
        too_high = self.maximum is not None and value > self.maximum
        if too_low or too_high or value != value:  # value != value catches NaN
            raise _fail(name, expected, value)
        return value


@dataclass(frozen=True)
class IntList:
    minimum: int | None = None
    maximum: int | None = None
    allow_none: bool = False

    def check(self, name: str, value: Any) -> list[int] | None:
        expected = f"a non-empty list of integers{_bounds_text(self.minimum, self.maximum)}"
        if value is None and self.allow_none:
            return None
        expected += " or None" if self.allow_none else ""
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise _fail(name, expected, value)
        item_rule = Int(self.minimum, self.maximum)
        for item in value:
            try:
                item_rule.check(name, item)
            except ParameterError:
                raise _fail(name, expected, value) from None
        return [int(item) for item in value]


@dataclass(frozen=True)
class NameList:
    """A list of names (strings), possibly empty."""

    def check(self, name: str, value: Any) -> list[str]:
        expected = "a list of names (strings)"
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise _fail(name, expected, value)
        if not all(isinstance(item, str) and item for item in value):
            raise _fail(name, expected, value)
        return list(value)


@dataclass(frozen=True)
class OptionalPath:
    def check(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise _fail(name, "a folder path (string) or None", value)
        return value


@dataclass(frozen=True)
class Requirement:
    """A rule across parameters: ``holds(values)`` must be true, else ``message``."""

    holds: Callable[[Mapping[str, Any]], bool]
    message: str


COMMON = {"DATA_DIR": OptionalPath(), "ARTIFACTS_DIR": OptionalPath(), "SEED": Int(minimum=0)}
TRAIN_IMAGES = 60_000


def check_parameters(notebook: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Check every parameter of ``notebook`` found in ``namespace`` (a notebook's ``globals()``).

    Returns the checked values to record with the results (paths left out). Raises
    :class:`~helpers.errors.ParameterError` naming the first bad parameter.
    """
    from helpers.chain import step  # the chain holds every notebook's spec

    spec = step(notebook)
    checked = {}
    for name, rule in spec.parameters.items():
        if name not in namespace:
            raise ParameterError(
                f"Parameter {name} is not defined. Run the notebook's parameters cell first."
            )
        checked[name] = rule.check(name, namespace[name])
    for requirement in spec.requirements:
        if not requirement.holds(checked):
            raise ParameterError(
                f"{requirement.message}. Fix it in the parameters cell (or papermill's -p)."
            )
    return {name: value for name, value in checked.items() if name not in NOT_RECORDED}
