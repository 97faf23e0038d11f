"""Any array, any rate, any framing: HDF5 time data, WAV at 8-96 kHz, stacks, dropped mics, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from acoustic_ssl.cli import main
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.imaging.beamform import Beamformer
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.imaging.mfcc import N_MELS, mfcc_to_energy
from acoustic_ssl.imaging.output import beamform_recording, open_stack
from acoustic_ssl.imaging.setup import ImagingSetup
from acoustic_ssl.imaging.sources import open_recording

SPEED = 343.0
SOURCE_PIXEL = (470.0, 150.0)  # video pixel of the simulated source


def small_array(mics_per_arm: int = 4) -> ArrayGeometry:
    """A 16-microphone 4-arm spiral of 40 cm (an array owner's small array)."""
    return ArrayGeometry.default(arms=4, mics_per_arm=mics_per_arm, radius_m=0.2)


def far_source(
    geometry: ArrayGeometry, direction: np.ndarray, sample_rate: float, seconds: float, seed: int = 0
) -> np.ndarray:
    """(samples, mics) float64: band-limited noise from far away in ``direction``, exact per-mic delays."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum = np.fft.rfft(rng.standard_normal(n)) * ((freqs > 800.0) & (freqs < 6000.0))
    lead = geometry.positions @ direction / SPEED
    signals = np.fft.irfft(spectrum[None] * np.exp(2j * np.pi * freqs[None] * lead[:, None]), n=n, axis=-1)
    return (0.1 * signals / signals.std()).T


def expected_cell(camera: PinholeCamera, rows: int, cols: int) -> tuple[int, int]:
    row, col = camera.pixel_to_cell(*SOURCE_PIXEL, rows=rows, cols=cols)
    return int(row), int(col)


def peaks(energy: np.ndarray) -> list[tuple[int, int]]:
    """(row, col) of the maximum of each (rows, cols) map."""
    return [tuple(int(i) for i in np.unravel_index(np.argmax(e), e.shape)) for e in energy]


def test_hdf5_time_data_with_overlapping_frames_and_a_coarse_grid(tmp_path: Path) -> None:
    geometry, camera = small_array(), PinholeCamera()
    geometry.save(tmp_path / "array.xml")
    samples = far_source(geometry, camera.pixel_rays(*SOURCE_PIXEL), 48000.0, 0.5)
    with h5py.File(tmp_path / "recording.h5", "w") as handle:  # the layout of Acoular's TimeSamples files
        handle.create_dataset("time_data", data=samples.astype(np.float32))
        handle["time_data"].attrs["sample_freq"] = 48000.0
    out = tmp_path / "images.h5"
    args = [
        "beamform",
        str(tmp_path / "recording.h5"),
        str(out),
        "--geometry",
        str(tmp_path / "array.xml"),
        "--frame-length",
        "2048",
        "--hop",
        "1024",
        "--n-fft",
        "4096",
        "--grid",
        "18x24",
        "--fmax",
        "8000",
    ]
    assert main(args) == 0
    with open_stack(out) as (images, meta, numbers):
        images = images[()]
        assert images.shape == (22, 18, 24, 12) and images.dtype == np.float32  # 1 + (24000 - 2048) // 1024
        assert list(numbers) == list(range(1, 23))
        assert meta["hop"] == 1024 and meta["n_fft"] == 4096 and meta["grid"] == [18, 24]
        assert meta["sample_rate_hz"] == 48000.0 and meta["num_mics"] == 16
    cell = expected_cell(camera, 18, 24)
    assert all(p == cell for p in peaks(mfcc_to_energy(images)))  # on the projected pixel's cell


def test_48_khz_16_channel_wav_to_a_power_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    geometry = small_array()
    camera = PinholeCamera(width=640, height=480, fx=560.0, fy=555.0, cx=330.0, cy=235.0)
    geometry.save(tmp_path / "array.csv")
    camera.save(tmp_path / "camera.json")
    samples = far_source(geometry, camera.pixel_rays(*SOURCE_PIXEL), 48000.0, 0.4, seed=1)
    soundfile.write(tmp_path / "recording.wav", samples.astype(np.float32), 48000, subtype="FLOAT")
    out = tmp_path / "images.npz"
    args = [
        "beamform",
        str(tmp_path / "recording.wav"),
        str(out),
        "--geometry",
        str(tmp_path / "array.csv"),
        "--camera",
        str(tmp_path / "camera.json"),
        "--frame-length",
        "4096",
        "--stride",
        "32",
        "--fmin",
        "1000",
        "--fmax",
        "6000",
        "--features",
        "power",
    ]
    assert main(args) == 0
    assert "48000 Hz" in capsys.readouterr().out
    with np.load(out) as stack:
        power, freqs = stack["images"], stack["frequencies_hz"]
        meta = json.loads(str(stack["parameters"]))
    rows, cols = 15, 20  # 480 / 32, 640 / 32
    assert power.shape[:3] == (4, rows, cols) and power.shape[3] == len(freqs)
    assert freqs[0] >= 1000.0 and freqs[-1] <= 6000.0 and meta["camera"]["cx"] == 330.0
    cell = expected_cell(camera, rows, cols)
    assert all(p == cell for p in peaks(power.sum(-1)))


@pytest.mark.parametrize("rate", [8000, 11025, 12288, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000])
def test_every_sample_rate_from_8_to_96_khz(
    tmp_path: Path, rate: int, capsys: pytest.CaptureFixture[str]
) -> None:
    geometry, camera = small_array(), PinholeCamera()
    geometry.save(tmp_path / "array.csv")
    samples = far_source(geometry, camera.pixel_rays(*SOURCE_PIXEL), float(rate), 2048 / rate * 2, seed=rate)
    soundfile.write(tmp_path / "r.wav", samples.astype(np.float32), rate, subtype="FLOAT")
    out = tmp_path / "images"
    args = [
        "beamform",
        str(tmp_path / "r.wav"),
        str(out),
        "--geometry",
        str(tmp_path / "array.csv"),
        "--sample-rate",
        str(rate),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    meta = json.loads((out / "imaging.json").read_text())
    assert meta["sample_rate_hz"] == rate and "mel bands 0-6400 Hz" in printed
    if rate < 12800:  # the top bands lie above Nyquist: said in the output and in the parameters
        assert f"Nyquist frequency is {rate / 2:g} Hz" in printed and "Nyquist" in meta["mel_bands"]
    from acoustic_ssl.data.raw import read_mfcc_mat

    energy = mfcc_to_energy(np.stack([read_mfcc_mat(p) for p in sorted(out.glob("Data_*.mat"))]))
    assert len(energy) == 4 and np.isfinite(energy).all()
    cell = expected_cell(camera, 36, 48)
    assert all(max(abs(p[0] - cell[0]), abs(p[1] - cell[1])) <= 2 for p in peaks(energy))


def test_bands_above_nyquist_are_empty_and_counted() -> None:
    low = ImagingSetup(small_array(), sample_rate=8000.0)
    assert low.empty_mel_bands > 0 and "floor" in low.band_note
    assert ImagingSetup(small_array(), sample_rate=8000.0, f_max_hz=4000.0).empty_mel_bands == 0
    high = ImagingSetup(small_array(), sample_rate=48000.0)  # bins only up to 6400 Hz are beamformed
    assert high.frequencies_hz[-1] <= 6400.0 and high.mel_bank.shape == (N_MELS, high.num_bins)
    with pytest.raises(ConfigError, match="Nyquist"):
        ImagingSetup(small_array(), sample_rate=8000.0, f_min_hz=5000.0)
    with pytest.raises(ConfigError, match="FFT size"):
        ImagingSetup(small_array(), frame_length=1024, n_fft=512)


def test_dropped_microphones_are_left_out_of_the_sums() -> None:
    geometry, camera = ArrayGeometry.default(), PinholeCamera()
    frames = far_source(geometry, camera.pixel_rays(*SOURCE_PIXEL), 12288.0, 2048 / 12288, seed=4)
    frames = frames.T.reshape(128, 2, 1024).transpose(1, 0, 2)
    frames[:, [79, 105]] = 1e6  # broken microphones: garbage that must not reach the images
    dropped = Beamformer(ImagingSetup(geometry, camera, rows=6, cols=8, drop_mics=(79, 105)))
    kept = np.setdiff1d(np.arange(128), [79, 105])
    subarray = Beamformer(ImagingSetup(geometry.select(kept), camera, rows=6, cols=8))
    assert dropped.mic_pairs is None  # the spiral lost its point symmetry
    np.testing.assert_array_equal(dropped.power(frames), subarray.power(frames[:, kept]))


def test_streaming_a_long_recording_keeps_memory_bounded(tmp_path: Path) -> None:
    geometry, camera = small_array(), PinholeCamera()
    path = tmp_path / "long.wav"
    seconds, rate = 90, 12288
    with soundfile.SoundFile(path, "w", samplerate=rate, channels=16, subtype="PCM_16") as handle:
        block = far_source(geometry, camera.pixel_rays(*SOURCE_PIXEL), float(rate), 5.0)
        for _ in range(seconds // 5):
            handle.write(block)
    decoded_bytes = seconds * rate * 16 * 4  # the whole recording as float32: 71 MB
    setup = ImagingSetup(geometry, camera, rows=6, cols=8)
    recording = open_recording(path)
    tracemalloc.start()
    try:
        count = beamform_recording(recording, setup, tmp_path / "images.npz", frame_batch=24)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == seconds * 12
    assert peak < decoded_bytes / 8, peak  # a batch at a time, not the recording
    with np.load(tmp_path / "images.npz") as stack:
        assert stack["images"].shape == (count, 6, 8, 12)
        assert np.isfinite(stack["images"][-1]).all()


def _write_video(path: Path, count: int, fps: int, size: tuple[int, int]) -> None:
    """An MP4 whose frame k is uniformly grey level 10 k (so the frame shown can be identified)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for k in range(count):
            frame = np.full((size[1], size[0], 3), 10 * k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_show_overlays_a_stack_on_the_users_video_file_and_frames(tmp_path: Path) -> None:
    from PIL import Image

    geometry, camera = small_array(), PinholeCamera(width=320, height=240)
    samples = far_source(geometry, camera.pixel_rays(235.0, 75.0), 24000.0, 0.5)  # pixel (470, 150) / 2
    soundfile.write(tmp_path / "r.wav", samples.astype(np.float32), 24000, subtype="FLOAT")
    setup = ImagingSetup(geometry, camera, rows=12, cols=16, sample_rate=24000.0, frame_length=2000)
    assert beamform_recording(open_recording(tmp_path / "r.wav"), setup, tmp_path / "images.h5") == 6
    _write_video(tmp_path / "video.mp4", count=20, fps=25, size=(320, 240))
    out = tmp_path / "overlay"
    args = [
        "show",
        str(tmp_path / "images.h5"),
        "--video",
        str(tmp_path / "video.mp4"),
        "--out",
        str(out),
        "--mp4",
        "--alpha",
        "1.0",
    ]
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("*.png")) == [f"overlay_{k:06d}.png" for k in range(1, 7)]
    assert (out / "overlay.mp4").stat().st_size > 0
    image = np.asarray(Image.open(out / "overlay_000003.png")).astype(float)
    hot = np.unravel_index(np.argmax(image.sum(-1)), image.shape[:2])  # inferno's brightest: the source
    assert abs(hot[1] - 235.0) < 25 and abs(hot[0] - 75.0) < 25
    # with no energy layer the video shows through: image k is centred at (k - 0.5) * 2000 / 24000 s, so
    # at 25 fps images 1..6 show video frames 1, 3, 5, 7, 9, 11 (grey 10 k)
    assert main([*args[:4], "--alpha", "0", "--out", str(tmp_path / "plain")]) == 0
    greys = [np.asarray(Image.open(tmp_path / "plain" / f"overlay_{k:06d}.png")).mean() for k in range(1, 7)]
    np.testing.assert_allclose(greys, [10, 30, 50, 70, 90, 110], atol=6)  # MPEG-4 is lossy
    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(10):
        Image.fromarray(np.full((240, 320, 3), 20 * k, np.uint8)).save(frames / f"frame_{k:03d}.png")
    assert (
        main(
            [
                "show",
                str(tmp_path / "images.h5"),
                "--video",
                str(frames),
                "--fps",
                "10",
                "--out",
                str(tmp_path / "o2"),
                "--frames",
                "1-2",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "o2").glob("*.png"))) == 2
    assert (
        main(["show", str(tmp_path / "images.h5"), "--video", str(frames), "--fps", "1", "--offset", "20"])
        == 2
    )


def _frames(samples: np.ndarray, length: int, hop: int) -> np.ndarray:
    """(F, channels, length) float32 frames of (samples, channels), cut by hand."""
    count = 1 + (len(samples) - length) // hop
    return np.stack([samples[k * hop : k * hop + length].T for k in range(count)]).astype(np.float32)


def test_hdf5_time_data_in_pascal_gives_the_images_of_those_samples(tmp_path: Path) -> None:
    """Acoular's time data are float pascals and are beamformed as they are (scale 1), not as 24-bit sensor
    words: every cell of every image, the level included, is the beamforming of the stored samples. A float
    WAV of the same samples divided by 2^23 (full scale = one 24-bit word) gives the same images."""
    geometry, camera = small_array(), PinholeCamera()
    samples = far_source(geometry, camera.pixel_rays(*SOURCE_PIXEL), 16000.0, 0.25).astype(np.float32)
    setup = ImagingSetup(geometry, camera, rows=6, cols=8, sample_rate=16000.0, frame_length=1024, hop=512)
    expected = Beamformer(setup).images(_frames(samples, 1024, 512))
    assert expected.shape == (6, 6, 8, 12)
    with h5py.File(tmp_path / "pascal.h5", "w") as handle:
        handle.create_dataset("time_data", data=samples)
        handle["time_data"].attrs["sample_freq"] = 16000.0
    soundfile.write(tmp_path / "words.wav", samples / np.float32(2**23), 16000, subtype="FLOAT")
    for name in ("pascal.h5", "words.wav"):
        recording = open_recording(tmp_path / name)
        np.testing.assert_array_equal(recording.read(100, 3), samples[100:103], err_msg=name)
        assert beamform_recording(recording, setup, tmp_path / f"{name}.npz") == 6
        with open_stack(tmp_path / f"{name}.npz") as (images, _, _):
            np.testing.assert_allclose(images, expected, rtol=0, atol=1e-4 * np.abs(expected).max(),
                                       err_msg=name)
    # and the source is in its cell in every image
    row, col = expected_cell(camera, 6, 8)
    assert peaks(mfcc_to_energy(expected)) == [(row, col)] * 6


def test_mel_bands_with_fmin_weigh_each_kept_bin_at_its_own_frequency() -> None:
    """fmin = 1 kHz, fmax = 5 kHz at 12 288 Hz / 1024 points (12 Hz bins): the kept bins start at 1008 Hz
    (bin 84) and the 24 HTK-mel triangles span 1-5 kHz; each weight is the triangle at the bin's own
    frequency, computed here by hand."""
    setup = ImagingSetup(small_array(), sample_rate=12288.0, f_min_hz=1000.0, f_max_hz=5000.0)
    assert setup.bin_range == (84, 417) and setup.frequencies_hz[0] == 1008.0
    mel = lambda hz: 2595.0 * np.log10(1.0 + hz / 700.0)  # noqa: E731
    edges_mel = np.linspace(mel(1000.0), mel(5000.0), 26)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    bank = np.zeros((24, setup.num_bins))
    for m in range(24):
        for j, hz in enumerate(12.0 * np.arange(84, 417)):
            if edges[m] < hz <= edges[m + 1]:
                bank[m, j] = (hz - edges[m]) / (edges[m + 1] - edges[m])
            elif edges[m + 1] < hz < edges[m + 2]:
                bank[m, j] = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1])
    np.testing.assert_allclose(setup.mel_bank, bank, rtol=0, atol=1e-12)
    # band 0 rises from 1000 Hz to edges[1] = 1084.29 Hz (mel 1000.0 + 54.54): the bins at 1008, 1020, ... Hz
    assert edges[1] == pytest.approx(1084.29, abs=0.01)
    assert setup.mel_bank[0, :3] == pytest.approx([8 / 84.29, 20 / 84.29, 32 / 84.29], abs=1e-4)
    assert setup.empty_mel_bands == 0


