"""Repository hygiene: one pinned environment, clean notebooks that follow the skeleton."""

from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from helpers import artifacts
from helpers.chain import SPECS
from helpers.cli.runner import NOTEBOOKS, QUICK_PARAMETERS

ROOT = artifacts.REPO_ROOT
NOTEBOOK_PATHS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)")


def parameters_cell(notebook: str) -> str:
    cells = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    return next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))


def parameters_cell_values(notebook: str) -> dict:
    """The committed defaults of a notebook's parameters cell (literals only)."""
    namespace: dict = {}
    exec(parameters_cell(notebook), {}, namespace)  # noqa: S102  (our own literal assignments)
    return namespace


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


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules imported by helpers/, tests/, scripts/, docs/ and the notebooks' code,
    that are neither the standard library nor this project's own: module -> files."""
    import ast
    import sys

    sources = [
        *(
            p
            for folder in ("helpers", "tests", "scripts", "docs")
            for p in (ROOT / folder).rglob("*.py")
        ),
    ]
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in sources}
    for path in NOTEBOOK_PATHS:
        cells = nbformat.read(path, as_version=4).cells
        texts[path.name] = "\n".join(c.source for c in cells if c.cell_type == "code")
    found: dict[str, set[str]] = {}
    for where, text in texts.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("helpers", "tests", "__future__"):
                    continue
                found.setdefault(top, set()).add(where)
    return found


def test_every_imported_third_party_package_is_pinned_directly():
    """Reads the real imports; an import whose distribution has no `==` line in
    requirements.txt fails, even if another pinned package happens to pull it in."""
    from importlib.metadata import packages_distributions

    pins = requirement_pins()
    distributions = packages_distributions()
    missing = {}
    for module, where in third_party_imports().items():
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not names & {p.replace("_", "-") for p in pins}:
            missing[module] = sorted(where)[:3]
    assert not missing, f"imported but not pinned in requirements.txt: {missing}"


def test_version_agrees_with_pyproject():
    import tomllib

    import helpers

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert helpers.__version__ == project["version"]


def test_importing_helpers_does_not_import_tensorflow():
    import subprocess
    import sys

    check = "import helpers, sys; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


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
    setup = [c for c in cells if c.cell_type == "code"][1]
    assert setup.source.startswith("import helpers"), "the setup cell imports helpers first"
    assert f'run = helpers.start("{path.stem}", globals())' in setup.source
    assert len(setup.source.splitlines()) <= 8, "the setup cell is one short visible cell"
    assert "hide-input" not in setup.metadata.get("tags", [])
    last = [c for c in cells if c.cell_type == "code"][-1].source
    assert "run.record(" in last, "the last cell records the results in one call"


