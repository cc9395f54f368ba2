"""Keep TensorFlow's native start-up and converter log lines out of notebooks and terminals.

TensorFlow 2.21 writes a few lines straight to the process's standard error from C++ before its
logging is initialised (``TF_CPP_MIN_LOG_LEVEL`` does not reach them): a CUDA probe on machines
without a GPU, a oneDNN notice, and one settings line per quantizing conversion. They say nothing
about this tutorial's results, so they are filtered at the file-descriptor level, as is the
runtime's one-line notice that it created the XNNPACK delegate (notebook 06 measures what that
delegate does instead). Every other
line, a real native error included, still reaches standard error.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

KNOWN_NOISE = re.compile(
    "|".join(
        (
            r"^WARNING: All log messages before absl::InitializeLog\(\) is called",
            r"^[IW]\d{4} [\d:.]+\s+\d+ (port|cudart_stub|cpu_feature_guard|cuda_\w+)\.cc:\d+\]",
            r"^To enable the following instructions: .*rebuild TensorFlow",
            r"^fully_quantize: \d, inference_type: \d+, input_inference_type: \w+, "
            r"output_inference_type: \w+$",
            r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",
            # LiteRT's CompiledModel registers accelerators and plugins, noisily, when first used.
            r"^(INFO|WARNING): \[(environment|accelerator_registry|npu_registry|gpu_registry|"
            r"cpu_registry|compiler_plugin|compiled_model)\.cc:\d+\]",
            r"^└ Could not load shared library .*libLiteRtCompilerPlugin",
        )
    )
)


def is_noise(line: str) -> bool:
    return bool(KNOWN_NOISE.search(line.rstrip("\n")))


def _without_noise(lines: list[bytes]) -> bytes:
    """The lines (each with its line ending, if any) that are not known noise, joined."""
    return b"".join(line for line in lines if not is_noise(line.decode(errors="replace")))


_FILTER_LOCK = threading.Lock()
_filter_installed = False


def install_stderr_filter() -> bool:
    """For a whole notebook kernel: route fd 2 through a pipe whose reader drops known noise.

    The reader thread forwards every other line to the previous fd 2 (where Jupyter's kernel
    captures native output and shows it under the running cell). Idempotent; returns True if the
    filter is (now) installed.
    """
    global _filter_installed
    with _FILTER_LOCK:
        if _filter_installed:
            return True
        try:
            sys.stderr.flush()
            downstream = os.dup(2)
            read_end, write_end = os.pipe()
        except (OSError, ValueError):
            return False
        os.dup2(write_end, 2)
        os.close(write_end)

        def forward() -> None:
            with os.fdopen(read_end, "rb", buffering=0) as source:
                pending = b""
                while chunk := source.read(65536):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    kept = _without_noise([line + b"\n" for line in lines])
                    if kept:
                        os.write(downstream, kept)
                if pending and (kept := _without_noise([pending])):
                    os.write(downstream, kept)

        threading.Thread(target=forward, name="stderr-noise-filter", daemon=True).start()

        def restore() -> None:
            # At exit, give fd 2 back and drop the copy of the kernel's own stream: the kernel
            # waits for that stream to close before the process can end.
            try:
                sys.stderr.flush()
                os.dup2(downstream, 2)
                os.close(downstream)
            except OSError:
                pass

        atexit.register(restore)
        _filter_installed = True
        return True


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Capture what C/C++ code writes to file descriptor 2 inside the block (nothing reaches the
    notebook or the terminal).

    ``Interpreter.print_allocations()`` and TFLM's error messages are written by C++ straight to
    the process's standard error, below Python's ``sys.stderr``, so a notebook would not show
    them under the cell. The yielded list receives the captured lines when the block ends::

        with native_stderr() as lines:
            interpreter.print_allocations()
        print("\\n".join(lines))
    """
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters): capture nothing
        yield lines
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode(errors="replace").splitlines())
