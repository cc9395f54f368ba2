"""``make book`` as a reader meets it: every page of a real run's book in a headless Chromium.

The quick chain runs into a temporary folder (as the smoke tests run it), ``python -m
helpers.cli.book`` builds its book with ``ALLOW_QUICK=1``, a local HTTP server serves it, and the
browser opens every page: the title is the notebook's, every figure has loaded, no page shows a
traceback or an error, folded cells are closed until clicked, the navigation reaches every
notebook in chain order, and nothing is fetched from anywhere but the book itself.

While working on the book, run the quick chain once and reuse it:
``BOOK_QUICK_RUN=/tmp/run pytest -m browser tests/browser/test_book.py`` where ``/tmp/run`` holds
the ``outputs/`` and ``artifacts/`` of ``tests.smoke.conftest.run_quick_chain(Path("/tmp/run"))``.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest

from helpers import artifacts
from helpers.cli import book as book_cli

pytestmark = pytest.mark.browser

REUSE_ENV_VAR = "BOOK_QUICK_RUN"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
FOLDED = "details.above-input"
# Every <img> has finished loading (or failed); lazy ones are asked to load now.
IMAGES_SETTLED = """async () => {
    const images = [...document.images];
    images.forEach(img => { img.loading = 'eager'; });
    await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
        img.addEventListener('load', done); img.addEventListener('error', done);
    })));
    return images.map(img => ({src: img.getAttribute('src'), width: img.naturalWidth,
                               output: img.closest('.cell_output') !== null}));
}"""


@dataclass(frozen=True)
class Book:
    outputs: Path  # the run's executed notebooks
    html: Path  # the built book
    notebooks: tuple[str, ...]  # chain order

    def executed(self, name: str) -> nbformat.NotebookNode:
        return nbformat.read(self.outputs / f"{name}.ipynb", as_version=4)


def plain(markdown_title: str) -> str:
    """A Markdown heading as Sphinx puts it in <title>: no markup characters."""
    return re.sub(r"[`*_]", "", markdown_title).strip()


def notebook_title(notebook: nbformat.NotebookNode) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return plain(line[2:])
    raise AssertionError("the notebook has no H1 title")


def image_outputs(notebook: nbformat.NotebookNode) -> int:
    return sum(
        any(kind in output.get("data", {}) for kind in IMAGE_TYPES)
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )


def folded_cells(notebook: nbformat.NotebookNode) -> list[str]:
    """Sources of the cells the book folds (what helpers.cli.book tags ``hide-input``)."""
    folded = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        hidden = (cell.metadata.get("jupyter") or {}).get("source_hidden")
        if hidden or book_cli.FOLD_TAG in tags or book_cli.PAPERMILL_TAG in tags:
            folded.append(cell.source)
    return folded


@pytest.fixture(scope="module")
def book(chromium_path, sync_api, tmp_path_factory) -> Book:
    """The book of one quick run, built as `make book ALLOW_QUICK=1` builds it.

    Depends on the browser fixtures so that nothing runs when the test is going to skip.
    """
    if os.environ.get(REUSE_ENV_VAR):
        root = Path(os.environ[REUSE_ENV_VAR])
    else:
        from tests.smoke.conftest import run_quick_chain

        root = tmp_path_factory.mktemp("book-run")
        run_quick_chain(root)
    dest = tmp_path_factory.mktemp("book") / "html"
    command = [sys.executable, "-m", "helpers.cli.book", "--outputs", str(root / "outputs")]
    command += ["--artifacts", str(root / "artifacts"), "--dest", str(dest)]
    built = subprocess.run(
        command,
        env={**os.environ, "ALLOW_QUICK": "1"},
        cwd=artifacts.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, f"make book failed:\n{built.stdout}\n{built.stderr}"
    assert built.stdout.splitlines()[-1] == f"Open: {(dest / 'index.html').resolve()}"
    assert "warned" not in built.stdout, f"Sphinx warnings:\n{built.stdout}"
    return Book(root / "outputs", dest, book_cli.chain_notebooks())


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


@pytest.fixture(scope="module")
def server(book) -> str:
    """The book served by a local HTTP server on a free port, as a reader would host it."""
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(book.html))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def reader(browser, server, request, tmp_path):
    """A fresh page that records every request it makes. On failure: a screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.requests = []
    page.on("request", lambda req: page.requests.append(req.url))
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screenshot = tmp_path / "book-failure.png"
        try:
            page.screenshot(path=screenshot, full_page=True)
            print(f"Screenshot of {page.url}: {screenshot}")
        except Exception as exc:  # the page may be gone; the test's own failure is what matters
            print(f"No screenshot ({exc})")
    context.close()


