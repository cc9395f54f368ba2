"""Notebook 06's plumbing: the work each layer does, each layer as a model of its own, and the
tables and findings of its studies (the timing itself is :mod:`helpers.benchmark`).

* :func:`layer_work`: multiply-adds, weights and activation bytes per image, computed from the
  Keras model, plus what an int8 kernel does with each kernel tap's input channels. XNNPACK packs
  them to a multiple of ``kr`` (``round_up_po2(group_input_channels, kr * sr)`` in
  ``src/operators/convolution-nhwc.c``, zero fill in ``xnn_pack_qs8_conv_goki_w``,
  ``src/reference/packing.cc``), so the kernel multiplies ``kr``-padded channels: 8 for its x86
  int8 kernels without AMX, which also consume 8 channels per step (their block is 8). The AMX
  kernel pads to 4, so it multiplies only 4 channels for a 1-channel input, but it handles each
  tap's channels in blocks of 64 (``kremainder = (kc & 63) ? (kc & 63) : 64``: below 64 channels
  it copies the rows into a tile buffer with masked loads, loads the tiles and issues the same
  four ``_tile_dpbssd`` as for 64; ``src/qs8-qc8w-igemm/gen/
  qs8-qc8w-igemm-16x64c4-minmax-fp32-avx512amx.c``), so its time per tap is that of 64 channels.
* :func:`single_layer_models` and :func:`layer_inputs`: every layer rebuilt alone with its real
  input shape and weights, and the activations it really sees, to time layers one by one.
* :func:`expected_int8_kernel`: which int8 convolution kernel XNNPACK's x86 selection code would
  choose for the CPU features present (``init_qs8_qc8w_gemm_config`` in
  ``src/configs/gemm-config.c`` and the feature rules of ``src/configs/hardware-config.c``,
  XNNPACK 8388bd78, the version LiteRT 2.3.0's build pins). AMX also needs Linux to grant the
  process AMX tile data (``arch_prctl(ARCH_REQ_XCOMP_PERM)``), which XNNPACK requests and
  :func:`amx_tile_data_permitted` requests the same way. XNNPACK's AVX-VNNI-INT8 branch is not
  listed: Linux does not show that feature in ``/proc/cpuinfo``, and its kernels use the same
  block of 8 as the AVX-VNNI ones. The runtime does not report its choice; this is what the
  source says it picks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tf_keras as keras

from helpers.benchmark import ratio_between
from helpers.machine import cache_text, cpu_flags  # noqa: F401  (notebook 06 reads them here)

_AVX512 = frozenset({"avx512f", "avx512bw", "avx512dq", "avx512vl"})

# (feature flags required, kernel, how it multiplies int8, kr, channels per step) in XNNPACK's
# order of preference on x86 (gemm-config.c; the flags are /proc/cpuinfo's names).
X86_INT8_KERNELS: tuple[tuple[frozenset[str], str, str, int, int], ...] = (
    (
        _AVX512 | {"avx512_vnni", "gfni", "amx_int8"},
        "qs8-qc8w igemm 16x64c4 avx512amx",
        "AMX tiles (tdpbssd on 16 rows of 64 bytes)",
        4,
        64,
    ),
    (
        _AVX512 | {"avx512_vnni"},
        "qs8-qc8w igemm 7x16c8 avx512vnni",
        "8-bit dot products (vpdpbusd)",
        8,
        8,
    ),
    (
        frozenset({"avx2", "avx_vnni", "gfni"}),
        "qs8-qc8w igemm 5x8c8 avxvnni",
        "8-bit dot products",
        8,
        8,
    ),
    (_AVX512, "qs8-qc8w igemm 7x16c8 avx512skx", "widened to 16 bits, then vpmaddwd", 8, 8),
    (frozenset({"avx2"}), "qs8-qc8w igemm 3x8c8 avx2", "widened to 16 bits, then vpmaddwd", 8, 8),
)


# What the tables assume when expected_int8_kernel finds none (off x86): XNNPACK's x86 int8
# kernels without AMX, which pack and consume 8 channels per tap.
DEFAULT_INT8_KERNEL = {"kr": 8, "channel_block": 8}


def amx_tile_data_permitted() -> bool:
    """Whether Linux lets this process use AMX tile data: the request XNNPACK makes before it
    picks an AMX kernel (``hardware-config.c``); when refused, XNNPACK uses the next kernel."""
    import ctypes
    import platform
    import sys

    if sys.platform != "linux" or platform.machine() != "x86_64":
        return False
    sys_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata = 158, 0x1023, 18
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(sys_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0


def expected_int8_kernel(flags: set[str], amx_permitted: bool | None = None) -> dict | None:
    """XNNPACK's expected x86 int8 convolution kernel for these CPU flags (None off x86).

    ``kr`` is how XNNPACK packs each tap's input channels; ``channel_block`` is how many channels
    the kernel multiplies per step, the unit in which its time grows. ``amx_permitted`` defaults
    to asking Linux (:func:`amx_tile_data_permitted`) when the flags offer AMX.
    """
    for required, kernel, multiply, kr, block in X86_INT8_KERNELS:
        if not required <= flags:
            continue
        if "amx_int8" in required:
            if amx_permitted is None:
                amx_permitted = amx_tile_data_permitted()
            if not amx_permitted:
                continue
        return {"kernel": kernel, "multiply": multiply, "kr": kr, "channel_block": block}
    return None


def sweep_channels(block: int) -> list[int]:
    """Input channels for the padding sweep: 1 and 2, a quarter, half and one whole block, one
    channel past it, and two blocks (block 8: 1, 2, 4, 8, 9, 16)."""
    return sorted({1, 2, max(1, block // 4), max(1, block // 2), block, block + 1, 2 * block})


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def layer_work(model: keras.Model, kernel: Mapping | None = None) -> list[dict]:
    """Per layer and per image: multiply-adds, what the int8 kernel makes of them, weights, and
    output bytes in float32 and int8.

    ``kernel`` is :func:`expected_int8_kernel`'s answer (None: XNNPACK's x86 kernels without AMX,
    ``kr`` 8, blocks of 8). Two int8 columns: the multiply-adds with each tap's channels padded to
    ``kr`` (what the kernel multiplies), and the blocks of ``channel_block`` channels it handles per
    tap (what its time grows with).
    """
    kernel = kernel or DEFAULT_INT8_KERNEL
    kr, block = kernel["kr"], kernel["channel_block"]
    rows = []
    for layer in model.layers:
        in_shape = tuple(layer.input_shape[1:])
        out_shape = tuple(layer.output_shape[1:])
        outputs = int(np.prod(out_shape))
        weights = int(sum(np.prod(w.shape) for w in layer.get_weights()))
        macs = padded = blocks = 0
        if isinstance(layer, keras.layers.Conv2D):
            kernel_taps = int(np.prod(layer.kernel_size))
            channels = in_shape[-1]
            macs = outputs * kernel_taps * channels
            padded = outputs * kernel_taps * _round_up(channels, kr)
            blocks = _round_up(channels, block) // block
        elif isinstance(layer, keras.layers.Dense):
            macs = outputs * in_shape[-1]
            padded = outputs * _round_up(in_shape[-1], kr)
            blocks = _round_up(in_shape[-1], block) // block
        rows.append(
            {
                "layer": layer.name,
                "type": type(layer).__name__,
                "input": "x".join(map(str, in_shape)),
                "output": "x".join(map(str, out_shape)),
                "multiply-adds": macs,
                f"int8 multiply-adds, channels padded to {kr}": padded,
                f"int8 blocks of {block} channels per tap": blocks,
                "weights": weights,
                "float32 output bytes": 4 * outputs,
                "int8 output bytes": outputs,
            }
        )
    return rows


def single_layer_models(model: keras.Model) -> dict[str, keras.Model]:
    """Each layer of a Sequential model alone: same class, config and weights, real input shape."""
    singles = {}
    for layer in model.layers:
        clone = type(layer).from_config(layer.get_config())
        single = keras.Sequential(
            [keras.layers.Input(shape=layer.input_shape[1:]), clone], name=f"only_{layer.name}"
        )
        clone.set_weights(layer.get_weights())
        singles[layer.name] = single
    return singles


def layer_inputs(model: keras.Model, images: np.ndarray, batch_size: int = 512) -> dict:
    """The activations that enter each layer of ``model`` for ``images`` (float32)."""
    probe = keras.Model(model.inputs, [layer.input for layer in model.layers])
    values = probe.predict(images, batch_size=batch_size, verbose=0)
    return {
        layer.name: np.asarray(value, dtype=np.float32)
        for layer, value in zip(model.layers, values, strict=True)
    }


# --------------------------------------------------------------------------- notebook 06's tables


def _us(study: Mapping, name: str) -> float:
    """Median microseconds per image of one file in a study."""
    return 1e6 / study["variants"][name]["throughput_ips"]


def layer_table(per_layer: Mapping, layers: Sequence[str]):
    """float32 and int8 µs per image of each single-layer model, and their paired time ratio."""
    import pandas as pd

    table = pd.DataFrame(
        {
            "float32 µs/image": [_us(per_layer, f"{n} float32") for n in layers],
            "int8 µs/image": [_us(per_layer, f"{n} int8") for n in layers],
            "int8 / float32 time": [
                1 / ratio_between(per_layer, f"{n} int8", f"{n} float32")["median"] for n in layers
            ],
        },
        index=pd.Index(layers, name="layer"),
    )
    return table


def layer_finding(per_layer: Mapping, table, work, kernel: Mapping | None = None) -> dict:
    """What the layer study says: the whole models against the sum of their layers, the weighted
    layer where int8 does worst (with the interval of its time ratio), where float32 spends most,
    and where int8 saves most. ``kernel``: the same as :func:`layer_work`'s (its channel block)."""
    macs = work.set_index("layer")["multiply-adds"]
    weighted = [n for n in table.index if macs[n] > 0]
    slowest = max(weighted, key=lambda n: table.loc[n, "int8 / float32 time"])
    interval = ratio_between(per_layer, f"{slowest} int8", f"{slowest} float32")
    saving = table["float32 µs/image"] - table["int8 µs/image"]
    saved = saving[saving > 0]
    biggest = str(saving.idxmax())
    channels = int(str(work.set_index("layer").loc[slowest, "input"]).split("x")[-1])
    block = (kernel or DEFAULT_INT8_KERNEL)["channel_block"]
    return {
        "totals": {
            dtype: {
                "sum of layers": float(table[f"{dtype} µs/image"].sum()),
                "whole model": _us(per_layer, dtype),
            }
            for dtype in ("float32", "int8")
        },
        "slowest": slowest,
        "slowest_time_ratio": float(table.loc[slowest, "int8 / float32 time"]),
        # the interval of the time ratio is the inverse of the throughput ratio's, bounds swapped
        "slowest_time_ratio_ci": [1 / interval["ci"][1], 1 / interval["ci"][0]],
        "slowest_coverage": interval["coverage"],
        "heaviest_float": str(table["float32 µs/image"].idxmax()),
        "heaviest_float_us": float(table["float32 µs/image"].max()),
        "biggest_saving": biggest,
        "biggest_saving_us": float(saving.max()),
        "biggest_saving_share": float(saving.max() / saved.sum()) if len(saved) else 0.0,
        "biggest_saving_macs": int(macs[biggest]),
        "slowest_input_channels": channels,
        "slowest_padding_factor": float(_column(work, "int8 multiply-adds")[slowest])
        / max(1, macs[slowest]),
        # what the int8 kernel's time sees: whole blocks of channels per tap, against the real ones
        "slowest_block_factor": _round_up(channels, block) / channels,
    }


