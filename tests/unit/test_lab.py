"""`make lab`: the JupyterLab command line, its environment and the kernel it will use."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from helpers import artifacts
from helpers.cli import lab

ROOT = artifacts.REPO_ROOT


@pytest.mark.parametrize("uid, allow_root", [(0, True), (1000, False)])
def test_allow_root_only_as_root(monkeypatch, uid, allow_root):
    monkeypatch.setattr(lab.os, "geteuid", lambda: uid)
    command = lab.lab_command(8890, headless=False)
    assert ("--allow-root" in command) is allow_root


def test_command_serves_the_notebooks_on_exactly_the_given_port():
    command = lab.lab_command(8890, headless=True, ip="0.0.0.0")
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--notebook-dir={ROOT / 'notebooks'}" in command
    assert "--port=8890" in command and "--ServerApp.port_retries=0" in command
    assert "--ip=0.0.0.0" in command and "--no-browser" in command
    assert "--no-browser" not in lab.lab_command(8890, headless=False)


def test_token_travels_in_the_environment_and_this_environment_comes_first():
    environment = lab.lab_environment("abc", base={"PATH": "/bin"})
    assert environment == {"PATH": "/bin", "JUPYTER_TOKEN": "abc", "JUPYTER_PREFER_ENV_PATH": "1"}
    assert not any("abc" in part for part in lab.lab_command(8890, headless=True))


def test_the_python3_kernel_is_this_environment(monkeypatch):
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    assert Path(lab.kernel_python()).resolve() == Path(sys.executable).resolve()


def test_free_port_skips_a_busy_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not lab.port_is_free(port)
        assert lab.free_port(start=port, attempts=5) != port


def test_printed_url_is_one_a_browser_on_this_machine_can_open():
    assert lab.url("localhost", 8888, "t") == "http://localhost:8888/lab?token=t"
    assert lab.url("0.0.0.0", 8890, "t") == "http://127.0.0.1:8890/lab?token=t"
