"""Paired statistics: is a difference between two models, or two speeds, more than noise?

Two variants scored on the *same* 10,000 test images are paired: most images are right (or
wrong) for both, and only the images where they disagree carry information about which is better.

* :func:`compare_predictions`: the exact McNemar test on those discordant images (a two-sided
  binomial test, ``scipy.stats.binomtest``) and a bootstrap 95% interval of the accuracy
  difference. A difference is called only when the interval excludes 0 *and* McNemar's
  p < 0.05; otherwise it is a **tie**, and is called one. (With very few discordant images, all
  on one side, the percentile bootstrap can exclude 0 while the exact test cannot reject: both
  must agree.)
* :func:`median_interval`: a distribution-free confidence interval for a median (from the
  binomial distribution of order statistics), used for speed ratios measured round by round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
BOOTSTRAP_RESAMPLES = 10_000


@dataclass(frozen=True)
class PairedComparison:
    """How a model compares with a reference model on the same labelled images."""

    accuracy: float
    reference_accuracy: float
    delta_pp: float  # accuracy - reference accuracy, in percentage points
    ci95_pp: tuple[float, float]  # bootstrap interval of delta_pp
    only_model_right: int  # discordant images the model gets right and the reference wrong
    only_reference_right: int  # ... and the other way round
    p_value: float  # exact McNemar (two-sided binomial test on the discordant images)
    agreement: float  # share of images where both predict the same class
    flips: int  # images where the predicted classes differ
    verdict: str  # "tie", "better" or "worse": from the interval and p, never the bare delta

    def as_dict(self) -> dict:
        record = asdict(self)
        record["ci95_pp"] = list(self.ci95_pp)
        return record


def verdict_from_interval(low: float, high: float, p_value: float = 0.0) -> str:
    """'tie' when the interval contains 0 or p >= 0.05, else the side the interval lies on."""
    if low <= 0 <= high or p_value >= ALPHA:
        return "tie"
    return "better" if low > 0 else "worse"


def mcnemar_exact(only_model_right: int, only_reference_right: int) -> float:
    """Two-sided exact McNemar p-value: under 'no difference' each discordant image is a coin flip.

    With no discordant images the two models are indistinguishable: p = 1.
    """
    discordant = only_model_right + only_reference_right
    if discordant == 0:
        return 1.0
    return float(stats.binomtest(only_model_right, discordant, 0.5).pvalue)


def bootstrap_delta_interval(
    only_model_right: int,
    only_reference_right: int,
    total: int,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the paired accuracy difference, in percentage points.

    Resampling images with replacement only changes how many discordant images of each kind a
    resample holds, so the counts are drawn directly from the multinomial distribution: exactly
    the paired bootstrap, without materialising ``resamples`` copies of the test set.
    """
    if total <= 0:
        raise ValueError("need at least one image")
    if only_model_right + only_reference_right == 0:
        return (0.0, 0.0)
    probabilities = [
        only_model_right / total,
        only_reference_right / total,
        1 - (only_model_right + only_reference_right) / total,
    ]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(total, probabilities, size=resamples)
    deltas = (counts[:, 0] - counts[:, 1]) / total * 100
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return (float(low), float(high))


def compare_predictions(
    predictions: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
) -> PairedComparison:
    """Paired comparison of a model's predictions with a reference model's, on the same images."""
    predictions, reference, labels = (np.asarray(a) for a in (predictions, reference, labels))
    if not predictions.shape == reference.shape == labels.shape or predictions.ndim != 1:
        raise ValueError(
            "predictions, reference and labels must be 1-D arrays over the same images, got "
            f"shapes {predictions.shape}, {reference.shape}, {labels.shape}"
        )
    total = len(labels)
    right, reference_right = predictions == labels, reference == labels
    only_model = int(np.sum(right & ~reference_right))
    only_reference = int(np.sum(~right & reference_right))
    low, high = bootstrap_delta_interval(only_model, only_reference, total, seed=seed)
    accuracy, reference_accuracy = float(right.mean()), float(reference_right.mean())
    p_value = mcnemar_exact(only_model, only_reference)
    return PairedComparison(
        accuracy=accuracy,
        reference_accuracy=reference_accuracy,
        delta_pp=(accuracy - reference_accuracy) * 100,
        ci95_pp=(low, high),
        only_model_right=only_model,
        only_reference_right=only_reference,
        p_value=p_value,
        agreement=float(np.mean(predictions == reference)),
        flips=int(np.sum(predictions != reference)),
        verdict=verdict_from_interval(low, high, p_value),
    )


def per_class_comparisons(
    predictions: np.ndarray, reference: np.ndarray, labels: np.ndarray, num_classes: int = 10
) -> list[PairedComparison]:
    """:func:`compare_predictions` on each class's images separately (one test per class, not
    corrected for the ten of them)."""
    labels = np.asarray(labels)
    return [
        compare_predictions(
            np.asarray(predictions)[labels == c],
            np.asarray(reference)[labels == c],
            labels[labels == c],
        )
        for c in range(num_classes)
    ]


# --------------------------------------------------------------------------- medians of ratios


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Median of ``values`` with a distribution-free confidence interval.

    The interval runs between two order statistics chosen from the binomial(n, 1/2) distribution,
    so that it covers the true median with probability >= ``confidence`` whatever the shape of
    the distribution. With fewer than 6 values no pair of order statistics reaches 95%: the
    interval is then the full range, and ``coverage`` says how sure it really is.
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n == 0:
        raise ValueError("need at least one value")
    median = float(np.median(ordered))
    # Widest-in ranks k, n-1-k (0-based) whose interval still covers the median with probability
    # P(k < B < n-1-k+1) = P(k+1 <= B <= n-1-k) >= confidence, B ~ Binomial(n, 1/2).
    k, coverage = 0, float(stats.binom.cdf(n - 1, n, 0.5) - stats.binom.cdf(0, n, 0.5))
    for candidate in range(1, (n - 1) // 2 + 1):
        candidate_coverage = float(
            stats.binom.cdf(n - 1 - candidate, n, 0.5) - stats.binom.cdf(candidate, n, 0.5)
        )
        if candidate_coverage < confidence:
            break
        k, coverage = candidate, candidate_coverage
    low, high = ordered[k], ordered[n - 1 - k]
    return {
        "median": median,
        "ci": [float(low), float(high)],
        "coverage": float(coverage),
        "iqr": [float(np.percentile(ordered, 25)), float(np.percentile(ordered, 75))],
        "n": n,
    }
