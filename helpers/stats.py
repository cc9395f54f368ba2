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
from dataclasses import asdict, dataclass, replace

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
    tied_flips: int | None = None  # flips where the model's top output was a tie (if known)
    raw_p_value: float | None = None  # before a multiplicity correction (per_class_comparisons)

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


def bootstrap_deltas(
    only_model_right: int,
    only_reference_right: int,
    total: int,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """Paired-bootstrap resamples of the accuracy difference, in percentage points.

    Resampling images with replacement only changes how many discordant images of each kind a
    resample holds, so the counts are drawn directly from the multinomial distribution: exactly
    the paired bootstrap, without materialising ``resamples`` copies of the test set.
    """
    probabilities = [
        only_model_right / total,
        only_reference_right / total,
        1 - (only_model_right + only_reference_right) / total,
    ]
    counts = np.random.default_rng(seed).multinomial(total, probabilities, size=resamples)
    return (counts[:, 0] - counts[:, 1]) / total * 100


def bootstrap_delta_interval(
    only_model_right: int,
    only_reference_right: int,
    total: int,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the paired accuracy difference, in percentage points
    (:func:`bootstrap_deltas`)."""
    if total <= 0:
        raise ValueError("need at least one image")
    if only_model_right + only_reference_right == 0:
        return (0.0, 0.0)
    deltas = bootstrap_deltas(
        only_model_right, only_reference_right, total, resamples=resamples, seed=seed
    )
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return (float(low), float(high))


def compare_predictions(
    predictions: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    tied: np.ndarray | None = None,
) -> PairedComparison:
    """Paired comparison of a model's predictions with a reference model's, on the same images.

    ``tied``: per image, whether the model's top output was shared by two or more classes (see
    :func:`helpers.evaluate.tied_outputs`); then ``tied_flips`` counts the flips among them.
    """
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
        tied_flips=None if tied is None else int(np.sum((predictions != reference) & tied)),
    )


def per_class_comparisons(
    predictions: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray,
    num_classes: int = 10,
    tied: np.ndarray | None = None,
) -> list[PairedComparison]:
    """:func:`compare_predictions` on each class's images separately, corrected for testing
    ``num_classes`` classes at once.

    Ten independent tests at 5% each would give a 40% chance (1 - 0.95**10) of calling at
    least one class "changed" by chance alone. So the McNemar p-values are adjusted with the Benjamini-Hochberg procedure
    (``scipy.stats.false_discovery_control``), which keeps the expected share of false calls
    among the classes called below 5%; each returned comparison's ``p_value`` is the adjusted one
    (``raw_p_value`` keeps the per-class value), and its verdict needs the adjusted p below 0.05
    and the class's interval to exclude 0.
    """
    predictions, reference, labels = (np.asarray(a) for a in (predictions, reference, labels))
    raw = [
        compare_predictions(
            predictions[labels == c],
            reference[labels == c],
            labels[labels == c],
            tied=None if tied is None else np.asarray(tied)[labels == c],
        )
        for c in range(num_classes)
    ]
    adjusted = stats.false_discovery_control([r.p_value for r in raw], method="bh")
    return [
        replace(
            r,
            p_value=float(p),
            raw_p_value=r.p_value,
            verdict=verdict_from_interval(*r.ci95_pp, float(p)),
        )
        for r, p in zip(raw, adjusted, strict=True)
    ]


# --------------------------------------------------------------------------- non-inferiority

# "No real loss": the one margin of the tutorial. A file is non-inferior to a reference when the
# lower end of the 95% interval of its accuracy difference stays above -NONINFERIORITY_MARGIN_PP.
# Read at call time, so notebook 07's layer choice and the summary's recommendation follow it.
NONINFERIORITY_MARGIN_PP = 0.3
BORDERLINE_PP = 0.05  # a bound this close to the margin is reported as borderline


@dataclass(frozen=True)
class NonInferiority:
    """Is a model no worse than a reference by more than a margin, on these images?"""

    margin_pp: float
    delta_pp: float
    lower_bound_pp: float  # of the paired bootstrap 95% interval (the one every table shows)
    p_value: float  # one-sided, for "worse by the margin or more" (bootstrap, see below)
    non_inferior: bool  # lower_bound_pp > -margin_pp
    borderline: bool  # |lower_bound_pp + margin_pp| < BORDERLINE_PP
    images: int

    def as_dict(self) -> dict:
        return asdict(self)


def non_inferiority(
    predictions: np.ndarray,
    reference: np.ndarray,
    labels: np.ndarray,
    *,
    margin_pp: float | None = None,
    seed: int = 0,
) -> NonInferiority:
    """The tutorial's one rule for "no real loss" (margin :data:`NONINFERIORITY_MARGIN_PP`).

    The model is non-inferior when the lower bound of the paired bootstrap 95% interval of the
    accuracy difference (the same resamples as :func:`compare_predictions`, so the bound is the
    one the tables show) lies above ``-margin_pp``. The one-sided p-value for "the model is worse
    by the margin or more" is the share of resamples at or below ``-margin_pp``, counted as
    ``(k + 1) / (resamples + 1)`` so that it is never 0; it is below 2.5% exactly when the bound
    clears the margin. A bound within :data:`BORDERLINE_PP` of the margin is flagged: a few images,
    or another bootstrap seed, could move it across.
    """
    margin_pp = NONINFERIORITY_MARGIN_PP if margin_pp is None else float(margin_pp)
    predictions, reference, labels = (np.asarray(a) for a in (predictions, reference, labels))
    right, reference_right = predictions == labels, reference == labels
    only_model = int(np.sum(right & ~reference_right))
    only_reference = int(np.sum(~right & reference_right))
    total = len(labels)
    low, _ = bootstrap_delta_interval(only_model, only_reference, total, seed=seed)
    if only_model + only_reference == 0:
        below = 0
    else:
        deltas = bootstrap_deltas(only_model, only_reference, total, seed=seed)
        below = int(np.sum(deltas <= -margin_pp))
    return NonInferiority(
        margin_pp=margin_pp,
        delta_pp=(only_model - only_reference) / total * 100,
        lower_bound_pp=low,
        p_value=(below + 1) / (BOOTSTRAP_RESAMPLES + 1),
        non_inferior=low > -margin_pp,
        borderline=abs(low + margin_pp) < BORDERLINE_PP,
        images=total,
    )


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