def _column(work, prefix: str):
    return work.set_index("layer")[next(c for c in work.columns if c.startswith(prefix))]


def sweep_table(sweep: Mapping, channels: Sequence[int]):
    """µs per image of the one-convolution models, by input channels, float32 and int8."""
    import pandas as pd

    return pd.DataFrame(
        {
            f"{dtype} µs/image": [_us(sweep, f"{c} {dtype}") for c in channels]
            for dtype in ("float32", "int8")
        },
        index=pd.Index(list(channels), name="input channels"),
    )


def sweep_finding(table, block: int) -> dict:
    """How the int8 and float32 convolutions' times grow with the input channels, within one
    block of ``block`` channels and past it."""
    channels = list(table.index)
    within = [c for c in channels if c <= block]
    beyond = [c for c in channels if block < c <= 2 * block]
    int8, fp32 = table["int8 µs/image"], table["float32 µs/image"]
    finding = {
        "block": block,
        "from": min(within),
        "to": max(within),
        "int8_growth": float(int8[max(within)] / int8[min(within)]),
        "float32_growth": float(fp32[max(within)] / fp32[min(within)]),
        "int8_at_one": float(int8[min(within)]),
        "float32_at_one": float(fp32[min(within)]),
        "block_cost_us": None,
    }
    if beyond:
        finding["block_cost_us"] = float(int8[beyond].mean() - int8[within].mean())
    return finding


