"""helpers.mcu: LiteRT for Microcontrollers (TFLM) trials, arena search, activations, C arrays.

Every TFLM run happens in a subprocess (a fraction of a second each); the models are the small
trained model of ``conftest.py`` converted as notebook 03 does, and one graph written by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from helpers import mcu
from helpers.errors import InvalidModelError
from helpers.evaluate import LiteRTModel


@pytest.fixture(scope="module")
def files(converted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tflm")
    paths = {}
    for name, content in converted.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(content)
    return paths


@pytest.fixture(scope="module")
def trials(files):
    return {name: mcu.try_in_tflm(path) for name, path in files.items()}


# --------------------------------------------------------------------------- refusals and runs


def test_hybrid_file_is_refused_with_tflm_own_message(trials):
    record = trials["dynamic_range"]
    assert record["runs"] is False
    # TFLM's kernels say it themselves, naming the operation that failed to prepare.
    assert "not supported" in record["error"]
    assert "failed to prepare" in record["error"]
    assert "\n" not in record["error"]
    assert record["arena_used_bytes"] is None


def test_float16_file_is_refused_at_its_dequantize(trials):
    record = trials["float16"]
    assert record["runs"] is False
    assert "DEQUANTIZE" in record["error"]


def test_integer_and_float_files_run_with_recorded_arena(trials):
    for name in ("float32", "int8", "int16x8"):
        record = trials[name]
        assert record["runs"], record["error"]
        assert record["error"] is None
        used = record["arena_used_bytes"]
        assert used == record["arena_head_bytes"] + record["arena_tail_bytes"]
        assert used > 0 and record["allocations"]
    assert trials["int8"]["input"]["dtype"] == "int8"
    assert trials["int8"]["arena_used_bytes"] < trials["int16x8"]["arena_used_bytes"]
    assert trials["int16x8"]["arena_used_bytes"] < trials["float32"]["arena_used_bytes"]


def test_int8_predictions_in_tflm_match_litert(files, small_images):
    images = small_images[:200]
    result = mcu.tflm_predict(files["int8"], images)
    litert = LiteRTModel(files["int8"]).predict_proba(images)
    assert result.raw.dtype == np.int8 and result.raw.shape == (200, 10)
    assert result.scores.shape == litert.shape
    agreement = np.mean(result.predictions == litert.argmax(axis=1))
    assert agreement >= 0.98
    # Same file, same input codes: the dequantized outputs differ by at most a few int8 steps.
    step = LiteRTModel(files["int8"]).output_quantization[0]
    assert np.max(np.abs(result.scores - litert)) <= 3 * step + 1e-6
    assert result.seconds > 0 and result.seconds_per_image < 1


def test_float32_predictions_in_tflm_match_litert(files, small_images):
    images = small_images[:50]
    result = mcu.tflm_predict(files["float32"], images)
    litert = LiteRTModel(files["float32"]).predict_proba(images)
    np.testing.assert_allclose(result.scores, litert, atol=1e-4)


def test_predicting_with_a_refused_file_raises_with_the_message(files, small_images):
    with pytest.raises(mcu.TFLMRefusedError, match="dynamic_range.tflite.*not supported"):
        mcu.tflm_predict(files["dynamic_range"], small_images[:2])


def test_a_crash_becomes_an_error_string_naming_the_signal():
    error = mcu.describe_failure(-11, ["Failed to allocate tail memory. Requested: 104"], None)
    assert error.startswith("crashed with SIGSEGV (signal 11)")
    assert "Failed to allocate tail memory" in error
    assert mcu.describe_failure(1, [], "RuntimeError: boom") == "RuntimeError: boom"


def test_a_tiny_arena_is_a_recorded_failure_not_a_dead_process(files):
    # With a few dozen bytes TFLM 0.dev20261023182759 crashes (SIGSEGV) instead of raising.
    record = mcu.try_in_tflm(files["int8"], arena_size=64)
    assert record["runs"] is False and record["error"]


# --------------------------------------------------------------------------- arena size


def test_smallest_arena_allocates_and_a_little_less_does_not(files, trials):
    smallest = mcu.smallest_arena(files["int8"])
    assert mcu.try_in_tflm(files["int8"], arena_size=smallest)["runs"]
    smaller = mcu.try_in_tflm(files["int8"], arena_size=smallest - 16)
    assert not smaller["runs"]
    assert "missing" in smaller["error"] or "allocate" in smaller["error"]
    # Within one alignment step of what allocation recording reports.
    assert abs(smallest - trials["int8"]["arena_used_bytes"]) < mcu.ARENA_ALIGNMENT


def test_smallest_arena_of_a_refused_file_raises(files):
    with pytest.raises(mcu.TFLMRefusedError, match="float16.tflite"):
        mcu.smallest_arena(files["float16"])


# --------------------------------------------------------------------------- corrupt files


def test_corrupt_files_get_an_error_naming_them(tmp_path):
    bad = tmp_path / "broken_model.tflite"
    bad.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(InvalidModelError, match="broken_model.tflite"):
        mcu.try_in_tflm(bad)
    with pytest.raises(InvalidModelError, match="broken_model.tflite"):
        mcu.smallest_arena(bad)
    with pytest.raises(InvalidModelError, match="broken_model.tflite"):
        mcu.tflm_predict(bad, np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(InvalidModelError, match="does not exist"):
        mcu.try_in_tflm(tmp_path / "missing.tflite")
    with pytest.raises(InvalidModelError, match="broken_model"):
        mcu.live_activations(bad.read_bytes(), label=bad.name)
    with pytest.raises(InvalidModelError):
        mcu.write_c_array(bad.read_bytes(), tmp_path, "broken_model")


# --------------------------------------------------------------------------- activations


def _hand_made_graph() -> bytes:
    """Three float32 ADDs with a skip connection; constant ``c`` broadcasts 1x100 to 5x100.

    t1 = t0 + t0 (1x100, 400 B); t2 = t1 + c (5x100, 2000 B); t3 = t2 + t0 (5x100, 2000 B).
    t0, the input, stays alive until the last ADD reads it, so the peak is during op 2:
    t0 + t2 + t3 = 4400 bytes (op 0: 800, op 1: 2800). Nothing reads t3: the model output.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    def tensor(name, shape, buffer):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), schema.TensorType.FLOAT32, buffer
        return t

    def add(inputs, outputs):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, inputs, outputs
        op.builtinOptionsType = schema.BuiltinOptions.AddOptions
        op.builtinOptions = schema.AddOptionsT()
        return op

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    empty, constant = schema.BufferT(), schema.BufferT()
    empty.data = []
    constant.data = list(np.ones((5, 100), np.float32).tobytes())
    graph = schema.SubGraphT()
    graph.tensors = [
        tensor("t0", (1, 100), 0),
        tensor("t1", (1, 100), 0),
        tensor("c", (5, 100), 1),
        tensor("t2", (5, 100), 0),
        tensor("t3", (5, 100), 0),
    ]
    graph.inputs, graph.outputs = [0], [4]
    graph.operators = [add([0, 0], [1]), add([1, 2], [3]), add([3, 0], [4])]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.buffers = 3, [code], [empty, constant]
    model.subgraphs = [graph]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def test_live_activations_on_a_hand_made_graph():
    plan = mcu.live_activations(_hand_made_graph())
    assert [t.name for t in plan.tensors] == ["t0", "t1", "t2", "t3"]  # never the constant c
    assert [(t.first_op, t.last_op) for t in plan.tensors] == [(-1, 2), (0, 1), (1, 2), (2, 2)]
    assert plan.live_bytes == [800, 2800, 4400]
    assert plan.peak_bytes == 4400 and plan.peak_op == 2 and plan.peak_op_name == "ADD"
    assert plan.peak_tensors == ["t2", "t3", "t0"]
    assert plan.planned_bytes == 4400
    assert len(plan.table()) == 4


