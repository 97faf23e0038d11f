"""Baselines that need no learning: the log-mel statistics against a hand computation, and the CLI round trip
(extract + evaluate) scored by the same kNN protocol as a checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.cli import main
from acoustic_ssl.data.audio import sensor_audio_to_waveform, waveform_to_spectrogram
from acoustic_ssl.evaluation.baselines import BASELINES, extract_baseline, logmel_statistics
from acoustic_ssl.evaluation.extract import load_features
from acoustic_ssl.evaluation.knn import knn_protocol


def _hand_logmel(magnitude: np.ndarray) -> np.ndarray:
    """The recipe written out: power → 64 HTK-mel triangles over 0-6144 Hz at the bins of a 512-point FFT at
    22 050 Hz → ln floored at 1e-6 → mean and population std over frames → concatenated → unit norm."""

    def mel(hz: float) -> float:
        return 1127.0 * math.log(1.0 + hz / 700.0)  # = 2595 log10(1 + f/700)

    def hz(m: float) -> float:
        return 700.0 * (math.exp(m / 1127.0) - 1.0)

    edges = [hz(i * mel(6144.0) / 65) for i in range(66)]
    weights = np.zeros((64, 257))
    for m in range(64):
        for k in range(257):
            f = k * 22050 / 512
            if edges[m] <= f <= edges[m + 1]:
                weights[m, k] = (f - edges[m]) / (edges[m + 1] - edges[m])
            elif edges[m + 1] < f <= edges[m + 2]:
                weights[m, k] = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1])
    power = magnitude.astype(np.float64) ** 2  # [257, T]
    log_mel = np.log(np.maximum(weights @ power, 1e-6))  # [64, T]
    mean = log_mel.mean(axis=1)
    std = np.sqrt(((log_mel - mean[:, None]) ** 2).mean(axis=1))
    stats = np.concatenate([mean, std])
    return stats / math.sqrt(float(np.sum(stats**2)))


def _band_of(frequency: float) -> int:
    """The 64-band mel band whose centre lies nearest ``frequency``."""
    top = 2595.0 * math.log10(1.0 + 6144.0 / 700.0)
    centres = [700.0 * (10.0 ** (top * (m + 1) / 65 / 2595.0) - 1.0) for m in range(64)]
    return int(np.argmin([abs(c - frequency) for c in centres]))


def _write_clip(root: Path, tones_hz: tuple[float, float]) -> tuple[Path, np.ndarray]:
    """One 2-s video (class 1, location 3) whose first second is a tone at ``tones_hz[0]`` and second second
    one at ``tones_hz[1]``, a little noise under both; returns its list and its sensor audio [24, 1024]."""
    from acoustic_ssl.data.layout import KEY_AUDIO, KEY_CLASS, KEY_LOCATION, record_name, video_dir_name
    from acoustic_ssl.data.tfrecord import write_record

    rng = np.random.default_rng(7)
    t = np.arange(12 * 1024) / 12288.0
    seconds, paths = [], []
    for s, tone in enumerate(tones_hz, start=1):
        audio = np.sin(2 * np.pi * tone * t) * 1e6 + rng.normal(scale=1e3, size=t.size)
        seconds.append(audio.reshape(12, 1024).astype(np.int32))
        path = root / "records" / video_dir_name(1, 3) / record_name(s)
        write_record(path, {KEY_CLASS: 1, KEY_LOCATION: 3, KEY_AUDIO: seconds[-1]})
        paths.append(path)
    list_file = root / "clip.txt"
    list_file.write_text("".join(f"{p}\n" for p in paths))
    return list_file, np.concatenate(seconds)


@pytest.mark.parametrize("tones_hz", [(700.0, 2500.0), (1000.0, 1000.0)])
def test_logmel_features_of_a_generated_clip_match_a_hand_computation(
    tmp_path: Path, tones_hz: tuple[float, float]
) -> None:
    """Through ``extract_baseline`` on a generated record: the 128 numbers of the hand recipe, unit norm, the
    loudest mean band at the tone, and a std part that is large when the tone changes and small when not."""
    list_file, sensor = _write_clip(tmp_path, tones_hz)
    arrays, meta = load_features(extract_baseline("logmel", list_file, tmp_path / "f.npz"))
    assert arrays["audio"].shape == (1, 128) and arrays["audio"].dtype == np.float32
    assert arrays["labels"].tolist() == [1] and arrays["locations"].tolist() == [3]
    assert arrays["starts"].tolist() == [0] and arrays["frames"].tolist() == [[1, 24]]
    assert meta["baseline"] == "logmel" and meta["run_kind"] == "baseline" and meta["split"] == "clip"
    magnitude = waveform_to_spectrogram(sensor_audio_to_waveform(sensor)).numpy()  # the loader's [257, 200]
    expected = _hand_logmel(magnitude)
    # unit vectors of float32 values: absolute tolerance on their scale of 1
    np.testing.assert_allclose(arrays["audio"][0], expected, rtol=0, atol=2e-6)
    assert np.linalg.norm(arrays["audio"][0]) == pytest.approx(1.0, abs=1e-6)
    mean, std = arrays["audio"][0, :64], arrays["audio"][0, 64:]
    assert int(np.argmax(mean)) in {_band_of(tone) for tone in tones_hz}
    if tones_hz[0] != tones_hz[1]:  # a band loud for one second and quiet for the other varies most
        assert int(np.argmax(std)) in {_band_of(tone) for tone in tones_hz}
        assert std.max() > 0.1
    else:  # a steady tone: the std part is the noise's flutter, far below a changing clip's
        assert 0.0 < std.max() < 0.05


def test_logmel_statistics_of_hand_spectrograms() -> None:
    """A spectrogram constant in time has a zero std part and a mean part of the log band powers; a batch is
    computed row by row; a wrong number of bins is refused."""
    rng = np.random.default_rng(0)
    steady = np.repeat(rng.uniform(1.0, 50.0, size=(257, 1)), 12, axis=1)
    changing = rng.uniform(1.0, 50.0, size=(257, 12))
    batch = logmel_statistics(np.stack([steady, changing]))
    assert batch.shape == (2, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(batch[0, 64:], 0.0, rtol=0, atol=1e-12)  # rounding of the mean only
    assert np.all(batch[1, 64:] > 0)
    for row, spectrogram in zip(batch, (steady, changing), strict=True):
        np.testing.assert_allclose(row, _hand_logmel(spectrogram), rtol=0, atol=2e-6)
    with pytest.raises(ValueError, match="257"):
        logmel_statistics(np.ones((256, 10)))


def _split_lists(tiny: dict[str, Path], root: Path) -> dict[str, Path]:
    """The tiny records split by video: video 1 of each class for training (4 s), video 2's first 2 s for
    validation and its last 2 s for testing."""
    from acoustic_ssl.data import read_list

    records = read_list(tiny["list"])  # class, video, second order: 4 records per video
    videos = [records[i : i + 4] for i in range(0, len(records), 4)]
    parts = {
        "training": [r for v in videos[0::2] for r in v],
        "validation": [r for v in videos[1::2] for r in v[:2]],
        "testing": [r for v in videos[1::2] for r in v[2:]],
    }
    lists = {}
    for split, paths in parts.items():
        lists[split] = root / f"{split}.txt"
        lists[split].write_text("".join(f"{p}\n" for p in paths))
    return lists


def test_extract_and_evaluate_a_baseline_through_the_cli(
    tiny_dataset: dict[str, Path], extracted: Path, tmp_path: Path
) -> None:
    """``extract --baseline``: the samples, ids, starts and frames of a checkpoint's extraction of the same
    list; ``evaluate --baseline``: metrics.json whose kNN is the protocol on those features, per-sample
    outcomes that average to it, and the baseline's name and kind."""
    out = tmp_path / "logmel.npz"
    assert main(["extract", "--baseline", "logmel", "--list", str(tiny_dataset["list"]), "--out", str(out),
                 "--split", "testing"]) == 0
    arrays, meta = load_features(out)
    reference, _ = load_features(extracted)
    assert set(arrays) == {"labels", "locations", "video_ids", "starts", "frames", "audio"}
    for key in ("labels", "locations", "video_ids", "starts", "frames"):
        np.testing.assert_array_equal(arrays[key], reference[key], err_msg=key)
    assert meta["baseline"] == "logmel" and meta["run_kind"] == "baseline"
    assert meta["split"] == "testing" and meta["list"] == str(tiny_dataset["list"])

    lists = _split_lists(tiny_dataset, tmp_path)
    folder = tmp_path / "eval"
    code = main(["evaluate", "--baseline", "logmel", "--out", str(folder), "--knn-k", "1", "3", "--no-probe",
                 "--train-list", str(lists["training"]), "--valid-list", str(lists["validation"]),
                 "--test-list", str(lists["testing"])])
    assert code == 0
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["run_kind"] == "baseline" and metrics["baseline"] == "logmel"
    features = {}
    for split in ("training", "validation", "testing"):
        features[split], split_meta = load_features(folder / f"features_{split}.npz")
        assert split_meta["split"] == split and split_meta["list"] == str(lists[split])
        assert len(features[split]["labels"]) == {"training": 6, "validation": 3, "testing": 3}[split]
    args = [a for s in features.values() for a in (s["audio"], s["labels"])]  # training, validation, testing
    expected = knn_protocol(*args, ks=(1, 3))
    assert metrics["knn"]["audio"] == pytest.approx(expected)
    assert expected["accuracy"] == 1.0  # the classes' tones (300 / 1000 / 1700 Hz) lie in different bands
    assert metrics["summary"]["audio_knn_accuracy"] == expected["accuracy"]
    assert metrics["per_sample"]["knn_correct"]["audio"] == [1, 1, 1]
    assert metrics["per_sample"]["labels"] == features["testing"]["labels"].tolist()
    assert metrics["linear_probe"] == {} and "localization" not in metrics and "retrieval" not in metrics


