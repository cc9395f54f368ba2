"""Will a ``.tflite`` file fit on a microcontroller? Bookkeeping around LiteRT for Microcontrollers.

LiteRT for Microcontrollers (TFLM, the ``tflite-micro`` package) runs a model inside one fixed
block of RAM, the *tensor arena*, and reads the model itself from flash (a C array compiled into
the firmware). Notebook 08 teaches the interpreter calls in its own cells; this module does what
is not the lesson:

* :func:`try_in_tflm`: load a file in TFLM and run one image **in a separate Python process**.
  TFLM can take the whole process down on a file or an arena it cannot handle (a segmentation
  fault, not an exception), so every trial runs in a subprocess and a refusal or a crash comes
  back as a one-line error string in a record;
* :func:`smallest_arena`: the smallest arena that still allocates and runs, by bisection, one
  subprocess per trial (a too-small arena raises ``RuntimeError`` in some cases and crashes the
  process in others);
* :func:`tflm_predict`: all test images through TFLM, with the file's own input and output
  quantization, in a subprocess; returns the scores and the seconds the loop took;
* :func:`compare_runtimes` and :func:`refusal_reason`: TFLM's outputs against LiteRT's, image by
  image, telling ties from real differences; the failing operation and the kernel's words;
* :func:`live_activations`: which computed tensors are alive at once, read from the graph alone,
  to set beside the measured arena;
* :func:`write_c_array`: the model as the ``.h``/``.cc`` pair a firmware build compiles;
* :func:`fits_budget` and :func:`conclusion`: which files fit a RAM and flash budget, and the
  notebook's computed conclusion;
* :func:`native_stderr`: what C++ code prints (``print_allocations()``), captured for a notebook.

Only the standard library and NumPy are imported at module level: the worker runs this very file
in a fresh Python for every trial (see :data:`_BOOTSTRAP`, which loads it by path, outside the
``helpers`` package), and the other helpers modules would load LiteRT or TensorFlow there, seconds
per trial for nothing. Functions that need other helpers import them when called.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.quiet import native_stderr  # noqa: F401  (notebook 08 calls mcu.native_stderr)

DEFAULT_ARENA_BYTES = 1 << 20  # generous: the trial measures what is used, not what is given
ARENA_ALIGNMENT = 16  # TFLM aligns every planned buffer to 16 bytes (MicroArenaBufferAlignment)
TRIAL_TIMEOUT_SECONDS = 120
_RESULT_MARKER = "@@tflm-worker-result@@ "
_ALLOCATOR_PREFIX = "[RecordingMicroAllocator]"

# ``python -c`` program that loads this file by path, without importing the ``helpers`` package.
_BOOTSTRAP = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('_tflm_worker', sys.argv[1]); "
    "module = sys.modules[spec.name] = importlib.util.module_from_spec(spec); "
    "spec.loader.exec_module(module); "
    "module.worker_main(sys.argv[2])"
)


FAITHFUL_AGREEMENT = 0.99  # a runtime that agrees with LiteRT on fewer images computes otherwise


class TFLMRefusedError(RuntimeError):
    """TFLM cannot run this file (unsupported operation or type, or it crashed on it)."""


# --------------------------------------------------------------------------- native output


_TOTALS = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_CATEGORY = re.compile(
    r"'(?P<what>[^']+)' used (?P<used>\d+) bytes with alignment overhead "
    r"\(requested (?P<requested>\d+) bytes for (?P<count>\d+)"
)


def parse_allocations(lines: list[str]) -> dict:
    """Read ``print_allocations()`` output: arena total, head and tail, and each category.

    The *head* holds the non-persistent buffers the memory planner lays out (activations and
    scratch buffers); the *tail* holds persistent allocations (tensor structs, quantization
    parameters, per-channel multipliers, operator state). Returns ``{}`` when no line matched.
    """
    result: dict = {}
    categories = []
    for line in lines:
        if _ALLOCATOR_PREFIX not in line:
            continue
        if totals := _TOTALS.search(line):
            result[f"arena_{totals.group(1)}_bytes"] = int(totals.group(2))
        elif category := _CATEGORY.search(line):
            categories.append(
                {
                    "what": category.group("what"),
                    "bytes": int(category.group("used")),
                    "requested_bytes": int(category.group("requested")),
                    "count": int(category.group("count")),
                }
            )
    if categories:
        result["categories"] = categories
    return result


def runtime_message(lines: list[str], limit: int = 300) -> str | None:
    """TFLM's own error lines (not allocation records), joined into one trimmed line."""
    kept: list[str] = []
    for line in lines:
        text = " ".join(line.split())
        if text and _ALLOCATOR_PREFIX not in text and text not in kept:
            kept.append(text)
    if not kept:
        return None
    message = " ".join(kept)
    return message if len(message) <= limit else message[: limit - 1] + "…"


def describe_failure(returncode: int, runtime_lines: list[str], exception: str | None) -> str:
    """One line for a failed trial: the signal that killed it, then the runtime's own words."""
    said = runtime_message(runtime_lines) or exception or "no message"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "an unknown signal"
        return f"crashed with {name} (signal {-returncode}): {said}"
    return said