def candidate_files(artifacts_dir, extra: Mapping | None = None) -> dict:
    """The files that compete for the speed recommendation: float32 (the reference), float16
    (the control), and every shippable variant of notebooks 03 and 04, plus ``extra``."""
    from helpers import summary

    models = summary.collect(
        artifacts_dir,
        only=("02_baseline_cnn", "03_post_training_quantization", "04_quantization_aware_training"),
    )[0]
    files = {
        name: Path(artifacts_dir) / entry["file"]
        for name, entry in models.items()
        if entry["role"] == "variant" and entry["file"].endswith(".tflite")
    }
    return {**files, **dict(extra or {})}


def leaders(study: Mapping, count: int = 2, always: Sequence[str] = ("int8",)) -> list[str]:
    """``always`` plus the ``count`` files fastest at batch 1 in ``study`` (float32 and float16
    left out: the reference and the control)."""
    ranked = sorted(
        (n for n in study["variants"] if n not in ("float32", "float16")),
        key=lambda n: study["variants"][n]["latency_ratio"],
    )
    chosen = list(always)
    for name in ranked:
        if len(chosen) >= count + len(always):
            break
        if name not in chosen:
            chosen.append(name)
    return chosen


def curve_rows(study: Mapping, batch: int) -> list[dict]:
    """One batch size of the batch curve: µs per image (with the rounds' interquartile range)
    and the paired throughput ratio to float32."""
    rows = []
    for name, v in study["variants"].items():
        low, high = v["throughput_ratio_ci"]
        rows.append(
            {
                "batch": batch,
                "model": name,
                "µs/image": 1e6 / v["throughput_ips"],
                "µs/image low": 1e6 / v["throughput_ips_iqr"][1],
                "µs/image high": 1e6 / v["throughput_ips_iqr"][0],
                "× float32 throughput": v["throughput_ratio"],
                "95% interval": f"{low:.2f}–{high:.2f}",
            }
        )
    return rows