def test_the_help_names_every_registered_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("extract", "evaluate"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert all(name in text for name in BASELINES), command


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["extract", "--list", "L", "--out", "F.npz"], "pass --checkpoint or --baseline"),
        (["extract", "--checkpoint", "C", "--baseline", "logmel", "--list", "L", "--out", "F.npz"],
         "pass --checkpoint or --baseline (not both)"),
        (["extract", "--baseline", "mfcc", "--list", "L", "--out", "F.npz"],
         "--baseline 'mfcc': unknown baseline (known: logmel)"),
        (["extract", "--baseline", "logmel", "--energy-maps", "--list", "L", "--out", "F.npz"],
         "--energy-maps applies to --checkpoint only"),
        (["evaluate", "--baseline", "logmel", "--train-list", "L"], "--baseline logmel needs --out DIR"),
        (["evaluate", "--baseline", "logmel", "--out", "D", "--raw-dir", "R"],
         "--raw-dir applies to --checkpoint"),
        (["evaluate"], "pass --checkpoint or --baseline"),
    ],
)
def test_baseline_flags_are_checked_in_one_line(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both or neither source, an unknown name, a checkpoint-only flag, no output folder: one line, exit 2,
    before any file is read (the paths here do not exist)."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_evaluate_baseline_names_the_missing_list_and_refuses_foreign_features(
    tiny_dataset: dict[str, Path], extracted: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    lists = _split_lists(tiny_dataset, tmp_path)
    argv = ["evaluate", "--baseline", "logmel", "--out", str(tmp_path / "eval"), "--knn-k", "1", "--no-probe",
            "--train-list", str(lists["training"]), "--valid-list", str(lists["validation"])]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--baseline logmel has no run config to take the testing list from; pass --test-list")
    assert len(err.splitlines()) == 1
    # a folder holding a checkpoint's features of the test split: refused rather than scored as the baseline
    shutil.copy(extracted, tmp_path / "eval" / "features_testing.npz")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "features_testing.npz: features of" in err and "not of baseline 'logmel'; pass --fresh" in err
    assert main([*argv, "--fresh", "--test-list", str(lists["testing"])]) == 0
