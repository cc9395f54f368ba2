"""A learner's path through JupyterLab: open a notebook, Run > Run All Cells, read the results.

Everything goes through the UI in a real headless Chromium; the assertions read the rendered
page (output areas, images, messages), plus the files the kernel wrote.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

RUN_SECONDS = 240  # notebook 01 takes ~15 s here; generous for slow machines
KERNEL = "Python 3 (ipykernel)"  # display name of the python3 kernel in .venv
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
STDERR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
FIGURE_OUTPUT = ".jp-OutputArea-output[data-mime-type='image/png'] img"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front
EXECUTED = re.compile(r"^\[\d+\]:$")

# The notebook's kernel is connected and idle (before that the indicator says idle too, under
# "No Kernel"), or a dialog asks something.
KERNEL_READY = """([notebook, kernel]) => {
    const indicator = document.querySelector(notebook + ' .jp-Notebook-ExecutionIndicator');
    const name = document.querySelector(notebook + ' .jp-Toolbar-kernelName');
    return document.querySelector('.jp-Dialog') !== null || (indicator !== null && name !== null
        && name.textContent.trim() === kernel && indicator.dataset.status === 'idle');
}"""
# Run All has finished: the kernel is idle, nothing is queued or running, and at least one cell
# ran (or a dialog asks something).
RUN_FINISHED = """notebook => {
    const indicator = document.querySelector(notebook + ' .jp-Notebook-ExecutionIndicator');
    const prompts = [...document.querySelectorAll(notebook + ' .jp-CodeCell .jp-InputPrompt')]
        .map(p => p.textContent.trim());
    return document.querySelector('.jp-Dialog') !== null || (indicator.dataset.status === 'idle'
        && !prompts.includes('[*]:') && prompts.some(p => /^\\[\\d+\\]:$/.test(p)));
}"""


def open_and_run_all(page, jupyterlab, name: str) -> None:
    """Open ``name`` in JupyterLab, wait for its kernel, then Run > Run All Cells and wait.

    Each notebook gets a workspace of its own, so that tabs from an earlier test do not reopen.
    """
    page.goto(jupyterlab.url(f"lab/workspaces/{Path(name).stem}/tree/{name}"))
    page.wait_for_function(KERNEL_READY, arg=[NOTEBOOK, KERNEL])
    assert_no_dialog(page)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(RUN_FINISHED, arg=NOTEBOOK, timeout=RUN_SECONDS * 1000)
    assert_no_dialog(page)


def assert_no_dialog(page) -> None:
    """A learner should never be asked anything (e.g. "Select Kernel") on this path."""
    dialogs = page.locator(".jp-Dialog").all_text_contents()
    assert not dialogs, f"JupyterLab asked: {dialogs}"


def prompts(page) -> list[str]:
    return [
        p.strip()
        for p in page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").all_text_contents()
    ]


def code_cell_count(jupyterlab, name: str) -> int:
    notebook = nbformat.read(jupyterlab.notebook_dir / name, as_version=4)
    return sum(cell.cell_type == "code" for cell in notebook.cells)


def folded_cell_count(jupyterlab, name: str) -> int:
    """Code cells whose source is hidden (``# extra code``): JupyterLab shows them collapsed."""
    notebook = nbformat.read(jupyterlab.notebook_dir / name, as_version=4)
    return sum(
        cell.cell_type == "code" and cell.metadata.get("jupyter", {}).get("source_hidden", False)
        for cell in notebook.cells
    )


def expanded_prompts(page, jupyterlab, name: str) -> list[str]:
    """The prompts of every code cell, after checking that the folded cells were collapsed (a
    collapsed cell shows no prompt) and opening them with View > Expand All Code."""
    collapsed = prompts(page)
    assert collapsed.count("") == folded_cell_count(jupyterlab, name), collapsed
    page.get_by_role("menuitem", name="View", exact=True).click()
    page.get_by_role("menuitem", name="Expand All Code", exact=True).click()
    page.wait_for_function(
        "notebook => ![...document.querySelectorAll(notebook + ' .jp-CodeCell .jp-InputPrompt')]"
        ".some(p => p.textContent.trim() === '')",
        arg=NOTEBOOK,
    )
    return prompts(page)


def tracebacks(page) -> list[str]:
    """Error outputs, and stderr outputs that carry a traceback (how JupyterLab 4.6 shows one)."""
    found = page.locator(f"{NOTEBOOK} {ERROR_OUTPUT}").all_text_contents()
    stderr = page.locator(f"{NOTEBOOK} {STDERR_OUTPUT}").all_text_contents()
    return found + [text for text in stderr if "Traceback" in text]


def test_01_data_runs_in_jupyterlab(page, jupyterlab):
    name = "01_data.ipynb"
    open_and_run_all(page, jupyterlab, name)

    assert tracebacks(page) == []
    ran = expanded_prompts(page, jupyterlab, name)
    assert len(ran) == code_cell_count(jupyterlab, name)
    assert all(EXECUTED.match(p) for p in ran), f"cells that did not run: {ran}"

    source = nbformat.read(jupyterlab.notebook_dir / name, as_version=4)
    expected_figures = sum(c.source.count("plots.save_figure(") for c in source.cells)
    figures = page.locator(f"{NOTEBOOK} {FIGURE_OUTPUT}")
    assert expected_figures > 0 and figures.count() == expected_figures
    for index in range(figures.count()):
        figure = figures.nth(index)
        figure.scroll_into_view_if_needed()
        width = figure.evaluate("img => img.decode().then(() => img.naturalWidth)")
        assert width > 0, f"figure {index + 1} did not render"

    written = jupyterlab.artifacts_dir / "dataset.json"
    page.locator(f"{NOTEBOOK} .jp-CodeCell").last.scroll_into_view_if_needed()  # the record cell
    page.get_by_text(f"Wrote {written}").wait_for()  # one output holds every "Wrote" line
    assert json.loads(written.read_text())["test_examples"] == 10_000


def test_03_names_the_notebook_to_run_first(page, jupyterlab):
    """With no baseline in ARTIFACTS_DIR, 03 stops at once and says to run 02."""
    assert not (jupyterlab.artifacts_dir / "baseline.keras").exists()
    name = "03_post_training_quantization.ipynb"
    open_and_run_all(page, jupyterlab, name)

    errors = tracebacks(page)
    assert len(errors) == 1, errors
    assert "MissingArtifactError" in errors[0]
    assert "Run notebooks/02_baseline_cnn.ipynb first" in errors[0]
    ran = expanded_prompts(page, jupyterlab, name)
    failed_at = max(i for i, p in enumerate(ran) if EXECUTED.match(p))
    assert all(p == "[ ]:" for p in ran[failed_at + 1 :]), f"cells ran after the error: {ran}"
    assert page.locator(f"{NOTEBOOK} {FIGURE_OUTPUT}").count() == 0
