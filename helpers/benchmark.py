"""Speed of ``.tflite`` files in the LiteRT interpreter, measured so that the numbers hold still.

A shared machine drifts: another process wakes up, the CPU clock changes, caches are flushed.
Measuring one variant after the other lets a few hundred milliseconds of interference move a
whole variant. So every variant is measured **interleaved**, round-robin over all files (each
round in a new random order, so that no file always follows the same neighbour), for many
rounds, and each timed pass runs long enough to be stable. Slow drifts then hit all variants alike, and each round gives a
*paired* ratio to the reference (float32), measured seconds apart.

Two numbers, because they answer different questions:

* **batch-1 latency**: the median time to compute one image on its own;
* **throughput**: images per second at a large batch.

Both time only the computation (``invoke()``): copying the input in and the result out, and
Python's own call overhead, are left out, so the two are comparable per image and a single
layer fed a large activation is not dominated by the copy.

Reported per variant: the median over rounds and its interquartile range, and the median of the
per-round ratios to the reference with a distribution-free 95% interval
(:func:`helpers.stats.median_interval`). Inputs are converted to each model's input type before
timing, so quantizing images in NumPy is not counted against the integer models.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from helpers.evaluate import LiteRTModel
from helpers.stats import median_interval

CONTROL_BAND = (0.9, 1.1)  # float16 / float32 must land here: same arithmetic after loading


@dataclass
class _Contender:
    name: str
    batched: LiteRTModel  # one interpreter sized for `batch_size` ...
    single: LiteRTModel | None  # ... and one for batch 1 (latency), so no resizing between passes
    batches: list[np.ndarray]  # real test images, already in the model's input type
    singles: np.ndarray  # the same images one by one: (N, 1, 28, 28, 1)
    batches_per_pass: int = 1
    calls_per_round: int = 1
    throughput: list[float] = field(default_factory=list)  # images/s, one per round
    latency: list[float] = field(default_factory=list)  # ms, median of one round's calls
    latency_calls: list[float] = field(default_factory=list)  # ms, every timed call


def _time_calls(model: LiteRTModel, inputs, count: int, start: int) -> np.ndarray:
    """Seconds of computation for each of ``count`` calls on consecutive ``inputs``, starting at
    ``start`` (cycling). Only ``invoke()`` is timed: copying an input in (which for a single layer
    fed a large activation can cost more than the layer) and reading the output are left out."""
    timings = np.empty(count)
    for i in range(count):
        model.set_input(inputs[(start + i) % len(inputs)])
        begin = time.perf_counter()
        model.invoke()
        timings[i] = time.perf_counter() - begin
    return timings


def _time_batches(contender: _Contender, count: int, start: int) -> float:
    """Seconds of computation for ``count`` consecutive batches, starting at batch ``start``."""
    return float(_time_calls(contender.batched, contender.batches, count, start).sum())


def _time_single_calls(contender: _Contender, count: int, start: int) -> np.ndarray:
    """Milliseconds of computation (``invoke()``) for each of ``count`` single-image calls."""
    return _time_calls(contender.single, contender.singles, count, start) * 1e3


def _load(
    name: str, source, batch_size: int, images, threads: int, resolver: str, latency: bool
) -> _Contender:
    """One model to time. ``source`` is a path or bytes, or a dict with ``model`` and any of
    ``inputs`` (its own float inputs, e.g. a layer's activations), ``threads`` and ``resolver``."""
    if isinstance(source, dict):
        images = source.get("inputs", images)
        threads = source.get("threads", threads)
        resolver = source.get("resolver", resolver)
        source = source["model"]
    if len(images) < batch_size:
        raise ValueError(
            f"need at least {batch_size} inputs for one batch of {name}, got {len(images)}"
        )
    batched = LiteRTModel(source, num_threads=threads, resolver=resolver)
    single = (
        LiteRTModel(batched.content, num_threads=threads, resolver=resolver) if latency else None
    )
    batched.set_batch_size(batch_size)
    usable = len(images) // batch_size * batch_size
    prepared = batched.to_input(images[:usable])
    return _Contender(
        name,
        batched,
        single,
        list(prepared.reshape(-1, batch_size, *prepared.shape[1:])),
        prepared[:, None],
    )


def measure_interleaved(
    models: Mapping[str, str | os.PathLike | bytes],
    images: np.ndarray,
    *,
    reference: str = "float32",
    batch_size: int = 256,
    rounds: int = 12,
    min_pass_seconds: float = 0.3,
    latency_seconds: float = 0.05,
    threads: int = 1,
    resolver: str = "default",
    measure_latency: bool = True,
    progress: Callable[[str], None] | None = print,
    seed: int = 0,
    pick: bool = False,
) -> dict:
    """Interleaved throughput (and batch-1 latency) of several ``.tflite`` models on real images.

    ``models`` maps names to ``.tflite`` paths or bytes (or dicts, see :func:`_load`: per-model
    inputs, threads or kernels); ``reference`` must be one of them. ``images`` are preprocessed
    float inputs (at least ``batch_size``). Each round times every model once, in a random order
    drawn afresh each round (seeded by ``seed``). Returns a JSON-ready dict (see
    :func:`summarise`).
    """
    if reference not in models:
        raise ValueError(f"the reference {reference!r} is not among the models {list(models)}")
    if rounds < 1 or batch_size < 1:
        raise ValueError("rounds and batch_size must be >= 1")
    contenders = [
        _load(name, source, batch_size, images, threads, resolver, measure_latency)
        for name, source in models.items()
    ]
    # Warm up (the first calls allocate and pack weights), then size each pass to the time wanted.
    for contender in contenders:
        _time_batches(contender, 2, 0)
        seconds = _time_batches(contender, 3, 0) / 3
        contender.batches_per_pass = max(1, int(np.ceil(min_pass_seconds / seconds)))
        if measure_latency:
            _time_single_calls(contender, 20, 0)
            per_call = float(np.median(_time_single_calls(contender, 50, 0))) / 1e3
            contender.calls_per_round = max(20, int(latency_seconds / per_call))
    started = time.perf_counter()
    order_rng = np.random.default_rng(seed)
    for round_index in range(rounds):
        # A fresh random order every round: no file always follows the same neighbour.
        for index in order_rng.permutation(len(contenders)):
            contender = contenders[index]
            count = contender.batches_per_pass
            seconds = _time_batches(contender, count, round_index * count)
            contender.throughput.append(count * batch_size / seconds)
            if measure_latency:
                calls = contender.calls_per_round
                timings = _time_single_calls(contender, calls, round_index * calls)
                contender.latency.append(float(np.median(timings)))
                contender.latency_calls.extend(timings.tolist())
        if progress and (round_index + 1) % max(1, rounds // 4) == 0:
            progress(f"  round {round_index + 1}/{rounds} ({time.perf_counter() - started:.0f} s)")
    return summarise(
        {c.name: c.throughput for c in contenders},
        {c.name: c.latency for c in contenders} if measure_latency else None,
        reference=reference,
        settings={
            "batch_size": batch_size,
            "rounds": rounds,
            "min_pass_seconds": min_pass_seconds,
            "latency_seconds": latency_seconds if measure_latency else None,
            "threads": threads,
            "resolver": resolver,
            "reference": reference,
            "pick": pick,
            "per_model_options": {
                name: {k: v for k, v in source.items() if k in ("threads", "resolver")}
                for name, source in models.items()
                if isinstance(source, dict)
            },
            "images_per_pass": {c.name: c.batches_per_pass * batch_size for c in contenders},
            "latency_calls_per_round": (
                {c.name: c.calls_per_round for c in contenders} if measure_latency else None
            ),
        },
        latency_p90={
            c.name: float(np.percentile(c.latency_calls, 90)) for c in contenders if c.latency_calls
        },
    )


def summarise(
    throughput: Mapping[str, list[float]],
    latency: Mapping[str, list[float]] | None,
    *,
    reference: str,
    settings: dict | None = None,
    latency_p90: Mapping[str, float] | None = None,
) -> dict:
    """Per-variant medians, spreads and paired ratios from per-round measurements.

    ``throughput[name][r]`` (images/s) and ``latency[name][r]`` (ms) are round ``r``'s
    measurements; ratios pair each variant with the reference *in the same round*.
    """
    rounds = {len(values) for values in throughput.values()}
    if len(rounds) != 1:
        raise ValueError("every variant needs one throughput value per round")
    result = {"settings": settings or {"reference": reference}, "variants": {}}
    for name, values in throughput.items():
        values = np.asarray(values, dtype=float)
        ratios = values / np.asarray(throughput[reference], dtype=float)
        spread = median_interval(values)
        ratio = median_interval(ratios)
        record = {
            "throughput_ips": spread["median"],
            "throughput_ips_iqr": spread["iqr"],
            "throughput_ratio": ratio["median"],
            "throughput_ratio_ci": ratio["ci"],
            "throughput_ratio_coverage": ratio["coverage"],
            "throughput_rounds": values.tolist(),
        }
        if latency is not None:
            lat = np.asarray(latency[name], dtype=float)
            lat_spread = median_interval(lat)
            lat_ratio = median_interval(lat / np.asarray(latency[reference], dtype=float))
            record.update(
                {
                    "latency_ms_batch1": lat_spread["median"],
                    "latency_ms_batch1_iqr": lat_spread["iqr"],
                    "latency_ratio": lat_ratio["median"],
                    "latency_ratio_ci": lat_ratio["ci"],
                    "latency_rounds": lat.tolist(),
                }
            )
            if latency_p90 and name in latency_p90:
                record["latency_ms_batch1_p90"] = latency_p90[name]
        result["variants"][name] = record
    return result


def ratio_between(study: Mapping, name: str, other: str) -> dict:
    """Median ratio of ``name``'s throughput to ``other``'s, paired by round, with its interval."""
    a = np.asarray(study["variants"][name]["throughput_rounds"], dtype=float)
    b = np.asarray(study["variants"][other]["throughput_rounds"], dtype=float)
    return median_interval(a / b)


def latency_between(study: Mapping, name: str, other: str) -> dict:
    """Median ratio of ``name``'s batch-1 latency to ``other``'s, paired by round (> 1: slower)."""
    a = np.asarray(study["variants"][name]["latency_rounds"], dtype=float)
    b = np.asarray(study["variants"][other]["latency_rounds"], dtype=float)
    return median_interval(a / b)


def speed_verdict(ci: tuple[float, float] | list[float]) -> str:
    """'faster' / 'slower' only when the ratio's interval excludes 1.0; else 'tie'."""
    low, high = ci
    if low > 1:
        return "faster"
    if high < 1:
        return "slower"
    return "tie"


def control_check(study: Mapping, name: str = "float16", reference: str = "float32") -> dict:
    """The built-in control: two files with the same arithmetic must measure as equivalent.

    ``ok`` when the whole 95% interval of the control's ratio lies inside :data:`CONTROL_BAND`
    (an equivalence test: any difference is smaller than the band). Otherwise the machine was too
    noisy, or too unsteady, to rank variants this close. ``tie`` says whether the interval also
    contains 1.0; a steady machine can resolve a real difference of a few percent even between
    two files that compute the same thing (memory layout, for one).
    """
    record = study["variants"][name]
    ratio, ci = record["throughput_ratio"], record["throughput_ratio_ci"]
    inside = CONTROL_BAND[0] <= ci[0] and ci[1] <= CONTROL_BAND[1]
    return {
        "name": name,
        "reference": reference,
        "ratio": ratio,
        "ci": list(ci),
        "in_band": CONTROL_BAND[0] <= ratio <= CONTROL_BAND[1],
        "tie": speed_verdict(ci) == "tie",
        "ok": inside,
        "band": list(CONTROL_BAND),
    }