# --------------------------------------------------------------------------- the worker


def worker_main(request_json: str) -> None:
    """Runs in the subprocess: load one file in TFLM, feed it inputs, report as JSON on stdout.

    The request names the model, the arena size, and optionally an ``.npy`` of input tensors
    (already in the model's input type) and where to save the raw outputs. Without inputs, one
    all-zero tensor is fed: enough to prove that allocation and every kernel's ``Eval`` work.
    """
    request = json.loads(request_json)
    result: dict = {"ok": False}
    try:
        from tflite_micro import runtime

        interpreter = runtime.Interpreter.from_file(
            request["model"],
            arena_size=request["arena_size"],
            intrepreter_config=runtime.InterpreterConfig.kAllocationRecording,  # (sic)
        )
        details = interpreter.get_input_details(0)
        output_details = interpreter.get_output_details(0)
        shape = tuple(int(s) for s in details["shape"])
        if request.get("inputs"):
            batch = np.load(request["inputs"])
        else:
            batch = np.zeros((1, *shape[1:]), dtype=details["dtype"])
        outputs = []
        start = time.perf_counter()
        for tensor in batch:
            interpreter.set_input(tensor[None], 0)
            interpreter.invoke()
            outputs.append(interpreter.get_output(0))
        seconds = time.perf_counter() - start
        sys.stdout.flush()
        interpreter.print_allocations()  # to fd 2, which the parent reads
        if request.get("outputs"):
            np.save(request["outputs"], np.concatenate(outputs))
        result = {
            "ok": True,
            "seconds": seconds,
            "images": len(batch),
            "input": _details_record(details),
            "output": _details_record(output_details),
        }
    except Exception as exc:  # noqa: BLE001  (every refusal becomes part of the record)
        result = {"ok": False, "exception": f"{type(exc).__name__}: {exc}"}
    sys.stderr.flush()
    print(_RESULT_MARKER + json.dumps(result), flush=True)


def _details_record(details: dict) -> dict:
    quantization = details["quantization_parameters"]
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(s) for s in details["shape"]],
        "scales": [float(s) for s in quantization["scales"]],
        "zero_points": [int(z) for z in quantization["zero_points"]],
    }


def _run_worker(request: dict, timeout: float) -> dict:
    """Start the worker on ``request``; return its JSON result plus what it wrote to stderr."""
    command = [sys.executable, "-c", _BOOTSTRAP, str(Path(__file__).resolve()), json.dumps(request)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "returncode": None, "stderr": [], "timeout": True}
    result: dict = {"ok": False}
    for line in done.stdout.splitlines():
        if line.startswith(_RESULT_MARKER):
            result = json.loads(line[len(_RESULT_MARKER) :])
    result["returncode"] = done.returncode
    result["stderr"] = done.stderr.splitlines()
    return result


def _checked_path(path: str | os.PathLike) -> Path:
    """The file's path, after refusing anything that is not a TFLite flatbuffer (names it)."""
    from helpers.evaluate import read_tflite

    read_tflite(path)
    return Path(path).resolve()


def _trial_record(path: Path, arena_size: int, result: dict) -> dict:
    allocations = parse_allocations(result["stderr"])
    runtime_lines = [line for line in result["stderr"] if _ALLOCATOR_PREFIX not in line]
    if result.get("timeout"):
        error = "did not finish within the time limit"
    elif result["ok"]:
        error = None
    else:
        error = describe_failure(result["returncode"], runtime_lines, result.get("exception"))
    return {
        "file": path.name,
        "runs": bool(result["ok"]),
        "error": error,
        "arena_size": arena_size,
        "arena_used_bytes": allocations.get("arena_total_bytes"),
        "arena_head_bytes": allocations.get("arena_head_bytes"),
        "arena_tail_bytes": allocations.get("arena_tail_bytes"),
        "allocations": allocations.get("categories", []),
        "input": result.get("input"),
        "output": result.get("output"),
        "returncode": result["returncode"],
    }


# --------------------------------------------------------------------------- public API


def try_in_tflm(
    path: str | os.PathLike,
    arena_size: int = DEFAULT_ARENA_BYTES,
    *,
    timeout: float = TRIAL_TIMEOUT_SECONDS,
) -> dict:
    """Load ``path`` in TFLM with an arena of ``arena_size`` bytes and run one image, in a
    subprocess. Never raises for what TFLM does; returns a record:

    ``runs`` (bool); ``error`` (None, or TFLM's own message on one line, prefixed by the signal
    name if the process crashed); ``arena_used_bytes`` with ``arena_head_bytes`` and
    ``arena_tail_bytes`` (from allocation recording: the Python API has no ``arena_used_bytes()``,
    so ``print_allocations()``'s lines are parsed); ``allocations`` (the recorded categories);
    ``input`` and ``output`` (dtype, shape, scales, zero points as TFLM sees them).

    A file that is not a TFLite model raises :class:`helpers.errors.InvalidModelError` naming it.
    """
    model = _checked_path(path)
    result = _run_worker({"model": str(model), "arena_size": int(arena_size)}, timeout)
    return _trial_record(model, int(arena_size), result)


