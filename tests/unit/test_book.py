"""``make book``: refusals on runs it must not show, and a real Sphinx build of a tiny run.

The run is faked in a temporary folder: two small executed notebooks written with nbformat (a
folded cell, a figure, a Markdown conclusion), a run log, and the artifacts the book reads. The
chain is narrowed to those two notebooks; everything else (Sphinx, MyST-NB, the theme, the
README's introduction and results code) is the real thing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import struct
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.cli import book

FINGERPRINT = "0123456789abcdef"
NOTEBOOKS = ("01_tiny_data", "02_tiny_model")
TITLES = {"01_tiny_data": "Tiny data: one folded cell", "02_tiny_model": "Tiny model"}
FOLDED_SOURCE = "folded_value = 6 * 7  # setup that is not the lesson"
CONCLUSION = "**Conclusion:** the tiny model scored 42 of 50."


def png(width: int = 3, height: int = 2) -> bytes:
    """A valid grey PNG, small enough to write by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def executed_notebook(name: str) -> nbformat.NotebookNode:
    """A small notebook as papermill leaves it: outputs, execution counts, kernel metadata."""
    notebook = new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    cells = [new_markdown_cell(f"# {TITLES[name]}\n\nWhat this page teaches.")]
    if name == "01_tiny_data":
        cells += [
            new_code_cell(
                FOLDED_SOURCE,
                metadata={"tags": ["hide-input"], "jupyter": {"source_hidden": True}},
                execution_count=1,
                outputs=[new_output("stream", name="stdout", text="setup done\n")],
            ),
            new_markdown_cell("## A figure"),
            new_code_cell(
                "plot()",
                execution_count=2,
                outputs=[
                    new_output(
                        "display_data",
                        data={
                            "image/png": base64.b64encode(png()).decode(),
                            "text/plain": "<Figure size 3x2>",
                        },
                    )
                ],
            ),
            new_code_cell(
                "display(Markdown(conclusion))",
                execution_count=3,
                outputs=[
                    new_output(
                        "display_data",
                        data={"text/markdown": CONCLUSION, "text/plain": "<Markdown object>"},
                    )
                ],
            ),
        ]
    else:
        cells += [
            new_code_cell(  # papermill's cell: the run's parameters, folded by the book
                'ARTIFACTS_DIR = "/tmp/run"',
                metadata={"tags": ["injected-parameters"]},
                execution_count=1,
            ),
            new_code_cell(  # hidden in JupyterLab only: the book folds it too
                "checked = True  # a check that is not the lesson",
                metadata={"jupyter": {"source_hidden": True}},
                execution_count=2,
            ),
            new_code_cell(
                "print(1 + 1)",
                execution_count=3,
                outputs=[new_output("stream", name="stdout", text="2\n")],
            ),
        ]
    notebook.cells = cells
    return notebook


def summary() -> dict:
    """A summary.json with what the README's results section and the footer read."""
    return {
        "baseline_fingerprint": FINGERPRINT,
        "environment": {
            "python": "3.11.7",
            "tensorflow": "2.21.0",
            "ai-edge-litert": "2.3.0",
            "cpu": "Test CPU 9000",
            "logical_cpus": 2,
            "platform": "Linux-test",
            "simd": {"AVX2": True, "AVX-512 VNNI": False},
        },
        "benchmark": {"05_comparison": {"rounds": 12, "batch_size": 256, "threads": 1}},
        "params": {
            "02_baseline_cnn": {"EPOCHS": 10},
            "04_quantization_aware_training": {"QAT_EPOCHS": 2},
        },
        "speed_control": {"ratio": 1.01, "ci": [0.97, 1.04], "ok": True},
        "recommendation": {
            "size": {"name": None, "selected_on": "test", "tried": [], "same_size": []},
            "accuracy": {"name": "int8", "tied_with": []},
        },
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
            }
        ],
    }


