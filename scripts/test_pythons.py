"""The quick notebook chain on every supported Python, each in a fresh venv: `make test-pythons`.

    python scripts/test_pythons.py 3.11 3.12 3.13

For each version it looks for an interpreter that runs and is that version: ``pythonX.Y`` on
PATH, else pyenv's ``$PYENV_ROOT/versions/X.Y.*/bin/pythonX.Y`` (a pyenv shim of a version that
is installed but not selected does not run, so the real binary is tried next). A version not on
the machine is skipped, with the reason printed. For each one found, in a temporary folder:
``make setup`` builds a venv with it (the same check and installs a learner gets with
``make setup PYTHON=...``), then ``python -m helpers.cli.runner --quick`` runs every notebook, and
the Python recorded in ``summary.json`` must be that version (the kernel ran in that venv).
Exit status 1 if any Python that was found fails, or if none was found.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VERSION_CHECK = "import sys, venv, ensurepip; print('%d.%d.%d' % sys.version_info[:3])"


@dataclass
class Outcome:
    version: str
    interpreter: str = ""
    full_version: str = ""
    setup_seconds: float | None = None
    chain_seconds: float | None = None
    result: str = ""


def version_of(interpreter: str) -> str | None:
    """``X.Y.Z`` if ``interpreter`` runs and can create venvs, else None."""
    try:
        done = subprocess.run(
            [interpreter, "-c", VERSION_CHECK], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def pyenv_candidates(version: str) -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = root.glob(f"versions/{version}.*/bin/python{version}")

    def patch_level(path: Path) -> tuple[int, ...]:
        match = re.search(rf"versions/{re.escape(version)}\.(\d+)", str(path))
        return (int(match.group(1)),) if match else (-1,)

    return sorted(found, key=patch_level, reverse=True)  # newest patch release first


def find_python(version: str) -> tuple[str, str] | None:
    """(interpreter, X.Y.Z) for ``version``, or None."""
    candidates = [shutil.which(f"python{version}")] + [str(p) for p in pyenv_candidates(version)]
    for candidate in filter(None, candidates):
        full = version_of(candidate)
        if full and full.rsplit(".", 1)[0] == version:
            return candidate, full
    return None


def timed_run(command: list[str], environment: dict) -> tuple[int, float]:
    """Run ``command`` in the repository; return its exit status and wall seconds."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO_ROOT, env=environment)
    return done.returncode, time.perf_counter() - started


def check(version: str, interpreter: str, full_version: str, root: Path) -> Outcome:
    outcome = Outcome(version, interpreter, full_version)
    venv = root / "venv"
    # A parent `make` passes its command-line variables down through MAKEFLAGS; start clean.
    environment = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS"}}
    returncode, outcome.setup_seconds = timed_run(
        ["make", "--no-print-directory", "setup", f"VENV={venv}", f"PYTHON={interpreter}"],
        environment,
    )
    if returncode != 0:
        outcome.result = f"FAILED: make setup exited with {returncode}"
        return outcome

    artifacts_dir = root / "artifacts"
    environment["JUPYTER_PREFER_ENV_PATH"] = "1"  # the venv's python3 kernel, not a user one
    returncode, outcome.chain_seconds = timed_run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "helpers.cli.runner",
            "--quick",
            "--artifacts-dir",
            str(artifacts_dir),
            "--output-dir",
            str(root / "outputs"),
            "--no-html",
        ],
        environment,
    )
    if returncode != 0:
        outcome.result = f"FAILED: the quick chain exited with {returncode}"
        return outcome
    ran_on = json.loads((artifacts_dir / "summary.json").read_text())["environment"]["python"]
    if ran_on != outcome.full_version:
        outcome.result = f"FAILED: the notebooks' kernel ran Python {ran_on}, not {version}"
        return outcome
    outcome.result = "passed"
    return outcome


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", help="e.g. 3.11 3.12 3.13")
    parser.add_argument("--keep", action="store_true", help="keep each temporary venv and run")
    args = parser.parse_args(argv)

    found = {version: find_python(version) for version in args.versions}
    for version, hit in found.items():
        if hit:
            print(f"Python {version}: {hit[0]} ({hit[1]})")
        else:
            print(
                f"Python {version}: not on this machine (no working python{version} on PATH, "
                f"none under $PYENV_ROOT/versions/{version}.*): skipped"
            )
    outcomes = []
    for version, hit in found.items():
        if not hit:
            outcomes.append(Outcome(version, result="skipped: not on this machine"))
            continue
        root = Path(tempfile.mkdtemp(prefix=f"test-python{version}-"))
        print(f"\n=== Python {version}: fresh venv and quick chain in {root}", flush=True)
        try:
            outcomes.append(check(version, *hit, root))
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)

    print(
        "\nPython   interpreter                                            setup     quick chain  result"
    )
    for o in outcomes:
        name = f"{o.interpreter} ({o.full_version})" if o.interpreter else "-"
        print(
            f"{o.version:<8} {name:<54} {seconds(o.setup_seconds):>8}  "
            f"{seconds(o.chain_seconds):>11}  {o.result}"
        )
    if not any(hit for hit in found.values()):
        print("No supported Python found.")
        return 1
    return 1 if any(o.result.startswith("FAILED") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