def smallest_arena(
    path: str | os.PathLike,
    *,
    start: int | None = None,
    timeout: float = TRIAL_TIMEOUT_SECONDS,
) -> int:
    """The smallest ``arena_size`` (bytes) with which ``path`` allocates and runs in TFLM.

    Each trial is a subprocess: a too-small arena makes ``AllocateTensors`` fail with
    ``RuntimeError`` ("TFLM failed to allocate tensors") when the shortfall shows up in the
    planned tensors, but kills the process with a segmentation fault when even the allocator's
    own bookkeeping does not fit (seen with an arena of 100 bytes). The search starts
    at ``start`` (default: the arena used according to allocation recording), steps down in
    growing strides until a size fails, then bisects to the byte, so the result ``n`` runs and
    ``n - 1`` does not.
    """
    model = _checked_path(path)

    def fits(size: int) -> bool:
        if size <= 0:
            return False
        return _run_worker({"model": str(model), "arena_size": size}, timeout)["ok"]

    if start is None:
        probe = try_in_tflm(model, timeout=timeout)
        if not probe["runs"]:
            raise TFLMRefusedError(f"{model.name} does not run in TFLM: {probe['error']}")
        start = probe["arena_used_bytes"] or DEFAULT_ARENA_BYTES
    high = int(start)
    while not fits(high):
        if high > 1 << 30:
            raise TFLMRefusedError(f"{model.name} does not run in TFLM with any arena up to 1 GiB")
        high *= 2
    stride = 4 * ARENA_ALIGNMENT
    low = high - stride
    while fits(low):
        high, stride = low, stride * 2
        low = max(high - stride, 0)
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle
    return high


@dataclass
class TFLMPredictions:
    """What :func:`tflm_predict` returns."""

    scores: np.ndarray  # float scores per image (dequantized if the output is integer)
    raw: np.ndarray  # the output tensor as TFLM returned it (int8 codes for int8 output)
    seconds: float  # the set_input / invoke / get_output loop only, one image at a time
    record: dict = field(default_factory=dict)  # the trial record (see try_in_tflm)

    @property
    def predictions(self) -> np.ndarray:
        """Predicted class per image: ``argmax``, which picks the lowest index on a tie."""
        return self.scores.argmax(axis=1)

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / max(len(self.scores), 1)


def tflm_predict(
    path: str | os.PathLike,
    images: np.ndarray,
    *,
    arena_size: int = DEFAULT_ARENA_BYTES,
    timeout: float | None = None,
) -> TFLMPredictions:
    """Run every image through TFLM, one at a time, in a subprocess.

    The float images are turned into the model's input tensor exactly as
    :class:`helpers.evaluate.LiteRTModel` does for LiteRT (same scale, zero point and rounding),
    and integer outputs are dequantized the same way, so TFLM's and LiteRT's predictions of the
    same file are paired image by image. ``seconds`` times TFLM's reference kernels on this
    computer's CPU: it says nothing about a microcontroller's speed.
    """
    from helpers.evaluate import LiteRTModel

    model = _checked_path(path)
    io = LiteRTModel(model)  # reads the file's I/O types and quantization; runs nothing here
    inputs = io.to_input(images)
    with tempfile.TemporaryDirectory(prefix="tflm-") as folder:
        inputs_path, outputs_path = Path(folder, "inputs.npy"), Path(folder, "outputs.npy")
        np.save(inputs_path, inputs)
        request = {
            "model": str(model),
            "arena_size": int(arena_size),
            "inputs": str(inputs_path),
            "outputs": str(outputs_path),
        }
        limit = timeout if timeout is not None else TRIAL_TIMEOUT_SECONDS + 0.05 * len(inputs)
        result = _run_worker(request, limit)
        record = _trial_record(model, int(arena_size), result)
        if not record["runs"]:
            raise TFLMRefusedError(f"{model.name} does not run in TFLM: {record['error']}")
        raw = np.load(outputs_path)
    seen = record["input"]
    if np.dtype(seen["dtype"]) != inputs.dtype or (
        seen["scales"] and not np.isclose(seen["scales"][0], io.input_quantization[0])
    ):
        raise RuntimeError(
            f"{model.name}: TFLM reads the input as {seen['dtype']} with scales {seen['scales']}, "
            f"LiteRT as {inputs.dtype} with {io.input_quantization}; the comparison would be unfair"
        )
    return TFLMPredictions(
        scores=io.from_output(raw), raw=raw, seconds=float(result["seconds"]), record=record
    )


def tflm_predict_many(
    paths: Mapping[str, str | os.PathLike], images: np.ndarray, workers: int = 2
) -> dict[str, TFLMPredictions]:
    """:func:`tflm_predict` for several files, ``workers`` subprocesses at a time (each file's
    loop still runs one image at a time, so ``seconds`` stays per file)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(tflm_predict, path, images) for name, path in paths.items()}
        return {name: future.result() for name, future in futures.items()}


def try_many(
    paths: Mapping[str, str | os.PathLike], arena_size: int = DEFAULT_ARENA_BYTES, workers: int = 2
) -> dict[str, dict]:
    """:func:`try_in_tflm` for several files, ``workers`` subprocesses at a time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(try_in_tflm, path, arena_size) for name, path in paths.items()}
        return {name: future.result() for name, future in futures.items()}


