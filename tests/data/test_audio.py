"""The 12 288 -> 22 050 Hz resampler: librosa's kaiser_best (the default of the original's librosa.resample).

Two references: resampy itself (the library that defines kaiser_best; librosa < 0.10 called it), and a direct
sum of the windowed-sinc kernel written from the filter's published parameters, independent of the polyphase
code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly
from scipy.special import i0

from acoustic_ssl.data.audio import resample, waveform_to_spectrogram

BIN_FREQUENCIES = np.arange(257) * 22050 / 512


def band_levels_db(waveforms: np.ndarray) -> list[float]:
    """Mean spectrogram power of 6.14-6.5, 6.5-7.1 and 7.1-11 kHz, in dB relative to 0-5 kHz."""
    power = waveforms_to_power(waveforms).mean(axis=(0, 2))
    hz = BIN_FREQUENCIES
    bands = [(hz >= 6144) & (hz < 6500), (hz >= 6500) & (hz < 7100), hz >= 7100]
    return [10 * np.log10(power[band].mean() / power[hz <= 5000].mean()) for band in bands]


def waveforms_to_power(waveforms: np.ndarray) -> np.ndarray:
    return waveform_to_spectrogram(waveforms).numpy().astype(np.float64) ** 2


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    """Eight 2-s white-noise tracks at the sensor rate."""
    return np.random.default_rng(0).standard_normal((8, 24576))


def test_matches_resampy_kaiser_best(noise: np.ndarray) -> None:
    resampy = pytest.importorskip("resampy")
    for track in noise[:2]:
        ours = resample(track, 3675, 2048)
        reference = resampy.resample(track, 12288, 22050, filter="kaiser_best")
        assert ours.shape == reference.shape == (44100,)
        # resampy interpolates linearly in a table of 8192 points per zero crossing; we evaluate the kernel
        assert np.abs(ours - reference).max() < 1e-5 * reference.std()


def test_stop_band_matches_resampy(noise: np.ndarray) -> None:
    resampy = pytest.importorskip("resampy")
    ours = band_levels_db(np.stack([resample(t, 3675, 2048) for t in noise]))
    references = [resampy.resample(t, 12288, 22050, filter="kaiser_best") for t in noise]
    reference = band_levels_db(np.stack(references))
    assert ours == pytest.approx(reference, abs=0.5)


def direct_kaiser_best(x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Σ_n x[n]·k(t - n), k = the Kaiser(β 12.9846)-windowed sinc of roll-off 0.917347, 50 zero crossings."""
    offsets = times[:, None] - np.arange(len(x))[None, :]
    inside = np.abs(offsets) <= 50
    taper = i0(12.9846 * np.sqrt(np.clip(1 - (offsets / 50) ** 2, 0, None))) / i0(12.9846)
    kernel = np.where(inside, 0.917347 * np.sinc(0.917347 * offsets) * taper, 0.0)
    return kernel @ x


def test_matches_a_direct_windowed_sinc(noise: np.ndarray) -> None:
    track = noise[0]
    ours = resample(track, 3675, 2048)
    picks = np.array([0, 1, 2, 17, 3675, 22050, 30001, 44050, 44099])  # both edges, phases, the middle
    expected = direct_kaiser_best(track, picks * 2048 / 3675)
    assert np.abs(ours[picks] - expected).max() < 1e-5 * track.std()


def test_stop_band_and_pass_band(noise: np.ndarray) -> None:
    """White noise through the project's STFT: above the 6 144 Hz Nyquist of the sensor nothing is left.

    scipy's default ``resample_poly`` filter (what the loader used before) leaves -8.6 / -19.6 dB there:
    aliases of 5-6 kHz that the per-bin z-score then amplifies to unit variance.
    """
    ours = band_levels_db(np.stack([resample(t, 3675, 2048) for t in noise]))
    assert ours[0] < -70 and ours[1] < -85 and ours[2] < -100
    scipy_default = band_levels_db(np.stack([resample_poly(t, 3675, 2048) for t in noise]))
    assert scipy_default[0] > -20  # the test tells the two filters apart
    power = waveforms_to_power(np.stack([resample(t, 3675, 2048) for t in noise])).mean(axis=(0, 2))
    hz = BIN_FREQUENCIES
    flat = 10 * np.log10(power[(hz > 200) & (hz < 5000)] / power[hz <= 5000].mean())
    assert np.abs(flat).max() < 1.0  # flat pass band (white noise, 8 × 200 frames: ±1 dB of estimation noise)


