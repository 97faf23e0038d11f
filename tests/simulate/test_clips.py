"""``simulate --sounds``: class folders and ESC-50-style metadata, resampling, looping, ground truth."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile

from acoustic_ssl.cli import main
from acoustic_ssl.errors import DataError
from acoustic_ssl.simulate.clips import load_clip, open_sounds

FS = 12288


def _tone(path: Path, hz: float, seconds: float, rate: int, channels: int = 1) -> None:
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * hz * t)
    soundfile.write(path, np.repeat(samples[:, None], channels, axis=1).astype(np.float32), rate)


def _simulate(out: Path, sounds: Path, classes: list[str], extra: tuple[str, ...] = ()) -> None:
    args = [
        "simulate",
        str(out),
        "--videos-per-class",
        "1",
        "--seconds",
        "2",
        "--seed",
        "5",
        "--classes",
        *classes,
        "--snr-db",
        "30",
        "--workers",
        "1",
        "--audio-only",
        "--sounds",
        str(sounds),
        *extra,
    ]
    assert main(args) == 0


def _ground_truth(video: Path) -> list[dict[str, str]]:
    with open(video / "ground_truth.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _dominant_hz(video: Path) -> float:
    frames = [
        np.fromfile(video / "audio" / f"A_{k:06d}.dc", "<i4").reshape(-1, 1024, order="F")[0]
        for k in range(1, 25)
    ]
    mono = np.concatenate(frames).astype(float)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.argmax(spectrum) * FS / len(mono))


def test_class_folders(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    (sounds / "drill").mkdir(parents=True)
    (sounds / "7").mkdir()
    _tone(sounds / "drill" / "whine.wav", 1500.0, 0.7, 44100)  # shorter than the video: looped
    _tone(sounds / "7" / "hum.flac", 600.0, 5.0, 48000, channels=2)  # longer: cut; stereo: mixed to mono
    out = tmp_path / "sim"
    _simulate(out, sounds, ["4", "7"])
    for class_index, name, hz in ((4, "drill/whine.wav", 1500.0), (7, "7/hum.flac", 600.0)):
        video = out / f"class_{class_index}" / "data_000"
        rows = _ground_truth(video)
        main_rows = [r for r in rows if r["source_id"] == "0"]
        assert {r["clip"] for r in main_rows} == {name}
        assert 0.0 <= float(main_rows[0]["clip_start_s"]) < 5.0
        assert all(r["clip"] == "" for r in rows if r["class"] not in ("4", "7"))  # interferers: procedural
        assert abs(_dominant_hz(video) - hz) < 5.0  # the clip, not the procedural model, is what is heard


def test_esc50_style_metadata(tmp_path: Path) -> None:
    root = tmp_path / "ESC-50"
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    rows = [
        ("1-100-A-36.wav", 1, 36, "vacuum_cleaner"),
        ("1-101-A-0.wav", 1, 0, "dog"),
        ("2-102-A-36.wav", 2, 36, "vacuum_cleaner"),
    ]
    for name, _, target, _ in rows:
        _tone(root / "audio" / name, 900.0 if target == 36 else 300.0, 5.0, 44100)
    with open(root / "meta" / "esc50.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        for name, fold, target, category in rows:
            writer.writerow([name, fold, target, category, "False", name[:-4], "A"])
    bank = open_sounds(root / "meta" / "esc50.csv")
    assert set(bank.clips) == {7} and len(bank.clips[7]) == 2  # dog is not in the table
    out = tmp_path / "sim"
    _simulate(out, root / "meta" / "esc50.csv", ["7"])
    assert _ground_truth(out / "class_7" / "data_000")[0]["clip"].startswith("audio/")
    # a user table by integer target (UrbanSound8K's classID works the same way)
    table = tmp_path / "map.csv"
    table.write_text("label,class\n0,train\n36,hoover\n")
    mapped = open_sounds(root / "meta" / "esc50.csv", table)
    assert set(mapped.clips) == {0, 7}


def test_resampling_and_errors(tmp_path: Path) -> None:
    _tone(tmp_path / "a.wav", 1000.0, 1.0, 44100)
    clip = load_clip(str(tmp_path / "a.wav"))
    assert len(clip) == pytest.approx(FS, abs=2)
    spectrum = np.abs(np.fft.rfft(clip))
    assert np.argmax(spectrum) * FS / len(clip) == pytest.approx(1000.0, abs=2.0)
    (tmp_path / "bad" / "kitchen").mkdir(parents=True)
    _tone(tmp_path / "bad" / "kitchen" / "x.wav", 500.0, 0.5, 8000)
    with pytest.raises(DataError, match="kitchen"):
        open_sounds(tmp_path / "bad")
    soundfile.write(tmp_path / "silent.wav", np.zeros(1000, np.float32), 8000)
    with pytest.raises(DataError, match="silent"):
        load_clip(str(tmp_path / "silent.wav"))
    wave = np.full(1000, 0.1, np.float32)
    wave[700] = np.inf
    soundfile.write(tmp_path / "inf.wav", wave, 8000, subtype="FLOAT")
    with pytest.raises(DataError) as caught:
        load_clip(str(tmp_path / "inf.wav"))
    assert str(caught.value) == (
        f"{tmp_path / 'inf.wav'}: audio clip: 1 value is NaN or infinite (first: sample 700, channel 0 = inf)"
    )
