"""The per-pixel MFCC recipe against an independent hand computation, and its approximate inverse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acoustic_ssl.imaging.mfcc import mfcc_to_energy, power_to_mfcc


def _hand_mfcc(power: np.ndarray, sample_rate: float) -> np.ndarray:
    """The recipe with plain loops: 24 HTK-mel triangles 0-6400 Hz, floor 1e-3, ln, DCT-II, lifter 22."""

    def mel(hz: float) -> float:
        return 1127.0 * math.log(1.0 + hz / 700.0)  # = 2595 log10(1 + f/700)

    def hz(m: float) -> float:
        return 700.0 * (math.exp(m / 1127.0) - 1.0)

    edges = [hz(mel(0.0) + i * (mel(6400.0) - mel(0.0)) / 25) for i in range(26)]
    energies = []
    for m in range(24):
        total = 0.0
        for k in range(512):
            f = k * sample_rate / 1024
            if edges[m] <= f <= edges[m + 1]:
                weight = (f - edges[m]) / (edges[m + 1] - edges[m])
            elif edges[m + 1] < f <= edges[m + 2]:
                weight = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1])
            else:
                weight = 0.0
            total += weight * power[k]
        energies.append(math.log(max(total, 1e-3)))
    coefficients = []
    for k in range(12):
        c = math.sqrt(2.0 / 24) * sum(energies[m] * math.cos(math.pi * k * (m + 0.5) / 24) for m in range(24))
        coefficients.append(c * (1.0 + 11.0 * math.sin(math.pi * k / 22)))
    return np.array(coefficients)


@pytest.mark.parametrize("sample_rate", [12288, 12800])
def test_power_to_mfcc_matches_hand_computation(sample_rate: int) -> None:
    rng = np.random.default_rng(3)
    power = rng.exponential(5.0, size=512) * np.linspace(2.0, 0.1, 512)
    power[:40] = 0.0  # some bands under the floor
    ours = power_to_mfcc(power[None, None], sample_rate=sample_rate)[0, 0]
    assert ours.dtype == np.float32 and ours.shape == (12,)
    np.testing.assert_allclose(ours, _hand_mfcc(power, sample_rate), rtol=1e-5, atol=1e-5)


def test_sample_rate_variant_differs() -> None:
    power = np.random.default_rng(4).exponential(1.0, size=(3, 512))
    assert np.abs(power_to_mfcc(power, 12288) - power_to_mfcc(power, 12800)).max() > 1e-2


def test_energy_inverts_a_flat_spectrum_exactly() -> None:
    # constant log mel energy lives entirely in c0, which the truncated inverse DCT keeps
    mfcc = np.zeros(12)
    mfcc[0] = math.sqrt(2.0 / 24) * 24 * math.log(7.0)
    assert mfcc_to_energy(mfcc) == pytest.approx(24 * 7.0)


def test_energy_scales_with_power_and_orders_pixels() -> None:
    power = np.random.default_rng(5).exponential(10.0, size=(4, 512)) + 1.0
    energy = mfcc_to_energy(power_to_mfcc(power))
    louder = mfcc_to_energy(power_to_mfcc(10.0 * power))
    np.testing.assert_allclose(louder, 10.0 * energy, rtol=1e-5)
    quiet, loud = mfcc_to_energy(power_to_mfcc(np.stack([power[0], 3.0 * power[0]])))
    assert loud > quiet
    assert energy.shape == (4,)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="512"):
        power_to_mfcc(np.ones((2, 513)))
    with pytest.raises(ValueError, match="12"):
        mfcc_to_energy(np.ones((2, 13)))


def test_filterbank_takes_a_band_count_and_keeps_the_recipe_by_default() -> None:
    """``n_mels`` spaces that many triangles between the same edges; the default is still the recipe's 24."""
    from acoustic_ssl.imaging.mfcc import mel_filterbank

    recipe = mel_filterbank()
    assert recipe.shape == (24, 512)
    np.testing.assert_array_equal(mel_filterbank(n_mels=24), recipe)
    bank = mel_filterbank(22050, 512, 257, 0.0, 6144.0, n_mels=64)
    assert bank.shape == (64, 257) and np.all(bank.max(axis=1) > 0)  # every band holds a bin at this rate
    top = 2595.0 * math.log10(1.0 + 6144.0 / 700.0)
    edges = [700.0 * (10.0 ** (top * i / 65 / 2595.0) - 1.0) for i in range(66)]
    k = 100  # bin 100 (4306.6 Hz): on the rising side of the band whose lower edge is just below it
    f = k * 22050 / 512
    m = max(i for i in range(64) if edges[i] <= f)
    assert edges[m] <= f < edges[m + 1]
    assert bank[m, k] == pytest.approx((f - edges[m]) / (edges[m + 1] - edges[m]), rel=1e-9)
    assert bank[m - 1, k] == pytest.approx((edges[m + 1] - f) / (edges[m + 1] - edges[m]), rel=1e-9)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(n_mels=0)
