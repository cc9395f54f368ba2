"""``make book``: the executed notebooks of the last full run as an HTML book, to read before running.

    python -m helpers.cli.book                 # outputs/ + artifacts/ -> outputs/book/index.html
    python -m helpers.cli.book --quick         # the QUICK=1 run: outputs/quick/book/index.html
    python -m helpers.cli.book --outputs DIR --artifacts DIR [--dest DIR] [--allow-quick]

Nothing is executed: the book renders the copies papermill wrote (``<outputs>/<name>.ipynb``) with
Sphinx and MyST-NB (execution off) and the sphinx-book-theme, one page per notebook named after it
(``03_post_training_quantization.html``), behind a landing page made of the README's introduction
and this run's results section (the same :func:`helpers.cli.readme.readme_results` that writes the
README's). Cells tagged ``hide-input`` (or whose source JupyterLab hides) are folded; every page's
footer states where and when the run was made, from ``summary.json`` and ``run_log.json``.

It refuses, naming the command to run, when the outputs folder holds no complete run, when the run
used ``QUICK=1`` (unless ``--allow-quick`` or ``ALLOW_QUICK=1``), or when the executed notebooks do
not belong to the artifacts folder (the baseline fingerprint recorded in ``run_log.json`` differs
from the one in ``baseline_metrics.json``).

Sphinx's ``conf.py`` and the landing page are generated into a temporary source folder at build
time, so no docs tree is committed. Nothing reaches the network: no intersphinx, no launch or
repository buttons, and the pages load no remote script or font.
"""

from __future__ import annotations

import argparse
import datetime
import html
import io
import json
import os
import shutil
import sys
import tempfile
import time
import warnings as warnings_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from helpers import artifacts

DEFAULT_OUTPUTS = artifacts.REPO_ROOT / "outputs"
README = artifacts.REPO_ROOT / "README.md"
BOOK_FOLDER = "book"  # inside the outputs folder, unless --dest says otherwise
RUN_LOG = "run_log.json"
FOLD_TAG = "hide-input"  # Jupyter Book's convention, which MyST-NB renders as a closed <details>
PAPERMILL_TAG = "injected-parameters"  # papermill's cell of the run's parameters: folded too
FOOTER_CLASS = "book-run"
# An executed notebook written this much after run_log.json was not part of that run.
MTIME_SLACK_SECONDS = 2.0
RUN_ALL = "`make run-all`"
RERUN = f"Run {RUN_ALL}, then `make book`."
RERUN_QUICK = "Run `make run-all QUICK=1`, then `make book QUICK=1`."
BOOK_TITLE = "Quantization tutorial, as executed"


class BookRefused(Exception):
    """The outputs cannot make an honest book; the message says what to run."""


def chain_notebooks() -> tuple[str, ...]:
    """The notebooks in chain order: the one place the book learns the chain."""
    from helpers.chain import NOTEBOOKS

    return tuple(NOTEBOOKS)


def _readme_module():
    """The README's results code, imported when needed (it loads scipy: refusals stay instant)."""
    from helpers.cli import readme

    return readme


@dataclass(frozen=True)
class Run:
    """A complete run that the book can show: what it executed and what it recorded."""

    outputs: Path
    artifacts: Path
    log: Mapping
    notebooks: tuple[Path, ...]  # executed copies, in chain order
    summary: Mapping
    fingerprint: str
    finished: datetime.datetime

    @property
    def quick(self) -> bool:
        return bool(self.log.get("quick"))


def shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it (as a learner typed it)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def default_artifacts() -> Path:
    """The runner's default ARTIFACTS_DIR (environment variable, else artifacts/), not created."""
    path = Path(os.environ.get(artifacts.ARTIFACTS_ENV_VAR) or artifacts.DEFAULT_ARTIFACTS_DIR)
    path = path.expanduser()
    return path if path.is_absolute() else artifacts.REPO_ROOT / path


def _read_json(path: Path, missing: str, rerun: str) -> dict:
    if not path.is_file():
        raise BookRefused(missing)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BookRefused(f"{shown(path)} is not valid JSON ({exc}). {rerun}") from exc


def _finished(log: Mapping, log_path: Path) -> datetime.datetime:
    """When the run ended: its recorded ``finished`` time, else the run log's modification time."""
    if log.get("finished"):
        try:
            moment = datetime.datetime.fromisoformat(str(log["finished"]))
            return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
        except ValueError:
            pass
    return datetime.datetime.fromtimestamp(log_path.stat().st_mtime, tz=datetime.UTC)


