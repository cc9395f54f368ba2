"""The chain of notebooks is defined once; these checks keep that definition consistent."""

from __future__ import annotations

import nbformat
import pytest

from helpers import artifacts, chain
from helpers.cli import runner


def test_every_notebook_file_is_a_step_and_every_step_a_file():
    files = sorted(p.stem for p in (artifacts.REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert files == sorted(chain.NOTEBOOKS)
    assert list(chain.NOTEBOOKS) == sorted(chain.NOTEBOOKS), "steps are numbered in chain order"


@pytest.mark.parametrize("step", chain.CHAIN, ids=lambda s: s.name)
def test_each_input_is_written_by_an_earlier_notebook(step):
    earlier = {s.name for s in chain.before(step.name)}
    for name in step.needs:
        producer = chain.producer_of(name)
        assert producer is not None, f"{step.name} needs {name}, which no notebook writes"
        assert producer.name in earlier, f"{step.name} needs {name} from the later {producer.name}"


@pytest.mark.parametrize("step", chain.CHAIN, ids=lambda s: s.name)
def test_each_file_has_one_producer_and_the_metrics_file_is_among_it(step):
    assert step.metrics in step.writes
    for pattern in step.writes:
        owners = [s.name for s in chain.CHAIN if pattern in s.writes]
        assert owners == [step.name], f"{pattern} is claimed by {owners}"


def test_patterns_find_their_notebook():
    assert chain.producer_of("int8_float_conv1.tflite").name == "06_speed"
    assert chain.producer_of("aeq_int4_mixed.tflite").name == "07_below_8_bits"
    assert chain.producer_of("predictions/int8.npy") is None
    assert chain.producer_of("nothing.json") is None


def test_04_declares_its_need_for_03s_file():
    """04 reads 03's int8.tflite: the chain says so, so 04 stops before any work without it."""
    assert "int8.tflite" in chain.step("04_quantization_aware_training").needs


def test_runner_reads_order_and_quick_parameters_from_the_chain():
    assert runner.NOTEBOOKS == chain.NOTEBOOKS
    for step in chain.CHAIN:
        assert runner.QUICK_PARAMETERS[step.name] == dict(step.quick)
        assert set(step.quick) <= set(step.parameters), f"{step.name}: quick value for no parameter"


def test_unknown_notebook_is_named():
    with pytest.raises(KeyError, match="no notebook '09_nothing'"):
        chain.step("09_nothing")


@pytest.mark.parametrize("step", chain.CHAIN, ids=lambda s: s.name)
def test_setup_cell_names_its_own_step(step):
    cells = nbformat.read(artifacts.REPO_ROOT / "notebooks" / step.file, as_version=4).cells
    setup = [c for c in cells if c.cell_type == "code"][1].source
    assert f'helpers.start("{step.name}", globals())' in setup


@pytest.mark.parametrize("step", chain.CHAIN[2:], ids=lambda s: s.name)
def test_every_notebook_after_02_records_the_baseline_it_used(step):
    """Its metrics carry the baseline's fingerprint only if it reads baseline_metrics.json."""
    assert "baseline_metrics.json" in step.needs
