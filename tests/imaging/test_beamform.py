"""Delay-and-sum imaging: point sources land in the right stored cell, lobe width, orientation, precision."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.beamform import Beamformer, direct_power, point_symmetric_pairs
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera, stored_to_video
from acoustic_ssl.imaging.mfcc import mfcc_to_energy, power_to_mfcc
from acoustic_ssl.imaging.setup import ImagingSetup

PlaneWave = Callable[..., np.ndarray]  # the conftest fixture ``plane_wave``
SAMPLE_RATE, N_FFT = 12288, 1024

# video pixels across the field of view: centre, near the four corners, and one off-axis point
SOURCE_PIXELS = [(320.0, 240.0), (30.0, 25.0), (615.0, 30.0), (25.0, 455.0), (610.0, 450.0), (200.0, 330.0)]


def _chebyshev(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(abs(int(a[0]) - int(b[0])), abs(int(a[1]) - int(b[1])))


def test_broadband_sources_peak_in_their_stored_cell(
    beamformer: Beamformer, camera: PinholeCamera, geometry: ArrayGeometry, plane_wave: PlaneWave
) -> None:
    frames, truths = [], []
    for i, (x, y) in enumerate(SOURCE_PIXELS):
        frames.append(plane_wave(geometry, camera.pixel_rays(x, y), seed=i, noise=0.05)[0])
        truths.append(camera.pixel_to_cell(x, y))
    frames = np.stack(frames)
    energy = mfcc_to_energy(beamformer.images(frames))
    band_power = beamformer.power(frames)[..., 80:480].sum(-1)  # ~1-5.8 kHz
    for i, truth in enumerate(truths):
        for image in (energy[i], band_power[i]):
            peak = np.unravel_index(np.argmax(image), image.shape)
            assert _chebyshev(peak, truth) <= 1, (SOURCE_PIXELS[i], peak, truth)


def test_main_lobe_width_matches_wavelength_over_aperture(
    beamformer: Beamformer, camera: PinholeCamera, geometry: ArrayGeometry, plane_wave: PlaneWave
) -> None:
    tone_bin = 250  # 3000 Hz exactly
    tone_hz = tone_bin * SAMPLE_RATE / N_FFT
    video_cell = (18, 24)  # source at this cell's centre, next to the optical axis
    x, y = (video_cell[1] + 0.5) * 640 / 48, (video_cell[0] + 0.5) * 480 / 36
    frames = plane_wave(geometry, camera.pixel_rays(x, y), tone_hz=tone_hz)
    image = beamformer.power(frames)[0, :, :, tone_bin]
    row, col = np.unravel_index(np.argmax(image), image.shape)
    assert (row, col) == camera.pixel_to_cell(x, y)
    profile = image[row] / image[row, col]
    # -3 dB crossings, linearly interpolated, on both sides of the peak
    left = next(c for c in range(col, -1, -1) if profile[c] < 0.5)
    right = next(c for c in range(col, 48) if profile[c] < 0.5)
    left_x = left + (0.5 - profile[left]) / (profile[left + 1] - profile[left])
    right_x = right - 1 + (profile[right - 1] - 0.5) / (profile[right - 1] - profile[right])
    width_cells = right_x - left_x
    cell_rad = (640 / 48) / camera.focal_px
    predicted_cells = (343.0 / tone_hz) / geometry.aperture / cell_rad  # λ / D in cells
    assert predicted_cells / 1.5 < width_cells < predicted_cells * 1.5, (width_cells, predicted_cells)


def test_upper_left_source_is_lower_right_when_stored(
    beamformer: Beamformer, camera: PinholeCamera, geometry: ArrayGeometry, plane_wave: PlaneWave
) -> None:
    frames = plane_wave(geometry, camera.pixel_rays(90.0, 70.0), seed=7)
    energy = mfcc_to_energy(beamformer.images(frames))[0]
    row, col = np.unravel_index(np.argmax(energy), energy.shape)
    assert row > 24 and col > 32  # stored image: lower right
    video_row, video_col = np.unravel_index(np.argmax(stored_to_video(energy)), energy.shape)
    assert video_row < 12 and video_col < 16  # after the loader's flips: upper left, like the video
    assert (video_row, video_col) == (35 - row, 47 - col)


@pytest.mark.parametrize(("bent", "shifted"), [(False, False), (True, False), (False, True), (True, True)])
def test_fast_path_matches_float64_reference(
    geometry: ArrayGeometry, camera: PinholeCamera, plane_wave: PlaneWave, bent: bool, shifted: bool
) -> None:
    positions = geometry.positions.copy()
    if bent:  # z = 2 cm · sin(7x): breaks the grid's 180° symmetry, keeps the array point-symmetric
        positions[:, 2] = 0.02 * np.sin(7.0 * positions[:, 0])
    if shifted:  # one microphone moved: no partner at -p any more
        positions[5, :2] += 0.003
    geometry = ArrayGeometry(positions)
    rows, cols = 12, 16
    frames = plane_wave(geometry, camera.pixel_rays(150.0, 100.0), n_frames=2, seed=3, noise=0.01)
    frames = 1000.0 * frames
    setup = ImagingSetup(geometry, camera, rows=rows, cols=cols)
    beamformer = Beamformer(setup)
    assert beamformer.symmetric == (not bent)
    assert (beamformer.mic_pairs is not None) == (not shifted)
    reference = direct_power(frames, setup)
    power = beamformer.power(frames)
    assert power.dtype == np.float32 and power.shape == (2, rows, cols, 512)
    scale = reference.max(axis=(1, 2), keepdims=True)  # per frame and bin
    assert (np.abs(power - reference) / scale).max() < 1e-4
    images = beamformer.images(frames)
    reference_images = power_to_mfcc(reference)
    assert images.dtype == np.float32 and images.shape == (2, rows, cols, 12)
    assert np.abs(images - reference_images).max() / np.abs(reference_images).max() < 1e-4


def test_steering_on_the_fly_equals_cached(
    geometry: ArrayGeometry, camera: PinholeCamera, plane_wave: PlaneWave
) -> None:
    frames = plane_wave(geometry, camera.pixel_rays(400.0, 300.0), n_frames=3, seed=5)
    setup = ImagingSetup(geometry, camera, rows=6, cols=8)
    cached = Beamformer(setup, frame_batch=2)
    lean = Beamformer(setup, cache_steering=False)
    assert lean.steering_bytes == 0 < cached.steering_bytes
    power = cached.power(frames)
    scale = power.max(axis=(1, 2), keepdims=True)  # per frame and bin: float32 rounding differs by CPU
    assert (np.abs(lean.power(frames) - power) / scale).max() < 1e-5
    images = cached.images(frames)
    np.testing.assert_allclose(lean.images(frames), images, rtol=0, atol=1e-5 * np.abs(images).max())


def test_power_is_normalised_by_the_number_of_mics(geometry: ArrayGeometry, camera: PinholeCamera) -> None:
    # circularly delayed frame, no window: steered at its own direction, the sum returns the source spectrum
    beamformer = Beamformer(ImagingSetup(geometry, camera, rows=6, cols=8, window=None))
    direction = camera.grid_directions(6, 8)[2, 5]
    spectrum = np.fft.rfft(np.random.default_rng(6).standard_normal(N_FFT))
    lead = geometry.positions @ direction / 343.0
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    frames = np.fft.irfft(spectrum[None] * np.exp(2j * np.pi * freqs[None] * lead[:, None]), n=N_FFT)
    power = beamformer.power(frames[None])[0, 2, 5]
    expected = np.abs(spectrum[:512]) ** 2  # noise: some bins are near zero, so compare against the peak
    np.testing.assert_allclose(power, expected, rtol=0, atol=1e-4 * expected.max())


def test_frame_shapes(beamformer: Beamformer) -> None:
    with pytest.raises(DataError, match="frames must be"):
        beamformer.power(np.zeros((2, 64, 1024)))
    assert beamformer.images(np.zeros((128, 1024), np.int32)).shape == (1, 36, 48, 12)  # one frame
    assert beamformer.images(np.zeros((0, 128, 1024))).shape == (0, 36, 48, 12)


def test_default_spiral_is_point_symmetric(geometry: ArrayGeometry) -> None:
    pairs = point_symmetric_pairs(geometry.positions)
    assert pairs is not None
    first, second = pairs
    assert len(first) == 64 and len(set(first) | set(second)) == 128
    np.testing.assert_allclose(geometry.positions[second], -geometry.positions[first], atol=1e-12)
    shifted = geometry.positions.copy()
    shifted[0, 0] += 1e-6
    assert point_symmetric_pairs(shifted) is None


@pytest.mark.parametrize("bent", [False, True])
def test_accelerator_code_path_matches_float64_reference(
    geometry: ArrayGeometry,
    camera: PinholeCamera,
    plane_wave: PlaneWave,
    bent: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The GPU's code (torch transposes, large bin chunks, tensors in and out), run on the CPU."""
    import torch

    import acoustic_ssl.imaging.beamform as beamform

    positions = geometry.positions.copy()
    if bent:  # no grid symmetry: every direction computed
        positions[:, 2] = 0.02 * np.sin(7.0 * positions[:, 0])
    setup = ImagingSetup(ArrayGeometry(positions), camera, rows=12, cols=16, drop_mics=(3, 77))
    source = camera.pixel_rays(450.0, 300.0)
    frames = 1000.0 * plane_wave(setup.geometry, source, n_frames=5, seed=4, noise=0.02)
    monkeypatch.setattr(beamform, "DEVICE_CHUNK_BYTES", 200_000)  # several chunks of bins, one ragged
    beamformer = Beamformer(setup, frame_batch=3, tuning="accelerator")  # two batches, one ragged
    assert beamformer._bin_chunk(3) < setup.num_bins
    reference = direct_power(frames, setup)
    power = beamformer.power(torch.from_numpy(frames))
    assert isinstance(power, torch.Tensor) and power.dtype == torch.float32 and power.shape == reference.shape
    scale = reference.max(axis=(1, 2), keepdims=True)  # per frame and bin
    assert (np.abs(power.numpy() - reference) / scale).max() < 1e-4
    images = beamformer.images(torch.from_numpy(frames.astype(np.float32)))
    reference_images = power_to_mfcc(reference)
    assert isinstance(images, torch.Tensor) and images.dtype == torch.float32
    assert np.abs(images.numpy() - reference_images).max() / np.abs(reference_images).max() < 1e-4
    cpu_images = Beamformer(setup).images(frames)  # NumPy in, NumPy out: the same images
    assert isinstance(cpu_images, np.ndarray)
    np.testing.assert_allclose(cpu_images, images.numpy(), rtol=0, atol=1e-5 * np.abs(cpu_images).max())


def test_full_float32_products_on_cuda_whatever_training_set() -> None:
    import torch

    from acoustic_ssl.imaging.beamform import ieee_float32_matmul

    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True  # as training sets it
    try:
        with ieee_float32_matmul(torch.device("cuda", 0)):
            assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.backends.cuda.matmul.allow_tf32 is True
        with ieee_float32_matmul(torch.device("cpu")):
            assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def test_unknown_tuning_is_refused(camera: PinholeCamera, geometry: ArrayGeometry) -> None:
    with pytest.raises(ValueError, match="tuning"):
        Beamformer(ImagingSetup(geometry, camera, rows=2, cols=2), tuning="gpu")