def check_run(
    outputs: Path, artifacts_dir: Path, *, allow_quick: bool = False, rerun: str = RERUN
) -> Run:
    """The run in ``outputs`` if the book can show it, else :class:`BookRefused` saying why.

    ``rerun`` is the advice that ends most refusals (the quick book's commands differ)."""
    outputs, artifacts_dir = Path(outputs), Path(artifacts_dir)
    log_path = outputs / RUN_LOG
    quick_hint = (
        f" (There is a quick run in {shown(outputs / 'quick')}: `make book QUICK=1` shows it.)"
        if (outputs / "quick" / RUN_LOG).is_file()
        else ""
    )
    log = _read_json(
        log_path,
        f"No run to make a book from: {shown(log_path)} is missing (a run writes it when every "
        f"notebook has finished). {rerun}{quick_hint}",
        rerun,
    )
    if log.get("quick") and not allow_quick:
        raise BookRefused(
            f"The run in {shown(outputs)} was made with QUICK=1: small parameters whose numbers "
            f"are not the tutorial's. For a full run's book: {RUN_ALL}, then `make book`. To "
            "build this quick run's book anyway: `make book ALLOW_QUICK=1`."
        )
    names = chain_notebooks()
    ran = log.get("notebooks") or {}
    skipped = [name for name in names if name not in ran]
    if skipped:
        raise BookRefused(
            f"The last run in {shown(outputs)} did not run {', '.join(skipped)} (a run with "
            f"--only, or a chain that changed since), so its notebooks are not one run. {rerun}"
        )
    finished_at = log_path.stat().st_mtime
    executed = []
    for name in names:
        path = outputs / f"{name}.ipynb"
        if not path.is_file():
            raise BookRefused(f"{shown(path)} is missing: the executed notebook. {rerun}")
        if path.stat().st_mtime > finished_at + MTIME_SLACK_SECONDS:
            raise BookRefused(
                f"{shown(path)} was written after the run recorded in {shown(log_path)} ended "
                f"(a later run that failed or was interrupted?). {rerun}"
            )
        executed.append(path)
    written_to = log.get("artifacts_dir")
    if written_to:
        written_to = default_artifacts() if written_to == "default" else Path(written_to)
        if written_to.resolve() != artifacts_dir.resolve():
            raise BookRefused(
                f"The run in {shown(outputs)} wrote its results to {shown(written_to)}, not "
                f"{shown(artifacts_dir)}. To build its book: `ARTIFACTS_DIR={shown(written_to)} "
                f"make book` (or --artifacts {shown(written_to)})."
            )
    baseline = _read_json(
        artifacts_dir / "baseline_metrics.json",
        f"{shown(artifacts_dir)} has no baseline_metrics.json (notebook 02 writes it), so the "
        f"executed notebooks in {shown(outputs)} cannot belong to it. {rerun}",
        rerun,
    )
    current = baseline.get("baseline_fingerprint")
    recorded = log.get("baseline_fingerprint")
    if recorded is None:
        raise BookRefused(
            f"{shown(log_path)} does not record the baseline its notebooks ran with (a runner "
            f"older than the book wrote it), so they cannot be matched with "
            f"{shown(artifacts_dir)}. {rerun}"
        )
    if recorded != current:
        raise BookRefused(
            f"The executed notebooks in {shown(outputs)} ran with baseline {recorded}, but "
            f"{shown(artifacts_dir)} now holds baseline {current} (a notebook re-ran since, or "
            f"the two folders come from different runs). {rerun}"
        )
    summary = _read_json(
        artifacts_dir / "summary.json",
        f"{shown(artifacts_dir)} has no summary.json (notebook 05 writes it). {rerun}",
        rerun,
    )
    if summary.get("baseline_fingerprint") not in (None, current):
        raise BookRefused(
            f"{shown(artifacts_dir / 'summary.json')} was made from baseline "
            f"{summary['baseline_fingerprint']}, not {current}. {rerun}"
        )
    figure = artifacts_dir / _readme_module().SOURCE_FIGURE
    if not figure.is_file():
        raise BookRefused(f"{shown(figure)} is missing (notebook 07 draws it). {rerun}")
    return Run(
        outputs=outputs,
        artifacts=artifacts_dir,
        log=log,
        notebooks=tuple(executed),
        summary=summary,
        fingerprint=str(current),
        finished=_finished(log, log_path),
    )