# --------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class ActivationTensor:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    first_op: int  # -1: a model input, alive before the first operation
    last_op: int


@dataclass(frozen=True)
class ActivationPlan:
    """What :func:`live_activations` returns."""

    tensors: list[ActivationTensor]
    live_bytes: list[int]  # bytes alive during each operation, in execution order
    peak_bytes: int  # max of live_bytes
    peak_op: int  # the operation during which the peak occurs (first one, if several)
    peak_op_name: str
    peak_tensors: list[str]  # the tensors alive at the peak, largest first
    planned_bytes: int  # TFLM's greedy placement of these tensors (its lifetimes, aligned sizes)

    def table(self) -> list[dict]:
        """One row per computed tensor, for display."""
        return [
            {
                "tensor": t.name.split(";")[0],
                "dtype": t.dtype,
                "shape": "x".join(map(str, t.shape)),
                "bytes": t.nbytes,
                "alive from op": t.first_op,
                "to op": t.last_op,
            }
            for t in self.tensors
        ]


def _itemsize(dtype: str) -> float:
    if dtype in ("int4", "uint4"):
        return 0.5
    if dtype == "bool":
        return 1
    return np.dtype(dtype).itemsize


def live_activations(content: bytes, label: str = "model") -> ActivationPlan:
    """Which computed tensors must be in RAM at the same time, from the graph alone.

    Every tensor that is not stored in the file (model inputs, layer outputs) lives from the
    operation that produces it (model inputs: from before the first operation) to the last
    operation that reads it (model outputs: to the end). During each operation the bytes of all
    tensors alive then add up; the largest such sum, ``peak_bytes``, is a lower bound on the RAM
    any runtime needs for activations. In a chain of layers it is usually one layer's input and
    output together.

    TFLM's *greedy memory planner* turns the same lifetimes (TFLM's own rules are these: an
    operation's inputs and outputs are alive together, model inputs from the start, model
    outputs to the end) into offsets inside the arena's *head*: it rounds every buffer up to 16
    bytes, sorts them largest first and puts each at the lowest offset where it does not overlap
    in time a buffer already placed. The result can exceed ``peak_bytes`` when the gaps left by
    larger buffers do not fit the smaller ones. ``planned_bytes`` re-computes that placement for
    the tensors; the arena TFLM reports is larger still, because of:

    * scratch buffers that kernels request during ``Prepare`` (planned in the head too);
    * persistent allocations in the tail: a ``TfLiteEvalTensor`` per tensor, node and
      registration structs, quantization parameters, per-channel multipliers and shifts,
      lookup tables;
    * alignment padding, and temporary allocations made while planning.

    A file that is not a TFLite model raises :class:`helpers.errors.InvalidModelError`.
    """
    from helpers.evaluate import check_tflite_bytes
    from helpers.tflite_file import operators, tensors

    check_tflite_bytes(content, label)
    infos = tensors(content)
    ops = operators(content)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for op in ops:
        for index in op.inputs:
            if index >= 0 and not infos[index].is_constant:
                first.setdefault(index, -1)  # read before anything produced it: a model input
                last[index] = op.index
        for index in op.outputs:
            first.setdefault(index, op.index)
            last.setdefault(index, op.index)
    consumed = {index for op in ops for index in op.inputs}
    end = len(ops) - 1
    for index in first:
        if index not in consumed:  # nothing reads it: a model output, kept to the end
            last[index] = end
    activation_tensors = sorted(
        (
            ActivationTensor(
                index=index,
                name=infos[index].name,
                dtype=infos[index].dtype,
                shape=infos[index].shape,
                nbytes=int(np.ceil(np.prod(infos[index].shape) * _itemsize(infos[index].dtype))),
                first_op=first[index],
                last_op=last[index],
            )
            for index in first
        ),
        key=lambda t: (t.first_op, t.index),
    )
    live = [
        sum(t.nbytes for t in activation_tensors if t.first_op <= step <= t.last_op)
        for step in range(len(ops))
    ]
    peak_op = int(np.argmax(live)) if live else 0
    at_peak = sorted(
        (t for t in activation_tensors if t.first_op <= peak_op <= t.last_op),
        key=lambda t: -t.nbytes,
    )
    return ActivationPlan(
        tensors=activation_tensors,
        live_bytes=live,
        peak_bytes=max(live, default=0),
        peak_op=peak_op,
        peak_op_name=ops[peak_op].name if ops else "",
        peak_tensors=[t.name.split(";")[0] for t in at_peak],
        planned_bytes=greedy_plan_bytes(
            [
                (t.nbytes, t.first_op, t.last_op)
                for t in sorted(activation_tensors, key=lambda t: t.index)  # TFLM adds them so
            ]
        ),
    )