def test_frequency_bins_at_the_band_edges() -> None:
    """12 Hz bins: fmax = 6000 Hz is bin 500 exactly and is kept; the Nyquist bin (512, 6144 Hz) never is."""
    at_fmax = ImagingSetup(small_array(), sample_rate=12288.0, f_max_hz=6000.0)
    assert at_fmax.bin_range == (0, 501) and at_fmax.frequencies_hz[-1] == 6000.0
    wide = ImagingSetup(small_array(), sample_rate=12288.0, f_max_hz=7000.0)
    assert wide.bin_range == (0, 512) and wide.frequencies_hz[-1] == 6132.0


def test_frame_count_and_centre_times() -> None:
    """Frames of 2048 samples every 512 at 16 kHz: exactly 2048 samples are one frame, centred at 64 ms."""
    setup = ImagingSetup(small_array(), sample_rate=16000.0, frame_length=2048, hop=512)
    assert [setup.num_frames(n) for n in (2047, 2048, 2559, 2560)] == [0, 1, 1, 2]
    np.testing.assert_allclose(setup.frame_times_s(3), [0.064, 0.096, 0.128])


def test_dc_frames_read_across_file_boundaries(tmp_path: Path) -> None:
    """Three .dc files of 4 channels: any sample range reads channel c, global sample n as written, whichever
    files it starts and ends in."""
    from acoustic_ssl.data.raw_writer import write_dc
    from acoustic_ssl.imaging.sources import frame_batches

    values = 100_000 * np.arange(4)[:, None] + np.arange(3 * 1024)[None, :]  # (channels, samples)
    for k in range(3):
        write_dc(tmp_path / "audio" / f"A_{k + 7:06d}.dc", values[:, k * 1024 : (k + 1) * 1024])
    recording = open_recording(tmp_path)
    assert (recording.num_channels, recording.num_samples, recording.file_numbers) == (4, 3072, [7, 8, 9])
    for start, count in ((0, 10), (1500, 100), (1000, 2000), (2048, 1024)):
        np.testing.assert_array_equal(recording.read(start, count), values[:, start : start + count].T)
    # frames of 1024 every 384, three per batch: each batch starts at its first frame's sample
    square = ArrayGeometry(np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0], [0.1, 0.1, 0.0]]))
    setup = ImagingSetup(square, frame_length=1024, hop=384)
    batches = list(frame_batches(recording, setup, batch=3))
    assert [len(b) for b in batches] == [3, 3]
    frames = np.concatenate(batches)
    np.testing.assert_array_equal(frames, _frames(values.T.astype(np.float32), 1024, 384))
