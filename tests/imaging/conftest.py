"""Shared fixtures for the imaging tests: the default array, camera, one full-size beamformer, plane waves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from acoustic_ssl.imaging.beamform import Beamformer
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.imaging.setup import ImagingSetup

SAMPLE_RATE = 12288
N_FFT = 1024
SPEED = 343.0

PlaneWave = Callable[..., np.ndarray]


@pytest.fixture(scope="session")
def geometry() -> ArrayGeometry:
    return ArrayGeometry.default()


@pytest.fixture(scope="session")
def camera() -> PinholeCamera:
    return PinholeCamera()


@pytest.fixture(scope="session")
def beamformer(geometry: ArrayGeometry, camera: PinholeCamera) -> Beamformer:
    """The full 36x48 beamformer (steering cached once for the whole session)."""
    return Beamformer(ImagingSetup(geometry, camera))


def _plane_wave(
    geometry: ArrayGeometry,
    direction: np.ndarray,
    n_frames: int = 1,
    seed: int = 0,
    tone_hz: float | None = None,
    noise: float = 0.0,
) -> np.ndarray:
    """Frames (F, M, 1024) of a far-field source in unit ``direction``, delayed exactly per microphone.

    Broadband: white noise delayed by a phase ramp in the frequency domain over a longer signal, then the
    middle frames are cut (so the delays are genuine, not circular). Tonal: a cosine at the shifted times.
    """
    rng = np.random.default_rng(seed)
    lead = geometry.positions @ np.asarray(direction, float) / SPEED  # (M,) s, mic m hears the source earlier
    if tone_hz is not None:
        t = np.arange(n_frames * N_FFT) / SAMPLE_RATE
        signals = np.cos(2 * np.pi * tone_hz * (t[None, :] + lead[:, None]))
    else:
        length = (n_frames + 2) * N_FFT
        spectrum = np.fft.rfft(rng.standard_normal(length))
        freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
        shifted = spectrum[None, :] * np.exp(2j * np.pi * freqs[None, :] * lead[:, None])
        signals = np.fft.irfft(shifted, n=length, axis=-1)[:, N_FFT : (n_frames + 1) * N_FFT]
    signals = signals + noise * rng.standard_normal(signals.shape)
    return signals.reshape(len(lead), n_frames, N_FFT).transpose(1, 0, 2)


@pytest.fixture(scope="session")
def plane_wave() -> PlaneWave:
    return _plane_wave


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread: these small batched matmuls gain little from two, and a busy shared runner makes
    OpenMP barriers between two threads very slow."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