def fastest_by_batch(curve_studies: Mapping[int, Mapping], margin: float) -> list[dict]:
    """For each batch size of the curve, the file with the lowest time per image, and the files
    within ``margin`` of it (paired throughput ratio): too close to rank."""
    rows = []
    for batch in sorted(curve_studies):
        study = curve_studies[batch]
        us = {n: 1e6 / r["throughput_ips"] for n, r in study["variants"].items()}
        fastest = min(us, key=us.get)
        rows.append(
            {
                "batch": int(batch),
                "fastest": fastest,
                "us_per_image": us[fastest],
                "tied_with": [
                    n
                    for n in us
                    if n != fastest and ratio_between(study, fastest, n)["median"] < 1 + margin
                ],
            }
        )
    return rows


def fastest_text(rows: Sequence[Mapping]) -> str:
    """'batch 1 `a`; batch 8 `a` (tied with `b`)' from :func:`fastest_by_batch`."""
    return "; ".join(
        f"batch {r['batch']} `{r['fastest']}`"
        + (
            " (tied with " + ", ".join(f"`{n}`" for n in r["tied_with"]) + ")"
            if r["tied_with"]
            else ""
        )
        for r in rows
    )


def best_batches(curve) -> dict[str, int]:
    """Each model's batch size with the lowest time per image on the batch curve."""
    return {
        str(model): int(rows.loc[rows["µs/image"].idxmin(), "batch"])
        for model, rows in curve.groupby("model", sort=False)
    }


