"""Run the notebooks in order with papermill (``make run-all``), saving executed copies and HTML.

    python -m helpers.cli.runner                # full run: artifacts/ and outputs/
    python -m helpers.cli.runner --quick        # small parameters, into artifacts/quick
    python -m helpers.cli.runner --only 03 05   # some notebooks (their inputs must exist)
    python -m helpers.cli.runner -p EPOCHS 5    # a parameter for every notebook that declares it
    python -m helpers.cli.runner --quick --prepare-only --output-dir DIR
                                                # parameterized copies only, for nbval to execute

The order and the quick parameters come from :mod:`helpers.chain`; the tests use the same
functions. The terminal shows progress only: each kernel's own start-up chatter goes to
``<output>/<name>.kernel.log``. ``run_log.json`` records each notebook's wall time, when the run
finished and the fingerprint of the baseline it ran with (the book checks it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from helpers import artifacts, chain

NOTEBOOKS_DIR = artifacts.REPO_ROOT / "notebooks"
DEFAULT_OUTPUT_DIR = artifacts.REPO_ROOT / "outputs"
NOTEBOOKS = chain.NOTEBOOKS
# Small enough for a whole chain in a minute or two, big enough that every code path runs.
QUICK_PARAMETERS: dict[str, dict] = {step.name: dict(step.quick) for step in chain.CHAIN}


def select(only: list[str] | None) -> list[str]:
    """Notebook names matching ``only`` (prefixes such as ``03`` or full names)."""
    if not only:
        return list(NOTEBOOKS)
    chosen = [name for name in NOTEBOOKS if any(name.startswith(prefix) for prefix in only)]
    unknown = [p for p in only if not any(name.startswith(p) for name in NOTEBOOKS)]
    if unknown:
        raise SystemExit(f"error: no notebook matches {', '.join(unknown)}; have {NOTEBOOKS}")
    return chosen


def notebook_parameters(name: str, quick: bool, artifacts_dir, extra: dict) -> dict:
    parameters = dict(QUICK_PARAMETERS.get(name, {})) if quick else {}
    if artifacts_dir is not None:
        parameters["ARTIFACTS_DIR"] = str(Path(artifacts_dir).resolve())
    parameters.update(extra)
    return parameters


def quiet_kernel_manager(log_path: Path):
    """A kernel manager class whose kernels write their own stderr/stdout to ``log_path``.

    Kernel start-up prints warnings straight to the terminal ("Kernel is running over TCP ...")
    and echoes native log lines there; cell outputs still go into the notebook as usual.
    """
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(log_path, "ab")  # noqa: SIM115  (closed when the kernel ends)
            kw["stdout"] = kw["stderr"] = handle
            try:
                await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                handle.close()  # the child keeps its own copy of the descriptor

    return QuietKernelManager


def prepare_notebooks(
    names: list[str] | None, *, output_dir: Path, quick: bool, artifacts_dir=None
) -> list[Path]:
    """Write parameterized, unexecuted copies (papermill's prepare-only mode), e.g. for nbval."""
    import papermill

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(NOTEBOOKS):
        target = output_dir / f"{name}.ipynb"
        papermill.execute_notebook(
            str(NOTEBOOKS_DIR / f"{name}.ipynb"),
            str(target),
            parameters=notebook_parameters(name, quick, artifacts_dir, {}),
            prepare_only=True,
            kernel_name="python3",
            progress_bar=False,
        )
        written.append(target)
    return written


def export_html(notebook_path: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook_path, as_version=4))
    return artifacts.write_text(notebook_path.with_suffix(".html"), body)