def open_page(page, server: str, name: str) -> None:
    response = page.goto(f"{server}/{name}.html")
    assert response is not None and response.ok, f"{name}.html: {response and response.status}"
    page.wait_for_load_state("load")


def test_every_page_has_its_title_its_figures_and_no_error(book, server, reader):
    readme_title = book_cli.readme_introduction(book_cli.README.read_text()).splitlines()[0]
    pages = {"index": plain(readme_title[2:])}
    pages.update({name: notebook_title(book.executed(name)) for name in book.notebooks})
    for name, title in pages.items():
        open_page(reader, server, name)
        assert reader.title() == f"{title} — {book_cli.BOOK_TITLE}", name
        images = reader.evaluate(IMAGES_SETTLED)
        broken = [image["src"] for image in images if image["width"] == 0]
        assert not broken, f"{name}.html: images that did not load: {broken}"
        if name == "index":
            assert any("size_vs_accuracy" in image["src"] for image in images)
        else:
            figures = sum(image["output"] for image in images)
            assert figures == image_outputs(book.executed(name)), f"{name}.html figures"
        text = reader.inner_text("main")
        assert "Traceback (most recent call last)" not in text, f"{name}.html shows a traceback"
        assert reader.locator(".output.traceback, .output.error, .system-message").count() == 0
        stderr = " ".join(reader.locator(".output.stderr").all_inner_texts())
        assert not re.search(r"Traceback|Error\b", stderr), f"{name}.html stderr: {stderr[:500]}"
        footer = reader.locator(f".{book_cli.FOOTER_CLASS}")
        assert footer.count() == 1, f"{name}.html has no run footer"
        assert "QUICK=1" in footer.inner_text() and "logical CPUs" in footer.inner_text()
    foreign = [url for url in reader.requests if not url.startswith(server)]
    assert not foreign, f"the book fetched from elsewhere: {foreign}"


def test_folded_cells_are_closed_until_clicked(book, server, reader):
    for name in book.notebooks:
        expected = folded_cells(book.executed(name))
        open_page(reader, server, name)
        blocks = reader.locator(FOLDED)
        assert blocks.count() == len(expected), f"{name}.html folds {blocks.count()} cells"
        if not expected:
            continue
        opened = blocks.evaluate_all("blocks => blocks.filter(d => d.open).length")
        assert opened == 0, f"{name}.html has {opened} folded cells open by default"
        first = blocks.first
        code = first.locator(".cell_input")
        assert not code.is_visible(), f"{name}.html: folded code is visible before a click"
        first.locator("summary").click()
        assert first.evaluate("d => d.open")
        code.wait_for(state="visible")
        shown = code.inner_text()
        first_line = expected[0].strip().splitlines()[0].strip()
        assert first_line in shown, f"{name}.html: the opened cell is not {first_line!r}"


def test_navigation_reaches_every_notebook_in_chain_order(book, server, reader):
    open_page(reader, server, "index")
    sidebar = reader.locator("nav.bd-docs-nav a.reference.internal")
    linked = sidebar.evaluate_all("links => links.map(a => a.pathname.split('/').pop())")
    assert [page for page in linked if page != "index.html"] == [
        f"{name}.html" for name in book.notebooks
    ], "the sidebar lists every notebook, in chain order"
    visited = []
    for _ in range(len(book.notebooks) + 1):
        following = reader.locator("a.right-next")
        if following.count() == 0:
            break
        following.click()
        reader.wait_for_load_state("load")
        visited.append(reader.url.rsplit("/", 1)[-1].removesuffix(".html"))
    assert visited == list(book.notebooks), "Next from the landing page walks the chain"
    reader.locator("a.left-prev").click()
    reader.wait_for_load_state("load")
    assert reader.url.endswith(f"/{book.notebooks[-2]}.html")
