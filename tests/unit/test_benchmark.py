"""Interleaved timing and its statistics, on synthetic timings and on tiny real models."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import benchmark
from helpers.benchmark import control_check, ratio_between, speed_verdict, summarise


def synthetic(ratio: float, rounds: int = 15, drift: float = 0.4, noise: float = 0.02, seed=0):
    """Per-round throughputs of float32, float16 (same speed) and a variant ``ratio`` times
    faster, under a machine whose speed drifts by +-drift from round to round."""
    rng = np.random.default_rng(seed)
    machine = 1 + drift * np.sin(np.arange(rounds))  # slow drifts hit every variant alike
    base = 10_000 * machine
    jitter = lambda: 1 + noise * rng.standard_normal(rounds)  # noqa: E731
    return {
        "float32": (base * jitter()).tolist(),
        "float16": (base * jitter()).tolist(),
        "int8": (ratio * base * jitter()).tolist(),
    }


def test_known_ratio_is_recovered_despite_drift():
    study = summarise(synthetic(2.5), None, reference="float32")
    int8 = study["variants"]["int8"]
    assert int8["throughput_ratio"] == pytest.approx(2.5, rel=0.03)
    low, high = int8["throughput_ratio_ci"]
    assert low <= 2.5 <= high and high - low < 0.2
    # The per-variant spread shows the drift; the paired ratio cancels it.
    q1, q3 = study["variants"]["float32"]["throughput_ips_iqr"]
    assert (q3 - q1) / 10_000 > 0.3
    assert speed_verdict(int8["throughput_ratio_ci"]) == "faster"


def test_steady_control_passes_and_noisy_control_is_flagged():
    steady = summarise(synthetic(2.0), None, reference="float32")
    assert control_check(steady)["ok"]
    noisy_rounds = synthetic(2.0)
    noisy_rounds["float16"] = [v * 1.4 for v in noisy_rounds["float16"]]  # one variant disturbed
    flagged = control_check(summarise(noisy_rounds, None, reference="float32"))
    assert not flagged["ok"] and not flagged["in_band"] and not flagged["tie"]
    # A steady, small, real difference (3%) is within the band: the control still passes.
    shifted = synthetic(2.0, noise=0.002)
    shifted["float16"] = [v * 1.03 for v in shifted["float32"]]
    small = control_check(summarise(shifted, None, reference="float32"))
    assert small["ok"] and not small["tie"]


def test_latency_ratios_and_ratio_between_variants():
    rounds = synthetic(3.0)
    latency = {name: [1e3 / v for v in values] for name, values in rounds.items()}
    study = summarise(rounds, latency, reference="float32")
    assert study["variants"]["int8"]["latency_ratio"] == pytest.approx(1 / 3, rel=0.03)
    between = ratio_between(study, "int8", "float16")
    assert between["median"] == pytest.approx(3.0, rel=0.03)


def test_speed_verdicts():
    assert speed_verdict([0.95, 1.05]) == "tie"
    assert speed_verdict([1.01, 1.2]) == "faster"
    assert speed_verdict([0.5, 0.9]) == "slower"


def test_rounds_must_line_up():
    with pytest.raises(ValueError, match="one throughput value per round"):
        summarise({"float32": [1.0, 2.0], "int8": [1.0]}, None, reference="float32")


def test_measurement_is_interleaved_in_a_fresh_order_each_round(
    monkeypatch, tiny_tflite_models, small_images
):
    """Every round times every model once; the order changes from round to round."""
    order = []
    real = benchmark._time_batches

    def spy(contender, count, start):
        order.append(contender.name)
        return real(contender, count, start)

    names = list(tiny_tflite_models)
    monkeypatch.setattr(benchmark, "_time_batches", spy)
    study = benchmark.measure_interleaved(
        tiny_tflite_models,
        small_images,
        reference="float32",
        batch_size=32,
        rounds=6,
        min_pass_seconds=0.001,
        latency_seconds=0.001,
        progress=None,
    )
    timed = order[2 * len(names) :]  # after two warm-up calls per model
    rounds = [timed[i * len(names) : (i + 1) * len(names)] for i in range(6)]
    assert all(sorted(r) == sorted(names) for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1, "the order never changed"
    for name in names:
        record = study["variants"][name]
        assert len(record["throughput_rounds"]) == 6 and record["throughput_ips"] > 0
        assert record["latency_ms_batch1"] > 0
    assert study["variants"]["float32"]["throughput_ratio"] == 1.0


def test_reference_must_be_measured(tiny_tflite_models, small_images):
    with pytest.raises(ValueError, match="reference"):
        benchmark.measure_interleaved(tiny_tflite_models, small_images, reference="float64")