def test_planned_bytes_is_what_tflm_puts_in_the_arena_head(tmp_path):
    path = tmp_path / "hand_made.tflite"
    path.write_bytes(_hand_made_graph())
    record = mcu.try_in_tflm(path)
    assert record["runs"], record["error"]
    assert record["arena_head_bytes"] == mcu.live_activations(path.read_bytes()).planned_bytes


def test_greedy_plan_leaves_a_gap_the_peak_does_not_see():
    # P (32 B, t 1), Q (16 B, t 2-3), R (32 B, t 1-2), S (32 B, t 3). Largest first, ties in
    # order: P at 0, R at 32 (alive with P), S at 0 (P is gone), then Q overlaps R (32-64) and
    # S (0-32) and goes to 64: 80 bytes, although at most 64 are ever alive (P + R at t 1).
    buffers = [(32, 1, 1), (16, 2, 3), (32, 1, 2), (32, 3, 3)]
    assert max(sum(s for s, a, b in buffers if a <= t <= b) for t in range(4)) == 64
    assert mcu.greedy_plan_bytes(buffers) == 80
    # Sizes round up to 16 bytes: three 1-byte buffers alive together take 48.
    assert mcu.greedy_plan_bytes([(1, 0, 0), (1, 0, 0), (1, 0, 0)]) == 48
    # Disjoint lifetimes share one offset.
    assert mcu.greedy_plan_bytes([(100, 0, 0), (100, 1, 1)]) == 112
    assert mcu.greedy_plan_bytes([]) == 0


