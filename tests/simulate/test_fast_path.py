"""The simulator's fast paths equal the former, plain implementations, kept here as references.

* Sources: the reference renders every microphone's signal sample by sample (emission time per microphone
  every 8 samples, 4-point Lagrange interpolation of the 8× upsampled source), as the simulator did before it
  rendered a centre signal once and the microphones' residual delays as crossfaded FIR matrix products. On
  short scenes with a moving class source, an extra on-screen source, silent distractors, interferers and (for
  one) a room, the quantised microphone frames of both (the same noise added) agree within −60 dB of the
  signal's RMS in every frame, and every MFCC of the acoustic images beamformed from them within 3e-3 of its
  range over the image (the highest coefficients, of small range, differ most: 1e-3).
* Frames: the BMP and MAT bytes built with NumPy equal PIL's and scipy's encodings (the former writers).
* Diffuse noise: the former generator (2048-sample sine-windowed blocks, hop 1024) and the current one (one
  frame plus a 128-sample crossfade per block) draw different samples; their statistics agree: variance in
  every eighth of the frame within 3 %, the coherence of near, middle and far microphone pairs within 0.06
  in every band, the spectrum within 5 %.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
import scipy.fft
import scipy.io
import torch
from PIL import Image

from acoustic_ssl.data.layout import SAMPLES_PER_FRAME
from acoustic_ssl.data.raw_writer import bmp_bytes, mat_bytes
from acoustic_ssl.imaging.beamform import Beamformer
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.simulate.propagation import (
    DIFFUSE_DIRECTIONS,
    FS,
    OVERSAMPLE,
    SPEED_OF_SOUND,
    DiffuseNoise,
    PointSource,
    Trajectory,
    fibonacci_sphere,
    random_rotation,
)
from acoustic_ssl.simulate.render import microphone_frames, quantise
from acoustic_ssl.simulate.room import INDOOR_ROOMS, Reverberation
from acoustic_ssl.simulate.scene import Composition, Scene, make_scene

MICS = ArrayGeometry.default().positions
FRAME_TOLERANCE_DB = -60.0  # error power of every frame (all microphones) relative to the signal's mean power
IMAGE_TOLERANCE = 3e-3  # largest MFCC difference relative to its range over the image (max − min)
VARIANCE_TOLERANCE, COHERENCE_TOLERANCE, SPECTRUM_TOLERANCE = 0.03, 0.06, 0.05


class PerSamplePointSource(PointSource):
    """The former renderer: every microphone's emission time every ``step`` samples, linear in between, and
    4-point Lagrange interpolation of the 8× upsampled signal at every sample.

    It reads the same upsampled signal as the fast renderer. (That upsampling now pads the signal's period to
    a fast FFT length; the band-limited signal it interpolates between the samples differs from the former
    unpadded period's by up to -54 dB near the clip's ends: another interpolant of the same samples.)
    """

    def render(self, mic_positions: np.ndarray, first_sample: int, n: int = SAMPLES_PER_FRAME,
               step: int = 8) -> np.ndarray:
        coarse = np.arange(0, n + step, step)
        distance = self.distances(mic_positions, first_sample + coarse)
        position = (coarse[None, :] - distance * (FS / SPEED_OF_SOUND)) * OVERSAMPLE
        fraction = np.arange(step) / step

        def fill(knots: np.ndarray) -> np.ndarray:
            between = knots[:, :-1, None] + (knots[:, 1:] - knots[:, :-1])[:, :, None] * fraction
            return between.reshape(len(mic_positions), -1)[:, :n]

        q, gain = fill(position), fill(self.gain / distance)
        floor = np.floor(q)
        mu = (q - floor).astype(np.float32)
        i = floor.astype(np.int64) + (first_sample + self.lead) * OVERSAMPLE - 1
        taps = [self._upsampled[i + k] for k in range(4)]
        value = (
            taps[0] * (-mu * (mu - 1.0) * (mu - 2.0) / 6.0)
            + taps[1] * ((mu + 1.0) * (mu - 1.0) * (mu - 2.0) / 2.0)
            + taps[2] * (-(mu + 1.0) * mu * (mu - 2.0) / 2.0)
            + taps[3] * ((mu + 1.0) * mu * (mu - 1.0) / 6.0)
        )
        return value * gain


class FormerDiffuseNoise:
    """The former diffuse noise: steering phasors from float32 phases, one batched product for all bins, the
    inverse FFT on the strided (bins-first) result, twelve sine-windowed blocks at a time."""

    block = 2 * SAMPLES_PER_FRAME

    def __init__(self, mic_positions: np.ndarray, rng: np.random.Generator, tilt_db: float) -> None:
        self._rng = rng
        directions = fibonacci_sphere(DIFFUSE_DIRECTIONS) @ random_rotation(rng).T
        freqs = np.fft.rfftfreq(self.block, 1.0 / FS)
        lead = mic_positions @ directions.T / SPEED_OF_SOUND
        phase = (2.0 * np.pi * freqs).astype(np.float32)[:, None, None] * lead.astype(np.float32)[None]
        self._steering = (np.cos(phase) + 1j * np.sin(phase)).astype(np.complex64)  # (K, M, D)
        shape = (np.maximum(freqs, 100.0) / 100.0) ** (tilt_db / 6.0206)
        shape[freqs < 20.0] = 0.0
        power = (shape[0] ** 2 + 2.0 * np.sum(shape[1:-1] ** 2) + shape[-1] ** 2) / self.block
        self._shape = (shape / np.sqrt(power) / np.sqrt(DIFFUSE_DIRECTIONS)).astype(np.float32)
        self._window = np.sin(np.pi * (np.arange(self.block) + 0.5) / self.block).astype(np.float32)
        self._queue: list[np.ndarray] = []
        self._carry = self._new_blocks(1)[0, :, SAMPLES_PER_FRAME:]

    def _new_blocks(self, count: int) -> np.ndarray:
        white = scipy.fft.rfft(self._rng.standard_normal((count, DIFFUSE_DIRECTIONS, self.block)), axis=-1)
        spectra = white.astype(np.complex64).transpose(2, 1, 0) * self._shape[:, None, None]  # (K, D, count)
        at_mics = np.matmul(self._steering, spectra)  # (K, M, count)
        return scipy.fft.irfft(at_mics.transpose(2, 1, 0), self.block, axis=-1) * self._window

    def next_frame(self) -> np.ndarray:
        if not self._queue:
            self._queue = list(self._new_blocks(12))[::-1]
        block = self._queue.pop()
        frame = self._carry + block[:, :SAMPLES_PER_FRAME]
        self._carry = block[:, SAMPLES_PER_FRAME:]
        return frame


def per_sample_frames(scene: Scene, mic_positions: np.ndarray) -> Iterator[np.ndarray]:
    """The former ``render.microphone_frames`` (sources, room, diffuse and sensor noise, frame by frame) with
    the per-sample renderer and the current diffuse noise (the same draws as the fast path's)."""
    sources = [PerSamplePointSource(s.signal, s.lead, s.trajectory, s.gain) for s in scene.sources]
    diffuse = DiffuseNoise(mic_positions, scene.noise_rng, scene.diffuse_tilt_db)
    sensor = torch.Generator().manual_seed(int(scene.noise_rng.integers(2**62)))
    reverberation = None
    if scene.room is not None:
        signals = [(s.signal, s.lead, s.trajectory, s.gain) for s in scene.sources]
        reverberation = Reverberation(scene.room, mic_positions, signals, scene.num_frames, scene.room_rng)
    for k in range(scene.num_frames):
        pressure = sum(source.render(mic_positions, k * SAMPLES_PER_FRAME) for source in sources)
        if reverberation is not None:
            pressure += reverberation.next_frame()
        pressure += scene.diffuse_std * diffuse.next_frame()  # the fast path scales the spectra instead
        pressure += scene.sensor_std * torch.randn(pressure.shape, generator=sensor).numpy()
        yield quantise(torch.from_numpy(pressure))


def _scene(class_index: int, room: bool) -> Scene:
    return make_scene(
        class_index,
        1,
        20.0,
        PinholeCamera(),
        np.random.SeedSequence(2024, spawn_key=(class_index,)),
        room=INDOOR_ROOMS[class_index] if room else None,
        composition=Composition(distractors=2, extra_sources=1),
    )


@pytest.fixture(scope="module")
def beamformer() -> Beamformer:
    return Beamformer(ArrayGeometry.default())


def test_upsampled_signal_passes_through_the_samples() -> None:
    """Padding the period to a fast FFT length keeps the interpolation exact at the samples, even and odd
    lengths alike (an even period's Nyquist bin is split between ±fs/2, not doubled)."""
    path = Trajectory(0.0, 1.0, np.zeros((2, 3)))
    for length in (25225, 25226, 4097):
        signal = np.random.default_rng(length).standard_normal(length)
        upsampled = PointSource(signal, 0, path)._upsampled
        assert np.abs(upsampled[: length * OVERSAMPLE : OVERSAMPLE] - signal).max() < 1e-5


# a train passing at up to 20 m/s (the fastest residual-delay motion) in free field; a hoover in its room
@pytest.mark.parametrize(("class_index", "room"), [(0, False), (7, True)])
def test_fast_renderer_equals_the_per_sample_one(
    class_index: int, room: bool, beamformer: Beamformer
) -> None:
    scene = _scene(class_index, room)
    assert scene.distractors and len(scene.sources) >= 2 and (scene.room is not None) == room
    expected = np.stack(list(per_sample_frames(_scene(class_index, room), MICS))).astype(np.float64)
    got = np.stack(list(microphone_frames(scene, MICS))).astype(np.float64)
    power = np.mean(expected**2)
    error_db = 10 * np.log10(np.mean((got - expected) ** 2, axis=(1, 2)) / power)
    assert error_db.max() < FRAME_TOLERANCE_DB, error_db.max()

    images, reference = beamformer.images(got), beamformer.images(expected)
    spread = reference.max(axis=(1, 2), keepdims=True) - reference.min(axis=(1, 2), keepdims=True)
    worst = float(np.max(np.abs(images - reference) / spread))
    assert worst < IMAGE_TOLERANCE, worst


def _noise_statistics(noise_type: type, seeds: int = 6, frames: int = 48) -> dict[str, np.ndarray]:
    """Variance per position in the frame, coherence of three microphone pairs per band, mean spectrum."""
    frames_all = np.concatenate([
        np.stack([noise.next_frame() for _ in range(frames)])
        for noise in (noise_type(MICS, np.random.default_rng(seed), -3.0) for seed in range(seeds))
    ])  # (frames, M, 1024)
    spectra = np.fft.rfft(frames_all * np.hanning(SAMPLES_PER_FRAME), axis=-1)
    power = np.mean(np.abs(spectra) ** 2, axis=0)  # (M, bins)
    distance = np.linalg.norm(MICS[:, None] - MICS[None], axis=-1)
    coherence = []
    for metres in (0.05, 0.15, 0.3):
        other = int(np.argmin(np.abs(distance[0] - metres)))
        cross = np.mean(spectra[:, 0] * np.conj(spectra[:, other]), axis=0)
        coherence.append(np.real(cross) / np.sqrt(power[0] * power[other]))
    bands = np.array_split(np.arange(2, 512), 15)  # 15 bands of 34 bins (~400 Hz)
    return {
        "variance": frames_all.reshape(-1, 8, 128).var(axis=(0, 2)),  # per eighth of the frame
        "coherence": np.array([[c[band].mean() for band in bands] for c in coherence]),
        "spectrum": np.array([power[:, band].mean() for band in bands]),
    }


def test_diffuse_noise_statistics_equal_the_former_generator() -> None:
    former, current = _noise_statistics(FormerDiffuseNoise), _noise_statistics(DiffuseNoise)
    assert np.abs(current["variance"] / former["variance"].mean() - 1.0).max() < VARIANCE_TOLERANCE
    assert np.abs(current["coherence"] - former["coherence"]).max() < COHERENCE_TOLERANCE
    assert np.abs(current["spectrum"] / former["spectrum"] - 1.0).max() < SPECTRUM_TOLERANCE


@pytest.mark.parametrize("shape", [(120, 160), (24, 32), (17, 21), (5, 3)])  # rows padded to 4 bytes or not
def test_bmp_bytes_equal_pil_encoding(shape: tuple[int, int]) -> None:
    bgr = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3)).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])).save(encoded, format="BMP")
    assert bmp_bytes(bgr) == encoded.getvalue()


def test_mat_bytes_equal_scipy_encoding() -> None:
    mfcc = np.random.default_rng(5).standard_normal((36, 48, 12)).astype(np.float32)
    encoded = io.BytesIO()
    scipy.io.savemat(encoded, {"MFCC": mfcc}, do_compression=False)
    written = mat_bytes(mfcc)
    assert written[116:] == encoded.getvalue()[116:]  # scipy's own text header carries the time
    assert scipy.io.loadmat(io.BytesIO(written))["MFCC"].tobytes() == mfcc.tobytes()
