from __future__ import annotations

import numpy as np
import pytest

from helpers.errors import ParameterError
from helpers.params import check_float, check_int, check_int_list, check_optional_path


@pytest.mark.parametrize("value", ["10", 2.5, True, None, [1]])
def test_check_int_rejects_non_integers(value):
    with pytest.raises(ParameterError, match="Parameter EPOCHS must be an integer >= 1"):
        check_int("EPOCHS", value, minimum=1)


@pytest.mark.parametrize("value", [0, -3])
def test_check_int_rejects_out_of_range(value):
    with pytest.raises(ParameterError, match=f"got {value}"):
        check_int("EPOCHS", value, minimum=1)


def test_check_int_accepts_numpy_ints_and_none_when_allowed():
    assert check_int("N", np.int64(5), minimum=1) == 5
    assert check_int("TRAIN_LIMIT", None, minimum=1, allow_none=True) is None


def test_check_float_bounds():
    assert check_float("VALIDATION_SPLIT", 0.1, minimum=0, maximum=1, exclusive_maximum=True) == 0.1
    with pytest.raises(ParameterError, match="< 1"):
        check_float("VALIDATION_SPLIT", 1.0, minimum=0, maximum=1, exclusive_maximum=True)
    with pytest.raises(ParameterError, match="a number"):
        check_float("VALIDATION_SPLIT", "0.1", minimum=0)
    with pytest.raises(ParameterError):
        check_float("X", float("nan"))


def test_check_int_list():
    assert check_int_list("CALIBRATION_STUDY", [1, 10], minimum=1) == [1, 10]
    for bad in ([], "1,10", [1, "10"], [0, 10]):
        with pytest.raises(ParameterError, match="CALIBRATION_STUDY"):
            check_int_list("CALIBRATION_STUDY", bad, minimum=1)


def test_check_optional_path():
    assert check_optional_path("DATA_DIR", None) is None
    with pytest.raises(ParameterError, match="DATA_DIR"):
        check_optional_path("DATA_DIR", 3)
