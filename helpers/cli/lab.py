"""Start JupyterLab on ``notebooks/`` with this environment's kernel: what ``make lab`` runs.

    python -m helpers.cli.lab                  # first free port from 8888; a browser if there is one
    python -m helpers.cli.lab --port 8890      # exactly this port
    python -m helpers.cli.lab --headless       # no browser: remote machines and containers
    python -m helpers.cli.lab --ip 0.0.0.0     # reachable from outside (a container's published port)

The browser test (``tests/browser``) starts JupyterLab with the same command.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path

from helpers import artifacts

NOTEBOOKS_DIR = artifacts.REPO_ROOT / "notebooks"
DEFAULT_PORT = 8888
KERNEL_NAME = "python3"  # the kernel every notebook names in its metadata


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def has_display() -> bool:
    """Whether a browser window could open here (Linux without X or Wayland cannot)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def port_is_free(port: int, ip: str = "localhost") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1" if ip == "localhost" else ip, port))
        except OSError:
            return False
    return True


def free_port(ip: str = "localhost", start: int = DEFAULT_PORT, attempts: int = 50) -> int:
    """The first port from ``start`` that nothing listens on (as Jupyter's own search does)."""
    for port in range(start, start + attempts):
        if port_is_free(port, ip):
            return port
    raise SystemExit(f"error: ports {start}-{start + attempts - 1} are all in use; pass --port")


def lab_command(
    port: int, *, headless: bool, ip: str = "localhost", notebook_dir: Path = NOTEBOOKS_DIR
) -> list[str]:
    """The JupyterLab command line. ``--allow-root`` only when running as root."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--notebook-dir={notebook_dir}",
        f"--ip={ip}",
        f"--port={port}",
        "--ServerApp.port_retries=0",  # the port printed below is the port it serves on
    ]
    if headless:
        command.append("--no-browser")
    if running_as_root():
        command.append("--allow-root")
    return command


def lab_environment(token: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for JupyterLab: the access token, and this environment's kernels first.

    The token goes through the environment, not the command line, so ``ps`` does not show it.
    ``JUPYTER_PREFER_ENV_PATH`` makes a kernel named ``python3`` in this environment win over one
    of the same name in the user's own Jupyter folder, which may point at another Python.
    """
    environment = dict(os.environ if base is None else base)
    environment["JUPYTER_TOKEN"] = token
    environment["JUPYTER_PREFER_ENV_PATH"] = "1"
    return environment


def kernel_python() -> str:
    """The interpreter the ``python3`` kernel runs on, with this process's Jupyter settings."""
    from jupyter_client.kernelspec import KernelSpecManager

    program = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv[0]
    # Jupyter runs a spec's bare "python" with the interpreter the server itself runs on.
    if program in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return sys.executable
    return program


def url(ip: str, port: int, token: str) -> str:
    host = "127.0.0.1" if ip in {"0.0.0.0", "::", ""} else ip
    return f"http://{host}:{port}/lab?token={token}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, help=f"default: the first free one from {DEFAULT_PORT}")
    parser.add_argument(
        "--headless",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="do not open a browser (default: headless on Linux without a display)",
    )
    parser.add_argument(
        "--ip", default="localhost", help="address to listen on; 0.0.0.0 inside a container"
    )
    args = parser.parse_args(argv)

    headless = (not has_display()) if args.headless is None else args.headless
    port = args.port if args.port is not None else free_port(args.ip)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    os.environ.update(lab_environment(token))  # before the kernel lookup, which reads them
    python = kernel_python()
    if Path(python).resolve() != Path(sys.executable).resolve():
        print(
            f"warning: kernel '{KERNEL_NAME}' runs {python}, not this environment's "
            f"{sys.executable}; the notebooks would not find helpers there.",
            file=sys.stderr,
        )
    command = lab_command(port, headless=headless, ip=args.ip)

    print(f"JupyterLab on {NOTEBOOKS_DIR}, kernel '{KERNEL_NAME}' = {python}")
    notes = []
    if running_as_root():
        notes.append("running as root, so with --allow-root")
    if headless:
        notes.append("no browser opened (headless)")
    if args.ip != "localhost":
        notes.append(f"listening on {args.ip}")
    if notes:
        print("(" + "; ".join(notes) + ")")
    print(f"Open: {url(args.ip, port, token)}")
    print("Stop: Ctrl+C twice.", flush=True)
    os.execv(command[0], command)
    return 0  # not reached: JupyterLab replaces this process


if __name__ == "__main__":
    sys.exit(main())