def readme_introduction(readme_text: str) -> str:
    """The README from its title up to its first section (``## ...``)."""
    lines = []
    for line in readme_text.splitlines():
        if line.startswith("## "):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def run_sentence(run: Run) -> str:
    """Where and when the run was made, as plain text (for the footer and the landing page)."""
    env = run.summary.get("environment", {})
    versions = [
        f"{'Python' if name == 'python' else name} {value}"
        for name, value in env.items()
        if isinstance(value, str) and name not in ("cpu", "platform")
    ]
    features = [name for name, present in (env.get("simd") or {}).items() if present]
    cpu = f"{env.get('cpu', 'an unrecorded CPU')} ({env.get('logical_cpus', '?')} logical CPUs"
    cpu += f"; {', '.join(features)})" if features else ")"
    command = "make run-all QUICK=1 (small parameters)" if run.quick else "make run-all"
    return (
        f"Executed by {command} on {run.finished:%Y-%m-%d %H:%M} UTC, on {cpu}, with "
        f"{', '.join(versions)}; baseline {run.fingerprint}."
    )


def footer_html(run: Run) -> str:
    return f'<p class="{FOOTER_CLASS}">{html.escape(run_sentence(run))}</p>'


def landing_page(run: Run, readme_text: str, results: str) -> str:
    """index.md: the README's introduction, how to read the book, this run's results, the notebooks."""
    quick_warning = (
        "```{warning}\nThis book shows a quick run (`QUICK=1`): small parameters, one epoch, few "
        "rounds. Its numbers show the code paths, not the tutorial's results.\n```\n\n"
        if run.quick
        else ""
    )
    toctree = "\n".join(path.stem for path in run.notebooks)
    return (
        f"{readme_introduction(readme_text)}\n\n"
        f"{quick_warning}"
        "This book is the tutorial as one run executed it, to read before you run it yourself: "
        "one page per notebook, with every output it printed and drew. Code that is not the "
        "lesson is folded: click *Show code cell source* to open it. To run the notebooks, "
        "`make lab` opens them in JupyterLab.\n\n"
        "## Results of this run\n\n"
        f"{results}\n\n"
        "```{toctree}\n:caption: Notebooks\n:maxdepth: 1\n\n"
        f"{toctree}\n```\n"
    )


def conf_py(title: str, footer: str) -> str:
    """Sphinx's configuration: MyST-NB with execution off, the book theme, nothing online."""
    return f'''"""Generated by helpers/cli/book.py for one build; not committed."""

project = {title!r}
author = ""
copyright = ""
html_title = {BOOK_TITLE!r}  # the sidebar's name and every page title's suffix
extensions = ["myst_nb"]  # brings myst_parser; no intersphinx or any other online extension
nb_execution_mode = "off"  # render the executed copies as they are; never run a cell
nb_merge_streams = True  # one block per cell for stdout, as JupyterLab shows it
nb_render_markdown_format = "myst"  # display(Markdown(...)) conclusions, tables included
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # notebook sections may skip a heading level
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_theme_options = {{
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "use_download_button": True,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_source_button": False,
    "use_edit_page_button": False,
    "launch_buttons": {{}},
    "navigation_with_keys": False,
    "navbar_persistent": [],  # the sidebar has the search field; no second one on top
    "extra_footer": {footer!r},
}}
html_show_copyright = False
html_show_sphinx = False
html_last_updated_fmt = None
'''


def _fold(cell) -> None:
    """Fold what is not the lesson: ``hide-input`` cells, JupyterLab-hidden sources, papermill's
    parameters cell."""
    tags = cell.metadata.setdefault("tags", [])
    hidden = (cell.metadata.get("jupyter") or {}).get("source_hidden")
    if (hidden or PAPERMILL_TAG in tags) and FOLD_TAG not in tags:
        tags.append(FOLD_TAG)


