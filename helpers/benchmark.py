"""Latency and throughput of ``.tflite`` files in the LiteRT interpreter, on real test images.

Two numbers, because they answer different questions:

* **batch-1 latency** (median and p90 over many single-image calls, after a warm-up): what one
  request costs, including the fixed cost of a call (Python to C++, setting the input,
  dispatch) that no quantization removes. How large that share is depends on the model and the
  machine; notebook 05 compares it with the per-image time at a large batch.
* **throughput** (images per second at a large batch): the arithmetic, where integer kernels can
  pay off.

Inputs are converted to each model's input type *before* timing, so quantizing the images in
NumPy is not counted against the int8 models.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from helpers.evaluate import LiteRTModel


@dataclass(frozen=True)
class SpeedResult:
    latency_ms_batch1: float  # median
    latency_ms_batch1_p90: float
    throughput_ips: float  # images per second at `batch_size`
    threads: int
    resolver: str
    latency_runs: int
    warmup_runs: int
    batch_size: int
    throughput_images: int  # images per timed pass
    throughput_repeats: int

    def as_dict(self) -> dict:
        return asdict(self)


def measure_latency(model: LiteRTModel, prepared: np.ndarray, runs: int, warmup: int):
    """Median and p90 milliseconds of single-image calls, cycling through real images."""
    model.set_batch_size(1)
    for i in range(warmup):
        model.run_prepared(prepared[i % len(prepared)][None])
    timings = np.empty(runs)
    for i in range(runs):
        image = prepared[i % len(prepared)][None]
        start = time.perf_counter()
        model.run_prepared(image)
        timings[i] = time.perf_counter() - start
    return float(np.median(timings) * 1e3), float(np.percentile(timings, 90) * 1e3)


def measure_throughput(
    model: LiteRTModel, prepared: np.ndarray, batch_size: int, batches: int, repeats: int
) -> tuple[float, int]:
    """Images per second over ``batches`` full batches (the best of ``repeats`` timed passes),
    and the number of images in one pass.

    The best pass is the least disturbed by other work on the machine, which makes it the most
    repeatable estimate of what the kernels can do.
    """
    usable = min(batches, len(prepared) // batch_size)
    if usable < 1:
        raise ValueError(f"need at least {batch_size} images for one batch, got {len(prepared)}")
    model.set_batch_size(batch_size)
    chunks = [prepared[i * batch_size : (i + 1) * batch_size] for i in range(usable)]
    model.run_prepared(chunks[0])  # warm-up: first call allocates and packs weights
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for chunk in chunks:
            model.run_prepared(chunk)
        best = max(best, usable * batch_size / (time.perf_counter() - start))
    return best, usable * batch_size


def benchmark(
    path,
    images: np.ndarray,
    *,
    latency_runs: int = 500,
    warmup_runs: int = 20,
    batch_size: int = 256,
    throughput_batches: int = 10,
    throughput_repeats: int = 3,
    threads: int = 1,
    resolver: str = "default",
) -> SpeedResult:
    """Latency and throughput of one ``.tflite`` file on ``images`` (float, preprocessed)."""
    model = LiteRTModel(path, num_threads=threads, resolver=resolver)
    prepared = model.to_input(images)
    median, p90 = measure_latency(model, prepared, latency_runs, warmup_runs)
    throughput, images_per_pass = measure_throughput(
        model, prepared, batch_size, throughput_batches, throughput_repeats
    )
    return SpeedResult(
        latency_ms_batch1=median,
        latency_ms_batch1_p90=p90,
        throughput_ips=throughput,
        threads=threads,
        resolver=resolver,
        latency_runs=latency_runs,
        warmup_runs=warmup_runs,
        batch_size=batch_size,
        throughput_images=images_per_pass,
        throughput_repeats=throughput_repeats,
    )
