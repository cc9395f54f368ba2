"""Parameter rules and the one call per notebook that checks them all."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.chain import SPECS
from helpers.errors import ParameterError
from helpers.params import Float, Int, IntList, OptionalPath, check_parameters


@pytest.mark.parametrize("value", ["10", 2.5, True, None, [1]])
def test_int_rejects_non_integers(value):
    with pytest.raises(ParameterError, match="Parameter EPOCHS must be an integer >= 1"):
        Int(minimum=1).check("EPOCHS", value)


@pytest.mark.parametrize("value", [0, -3])
def test_int_rejects_out_of_range(value):
    with pytest.raises(ParameterError, match=f"got {value}"):
        Int(minimum=1).check("EPOCHS", value)


def test_int_accepts_numpy_ints_and_none_when_allowed():
    assert Int(minimum=1).check("N", np.int64(5)) == 5
    assert Int(minimum=1, allow_none=True).check("TRAIN_LIMIT", None) is None


def test_float_bounds():
    rule = Float(minimum=0, maximum=1, exclusive_minimum=True)
    assert rule.check("LEARNING_RATE", 0.1) == 0.1
    with pytest.raises(ParameterError, match="> 0 and <= 1"):
        rule.check("LEARNING_RATE", 0.0)
    with pytest.raises(ParameterError, match="a number"):
        rule.check("LEARNING_RATE", "0.1")
    with pytest.raises(ParameterError):
        Float().check("X", float("nan"))


def test_int_list():
    assert IntList(minimum=1).check("CALIBRATION_STUDY", [1, 10]) == [1, 10]
    for bad in ([], "1,10", [1, "10"], [0, 10]):
        with pytest.raises(ParameterError, match="CALIBRATION_STUDY"):
            IntList(minimum=1).check("CALIBRATION_STUDY", bad)
    assert IntList(allow_none=True).check("SWEEP_CHANNELS", None) is None
    with pytest.raises(ParameterError, match="SWEEP_CHANNELS"):
        IntList().check("SWEEP_CHANNELS", None)
    with pytest.raises(ParameterError, match="or None"):
        IntList(allow_none=True).check("SWEEP_CHANNELS", [])


def test_optional_path():
    assert OptionalPath().check("DATA_DIR", None) is None
    with pytest.raises(ParameterError, match="DATA_DIR"):
        OptionalPath().check("DATA_DIR", 3)


def defaults(notebook: str) -> dict:
    """Values that pass every rule of ``notebook`` (the committed defaults are checked by
    tests/unit/test_repository.py)."""
    from tests.unit.test_repository import parameters_cell_values

    return parameters_cell_values(notebook)


@pytest.mark.parametrize("notebook", list(SPECS))
def test_defaults_pass_and_paths_are_not_recorded(notebook):
    values = defaults(notebook)
    recorded = check_parameters(notebook, values)
    assert "DATA_DIR" not in recorded and "ARTIFACTS_DIR" not in recorded
    assert set(recorded) == set(SPECS[notebook]) - {"DATA_DIR", "ARTIFACTS_DIR"}


@pytest.mark.parametrize("notebook", list(SPECS))
def test_every_parameter_is_checked(notebook):
    for name, rule in SPECS[notebook].items():
        if isinstance(rule, OptionalPath):
            bad = 3
        elif isinstance(rule, IntList):
            bad = "not a list"
        else:
            bad = "not a number"
        with pytest.raises(ParameterError, match=f"Parameter {name} "):
            check_parameters(notebook, {**defaults(notebook), name: bad})


def test_missing_parameter_says_to_run_the_parameters_cell():
    values = defaults("02_baseline_cnn")
    del values["EPOCHS"]
    with pytest.raises(ParameterError, match="Run the notebook's parameters cell"):
        check_parameters("02_baseline_cnn", values)


def test_cross_parameter_requirement():
    values = {**defaults("04_quantization_aware_training"), "TRAIN_LIMIT": 100}
    values["CALIBRATION_SAMPLES"] = 500
    with pytest.raises(ParameterError, match="CALIBRATION_SAMPLES cannot exceed TRAIN_LIMIT"):
        check_parameters("04_quantization_aware_training", values)
    values["CALIBRATION_SAMPLES"] = 100
    assert check_parameters("04_quantization_aware_training", values)["TRAIN_LIMIT"] == 100