def write_run(root: Path, **log_changes) -> tuple[Path, Path]:
    """A finished run under ``root``: outputs/ (notebooks, then run_log.json) and artifacts/."""
    outputs, artifacts_dir = root / "outputs", root / "artifacts"
    (artifacts_dir / "figures").mkdir(parents=True)
    (artifacts_dir / "baseline_metrics.json").write_text(
        json.dumps({"baseline_fingerprint": FINGERPRINT})
    )
    (artifacts_dir / "summary.json").write_text(json.dumps(summary()))
    (artifacts_dir / "figures" / "07_frontier.png").write_bytes(png(8, 6))
    outputs.mkdir()
    for name in NOTEBOOKS:
        nbformat.write(executed_notebook(name), outputs / f"{name}.ipynb")
    log = {
        "quick": False,
        "notebooks": {name: 1.5 for name in NOTEBOOKS},
        "artifacts_dir": str(artifacts_dir),
        "total_seconds": 3.0,
        "finished": "2026-01-02T03:04:05+00:00",
        "baseline_fingerprint": FINGERPRINT,
    }
    log.update(log_changes)
    log = {key: value for key, value in log.items() if value is not None}
    (outputs / "run_log.json").write_text(json.dumps(log))
    return outputs, artifacts_dir


@pytest.fixture(autouse=True)
def tiny_chain(monkeypatch):
    monkeypatch.setattr(book, "chain_notebooks", lambda: NOTEBOOKS)
    monkeypatch.delenv("ALLOW_QUICK", raising=False)


def refusal(outputs: Path, artifacts_dir: Path, **kwargs) -> str:
    with pytest.raises(book.BookRefused) as refused:
        book.check_run(outputs, artifacts_dir, **kwargs)
    return str(refused.value)


# --- refusals -------------------------------------------------------------------------------


def test_no_run_names_the_command(tmp_path):
    message = refusal(tmp_path / "outputs", tmp_path / "artifacts")
    assert "run_log.json is missing" in message and "`make run-all`" in message


def test_no_full_run_points_at_the_quick_one_if_there_is_one(tmp_path):
    write_run(tmp_path / "quick-root", quick=True)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "quick-root" / "outputs").rename(tmp_path / "outputs" / "quick")
    message = refusal(tmp_path / "outputs", tmp_path / "artifacts")
    assert "`make run-all`" in message and "`make book QUICK=1`" in message


def test_a_quick_run_is_refused_unless_allowed(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path, quick=True)
    message = refusal(outputs, artifacts_dir)
    assert "QUICK=1" in message and "`make run-all`" in message and "ALLOW_QUICK=1" in message
    assert book.check_run(outputs, artifacts_dir, allow_quick=True).quick


def calls_of_main(monkeypatch, argv: list[str]) -> dict:
    """What ``main(argv)`` asks ``build_book`` for."""
    calls: dict = {}

    def fake_build(outputs, artifacts_dir, dest, *, allow_quick, rerun):
        calls.update(outputs=outputs, artifacts=artifacts_dir, dest=dest, allow_quick=allow_quick)
        calls["rerun"] = rerun

    monkeypatch.setattr(book, "build_book", fake_build)
    assert book.main(argv) == 0
    return calls


def test_allow_quick_comes_from_the_flag_or_the_environment(tmp_path, monkeypatch):
    arguments = ["--outputs", str(tmp_path), "--artifacts", str(tmp_path)]
    assert calls_of_main(monkeypatch, arguments)["allow_quick"] is False
    assert calls_of_main(monkeypatch, [*arguments, "--allow-quick"])["allow_quick"] is True
    monkeypatch.setenv("ALLOW_QUICK", "1")
    assert calls_of_main(monkeypatch, arguments)["allow_quick"] is True


def test_quick_reads_where_the_runner_puts_a_quick_run(tmp_path, monkeypatch):
    monkeypatch.setattr(book, "DEFAULT_OUTPUTS", tmp_path / "outputs")
    monkeypatch.setenv("ARTIFACTS_DIR", str(tmp_path / "results"))
    assert calls_of_main(monkeypatch, []) == {
        "outputs": tmp_path / "outputs",
        "artifacts": tmp_path / "results",
        "dest": None,
        "allow_quick": False,
        "rerun": book.RERUN,
    }
    assert calls_of_main(monkeypatch, ["--quick"]) == {
        "outputs": tmp_path / "outputs" / "quick",
        "artifacts": tmp_path / "results" / "quick",
        "dest": None,
        "allow_quick": True,
        "rerun": "Run `make run-all QUICK=1`, then `make book QUICK=1`.",
    }


