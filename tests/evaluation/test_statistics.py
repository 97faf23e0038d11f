"""Bootstrap intervals and paired differences against hand-computed bootstrap distributions."""

from __future__ import annotations

import numpy as np
import pytest

from acoustic_ssl.evaluation.statistics import (
    bootstrap_ci,
    cluster_weights,
    paired_difference,
    weighted_auc,
    weighted_mean,
)


def test_videos_are_resampled_whole() -> None:
    """Video A: three clips, all hits; video B: one clip, a miss. Drawing 2 videos with replacement gives
    {A, A} → 1, {A, B} → 3/4, {B, B} → 0 with probabilities 1/4, 1/2, 1/4: the 95% interval is [0, 1]
    (resampling single clips would give a mean of k/4 with k ~ Binomial(4, 3/4), never 0 in practice)."""
    hits = np.array([1.0, 1.0, 1.0, 0.0])
    interval = bootstrap_ci(hits, clusters=[7, 7, 7, 9])
    assert interval.estimate == 0.75
    assert (interval.low, interval.high) == (0.0, 1.0)
    weights = cluster_weights([7, 7, 7, 9], None, 4, 4000, np.random.default_rng(0))
    replicate = weighted_mean(hits, weights)
    for value, probability in ((1.0, 0.25), (0.75, 0.5), (0.0, 0.25)):
        assert np.mean(replicate == value) == pytest.approx(probability, abs=0.03)
    assert bootstrap_ci(hits).low > 0.0  # clips as if independent: a narrower, over-confident interval


def test_strata_keep_their_number_of_videos() -> None:
    """Class 0: two videos, both hits; class 1: a hit and a miss. Within-class resampling keeps two videos
    per class: mean = (2 + x + y) / 4 with x, y drawn from {0, 1}: 1/2, 3/4, 1 w.p. 1/4, 1/2, 1/4."""
    hits = np.array([1.0, 1.0, 1.0, 0.0])
    classes = np.array([0, 0, 1, 1])
    interval = bootstrap_ci(hits, clusters=[0, 1, 2, 3], strata=classes)
    assert interval.estimate == 0.75
    assert (interval.low, interval.high) == (0.5, 1.0)
    unstratified = bootstrap_ci(hits, clusters=[0, 1, 2, 3])
    assert unstratified.low == 0.25  # one hit in four draws is possible when classes are not kept


def test_three_videos_binomial_quantiles() -> None:
    """Means 0, 0, 1 (one clip each): replicate = k/3, k ~ Binomial(3, 1/3), P(k=3) = 1/27 > 2.5%."""
    interval = bootstrap_ci([0.0, 0.0, 1.0])
    assert interval.estimate == pytest.approx(1 / 3)
    assert (interval.low, interval.high) == (0.0, 1.0)


def test_large_sample_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(3)
    hits = (rng.random(400) < 0.5).astype(float)
    interval = bootstrap_ci(hits)
    half_width = (interval.high - interval.low) / 2
    assert half_width == pytest.approx(1.96 * np.sqrt(0.25 / 400), rel=0.12)
    assert interval.low < interval.estimate < interval.high


def test_missing_outcomes_are_ignored() -> None:
    interval = bootstrap_ci([1.0, None, 0.0, 1.0, None])
    assert interval.estimate == pytest.approx(2 / 3)


def test_same_input_same_interval() -> None:
    values = np.random.default_rng(1).random(50)
    assert bootstrap_ci(values) == bootstrap_ci(values)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values)


def test_seeds_are_resampled() -> None:
    """Two seeds whose scores are 0.2 and 0.8 on every clip: a replicate draws two seeds, so its value is
    0.2, 0.5 or 0.8 (w.p. 1/4, 1/2, 1/4) whatever the clips: the interval is [0.2, 0.8]."""
    values = np.array([[0.2] * 30, [0.8] * 30])
    interval = bootstrap_ci(values)
    assert interval.estimate == pytest.approx(0.5)
    assert (interval.low, interval.high) == pytest.approx((0.2, 0.8))


def test_paired_difference_and_verdicts() -> None:
    rng = np.random.default_rng(0)
    base = rng.random(60)  # large between-clip spread
    better = base + 0.05
    diff = paired_difference(better, base)
    assert diff.difference == pytest.approx(0.05)
    assert diff.low == pytest.approx(0.05) and diff.high == pytest.approx(0.05)
    assert diff.verdict == "gain" and paired_difference(base, better).verdict == "loss"
    assert diff.as_dict() == {"difference": pytest.approx(0.05), "ci95": [pytest.approx(0.05)] * 2,
                              "verdict": "gain"}
    # unpaired, the same 0.05 would be lost in the spread of the clips
    unpaired = bootstrap_ci(better)
    assert unpaired.high - unpaired.low > 0.1
    noise = paired_difference(rng.random(60), rng.random(60))
    assert noise.verdict == "no detectable difference" and noise.low < 0 < noise.high


def test_paired_difference_hand_example() -> None:
    """Per-video differences +1 (video 0, two clips) and 0 (video 1, two clips): replicate differences
    1, 1/2, 0 w.p. 1/4, 1/2, 1/4 → estimate 1/2, interval [0, 1], verdict: no detectable difference."""
    first = np.array([1.0, 1.0, 0.0, 0.0])
    second = np.array([0.0, 0.0, 0.0, 0.0])
    diff = paired_difference(first, second, clusters=[0, 0, 1, 1])
    assert (diff.difference, diff.low, diff.high) == (0.5, 0.0, 1.0)
    assert diff.verdict == "no detectable difference"


def test_one_seed_baseline_against_several_seeds() -> None:
    learned = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0]])
    baseline = np.array([0.0, 0.0, 0.0, 0.0])
    diff = paired_difference(learned, baseline)
    assert diff.difference == pytest.approx(0.75)
    with pytest.raises(ValueError, match="same samples"):
        paired_difference(learned, baseline[:3])


def test_weighted_auc_matches_the_success_curve() -> None:
    from acoustic_ssl.evaluation.localization import THRESHOLDS, auc, success_curve

    cious = np.array([0.0, 0.4, 1.0, 0.55])
    expected = auc(THRESHOLDS, success_curve(cious))
    assert weighted_auc(cious, np.ones((1, 4)))[0] == pytest.approx(expected)
    # weight 2 on the first sample = the sample duplicated
    duplicated = auc(THRESHOLDS, success_curve(np.r_[cious, cious[:1]]))
    assert weighted_auc(cious, np.array([[2.0, 1, 1, 1]]))[0] == pytest.approx(duplicated)