def kernel_table(kernels: Mapping, files: Mapping):
    """The kernel-library and thread study as a table: images/s and ratio to float32 (XNNPACK,
    1 thread)."""
    import pandas as pd

    rows = []
    for name in files:
        for resolver in ("default", "builtin"):
            for threads in (1, 2):
                v = kernels["variants"][f"{name}, {resolver}, {threads} thread(s)"]
                rows.append(
                    {
                        "model": name,
                        "kernels": "XNNPACK" if resolver == "default" else "built-in",
                        "threads": threads,
                        "images/s": v["throughput_ips"],
                        "× float32 (XNNPACK, 1 thread)": v["throughput_ratio"],
                    }
                )
    return pd.DataFrame(rows)


def compiled_model_check(path, images) -> str:
    """Run a file once through LiteRT's CompiledModel API and compare with the Interpreter."""
    from helpers.evaluate import LiteRTModel

    try:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        compiled = CompiledModel.from_file(
            str(path),
            options=Options(
                hardware_accelerators=HardwareAccelerator.CPU,
                cpu_options=CpuOptions(num_threads=1),
            ),
        )
        inputs, outputs = compiled.create_input_buffers(0), compiled.create_output_buffers(0)
        reference = LiteRTModel(path)
        first = reference.to_input(images[:1])
        inputs[0].write(first)
        compiled.run_by_index(0, inputs, outputs)
        out = reference.invoke_tensor(first)[0]
        same = bool(np.array_equal(outputs[0].read(out.size, out.dtype), out))
        return f"CompiledModel ran {Path(path).name}; identical output to the Interpreter: {same}"
    except Exception as error:  # noqa: BLE001  (report whatever this version does)
        return f"CompiledModel is not usable here: {type(error).__name__}: {error}"


def between_studies(studies: Mapping[str, Mapping | None], batch_size: int) -> dict:
    """The same ratios (int8 against float32, at batch 1 and at ``batch_size``) as every study of
    the run that timed both files measured them: one study's interval covers its own rounds, the
    spread between studies shows how much more a run moves."""
    throughput, latency = {}, {}
    for label, study in studies.items():
        if not study:
            continue
        # section 8's study names its configurations "int8, default, 1 thread(s)"
        int8, float32 = (
            next(
                (n for n in (name, f"{name}, default, 1 thread(s)") if n in study["variants"]), None
            )
            for name in ("int8", "float32")
        )
        if int8 is None or float32 is None:
            continue
        if study["settings"]["batch_size"] == batch_size:
            throughput[label] = ratio_between(study, int8, float32)["median"]
        if "latency_rounds" in study["variants"][int8]:
            latency[label] = float(
                np.median(
                    np.asarray(study["variants"][int8]["latency_rounds"])
                    / np.asarray(study["variants"][float32]["latency_rounds"])
                )
            )
    return {"int8 / float32 throughput": throughput, "int8 / float32 time at batch 1": latency}
