"""Paired statistics on constructed predictions with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from helpers.stats import (
    bootstrap_delta_interval,
    compare_predictions,
    mcnemar_exact,
    median_interval,
    verdict_from_interval,
)


def constructed(only_model: int, only_reference: int, both_right: int, both_wrong: int):
    """Labels and two prediction arrays with exactly these discordant/concordant counts."""
    labels = np.zeros(only_model + only_reference + both_right + both_wrong, dtype=int)
    model = np.zeros_like(labels)
    reference = np.zeros_like(labels)
    start = 0
    for count, model_right, reference_right in (
        (only_model, True, False),
        (only_reference, False, True),
        (both_right, True, True),
        (both_wrong, False, False),
    ):
        block = slice(start, start + count)
        model[block] = 0 if model_right else 1
        reference[block] = 0 if reference_right else 2
        start += count
    return model, reference, labels


def test_identical_predictions_are_a_tie_with_p_one_and_a_zero_interval():
    model, _, labels = constructed(0, 0, 9000, 1000)
    result = compare_predictions(model, model, labels)
    assert result.p_value == 1.0
    assert result.ci95_pp == (0.0, 0.0)
    assert result.verdict == "tie" and result.flips == 0 and result.agreement == 1.0


def test_known_discordant_split_gives_the_exact_binomial_p():
    model, reference, labels = constructed(15, 5, 9000, 980)
    result = compare_predictions(model, reference, labels)
    expected = scipy_stats.binomtest(15, 20, 0.5).pvalue
    assert result.p_value == pytest.approx(expected)
    assert result.p_value == pytest.approx(0.04138946533203125)  # 2 * P(X >= 15), X ~ B(20, .5)
    assert result.delta_pp == pytest.approx(0.1)
    assert result.only_model_right == 15 and result.only_reference_right == 5


def test_a_few_images_apart_is_a_tie_and_many_is_not():
    tie = compare_predictions(*constructed(12, 10, 9000, 978))
    assert tie.verdict == "tie"
    low, high = tie.ci95_pp
    assert low < 0 < high
    worse = compare_predictions(*constructed(10, 90, 9000, 900))
    assert worse.verdict == "worse" and worse.ci95_pp[1] < 0 and worse.p_value < 1e-10
    better = compare_predictions(*constructed(90, 10, 9000, 900))
    assert better.verdict == "better" and better.ci95_pp[0] > 0


def test_bootstrap_interval_matches_the_normal_approximation():
    # 200 vs 100 discordant of 10,000: delta 1 pp, sd = sqrt(b + c - (b - c)^2 / n) / n.
    low, high = bootstrap_delta_interval(200, 100, 10_000, resamples=20_000, seed=1)
    sd = np.sqrt(300 - 100**2 / 10_000) / 10_000 * 100
    assert low == pytest.approx(1 - 1.96 * sd, abs=0.03)
    assert high == pytest.approx(1 + 1.96 * sd, abs=0.03)


def test_mcnemar_without_discordant_images_is_one():
    assert mcnemar_exact(0, 0) == 1.0


def test_verdicts():
    assert verdict_from_interval(-0.1, 0.2) == "tie"
    assert verdict_from_interval(0.1, 0.2) == "better"
    assert verdict_from_interval(-0.3, -0.1) == "worse"


def test_shapes_must_match():
    with pytest.raises(ValueError, match="same images"):
        compare_predictions(np.zeros(3), np.zeros(4), np.zeros(3))


def test_median_interval_uses_order_statistics_with_at_least_95_percent_coverage():
    result = median_interval(np.arange(15.0))
    assert result["median"] == 7.0
    assert result["ci"] == [3.0, 11.0]  # 4th and 12th of 15: the textbook ranks
    assert result["coverage"] >= 0.95
    small = median_interval([1.0, 2.0, 3.0])
    assert small["ci"] == [1.0, 3.0] and small["coverage"] < 0.95


def test_a_one_sided_handful_is_a_tie_even_when_the_bootstrap_excludes_zero():
    """5 images right only for the model, none the other way: the percentile bootstrap cannot
    produce a negative difference, but the exact test says p = 0.0625: no verdict."""
    result = compare_predictions(*constructed(5, 0, 9000, 995))
    assert result.ci95_pp[0] >= 0  # the bootstrap alone would call it
    assert result.p_value == pytest.approx(0.0625)
    assert result.verdict == "tie"


def test_per_class_comparisons_split_by_label():
    from helpers.stats import per_class_comparisons

    labels = np.repeat(np.arange(10), 100)
    reference = labels.copy()
    model = labels.copy()
    model[labels == 3] = 4  # class 3 entirely lost
    results = per_class_comparisons(model, reference, labels)
    assert results[3].verdict == "worse" and results[3].only_reference_right == 100
    assert all(r.verdict == "tie" and r.flips == 0 for i, r in enumerate(results) if i != 3)
