"""Repository hygiene: one pinned environment, clean notebooks that follow the skeleton."""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from helpers import artifacts
from helpers.runner import NOTEBOOKS, QUICK_PARAMETERS

ROOT = artifacts.REPO_ROOT
NOTEBOOK_PATHS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)")


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
        elif line.strip() and not line.strip().startswith("#"):
            pytest.fail(f"requirements.txt line is not an exact pin: {line!r}")
    return pins


def test_environment_yml_installs_exactly_the_requirements():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    conda_pins = {}
    for entry in pip_section:
        match = PIN.match(entry)
        if match:
            conda_pins[match.group(1).lower()] = match.group(2)
    assert conda_pins == requirement_pins()
    assert "-e ." in pip_section
    assert "python=3.11" in environment["dependencies"]


def test_the_stack_is_the_known_good_one():
    pins = requirement_pins()
    assert pins["tensorflow"] == "2.21.0" and "tensorflow-cpu" not in pins
    assert pins["tf-keras"] == "2.21.0"
    assert pins["tensorflow-model-optimization"] == "0.8.1"
    assert pins["ai-edge-litert"] == "2.3.0"


def test_every_notebook_of_the_chain_exists():
    assert [p.stem for p in NOTEBOOK_PATHS] == list(NOTEBOOKS)
    assert set(QUICK_PARAMETERS) <= set(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} has outputs: strip them (nbstripout)"
            assert cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_notebook_follows_the_skeleton(path):
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    titles = [c for c in cells if c.cell_type == "markdown" and c.source.startswith("# ")]
    assert len(titles) == 1, "one H1 title per notebook"
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    source = tagged[0].source
    for name in ("DATA_DIR", "ARTIFACTS_DIR", "SEED"):
        assert re.search(rf"^{name} = ", source, re.M), f"{name} missing from parameters"
    for line in source.splitlines():
        if line.strip() and not line.startswith("#"):
            assert "#" in line, f"parameter without a one-line comment: {line!r}"
    quick = QUICK_PARAMETERS.get(path.stem, {})
    for name in quick:
        assert re.search(rf"^{name} = ", source, re.M), f"quick parameter {name} not declared"
    last = [c for c in cells if c.cell_type == "code"][-1].source
    assert "write_json" in last, "the last cell records results to ARTIFACTS_DIR"


def test_readme_gives_the_two_commands_and_a_generated_results_table():
    from helpers import report

    readme = (ROOT / "README.md").read_text()
    assert "make run-all" in readme and "make test" in readme
    section = readme.split(report.README_START, 1)[1].split(report.README_END, 1)[0]
    for name in ("float32", "dynamic_range", "float16", "int8", "int16x8", "qat_int8"):
        assert f"| {name} |" in section, f"README results lack {name}"
    assert (ROOT / report.README_FIGURE).is_file()


def test_readme_section_is_rebuilt_from_a_summary():
    from helpers import report

    summary = {
        "environment": {"cpu": "Test CPU", "logical_cpus": 2, "python": "3.11", "tensorflow": "x"},
        "benchmark": {
            "runtime": "rt",
            "latency_runs": 5,
            "warmup_runs": 1,
            "throughput_repeats": 1,
            "throughput_batches": 2,
            "batch_size": 4,
            "threads": 1,
        },
        "params": {"baseline": {"EPOCHS": 10}, "qat": {"QAT_EPOCHS": 2}},
        "variants": [
            {
                "name": "int8",
                "ratio_to_float32": 0.25,
                "change_pp": -0.1,
                "speedup_vs_float32": 2.0,
                "speedup_vs_float32_builtin": 3.0,
            }
        ],
    }
    section = report.readme_results(summary, "| table |", {"total_seconds": 120, "quick": False})
    assert "Test CPU" in section and "2.0 minutes" in section and "| table |" in section
    old = f"a\n{report.README_START}\nold\n{report.README_END}\nb"
    assert (
        report.update_readme(old, "new") == f"a\n{report.README_START}\nnew\n{report.README_END}\nb"
    )


def test_quick_runs_default_to_their_own_folders(monkeypatch, tmp_path):
    from helpers import runner

    calls = {}
    monkeypatch.setenv("ARTIFACTS_DIR", str(tmp_path / "full"))
    monkeypatch.setattr(runner, "run_notebooks", lambda names, **kw: calls.update(kw))
    assert runner.main(["--quick", "--only", "01"]) == 0
    assert calls["artifacts_dir"] == tmp_path / "full" / "quick"
    assert calls["output_dir"] == runner.DEFAULT_OUTPUT_DIR / "quick"
    assert runner.main(["--only", "01"]) == 0
    assert calls["artifacts_dir"] is None and calls["output_dir"] == runner.DEFAULT_OUTPUT_DIR