def test_lengths_and_downsampling() -> None:
    rng = np.random.default_rng(1)
    assert resample(rng.standard_normal(24583), 3675, 2048).shape == (44113,)  # ceil(N·up/down)
    assert resample(np.ones(5), 2, 2).tolist() == [1.0] * 5
    # 48 kHz -> 22 050 Hz (a TUT clip): a 1 kHz tone passes at unit gain, a 15 kHz one is removed
    t = np.arange(48000) / 48000
    tone = resample(np.sin(2 * np.pi * 1000 * t) + np.sin(2 * np.pi * 15000 * t), 147, 320)
    expected = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)
    assert tone.shape == (22050,)
    assert np.abs(tone - expected)[500:-500].max() < 1e-4



def test_sensor_audio_is_peak_normalised_by_its_largest_magnitude() -> None:
    """A track whose negative swing is the larger: the waveform's largest *magnitude* becomes 256, the
    positive peak stays below (normalising by the positive maximum would push the trough past -256)."""
    from acoustic_ssl.data.audio import sensor_audio_to_waveform

    t = np.arange(24 * 1024) / 12288
    track = 1e5 * (0.4 * np.sin(2 * np.pi * 300 * t) - 0.6 * (np.sin(2 * np.pi * 150 * t) > 0.99))
    waveform = sensor_audio_to_waveform(np.round(track).astype(np.int32).reshape(24, 1024))
    assert waveform.shape == (44100,) and waveform.dtype == np.float32
    assert np.abs(waveform).max() == pytest.approx(256.0, rel=1e-6)
    assert waveform.min() == pytest.approx(-256.0, rel=1e-6) and waveform.max() < 200.0
    expected = resample(np.round(track), 3675, 2048)
    np.testing.assert_allclose(waveform, expected * (256.0 / np.abs(expected).max()), rtol=0, atol=1e-3)


def test_sensor_audio_memo_returns_the_computed_waveform_and_keeps_its_budget(monkeypatch) -> None:
    """A track seen before is not resampled again and gives the same waveform; a track differing in one sample
    is computed afresh; a caller editing its waveform does not edit the memo; beyond the byte budget the
    least recently used track is dropped (then computed again)."""
    from acoustic_ssl.data import audio

    fresh = audio._waveform
    computed: list[np.ndarray] = []
    monkeypatch.setattr(audio, "_waveform", lambda s: computed.append(s.copy()) or fresh(s))
    monkeypatch.setattr(audio, "_waveform_memo", audio._Memo(limit=3 * 44100 * 4))  # three 2-s waveforms
    rng = np.random.default_rng(3)
    tracks = [rng.integers(-900, 900, (24, 1024)).astype(np.int32) for _ in range(4)]
    first = audio.sensor_audio_to_waveform(tracks[0])
    first[:100] = 0.0  # the caller's copy
    again = audio.sensor_audio_to_waveform(tracks[0].copy())
    assert len(computed) == 1
    np.testing.assert_allclose(again, _unmemoised(tracks[0]), rtol=0, atol=1e-3)
    assert np.abs(again[:100]).max() > 1.0
    nudged = tracks[0].copy()
    nudged[23, 1023] += 1
    assert not np.array_equal(audio.sensor_audio_to_waveform(nudged), again)
    assert len(computed) == 2
    computed.clear()
    for track in tracks[1:]:  # the memo holds 3 waveforms: tracks[0] is now the least recently used
        audio.sensor_audio_to_waveform(track)
    audio.sensor_audio_to_waveform(tracks[3])
    audio.sensor_audio_to_waveform(tracks[0])
    assert [c.tobytes() for c in computed] == [t.tobytes() for t in (*tracks[1:], tracks[0])]


def _unmemoised(track: np.ndarray) -> np.ndarray:
    """The waveform computed directly: resampled, then peak-normalised to 256."""
    expected = resample(track.reshape(-1).astype(np.float64), 3675, 2048)
    return (expected * (256.0 / np.abs(expected).max())).astype(np.float32)


def test_spectrogram_frame_count_at_the_frame_length() -> None:
    """440 samples are exactly one frame; 658 = 440 + 218 still one, 659 two; 2 s at 22 050 Hz: 200."""
    from acoustic_ssl.data.audio import num_spectrogram_frames

    assert [num_spectrogram_frames(n) for n in (439, 440, 658, 659, 44100)] == [0, 1, 1, 2, 200]
    assert waveform_to_spectrogram(np.ones(440)).shape == (257, 1)