MACHINERY = re.compile(r"run\.record\(|display\(Markdown\(|conclusions\.|run\.entry\(")


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_machinery_is_folded_and_no_cell_is_long(path):
    """Cells that set up, record or build prose are tagged hide-input, folded in JupyterLab and
    say what they do on their first line; no code cell is over 30 lines."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name} cell {index}"
        assert len(cell.source.splitlines()) <= 30, f"{where} is over 30 lines"
        tags = cell.metadata.get("tags", [])
        if "hide-input" in tags:
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, where
            assert cell.source.startswith("# extra code"), f"{where}: say what it does first"
        elif "standalone" not in tags:
            assert not MACHINERY.search(cell.source), f"{where} does bookkeeping: tag it hide-input"


def test_nbstripout_keeps_the_folding_metadata(tmp_path):
    import shutil
    import subprocess
    import sys

    copy = tmp_path / "02.ipynb"
    shutil.copy(ROOT / "notebooks" / "02_baseline_cnn.ipynb", copy)
    subprocess.run([sys.executable, "-m", "nbstripout", str(copy)], check=True)
    folded = [
        c
        for c in nbformat.read(copy, as_version=4).cells
        if "hide-input" in c.metadata.get("tags", [])
    ]
    assert folded and all(c.metadata["jupyter"]["source_hidden"] for c in folded)


def test_the_inline_model_of_02_is_the_tests_model():
    """Notebook 02 builds the CNN in its own cell; the unit tests build it with
    helpers.model.build_baseline_cnn. Both must be the same architecture."""
    import tf_keras

    from helpers.model import build_baseline_cnn

    cells = nbformat.read(ROOT / "notebooks" / "02_baseline_cnn.ipynb", as_version=4).cells
    source = next(c.source for c in cells if "keras.Sequential(" in c.source)
    namespace = {
        "keras": tf_keras,
        "tf": __import__("tensorflow"),
        "SEED": 0,
        "LEARNING_RATE": 1e-3,
    }
    exec(source.replace("model.summary(line_length=90)", ""), namespace)  # noqa: S102
    inline, helper = namespace["model"].get_config(), build_baseline_cnn().get_config()
    assert inline["layers"] == helper["layers"] and inline["name"] == helper["name"]


STANDALONE = ("03_post_training_quantization", "04_quantization_aware_training")


@pytest.mark.parametrize("notebook", STANDALONE)
def test_standalone_recipe_is_short_and_needs_no_helpers(notebook):
    cells = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4).cells
    (cell,) = [c for c in cells if "standalone" in c.metadata.get("tags", [])]
    assert "nbval-skip" in cell.metadata["tags"]
    assert len(cell.source.splitlines()) <= 30
    assert "helpers" not in cell.source
    assert cell.source.index('os.environ["TF_USE_LEGACY_KERAS"] = "1"') < cell.source.index(
        "import tensorflow"
    )
    assert 'os.getenv("ARTIFACTS_DIR", "../artifacts")' in cell.source
    assert "model_content=" in cell.source and "accuracy {" in cell.source.splitlines()[-1]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: p.name)
def test_parameters_cell_matches_the_spec_and_papermill_reads_it(path):
    import papermill

    declared = papermill.inspect_notebook(str(path))
    assert set(declared) == set(SPECS[path.stem]), "parameters cell and helpers.chain differ"
    for name, info in declared.items():
        assert info["help"], f"papermill cannot read {name}'s comment (no '=' in comments)"
    assert set(parameters_cell_values(path.stem)) == set(SPECS[path.stem])


LESSONS = {
    "03_post_training_quantization": (
        "tf.lite.TFLiteConverter.from_keras_model(",
        "converter.optimizations = [tf.lite.Optimize.DEFAULT]",
        "converter.target_spec.supported_types = [tf.float16]",
        "converter.representative_dataset = ",
        "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]",
        "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8",
        "converter.inference_input_type = tf.int8",
        "converter.inference_output_type = tf.int8",
        "Interpreter(model_content=",
        "interpreter.allocate_tensors()",
        "get_input_details()",
        "interpreter.set_tensor(",
        "interpreter.invoke()",
        "interpreter.get_tensor(",
        "tf.lite.experimental.QuantizationDebugger(",
        "QuantizationDebugOptions(",
        "get_nondebug_quantized_model()",
    ),
    "04_quantization_aware_training": (
        "tfmot.quantization.keras.quantize_model(",
        "qat_model.compile(",
        "tfmot.quantization.keras.quantize_scope()",
        "tf.lite.TFLiteConverter.from_keras_model(qat_model)",
    ),
}


@pytest.mark.parametrize("notebook", list(LESSONS))
def test_the_api_is_taught_in_the_notebook(notebook):
    source = "\n".join(
        c.source for c in nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", 4).cells
    )
    for line in LESSONS[notebook]:
        assert line in source, f"{notebook} should show `{line}` in its own cells"


def test_no_hidden_copy_of_the_converter_settings_in_helpers():
    for path in (ROOT / "helpers").glob("*.py"):
        text = path.read_text()
        assert "TFLiteConverter" not in text, f"{path.name}: converter settings belong in notebooks"
        assert "quantize_model(" not in text or path.name == "qat.py"


def test_readme_gives_the_two_commands_and_a_generated_results_table():
    from helpers.cli import readme as readme_module

    readme = (ROOT / "README.md").read_text()
    assert "make run-all" in readme and "make test" in readme
    section = readme.split(readme_module.README_START, 1)[1].split(readme_module.README_END, 1)[0]
    for name in ("float32", "dynamic_range", "float16", "int8", "int16x8", "qat_int8"):
        assert f"| {name} |" in section, f"README results lack {name}"
    assert (ROOT / readme_module.README_FIGURE).is_file()


def test_readme_section_is_rebuilt_from_a_summary():
    from helpers import report
    from helpers.cli import readme

    summary = {
        "environment": {
            "cpu": "Test CPU",
            "logical_cpus": 2,
            "python": "3.11",
            "tensorflow": "x",
            "ai-edge-litert": "y",
            "simd": {"AVX2": True, "AVX-512 VNNI": False},
        },
        "benchmark": {"05_comparison": {"rounds": 12, "batch_size": 256, "threads": 1}},
        "params": {
            "02_baseline_cnn": {"EPOCHS": 10},
            "04_quantization_aware_training": {"QAT_EPOCHS": 2},
        },
        "speed_control": {"ratio": 1.01, "ci": [0.97, 1.04], "ok": True},
        "notes": [],
        "variants": [
            {
                "name": "int8",
                "role": "variant",
                "kind": "tflite",
                "parent": "keras_float",
                "size_bytes": 80,
                "ratio_to_float32": 0.25,
                "test_accuracy": 0.9,
                "change_pp": -0.1,
                "delta_vs_baseline_ci95_pp": [-0.2, 0.1],
                "p_value_vs_baseline": 0.4,
                "verdict_vs_baseline": "tie",
                "agreement_with_float": 0.99,
                "throughput_ratio": 2.0,
                "throughput_ratio_ci": [1.8, 2.2],
                "noninferiority_test": {
                    "margin_pp": 0.3,
                    "delta_pp": -0.1,
                    "lower_bound_pp": -0.2,
                    "p_value": 0.001,
                    "non_inferior": True,
                    "borderline": False,
                    "images": 10000,
                },
            }
        ],
    }
    summary["recommendation"] = report.recommend(summary["variants"], {})
    log = {"total_seconds": 120, "quick": False, "notebooks": {"01_data": 10, "02_baseline": 110}}
    section = readme.readme_results(summary, log)
    assert "Test CPU" in section and "2.0 minutes (01: 10 s, 02: 110 s)" in section
    assert "| int8 | keras_float |" in section
    assert "AVX2" in section and "equivalence band, as it must be" in section
    assert "comparable only within one study (the *timed in* column)" in section
    assert "rests on one training seed" in section
    seeds = {
        "seeds": [1, 2],
        "seconds": 360,
        "per_seed": [
            {
                "seed": s,
                "baseline_accuracy": 0.91,
                "int8_delta_pp": -0.1,
                "qat_int8_delta_pp": 0.7,
                "control_delta_pp": 0.8,
                "qat_vs_control_int8_pp": 0.0,
            }
            for s in (1, 2)
        ],
        "summary": {
            key: {"mean": value, "min": value, "max": value}
            for key, value in (
                ("baseline_accuracy", 0.91),
                ("int8_delta_pp", -0.1),
                ("qat_int8_delta_pp", 0.7),
                ("control_delta_pp", 0.8),
                ("qat_vs_control_int8_pp", 0.0),
            )
        },
    }
    with_seeds = readme.readme_results(summary, log, seeds)
    assert "**Several training seeds**" in with_seeds and "| 2 | 91.00% | -0.10 |" in with_seeds
    assert "like for like" not in with_seeds  # this study has no per-tensor field
    assert "batch curve" not in with_seeds  # no curve recorded
    summary["fastest_by_batch"] = [
        {"batch": 1, "fastest": "fix", "us_per_image": 9.0, "tied_with": []},
        {"batch": 256, "fastest": "fix", "us_per_image": 7.0, "tied_with": ["dynamic_range"]},
    ]
    curve = readme.readme_results(summary, log)
    assert "batch 1 `fix`; batch 256 `fix` (tied with `dynamic_range`)" in curve
    assert readme.BATCH_FIGURE in curve
    del summary["fastest_by_batch"]
    summary["speed_control"] = {"ratio": 1.08, "ci": [1.02, 1.15], "ok": False, "band": [0.9, 1.1]}
    assert "NOT inside the 0.90–1.10 band" in readme.readme_results(summary, log)
    old = f"a\n{readme.README_START}\nold\n{readme.README_END}\nb"
    assert (
        readme.update_readme(old, "new") == f"a\n{readme.README_START}\nnew\n{readme.README_END}\nb"
    )


def test_quick_runs_default_to_their_own_folders(monkeypatch, tmp_path):
    from helpers.cli import runner

    calls = {}
    monkeypatch.setenv("ARTIFACTS_DIR", str(tmp_path / "full"))
    monkeypatch.setattr(runner, "run_notebooks", lambda names, **kw: calls.update(kw))
    assert runner.main(["--quick", "--only", "01"]) == 0
    assert calls["artifacts_dir"] == tmp_path / "full" / "quick"
    assert calls["output_dir"] == runner.DEFAULT_OUTPUT_DIR / "quick"
    assert runner.main(["--only", "01"]) == 0
    assert calls["artifacts_dir"] is None and calls["output_dir"] == runner.DEFAULT_OUTPUT_DIR