def test_live_activations_of_the_cnn_peak_at_the_first_pooling(converted):
    plan = mcu.live_activations(converted["float32"])
    # The first convolution's output (27x27x32 float32) and the first pooling's (13x13x32): more
    # than the convolution's output and its 28x28x1 input.
    assert plan.peak_op_name == "MAX_POOL_2D" and plan.peak_op == 1
    assert plan.peak_bytes == 27 * 27 * 32 * 4 + 13 * 13 * 32 * 4
    assert len(plan.peak_tensors) == 2
    int8_plan = mcu.live_activations(converted["int8"])
    assert int8_plan.peak_bytes == plan.peak_bytes // 4


# --------------------------------------------------------------------------- C array


def _fnv1a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


MAIN_CC = r"""
#include <cstdint>
#include <cstdio>
#include "int8_model.h"

int main() {
  uint32_t hash = 0x811C9DC5u;
  for (unsigned int i = 0; i < g_int8_model_len; ++i) {
    hash = (hash ^ g_int8_model[i]) * 0x01000193u;
  }
  std::printf("%u %u %u\n", g_int8_model_len, hash,
              static_cast<unsigned>(reinterpret_cast<uintptr_t>(g_int8_model) % 16));
  return 0;
}
"""


def test_c_array_compiles_and_holds_the_model(converted, tmp_path):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ on this machine")
    content = converted["int8"]
    header, source = mcu.write_c_array(content, tmp_path, "int8_model")
    assert header.name == "int8_model.h" and source.name == "int8_model.cc"
    assert "extern const unsigned char g_int8_model[];" in header.read_text()
    assert "extern const unsigned int g_int8_model_len;" in header.read_text()
    assert "alignas(16) const unsigned char g_int8_model[]" in source.read_text()
    (tmp_path / "main.cc").write_text(MAIN_CC)
    program = tmp_path / "check_model"
    subprocess.run(
        [compiler, "-std=c++17", "-o", str(program), "main.cc", "int8_model.cc"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    printed = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout
    length, checksum, misalignment = (int(v) for v in printed.split())
    assert length == len(content)
    assert checksum == _fnv1a(content)
    assert misalignment == 0
    assert not any(name.startswith(".") for name in os.listdir(tmp_path))  # no temporary left


def test_c_array_refuses_a_name_that_is_not_an_identifier(converted, tmp_path):
    with pytest.raises(ValueError, match="C identifier"):
        mcu.write_c_array(converted["int8"], tmp_path, "int8-model")


# --------------------------------------------------------------------------- small pieces


def test_parse_allocations_and_runtime_message():
    lines = [
        "[RecordingMicroAllocator] Arena allocation total 5312 bytes",
        "[RecordingMicroAllocator] Arena allocation head 3488 bytes",
        "[RecordingMicroAllocator] Arena allocation tail 1824 bytes",
        "[RecordingMicroAllocator] 'Persistent buffer data' used 444 bytes with alignment "
        "overhead (requested 392 bytes for 10 allocations)",
        "Hybrid models are not supported on TFLite Micro.",
        "Node CONV_2D (number 2) failed to prepare with status 1",
    ]
    parsed = mcu.parse_allocations(lines)
    assert parsed["arena_total_bytes"] == 5312
    assert parsed["arena_head_bytes"] == 3488 and parsed["arena_tail_bytes"] == 1824
    assert parsed["categories"] == [
        {"what": "Persistent buffer data", "bytes": 444, "requested_bytes": 392, "count": 10}
    ]
    assert mcu.runtime_message(lines) == (
        "Hybrid models are not supported on TFLite Micro. "
        "Node CONV_2D (number 2) failed to prepare with status 1"
    )
    assert mcu.runtime_message(["x" * 500], limit=50).endswith("…")
    assert mcu.runtime_message(lines[:3]) is None


def test_native_stderr_captures_file_descriptor_2():
    with mcu.native_stderr() as lines:
        os.write(2, b"written by C code\nsecond line\n")
    assert lines == ["written by C code", "second line"]


def test_fits_budget():
    sizes = {
        "small": {"arena_bytes": 32 * 1024, "file_bytes": 80 * 1024},
        "big_arena": {"arena_bytes": 32 * 1024 + 1, "file_bytes": 80 * 1024},
        "big_file": {"arena_bytes": 1024, "file_bytes": 300 * 1024},
        "refused": {"arena_bytes": None, "file_bytes": 10},
    }
    verdicts = mcu.fits_budget(sizes, ram_budget_kb=32, flash_budget_kb=100)
    assert [name for name, v in verdicts.items() if v["fits"]] == ["small"]
    assert verdicts["big_arena"]["ram_ok"] is False and verdicts["big_arena"]["flash_ok"]
    assert verdicts["big_file"]["ram_ok"] and "flash" in verdicts["big_file"]["why not"]
    assert verdicts["refused"]["why not"] == "does not run in TFLM"


def _row(runs, error, arena, file_bytes, accuracy, agreement, untied):
    return {
        "tflm_runs": runs,
        "tflm_error": error,
        "tflm_arena_bytes": arena,
        "file_bytes": file_bytes,
        "tflm_accuracy": accuracy,
        "tflm_agreement_with_litert": agreement,
        "tflm_untied_disagreements": untied,
    }


HYBRID = (
    "tensorflow/lite/micro/kernels/conv_common.cc Hybrid models are not supported on TFLite "
    "Micro. Node CONV_2D (number 2) failed to prepare with status 1"
)


def _results():
    return {
        "float32": _row(True, None, 117_000, 300_000, 0.91, 1.0, 0),
        "int8": _row(True, None, 32_600, 80_000, 0.905, 0.9990, 0),
        "weights_only": _row(True, None, 30_000, 80_000, 0.7348, 0.7562, 2438),
        "dynamic_range": _row(False, HYBRID, None, 80_000, None, None, None),
        "hybrid_too": _row(
            False, HYBRID.replace("number 2", "number 0"), None, 70_000, None, None, None
        ),
    }


def _sizes(results):
    return {
        name: {"arena_bytes": r["tflm_arena_bytes"], "file_bytes": r["file_bytes"]}
        for name, r in results.items()
    }


def test_refusal_reason_names_the_operation_and_the_kernel_words():
    assert mcu.refusal_reason(HYBRID) == (
        "CONV_2D",
        "conv_common.cc: Hybrid models are not supported on TFLite Micro.",
    )
    op, reason = mcu.refusal_reason(
        "tensorflow/lite/micro/kernels/dequantize_common.cc:42 input->type == kTfLiteInt8 was "
        "not true. Node DEQUANTIZE (number 0) failed to prepare with status 1"
    )
    assert op == "DEQUANTIZE"
    assert reason == "dequantize_common.cc:42: input->type == kTfLiteInt8 was not true."
    assert mcu.refusal_reason(None) == (None, "")


def test_compare_runtimes_separates_ties_from_real_differences():
    litert = np.array([[0.5, 0.5, 0.0], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    tflm = np.array([[0.49, 0.51, 0.0], [0.1, 0.8, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.6]])
    comparison = mcu.compare_runtimes(tflm, litert)
    assert comparison == {
        "agreement": 0.5,
        "disagreements": 2,
        "tied_disagreements": 1,  # image 0: LiteRT's top output is shared by classes 0 and 1
        "untied_disagreements": 1,  # image 2: a different answer, no tie anywhere
        "identical_outputs": 2,
    }


def test_conclusion_is_built_from_the_numbers():
    results = _results()
    text = mcu.conclusion(results, mcu.fits_budget(_sizes(results), 64, 256), 64, 256)
    assert text.startswith("LiteRT for Microcontrollers runs 3 of the 5 files.")
    # Refusals with the same kernel reason are grouped, whatever the node number.
    assert (
        "It refuses `dynamic_range`, `hybrid_too` (CONV_2D: “conv_common.cc: Hybrid models are "
        "not supported on TFLite Micro.”)." in text
    )
    # weights_only's arena is smaller, but it computes something else: not a candidate.
    assert (
        "Among the files it runs faithfully, the smallest arena is `int8`'s, 31.8 KiB, 3.6× less "
        "than `float32`'s 114.3 KiB." in text
    )
    assert "For 2 file(s)" in text and "at least 99.90%" in text and "(lowest: `int8`)" in text
    tie = {**results, "qat_int8": _row(True, None, 32_600, 79_000, 0.91, 0.999, 0)}
    tied_text = mcu.conclusion(tie, mcu.fits_budget(_sizes(tie), 64, 256), 64, 256)
    assert "the smallest arena is `int8`'s (and `qat_int8`'s, the same), 31.8 KiB" in tied_text
    untied = {**results, "float32": _row(True, None, 117_000, 300_000, 0.91, 0.999, 3)}
    text = mcu.conclusion(untied, mcu.fits_budget(_sizes(untied), 64, 256), 64, 256)
    assert "without a tied top output in either (`float32` on 3 image(s))" in text
    assert "tied top output in one of the two: rounding" not in text
    assert "**`weights_only` runs but computes something else**" in text and "2,438" in text
    # weights_only fits the budget too, but is not offered: TFLM computes something else.
    assert (
        "**Within 64 KiB of RAM and 256 KiB of flash, 1 file(s) that TFLM runs faithfully fit**: "
        "`int8` (arena 31.8 KiB, file 78.1 KiB), with a test accuracy in TFLM of 90.50%." in text
    )
    wide = mcu.conclusion(results, mcu.fits_budget(_sizes(results), 512, 512), 512, 512)
    assert "2 file(s) that TFLM runs faithfully fit" in wide
    assert "from 90.50% (`int8`) to 91.00% (`float32`)" in wide


def test_conclusion_says_when_every_image_agrees():
    results = {name: r for name, r in _results().items() if name in ("float32", "dynamic_range")}
    text = mcu.conclusion(results, mcu.fits_budget(_sizes(results), 512, 512), 512, 512)
    assert "For 1 file(s), TFLM predicts the same class as LiteRT on every test image." in text
    assert "runs but computes" not in text


def test_conclusion_says_when_nothing_fits():
    results = _results()
    text = mcu.conclusion(results, mcu.fits_budget(_sizes(results), 16, 256), 16, 256)
    assert (
        "**No file that TFLM runs faithfully fits within 16 KiB of RAM and 256 KiB of flash.**"
        in text
    )


def test_placement_story_explains_the_per_channel_refusal():
    says = (
        "fully_connected_common.cc:98: (input->type == kTfLiteInt8 && filter->type != "
        "kTfLiteInt4) || (input->type == kTfLiteInt16 && filter->type != kTfLiteInt4) was not true."
    )

    def row(size, runs, versus="–", agrees=1.0):
        return {
            "bytes": size,
            "TFLM runs": runs,
            "TFLM says": "–" if runs else says,
            "TFLM agrees with LiteRT": agrees if runs else None,
            "vs mcu_static_int8": versus,
        }

    rows = {
        "mcu_static_int8": row(84_512, True),
        "mcu_int4_convs": row(83_424, True, "loses to `mcu_static_int8` (-0.52 pp)", 0.9999),
        "mcu_int4_dense": row(47_888, False),
        "mcu_int4_dense_per_tensor": row(44_696, True, "loses to `mcu_static_int8` (-4 pp)"),
    }
    share = {"conv1": 0.002, "conv2": 0.027, "dense": 0.954, "probabilities": 0.017}
    text = mcu.placement_story(rows, share, "mcu_static_int8")
    assert text.startswith("TFLM runs `mcu_int4_dense_per_tensor`: 39,816 bytes smaller")
    assert (
        "`mcu_int4_convs`: 1,088 bytes smaller" in text and "agrees with LiteRT on 99.99%" in text
    )
    assert "TFLM refuses `mcu_int4_dense`" in text
    assert "per-channel branch" in text and "(`mcu_int4_dense_per_tensor` above)" in text
    assert "hold 97% of the weights" in text
    del rows["mcu_int4_dense_per_tensor"]
    text = mcu.placement_story(rows, share, "mcu_static_int8")
    assert "are refused." in text and "above" not in text
    rows["mcu_int4_dense"]["TFLM says"] = "something else"
    assert "per-channel branch" not in mcu.placement_story(rows, share, "mcu_static_int8")


def test_ram_story_separates_the_activations_from_each_files_bookkeeping():
    def plan(peak):
        return mcu.ActivationPlan([], [peak], peak, 0, "MAX_POOL_2D", ["a", "b"], peak)

    def trial(head, tail):
        return {"arena_head_bytes": head, "arena_tail_bytes": tail, "arena_used_bytes": head + tail}

    trials = {"int8": trial(28_736, 3_872), "float32": trial(114_944, 2_688)}
    plans = {"int8": plan(28_736), "float32": plan(114_944)}
    text = mcu.ram_story(trials, plans, {}, ["int8", "float32"])
    assert "float32's arena is 3.6× int8's: its head, the activations, is 4.00× int8's" in text
    assert "(2,688 and 3,872 bytes)" in text
    assert "In 2 of the 2 files TFLM runs, the arena's head is exactly" in text
