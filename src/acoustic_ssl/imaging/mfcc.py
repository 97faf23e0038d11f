"""Per-pixel MFCC of acoustic images, with the recipe the dataset authors used, and its approximate inverse.

Recipe (``power_to_mfcc``), applied to the last axis of a power spectrum holding bins ``0 … 511`` of a
1024-point FFT (bin ``k`` at ``k · sample_rate / 1024`` Hz):

1. 24 triangular filters, HTK mel scale ``mel(f) = 2595 · log10(1 + f / 700)``, edges equally spaced in mel
   from 0 Hz to 6400 Hz (26 edges); filter ``m`` rises linearly from edge ``m`` to edge ``m + 1`` and falls to
   edge ``m + 2`` (peak 1, no area normalisation), evaluated at the bin frequencies;
2. mel energies floored at 1e-3, natural log;
3. DCT-II to 12 coefficients ``c_k = sqrt(2/24) · Σ_m log E_m · cos(π k (m + 0.5) / 24)``, ``k = 0 … 11``
   (``c_0`` kept: it carries the loudness a localisation map needs);
4. sine lifter ``c_k · (1 + (L/2) · sin(π k / L))`` with ``L = 22``.

The sensor runs at 12 288 Hz (12 frames × 1024 samples per second), the default ``sample_rate``; one of the
original MFCC routines assumed 12 800 Hz, which only moves the filters relative to the bins — pass
``sample_rate=12800`` to reproduce that variant. Above the Nyquist frequency (6144 Hz at 12 288 Hz) the top
filter is simply truncated.

``mfcc_to_energy`` undoes the lifter, inverts the DCT by least squares (the 12 rows are orthogonal, ``c_0``'s
has twice the norm of the others), exponentiates and sums over the 24 mel bands: a smooth, positive per-pixel
energy used for localisation maps. It is approximate because 12 of 24 cepstral terms and the floor are lost.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

SENSOR_SAMPLE_RATE = 12288
N_FFT = 1024
N_BINS = 512
N_MELS = 24
N_MFCC = 12
F_MIN_HZ, F_MAX_HZ = 0.0, 6400.0
MEL_FLOOR = 1e-3
LIFTER = 22


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=16)
def mel_filterbank(
    sample_rate: float = SENSOR_SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_bins: int = N_BINS,
    f_min_hz: float = F_MIN_HZ,
    f_max_hz: float = F_MAX_HZ,
    n_mels: int = N_MELS,
) -> np.ndarray:
    """Triangular filters (n_mels, n_bins) float64 over bins ``0 … n_bins-1`` (read-only, cached).

    The ``n_mels + 2`` edges (26 for the recipe's 24 bands) are equally spaced in mel from ``f_min_hz`` to
    ``f_max_hz`` whatever the sample rate, so a band means the same frequencies at every rate; bands above
    the Nyquist frequency are empty (zero rows). Other band counts serve other front ends (the log-mel
    baseline of ``evaluation.baselines``: 64 bands)."""
    if n_mels < 1:
        raise ValueError(f"n_mels must be at least 1, got {n_mels}")
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min_hz), hz_to_mel(f_max_hz), n_mels + 2))
    freqs = np.arange(n_bins) * sample_rate / n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    bank.setflags(write=False)
    return bank


@functools.lru_cache(maxsize=1)
def dct_matrix() -> np.ndarray:
    """DCT-II (12, 24) with the recipe's sqrt(2/24) scale on every row (read-only, cached)."""
    k = np.arange(N_MFCC)[:, None]
    m = np.arange(N_MELS)[None, :]
    matrix = np.sqrt(2.0 / N_MELS) * np.cos(np.pi * k * (m + 0.5) / N_MELS)
    matrix.setflags(write=False)
    return matrix


@functools.lru_cache(maxsize=1)
def lifter_weights() -> np.ndarray:
    """Sine lifter (12,) ``1 + (L/2) sin(π k / L)``."""
    weights = 1.0 + (LIFTER / 2.0) * np.sin(np.pi * np.arange(N_MFCC) / LIFTER)
    weights.setflags(write=False)
    return weights


def _is_tensor(value: Any) -> bool:
    """A torch tensor, without importing torch for NumPy callers (a tensor means torch is loaded)."""
    return "torch" in sys.modules and isinstance(value, sys.modules["torch"].Tensor)


def mel_energies_to_mfcc(mel: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Steps 2-4 of the recipe on mel energies (..., 24): floor, log, DCT, lifter -> (..., 12), float64.

    A tensor stays on its device (the GPU beamformer's images never leave it), with the same matrices."""
    if _is_tensor(mel):
        import torch

        log_mel = mel.to(torch.float64).clamp(min=MEL_FLOOR).log()
        dct = torch.from_numpy(np.array(dct_matrix().T)).to(mel.device)
        return (log_mel @ dct) * torch.from_numpy(np.array(lifter_weights())).to(mel.device)
    log_mel = np.log(np.maximum(np.asarray(mel, dtype=np.float64), MEL_FLOOR))
    return (log_mel @ dct_matrix().T) * lifter_weights()


def power_to_mfcc(power: np.ndarray, sample_rate: float = SENSOR_SAMPLE_RATE) -> np.ndarray:
    """MFCC (..., 12) float32 of a power spectrum (..., 512) with the reference recipe (module docstring)."""
    power = np.asarray(power)
    if power.shape[-1] != N_BINS:
        raise ValueError(f"power spectrum must have {N_BINS} bins on its last axis, got {power.shape}")
    mel = power.astype(np.float64, copy=False) @ mel_filterbank(float(sample_rate)).T
    return mel_energies_to_mfcc(mel).astype(np.float32)


def mfcc_to_log_mel(mfcc: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Approximate log mel energies (..., 24): undo the lifter, least-squares inverse DCT.

    A tensor stays a tensor on its device and in its float dtype (a training objective's target)."""
    inverse = np.linalg.pinv(dct_matrix()).T  # [12, 24]
    if _is_tensor(mfcc):
        import torch

        dtype = mfcc.dtype if mfcc.is_floating_point() else torch.float32
        lifter = torch.tensor(lifter_weights(), dtype=dtype, device=mfcc.device)
        return (mfcc.to(dtype) / lifter) @ torch.tensor(inverse, dtype=dtype, device=mfcc.device)
    return (np.asarray(mfcc, dtype=np.float64) / lifter_weights()) @ inverse


def energy_map(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Energy [B,36,48] float32 of acoustic images [B,F,12,36,48] (MFCC channels first, as batches hold them):
    ``mfcc_to_energy`` of their mean over the F frames. The one rule for the maps that localisation scores,
    of true and of generated images alike."""
    if _is_tensor(images):
        images = images.detach().cpu()
        array = (images if images.is_floating_point() and images.itemsize >= 4 else images.double()).numpy()
    else:
        array = np.asarray(images)
    mean = array.mean(axis=1, dtype=np.float64)  # accumulated in float64 without a float64 copy of the frames
    return mfcc_to_energy(np.moveaxis(mean, -3, -1)).astype(np.float32)


def mfcc_to_energy(mfcc: np.ndarray) -> np.ndarray:
    """Approximate acoustic energy (...) of MFCC vectors (..., 12): exp of the inverted log mel, summed."""
    mfcc = np.asarray(mfcc)
    if mfcc.shape[-1] != N_MFCC:
        raise ValueError(f"MFCC must have {N_MFCC} coefficients on its last axis, got {mfcc.shape}")
    return np.exp(mfcc_to_log_mel(mfcc)).sum(axis=-1)