def write_source(run: Run, source: Path, readme_text: str) -> None:
    """Sphinx's source folder: conf.py, index.md, the README figure, the executed notebooks."""
    import nbformat

    readme = _readme_module()
    title = readme_introduction(readme_text).splitlines()[0].lstrip("# ").strip()
    seed_study = run.artifacts / "seed_study.json"
    results = readme.readme_results(
        run.summary, run.log, json.loads(seed_study.read_text()) if seed_study.is_file() else None
    )
    for target, origin in readme.FIGURES:
        if (run.artifacts / origin).is_file():
            figure = source / target
            figure.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(run.artifacts / origin, figure)
    (source / "conf.py").write_text(conf_py(title, footer_html(run)))
    (source / "index.md").write_text(landing_page(run, readme_text, results))
    for path in run.notebooks:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                _fold(cell)
        nbformat.write(notebook, source / path.name)


def sphinx_html(source: Path, out: Path, doctrees: Path) -> list[str]:
    """Build HTML in-process with Sphinx's own output captured; return its warnings."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    status, warnings = io.StringIO(), io.StringIO()
    with warnings_module.catch_warnings(), patch_docutils(source), docutils_namespace():
        # The theme still calls an API Sphinx 11 removes: the reader cannot act on that.
        warnings_module.filterwarnings("ignore", category=PendingDeprecationWarning)
        app = Sphinx(
            str(source),
            str(source),
            str(out),
            str(doctrees),
            "html",
            status=status,
            warning=warnings,
            freshenv=True,
        )
        app.build(force_all=True)
    return [line for line in warnings.getvalue().splitlines() if line.strip()]


def build_book(
    outputs: Path,
    artifacts_dir: Path,
    dest: Path | None = None,
    *,
    allow_quick: bool = False,
    rerun: str = RERUN,
    echo: Callable[[str], None] = print,
) -> Path:
    """Build the book of the run in ``outputs`` into ``dest``; return its index page."""
    run = check_run(outputs, artifacts_dir, allow_quick=allow_quick, rerun=rerun)
    dest = Path(dest) if dest else Path(outputs) / BOOK_FOLDER
    kind = "quick run (QUICK=1)" if run.quick else "full run"
    echo(
        f"Book of the {kind} in {shown(run.outputs)} that finished {run.finished:%Y-%m-%d %H:%M} "
        f"UTC (baseline {run.fingerprint}, results from {shown(run.artifacts)})"
    )
    started = time.perf_counter()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="book-") as work:
        source, built = Path(work) / "source", Path(work) / "html"
        source.mkdir()
        write_source(run, source, README.read_text())
        echo(f"Rendering {len(run.notebooks)} executed notebooks with Sphinx (none is re-run) ...")
        warnings = sphinx_html(source, built, Path(work) / "doctrees")
        _replace(dest, built)
    echo(f"Built in {time.perf_counter() - started:.1f} s: {len(run.notebooks) + 1} pages.")
    if warnings:
        echo(f"Sphinx warned {len(warnings)} time(s):")
        for line in warnings:
            echo(f"    {line.replace(str(source), '')}")
    index = dest / "index.html"
    echo(f"Open: {index.resolve()}")
    return index


def _replace(dest: Path, built: Path) -> None:
    """Put the new book in place of the old one, so a failed build never leaves half a book."""
    staged = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    new = staged / "new"
    shutil.copytree(built, new)
    if dest.exists():
        dest.rename(staged / "old")
    new.rename(dest)
    shutil.rmtree(staged)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "yes", "true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, help="a run's executed notebooks (outputs/)")
    parser.add_argument(
        "--artifacts", type=Path, help="that run's ARTIFACTS_DIR (default: the runner's default)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the last QUICK=1 run's book: outputs/quick and ARTIFACTS_DIR/quick (QUICK=1)",
    )
    parser.add_argument("--dest", type=Path, help="where the HTML goes (default: OUTPUTS/book)")
    parser.add_argument(
        "--allow-quick",
        action="store_true",
        default=_truthy(os.environ.get("ALLOW_QUICK")),
        help="also build from a QUICK=1 run (or set ALLOW_QUICK=1)",
    )
    args = parser.parse_args(argv)
    outputs, artifacts_dir = DEFAULT_OUTPUTS, default_artifacts()
    if args.quick:  # where `make run-all QUICK=1` puts its results (helpers.cli.runner)
        outputs, artifacts_dir = outputs / "quick", artifacts_dir / "quick"
    try:
        build_book(
            args.outputs or outputs,
            args.artifacts or artifacts_dir,
            args.dest,
            allow_quick=args.allow_quick or args.quick,
            rerun=RERUN_QUICK if args.quick else RERUN,
        )
    except BookRefused as refusal:
        print(f"make book: {refusal}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