def run_notebooks(
    names: list[str] | None = None,
    *,
    artifacts_dir=None,
    output_dir=DEFAULT_OUTPUT_DIR,
    quick: bool = False,
    extra_parameters: dict | None = None,
    html: bool = True,
    progress_bar: bool = True,
) -> dict:
    """Execute notebooks in order; stop at the first failure. Returns per-notebook wall times."""
    import papermill

    names = names or list(NOTEBOOKS)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resolved = artifacts.resolve_artifacts_dir(artifacts_dir)
    log = {"quick": quick, "notebooks": {}, "artifacts_dir": str(resolved)}
    started = time.perf_counter()
    for position, name in enumerate(names, start=1):
        parameters = notebook_parameters(name, quick, artifacts_dir, extra_parameters or {})
        shown = ", ".join(f"{k}={v}" for k, v in parameters.items()) or "defaults"
        print(f"[{position}/{len(names)}] {name} ({shown})", flush=True)
        source = NOTEBOOKS_DIR / f"{name}.ipynb"
        executed = output_dir / f"{name}.ipynb"
        tick = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(NOTEBOOKS_DIR),
                progress_bar=progress_bar,
                kernel_manager_class=quiet_kernel_manager(output_dir / f"{name}.kernel.log"),
            )
        except papermill.PapermillExecutionError as exc:
            print(
                f"\n{name} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}",
                file=sys.stderr,
            )
            print(f"The executed notebook, with the error, is {executed}", file=sys.stderr)
            print(f"The kernel's own log is {output_dir / f'{name}.kernel.log'}", file=sys.stderr)
            if html:
                export_html(executed)
            raise
        seconds = time.perf_counter() - tick
        if html:
            export_html(executed)
        log["notebooks"][name] = round(seconds, 1)
        print(f"    done in {seconds:.1f} s -> {executed}", flush=True)
    log["total_seconds"] = round(time.perf_counter() - started, 1)
    log["finished"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    log["baseline_fingerprint"] = _baseline_fingerprint(resolved)
    artifacts.write_json(output_dir / "run_log.json", log)
    print(
        f"All {len(names)} notebooks ran in {log['total_seconds']:.1f} s. "
        f"Executed copies and HTML: {output_dir}"
    )
    return log


def _baseline_fingerprint(artifacts_dir) -> str | None:
    """The fingerprint notebook 02 recorded in the run's ARTIFACTS_DIR, if it is there."""
    path = Path(artifacts_dir) / "baseline_metrics.json"
    try:
        return json.loads(path.read_text()).get("baseline_fingerprint")
    except (OSError, json.JSONDecodeError):
        return None


def _parse_value(text: str):
    """-p values: JSON when it parses (numbers, lists, null), else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small parameters (QUICK=1)")
    parser.add_argument("--only", nargs="+", help="notebook name prefixes, e.g. 03 05")
    parser.add_argument("--artifacts-dir", help="ARTIFACTS_DIR for every notebook")
    parser.add_argument(
        "--output-dir", help="executed notebooks and HTML (default outputs/, quick: outputs/quick)"
    )
    parser.add_argument("--no-html", action="store_true")
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="only write the parameterized notebooks (e.g. for nbval), do not execute them",
    )
    parser.add_argument(
        "-p",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="extra parameter for every notebook (JSON value or string)",
    )
    args = parser.parse_args(argv)
    import papermill

    artifacts_dir, output_dir = args.artifacts_dir, args.output_dir or DEFAULT_OUTPUT_DIR
    if args.quick:  # quick results go to their own folders and never overwrite a full run's
        artifacts_dir = artifacts_dir or artifacts.resolve_artifacts_dir(None) / "quick"
        output_dir = args.output_dir or DEFAULT_OUTPUT_DIR / "quick"
    if args.prepare_only:
        if args.p:
            raise SystemExit("error: -p is not supported with --prepare-only")
        for path in prepare_notebooks(
            select(args.only), output_dir=output_dir, quick=args.quick, artifacts_dir=artifacts_dir
        ):
            print(f"prepared {path}")
        return 0
    try:
        run_notebooks(
            select(args.only),
            artifacts_dir=artifacts_dir,
            output_dir=output_dir,
            quick=args.quick,
            extra_parameters={name: _parse_value(value) for name, value in args.p},
            html=not args.no_html,
        )
    except papermill.PapermillExecutionError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
