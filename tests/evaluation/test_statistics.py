"""Bootstrap intervals and paired differences against hand-computed bootstrap distributions."""

from __future__ import annotations

import numpy as np
import pytest

from acoustic_ssl.evaluation.statistics import (
    bootstrap_ci,
    cluster_weights,
    paired_difference,
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
    from acoustic_ssl.evaluation.localization import THRESHOLDS, auc, success_curve, weighted_auc

    cious = np.array([0.0, 0.4, 1.0, 0.55])
    expected = auc(THRESHOLDS, success_curve(cious))
    assert weighted_auc(cious, np.ones((1, 4)))[0] == pytest.approx(expected)
    # weight 2 on the first sample = the sample duplicated
    duplicated = auc(THRESHOLDS, success_curve(np.r_[cious, cious[:1]]))
    assert weighted_auc(cious, np.array([[2.0, 1, 1, 1]]))[0] == pytest.approx(duplicated)


def test_verdict_at_an_interval_touching_zero_is_no_detectable_difference() -> None:
    """Only an interval wholly below zero is a loss, wholly above a gain: an end exactly at 0 is neither."""
    from acoustic_ssl.evaluation.statistics import Difference

    assert Difference(-0.5, -1.0, 0.0).verdict == "no detectable difference"
    assert Difference(0.5, 0.0, 1.0).verdict == "no detectable difference"
    assert Difference(-0.5, -1.0, -1e-12).verdict == "loss"
    assert Difference(0.5, 1e-12, 1.0).verdict == "gain"
    # by the bootstrap: per-video differences -1 (video 0) and 0 (video 1): replicates -1, -1/2, 0 w.p.
    # 1/4, 1/2, 1/4, so the interval is [-1, 0] exactly: it touches zero and is no loss
    first = np.array([0.0, 0.0, 0.0, 0.0])
    second = np.array([1.0, 1.0, 0.0, 0.0])
    diff = paired_difference(first, second, clusters=[0, 0, 1, 1])
    assert (diff.difference, diff.low, diff.high) == (-0.5, -1.0, 0.0)
    assert diff.verdict == "no detectable difference"
    assert paired_difference(second, first, clusters=[0, 0, 1, 1]).verdict == "no detectable difference"


def test_several_seeds_are_averaged_within_a_replicate() -> None:
    """Four seeds scoring 0, 0, 0, 1 on every clip: a replicate draws four seeds and averages them, so its
    value is k/4 with k ~ Binomial(4, 1/4): P(k ≤ 2) = 0.949, P(k ≤ 3) = 0.996, so the 95% interval is
    [0, 0.75]. One seed per replicate ("one draw") would reach 1 with probability 1/4. Two seeds could not
    tell the two apart ({0, 1/2, 1} and {0, 1} have the same 2.5% and 97.5% quantiles here)."""
    values = np.array([[0.0] * 6, [0.0] * 6, [0.0] * 6, [1.0] * 6])
    interval = bootstrap_ci(values, clusters=[0, 0, 1, 1, 2, 2])
    assert interval.estimate == 0.25
    assert (interval.low, interval.high) == (0.0, 0.75)
    # the same per-seed draws apply to both sides of a paired difference: a model against itself is 0
    same = paired_difference(values, values, clusters=[0, 0, 1, 1, 2, 2])
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)


def test_seeds_and_videos_are_resampled_together_against_a_naive_loop() -> None:
    """Three seeds × six clips of three videos in two classes: the replicates equal a plain loop over the
    same draws (videos within class from the weight matrix, seeds with replacement, mean over drawn seeds)."""
    from acoustic_ssl.evaluation.statistics import _replicates

    rng = np.random.default_rng(7)
    values = rng.random((3, 6))
    clusters, strata = [0, 0, 1, 2, 2, 2], [0, 0, 0, 1, 1, 1]
    _, (replicates,) = _replicates([values], clusters, strata, weighted_mean, 50, 11)
    draws = np.random.default_rng(11)
    weights = cluster_weights(clusters, strata, 6, 50, draws)
    seeds = draws.integers(0, 3, size=(50, 3))
    naive = [np.mean([np.sum(weights[b] * values[s]) / np.sum(weights[b]) for s in seeds[b]])
             for b in range(50)]
    np.testing.assert_allclose(replicates, naive, rtol=1e-12)
    assert np.ptp(replicates) > 0.1