def test_a_different_baseline_is_refused(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path, baseline_fingerprint="fedcba9876543210")
    message = refusal(outputs, artifacts_dir)
    assert "fedcba9876543210" in message and FINGERPRINT in message
    assert "`make run-all`" in message


def test_a_run_log_without_the_fingerprint_does_not_match(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path, baseline_fingerprint=None)
    message = refusal(outputs, artifacts_dir)
    assert "does not record the baseline" in message and "Run `make run-all`" in message


def test_artifacts_without_a_baseline_are_refused(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path)
    (artifacts_dir / "baseline_metrics.json").unlink()
    assert "no baseline_metrics.json" in refusal(outputs, artifacts_dir)


def test_another_artifacts_folder_than_the_run_wrote_is_named(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path)
    other = tmp_path / "other-artifacts"
    other.mkdir()
    message = refusal(outputs, other)
    assert f"`ARTIFACTS_DIR={artifacts_dir} make book`" in message


def test_a_partial_run_is_refused(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path, notebooks={"02_tiny_model": 1.0})
    message = refusal(outputs, artifacts_dir)
    assert "did not run 01_tiny_data" in message and "`make run-all`" in message


def test_a_notebook_written_after_the_run_ended_is_refused(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path)
    later = time.time() + 60
    os.utime(outputs / "02_tiny_model.ipynb", (later, later))
    message = refusal(outputs, artifacts_dir)
    assert "02_tiny_model.ipynb was written after" in message


def test_refusal_exits_1_with_the_message(tmp_path, capsys):
    outputs, artifacts_dir = write_run(tmp_path, quick=True)
    code = book.main(["--outputs", str(outputs), "--artifacts", str(artifacts_dir)])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.startswith("make book: ") and "ALLOW_QUICK=1" in captured.err
    assert not (outputs / "book").exists()


def test_an_unreadable_run_log_is_refused(tmp_path):
    outputs, artifacts_dir = write_run(tmp_path)
    (outputs / "run_log.json").write_text('{"quick": fal')
    message = refusal(outputs, artifacts_dir)
    assert "run_log.json is not valid JSON" in message and "`make run-all`" in message


# --- a real build ---------------------------------------------------------------------------


class Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str, **attrs) -> list[dict]:
        return [
            found
            for name, found in self.tags
            if name == tag and all(v in (found.get(k) or "").split() for k, v in attrs.items())
        ]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One build of the tiny run, with every socket connection refused while it runs."""
    root = tmp_path_factory.mktemp("book")
    outputs, artifacts_dir = write_run(root)
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(book, "chain_notebooks", lambda: NOTEBOOKS)

        def no_network(*args, **kwargs):
            raise AssertionError(f"the book build tried to connect: {args}")

        patch.setattr(socket.socket, "connect", no_network)
        patch.setattr(socket, "create_connection", no_network)
        index = book.build_book(outputs, artifacts_dir, echo=lines.append)
    return index, lines


def page(index: Path, name: str) -> str:
    return (index.parent / f"{name}.html").read_text()


def test_build_prints_progress_and_the_index_path(built):
    index, lines = built
    assert index.name == "index.html" and index.parent.name == "book" and index.is_file()
    assert lines[-1] == f"Open: {index.resolve()}"
    assert any(line.startswith("Rendering 2 executed notebooks") for line in lines)
    assert not any("warned" in line for line in lines), lines


def test_one_page_per_notebook_named_after_it_with_its_title(built):
    index, _ = built
    for name in NOTEBOOKS:
        text = page(index, name)
        title = re.search(r"<title>(.*?)</title>", text, re.S).group(1)
        assert title.startswith(TITLES[name]), title


def test_the_landing_page_has_the_readme_results_and_the_notebooks_in_order(built):
    index, _ = built
    text = index.read_text()
    readme_title = book.readme_introduction(book.README.read_text()).splitlines()[0][2:]
    assert re.search(r"<title>(.*?)</title>", text, re.S).group(1).startswith(readme_title)
    assert "Results of this run" in text and "Test CPU 9000" in text
    assert "<td><p>int8</p></td>" in text or "<td>int8</td>" in text  # the results table
    figure = Tags(text).find("img", alt="Size")
    assert figure, "the size-accuracy figure is on the landing page"
    assert (index.parent / figure[0]["src"]).read_bytes().startswith(b"\x89PNG")
    toc = [
        a["href"]
        for a in Tags(text).find("a", **{"class": "reference"})
        if a["href"].endswith(".html") and a["href"] != "#"
    ]
    ordered = [href for href in toc if href.removesuffix(".html") in NOTEBOOKS]
    assert ordered[:2] == [f"{name}.html" for name in NOTEBOOKS]


def test_hide_input_cell_is_a_closed_details_block_with_its_source(built):
    index, _ = built
    text = page(index, "01_tiny_data")
    blocks = re.findall(r"<details([^>]*)>(.*?)</details>", text, re.S)
    folded = [(attrs, body) for attrs, body in blocks if "above-input" in attrs]
    assert len(folded) == 1, blocks
    attrs, body = folded[0]
    assert "hide" in attrs and " open" not in attrs
    assert "folded_value" in body and "setup done" not in body  # the output stays visible
    assert "setup done" in text
    others = re.findall(
        r'<details class="[^"]*above-input[^"]*">(.*?)</details>',
        page(index, "02_tiny_model"),
        re.S,
    )
    assert len(others) == 2, "papermill's parameters and a JupyterLab-hidden cell are folded"
    assert "ARTIFACTS_DIR" in others[0] and "checked" in others[1]
    assert "print" not in " ".join(others)


def test_figure_is_embedded_and_conclusion_is_rendered_as_markdown(built):
    index, _ = built
    text = page(index, "01_tiny_data")
    images = [img for img in Tags(text).find("img") if "_images/" in img.get("src", "")]
    assert len(images) == 1
    assert (index.parent / images[0]["src"]).read_bytes() == png()
    assert "<strong>Conclusion:</strong> the tiny model scored 42 of 50." in text
    assert "**Conclusion:**" not in text


def test_every_page_has_the_run_in_its_footer(built):
    index, _ = built
    for name in ("index", *NOTEBOOKS):
        footer = re.search(rf'<p class="{book.FOOTER_CLASS}">(.*?)</p>', page(index, name), re.S)
        assert footer, f"{name}.html has no run footer"
        text = footer.group(1)
        assert "Test CPU 9000 (2 logical CPUs; AVX2)" in text
        assert "2026-01-02 03:04 UTC" in text and "tensorflow 2.21.0" in text
        assert "Python 3.11.7" in text and FINGERPRINT in text


def test_pages_load_nothing_from_the_network(built):
    index, _ = built
    for path in index.parent.glob("*.html"):
        tags = Tags(path.read_text())
        remote = [
            attrs.get("src") or attrs.get("href")
            for tag, attrs in tags.tags
            if tag in ("script", "link", "img", "iframe")
            and re.match(r"(https?:)?//", attrs.get("src") or attrs.get("href") or "")
        ]
        assert not remote, f"{path.name} loads {remote}"


def test_a_second_build_replaces_the_first(built, tmp_path, monkeypatch):
    index, _ = built
    outputs, artifacts_dir = write_run(tmp_path)
    dest = tmp_path / "elsewhere"
    (dest / "stale.html").parent.mkdir()
    (dest / "stale.html").write_text("old book")
    new_index = book.build_book(outputs, artifacts_dir, dest, echo=lambda line: None)
    assert new_index == dest / "index.html" and new_index.is_file()
    assert not (dest / "stale.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
