"""JupyterLab started as ``make lab`` starts it, and a real headless Chromium to drive it.

The browser is the system's Chromium (Debian's ``chromium`` package), launched by Playwright for
Python through ``executable_path``: Playwright never downloads a browser of its own here. Tests
skip, saying why, only when there is no Chromium binary or no Playwright; anything that breaks
once both are present is a failure.

JupyterLab serves a copy of ``notebooks/`` with a temporary ``ARTIFACTS_DIR`` and temporary
Jupyter and IPython folders, so a test run never touches the working tree (JupyterLab writes
checkpoints beside the notebooks it opens), the user's ``artifacts/`` or their Jupyter settings.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.cli import lab

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# As root Chromium needs --no-sandbox; the rest keep it from dialling out on a closed network,
# where its background connections are refused.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 60


def find_chromium() -> str | None:
    """``$CHROMIUM`` if set, else the first Chromium or Chrome on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def sync_api():
    return pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright for Python is not installed (make setup installs it from requirements.txt)",
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip(
            "no Chromium binary (looked for $CHROMIUM, then "
            f"{', '.join(CHROMIUM_NAMES)} on PATH): install Debian's chromium "
            "(`make browser` does it as root) to run the browser test"
        )
    return path


@dataclass(frozen=True)
class JupyterLab:
    base_url: str
    token: str
    notebook_dir: Path
    artifacts_dir: Path
    log: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def unused_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, status_url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    """Stop the server and its kernels (they share its process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="module")
def jupyterlab(chromium_path, sync_api, tmp_path_factory) -> JupyterLab:
    """JupyterLab from this environment with ``make lab``'s command, on a free local port.

    Depends on the browser fixtures so that nothing starts when the test is going to skip.
    """
    root = tmp_path_factory.mktemp("jupyterlab")
    notebook_dir = root / "notebooks"
    shutil.copytree(lab.NOTEBOOKS_DIR, notebook_dir, ignore=shutil.ignore_patterns(".*"))
    artifacts_dir = root / "artifacts"
    artifacts_dir.mkdir()
    token = secrets.token_hex(16)
    environment = lab.lab_environment(token)
    environment.update(
        ARTIFACTS_DIR=str(artifacts_dir),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_DATA_DIR=str(root / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
        IPYTHONDIR=str(root / "ipython"),
    )
    port = unused_port()
    log = root / "jupyterlab.log"
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            lab.lab_command(port, headless=True, ip="127.0.0.1", notebook_dir=notebook_dir),
            env=environment,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = JupyterLab(f"http://127.0.0.1:{port}", token, notebook_dir, artifacts_dir, log)
    try:
        wait_until_serving(process, server.url("api/status"), log)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser(sync_api, chromium_path):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, jupyterlab, request, tmp_path):
    """A fresh page (Playwright gives each context a fresh profile). On failure: a screenshot."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        screenshot = tmp_path / "jupyterlab-failure.png"
        try:
            errors = page.locator(".jp-OutputArea-output[data-mime-type*='error']")
            if errors.count():
                errors.first.scroll_into_view_if_needed(timeout=5_000)
            page.screenshot(path=screenshot)
            (tmp_path / "jupyterlab-failure.html").write_text(page.content())
            print(f"Screenshot of the page: {screenshot}")
        except Exception as exc:  # the page may be gone; the test's own failure is what matters
            print(f"No screenshot ({exc})")
        print(f"JupyterLab log ({jupyterlab.log}), last lines:\n{jupyterlab.log_tail()}")
    context.close()