def greedy_plan_bytes(buffers: list[tuple[int, int, int]]) -> int:
    """The arena size TFLM's greedy planner needs for ``(bytes, first_use, last_use)`` buffers.

    Sizes are rounded up to :data:`ARENA_ALIGNMENT`; buffers are placed largest first (ties in
    the order given, as TFLM's stable sort keeps them), each at the lowest offset where it fits
    between the already placed buffers whose lifetime overlaps its own.
    """
    order = sorted(range(len(buffers)), key=lambda i: -_aligned(buffers[i][0]))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    for i in order:
        size, first, last = _aligned(buffers[i][0]), buffers[i][1], buffers[i][2]
        offset = 0
        for other_offset, other_size, other_first, other_last in sorted(placed):
            if other_first > last or first > other_last:
                continue  # not alive at the same time: may share memory
            if other_offset - offset >= size:
                break  # the gap before this buffer is big enough
            offset = max(offset, other_offset + other_size)
        placed.append((offset, size, first, last))
    return max((offset + size for offset, size, _, _ in placed), default=0)


def _aligned(size: int) -> int:
    return -(-int(size) // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


# --------------------------------------------------------------------------- firmware files

_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def c_array_source(content: bytes, name: str, bytes_per_line: int = 12) -> tuple[str, str]:
    """The text of ``<name>.h`` and ``<name>.cc`` holding ``content`` as ``g_<name>``."""
    if not _C_IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid C identifier (letters, digits, underscores)")
    guard = f"{name.upper()}_H_"
    header = (
        f"// {name}: a TensorFlow Lite model as a C array, {len(content)} bytes.\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char g_{name}[];\n"
        f"extern const unsigned int g_{name}_len;\n\n"
        f"#endif  // {guard}\n"
    )
    rows = [
        "    " + ", ".join(f"0x{byte:02x}" for byte in content[start : start + bytes_per_line])
        for start in range(0, len(content), bytes_per_line)
    ]
    source = (
        f'#include "{name}.h"\n\n'
        "// Flatbuffers are read in place: 16-byte alignment keeps every field aligned.\n"
        f"alignas(16) const unsigned char g_{name}[] = {{\n"
        + ",\n".join(rows)
        + f"\n}};\nconst unsigned int g_{name}_len = {len(content)};\n"
    )
    return header, source


def write_c_array(content: bytes, folder: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write ``<name>.h`` and ``<name>.cc`` (atomically) as TFLM's examples ship a model.

    The header declares ``extern const unsigned char g_<name>[]`` and
    ``extern const unsigned int g_<name>_len``; the source includes it (which gives the
    ``const`` definitions external linkage in C++) and defines both, the array ``alignas(16)``.
    Returns the two paths.
    """
    from helpers.artifacts import write_text
    from helpers.evaluate import check_tflite_bytes

    check_tflite_bytes(content, name)
    header, source = c_array_source(content, name)
    folder = Path(folder)
    return write_text(folder / f"{name}.h", header), write_text(folder / f"{name}.cc", source)


# --------------------------------------------------------------------------- budgets

KB = 1024  # budgets are in KiB (1,024 bytes), as microcontroller datasheets count memory


def fits_budget(
    sizes: Mapping[str, Mapping], ram_budget_kb: float, flash_budget_kb: float
) -> dict[str, dict]:
    """Which files fit: arena within the RAM budget and file within the flash budget.

    ``sizes`` maps a name to ``{"arena_bytes": int | None, "file_bytes": int}``; ``arena_bytes``
    None means TFLM does not run the file. The budgets are what is left for the model: the
    application, the TFLM library's code and the stack need their own RAM and flash.
    """
    verdicts = {}
    for name, size in sizes.items():
        arena, file_bytes = size.get("arena_bytes"), int(size["file_bytes"])
        ram_ok = arena is not None and arena <= ram_budget_kb * KB
        flash_ok = file_bytes <= flash_budget_kb * KB
        reasons = []
        if arena is None:
            reasons.append("does not run in TFLM")
        elif not ram_ok:
            reasons.append(f"arena {arena / KB:.1f} KiB > {ram_budget_kb:g} KiB of RAM")
        if not flash_ok:
            reasons.append(f"file {file_bytes / KB:.1f} KiB > {flash_budget_kb:g} KiB of flash")
        verdicts[name] = {
            "arena_kb": None if arena is None else round(arena / KB, 1),
            "file_kb": round(file_bytes / KB, 1),
            "ram_ok": ram_ok,
            "flash_ok": flash_ok,
            "fits": ram_ok and flash_ok,
            "why not": "; ".join(reasons) or "–",
        }
    return verdicts


def _kb(value: float) -> str:
    return f"{value / KB:,.1f} KiB"


_FAILED_NODE = re.compile(r"\s*Node (\w+) \(number \d+\) failed to \w+ with status \d+")
_SOURCE_FILE = re.compile(r"tensorflow/lite/micro/kernels/(\S+?)(:\d+)?\s")


def refusal_reason(error: str | None) -> tuple[str | None, str]:
    """Split a TFLM error line into the operation that failed and the kernel's reason.

    ``"…/conv_common.cc Hybrid models are not supported on TFLite Micro. Node CONV_2D (number 2)
    failed to prepare with status 1"`` -> ``("CONV_2D", "conv_common.cc: Hybrid models are not
    supported on TFLite Micro.")``.
    """
    if not error:
        return None, ""
    node = _FAILED_NODE.search(error)
    reason = _FAILED_NODE.sub("", error).strip()
    reason = _SOURCE_FILE.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}: ", reason)
    return (node.group(1) if node else None), reason


def compare_runtimes(tflm_scores: np.ndarray, litert_scores: np.ndarray) -> dict:
    """Paired comparison of one file's outputs in TFLM and in LiteRT, image by image.

    A disagreement is *tied* when, in at least one of the two runtimes, two or more classes share
    the top output value: a one-step difference in an int8 output then decides which class
    ``argmax`` (lowest index first) returns. Untied disagreements mean the runtimes compute
    something different, beyond rounding: look at the kernels.
    """
    from helpers.evaluate import tied_outputs

    tflm_scores, litert_scores = np.asarray(tflm_scores), np.asarray(litert_scores)
    differ = tflm_scores.argmax(axis=1) != litert_scores.argmax(axis=1)
    tied = tied_outputs(tflm_scores) | tied_outputs(litert_scores)
    return {
        "agreement": float(np.mean(~differ)),
        "disagreements": int(differ.sum()),
        "tied_disagreements": int((differ & tied).sum()),
        "untied_disagreements": int((differ & ~tied).sum()),
        "identical_outputs": int(np.all(tflm_scores == litert_scores, axis=1).sum()),
    }


def conclusion(
    results: Mapping[str, Mapping],
    verdicts: Mapping[str, Mapping],
    ram_budget_kb: float,
    flash_budget_kb: float,
) -> str:
    """The notebook's conclusion in Markdown, built from this run's numbers.

    ``results[name]`` holds what the notebook records per file: ``tflm_runs``, ``tflm_error``,
    ``tflm_arena_bytes`` (smallest arena), ``file_bytes``, ``tflm_accuracy``,
    ``tflm_agreement_with_litert`` and ``tflm_untied_disagreements`` (see
    :func:`compare_runtimes`; None where TFLM refuses the file). ``verdicts`` is
    :func:`fits_budget`'s answer.
    """
    running = [name for name, r in results.items() if r["tflm_runs"]]
    refused = [name for name, r in results.items() if not r["tflm_runs"]]
    parts = [f"LiteRT for Microcontrollers runs {len(running)} of the {len(results)} files."]
    if refused:
        by_reason: dict[tuple, list[str]] = {}
        for name in refused:
            by_reason.setdefault(refusal_reason(results[name]["tflm_error"]), []).append(name)
        parts.append(
            "It refuses "
            + "; ".join(
                f"{', '.join(f'`{n}`' for n in names)} ({op or 'no operation named'}: “{why}”)"
                for (op, why), names in by_reason.items()
            )
            + "."
        )
    wrong = [n for n in running if results[n]["tflm_agreement_with_litert"] < FAITHFUL_AGREEMENT]
    faithful = [n for n in running if n not in wrong]
    if faithful:
        arena = {n: results[n]["tflm_arena_bytes"] for n in faithful}
        smallest, largest = min(arena, key=arena.get), max(arena, key=arena.get)
        same = [n for n in faithful if n != smallest and arena[n] == arena[smallest]]
        parts.append(
            f"Among the files it runs faithfully, the smallest arena is `{smallest}`'s"
            + (" (and " + ", ".join(f"`{n}`'s" for n in same) + ", the same)" if same else "")
            + f", {_kb(arena[smallest])}"
            + (
                f", {arena[largest] / arena[smallest]:.1f}× less than `{largest}`'s "
                f"{_kb(arena[largest])}."
                if largest != smallest
                else "."
            )
        )
        lowest = min(faithful, key=lambda n: results[n]["tflm_agreement_with_litert"])
        if results[lowest]["tflm_agreement_with_litert"] == 1:
            parts.append(
                f"For {len(faithful)} file(s), TFLM predicts the same class as LiteRT on every "
                "test image."
            )
        else:
            parts.append(
                f"For {len(faithful)} file(s), TFLM predicts the same class as LiteRT on at "
                f"least {results[lowest]['tflm_agreement_with_litert']:.2%} of the test images "
                f"(lowest: `{lowest}`); "
                + (
                    "every image where they differ has a tied top output in one of the two: "
                    "rounding, not a different computation."
                    if not any(results[n]["tflm_untied_disagreements"] for n in faithful)
                    else "where they differ without a tied top output in either ("
                    + ", ".join(
                        f"`{n}` on {results[n]['tflm_untied_disagreements']} image(s)"
                        for n in faithful
                        if results[n]["tflm_untied_disagreements"]
                    )
                    + "), the runtimes computed different numbers; the other "
                    "differences are tied outputs. This notebook does not take the untied ones "
                    "apart."
                )
            )
    for name in wrong:
        r = results[name]
        parts.append(
            f"**`{name}` runs but computes something else**: it agrees with LiteRT on only "
            f"{r['tflm_agreement_with_litert']:.2%} of the images, "
            f"{r['tflm_untied_disagreements']:,} of the disagreements without a tie, and scores "
            f"{r['tflm_accuracy']:.2%} in TFLM."
        )
    fitting = [name for name, v in verdicts.items() if v["fits"] and name in running]
    budget = f"{ram_budget_kb:g} KiB of RAM and {flash_budget_kb:g} KiB of flash"
    trusted = [n for n in fitting if n not in wrong]
    if trusted:
        accuracy = {n: results[n]["tflm_accuracy"] for n in trusted}
        low, high = min(accuracy, key=accuracy.get), max(accuracy, key=accuracy.get)
        parts.append(
            f"**Within {budget}, {len(trusted)} file(s) that TFLM runs faithfully fit**: "
            + ", ".join(
                f"`{n}` (arena {_kb(results[n]['tflm_arena_bytes'])}, file "
                f"{_kb(results[n]['file_bytes'])})"
                for n in trusted
            )
            + (
                f", with test accuracies in TFLM from {accuracy[low]:.2%} (`{low}`) to "
                f"{accuracy[high]:.2%} (`{high}`): which of those differences are real is for a "
                "paired test (notebook 05), not for this ranking."
                if low != high
                else f", with a test accuracy in TFLM of {accuracy[low]:.2%}."
            )
        )
    else:
        parts.append(f"**No file that TFLM runs faithfully fits within {budget}.**")
    return " ".join(parts)


# --------------------------------------------------------------------------- notebook 08's sentences


def ram_story(
    trials: Mapping[str, Mapping],
    plans: Mapping[str, ActivationPlan],
    smallest: Mapping[str, int],
    running: list[str],
) -> str:
    """Where the arena goes, from the recorded allocations and the live-activation plans."""
    matched = [n for n in running if trials[n]["arena_head_bytes"] == plans[n].peak_bytes]
    parts = [
        f"In {len(matched)} of the {len(running)} files TFLM runs, the arena's head is exactly "
        "the live-activation peak computed from the graph alone: TFLM's planner reuses memory "
        "so well on a chain of layers that the peak is all it needs."
    ]
    if "int8" in running:
        peak = plans["int8"]
        parts.append(
            f"For `int8` the peak is {' + '.join(peak.peak_tensors)} during {peak.peak_op_name} "
            f"({peak.peak_bytes:,} bytes): the largest pair of activations that must be alive at "
            "the same time."
        )
    if {"int8", "float32"} <= set(running):
        ratio = trials["float32"]["arena_used_bytes"] / trials["int8"]["arena_used_bytes"]
        heads = trials["float32"]["arena_head_bytes"] / trials["int8"]["arena_head_bytes"]
        parts.append(
            f"float32's arena is {ratio:.1f}× int8's: its head, the activations, is "
            f"{heads:.2f}× int8's (four bytes per activation value instead of one), and each adds "
            f"its own tail of bookkeeping ({trials['float32']['arena_tail_bytes']:,} and "
            f"{trials['int8']['arena_tail_bytes']:,} bytes)"
            + (
                f"; int16x8's is {trials['int16x8']['arena_used_bytes'] / trials['int8']['arena_used_bytes']:.1f}× (two bytes)."
                if "int16x8" in running
                else "."
            )
        )
    tails = [trials[n]["arena_tail_bytes"] for n in running if trials[n]["arena_tail_bytes"]]
    if tails:
        parts.append(
            f"The tail holds {min(tails):,} to {max(tails):,} bytes of persistent bookkeeping."
        )
    if smallest:
        same = [n for n, size in smallest.items() if size == trials[n]["arena_used_bytes"]]
        parts.append(
            f"The smallest arena that still runs equals the recorded one for {len(same)} of the "
            f"{len(smallest)} files searched"
            + (
                "."
                if len(same) == len(smallest)
                else "; the others need a little more than recorded."
            )
        )
    return " ".join(parts)


def dequantize_story(
    suspects: list[str],
    comparisons: Mapping[str, Mapping],
    predictions: Mapping,
    labels,
    weight_checks: list[dict],
) -> str:
    """What the disagreements of section 4 mean, from the weight check beside them.

    ``weight_checks``: per DEQUANTIZE of constant weights in the first suspect, the largest
    difference between TFLM's float weights and the file's weights dequantized per channel, and
    with the first channel's scale only."""
    from helpers.evaluate import accuracy

    if not suspects:
        return (
            "No file TFLM runs disagrees with LiteRT on more than 1% of the images: both runtimes "
            "compute the same thing up to rounding."
        )
    names = ", ".join(f"`{n}`" for n in suspects)
    worst = min(suspects, key=lambda n: comparisons[n]["agreement"])
    text = (
        f"{names} {'runs' if len(suspects) == 1 else 'run'} in TFLM but "
        f"{'computes' if len(suspects) == 1 else 'compute'} something else: `{worst}` agrees with "
        f"LiteRT on {comparisons[worst]['agreement']:.2%} of the images and scores "
        f"{accuracy(predictions[worst].predictions, labels):.2%} in TFLM. "
    )
    per_channel = [c for c in weight_checks if c["scales"] > 1]
    first_scale = [c for c in per_channel if c["TFLM vs first scale only"] == 0]
    if per_channel and len(first_scale) == len(per_channel):
        worst_gap = max(c["TFLM vs per-channel"] for c in per_channel)
        text += (
            f"In all {len(per_channel)} of its per-channel weight tensors, TFLM's `DEQUANTIZE` "
            "output equals the stored codes times the *first* channel's scale exactly, and "
            f"differs from the per-channel dequantization by up to {worst_gap:.3g}: TFLM applies "
            "one scale to a tensor that stores one per channel (its kernel reads the single "
            "per-tensor scale, `dequantize_common.cc`). A runtime defect, not quantization: the "
            "converter's files never meet it, because their int8 weights feed integer kernels that "
            "read every channel's scale."
        )
    else:
        text += (
            "The weight check above does not single out one cause: compare the kernels' source "
            "before explaining it."
        )
    return text


def tflm_record(
    trial: Mapping,
    prediction: TFLMPredictions | None,
    comparison: Mapping | None,
    labels,
    smallest: int | None = None,
) -> dict:
    """The ``tflm_*`` fields of one file for summary.json."""
    from helpers.evaluate import accuracy

    runs = prediction is not None
    return {
        "tflm_runs": bool(trial["runs"]),
        "tflm_error": trial["error"],
        "tflm_arena_bytes": trial["arena_used_bytes"] if trial["runs"] else None,
        "tflm_smallest_arena_bytes": smallest,
        "tflm_accuracy": accuracy(prediction.predictions, labels) if runs else None,
        "tflm_agreement_with_litert": comparison["agreement"] if runs else None,
        "tflm_untied_disagreements": comparison["untied_disagreements"] if runs else None,
        "tflm_images": int(len(labels)) if runs else None,
    }


PER_CHANNEL_INT4_FC = ("fully_connected_common.cc", "kTfLiteInt4")  # TFLM's refusal, in its words


def placement_story(rows: Mapping[str, Mapping], weight_share: Mapping[str, float], reference: str):
    """Notebook 08, section 5, in words: what each int4 placement TFLM runs saves against
    ``reference`` (int8 everywhere) and costs in accuracy, which it refuses and why, and how much
    of the model the refused layers hold. ``rows``: :func:`placement_rows`."""
    base = rows[reference]["bytes"]
    runs = [n for n, r in rows.items() if n != reference and r["TFLM runs"]]
    refused = [n for n, r in rows.items() if not r["TFLM runs"]]
    parts = []
    for name in sorted(runs, key=lambda n: rows[n]["bytes"]):
        r = rows[name]
        parts.append(
            f"TFLM runs `{name}`: {base - r['bytes']:,} bytes smaller than `{reference}` "
            f"({r['bytes']:,} against {base:,}); in LiteRT it {r[f'vs {reference}']}, and TFLM "
            f"agrees with LiteRT on {r['TFLM agrees with LiteRT']:.2%} of the images."
        )
    if refused:
        parts.append(
            "TFLM refuses "
            + ", ".join(f"`{n}`" for n in refused)
            + f" (“{rows[refused[0]]['TFLM says']}”)."
        )
    per_channel_refusal = any(
        all(k in rows[n]["TFLM says"] for k in PER_CHANNEL_INT4_FC) for n in refused
    )
    per_tensor = [n for n in runs if n.endswith("per_tensor")]
    if per_channel_refusal:
        parts.append(
            "That check sits in the per-channel branch of TFLM's fully connected kernel "
            "(`fully_connected_common.cc`, under the comment “Currently only Int8/Int16 are "
            "supported for per channel quantization”): int4 weights with one scale per output "
            "channel are refused"
            + (
                f", while with one scale per layer they run (`{per_tensor[0]}` above)."
                if per_tensor
                else "."
            )
        )
    dense = sum(v for k, v in weight_share.items() if k in ("dense", "probabilities"))
    parts.append(
        f"The fully connected layers hold {dense:.0%} of the weights: int4 saves little on this "
        "model unless it reaches them."
    )
    return " ".join(parts)


def placement_rows(files, trials, tflm, litert, labels, reference: str) -> dict:
    """Notebook 08, section 5: each int4 placement's size, LiteRT accuracy, TFLM's answer, and
    its paired comparison (LiteRT predictions) with ``reference`` (int8 everywhere)."""
    from helpers.evaluate import accuracy
    from helpers.report import comparison_clause
    from helpers.stats import compare_predictions

    rows = {}
    for name, path in files.items():
        runs = name in tflm
        rows[name] = {
            "bytes": Path(path).stat().st_size,
            "LiteRT accuracy": accuracy(litert[name], labels),
            "TFLM runs": trials[name]["runs"],
            "TFLM says": refusal_reason(trials[name]["error"])[1] or "–",
            "TFLM accuracy": accuracy(tflm[name].predictions, labels) if runs else None,
            "TFLM agrees with LiteRT": float(np.mean(tflm[name].predictions == litert[name]))
            if runs
            else None,
            f"vs {reference}": "–"
            if name == reference
            else comparison_clause(
                compare_predictions(litert[name], litert[reference], labels), reference
            ),
        }
    return rows
