"""Feature extraction on tiny generated records and on hand-made batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.extract import (
    audio_maps_of,
    extract_features,
    extract_from_batches,
    extraction_batch_size,
    load_features,
)
from acoustic_ssl.models import DualCamNet, HearNet, ResNet18, attention_distance


def _batch(n: int, start: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(start)
    return {
        "label": torch.arange(n) % 2,
        "location": torch.ones(n, dtype=torch.int64),
        "video_id": torch.arange(n),
        "start": torch.arange(n) + start,
        "spectrogram": torch.randn(n, 257, 200, generator=g),
        "acoustic": torch.randn(n, 24, 12, 36, 48, generator=g),
        "video": torch.randn(n, 2, 3, 112, 149, generator=g) * 50,
    }


def test_selfsup_transfer_features_follow_the_original_formulas() -> None:
    video, audio, acoustic = ResNet18(output_stride=8, width=8), HearNet(), DualCamNet()
    out = extract_from_batches(
        {"video": video, "audio": audio, "acoustic": acoustic}, [_batch(2), _batch(1, start=2)]
    )
    assert out["labels"].tolist() == [0, 1, 0]
    assert out["frames"].tolist()[:2] == [[1, 24], [13, 36]]
    for key in ("audio", "video", "joint", "acoustic", "audio_raw"):
        assert out[key].shape == (3, 128), key
    np.testing.assert_allclose(np.linalg.norm(out["audio"], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["joint"], out["audio"] + out["video"], rtol=1e-6)
    assert out["video_map"].shape == (3, 128, 12, 16) and "audio_map" not in out
    assert out["attention_map"].shape == (3, 12, 16)
    assert out["energy_map"].shape == (3, 36, 48) and np.all(out["energy_map"] > 0)
    assert out["thumbnails"].dtype == np.uint8 and out["thumbnails"].shape[0] == 3
    # y = l2n(ReLU(a)); the paired distance ‖x − y‖² equals the diagonal of the attention distance
    relu = np.maximum(out["audio_raw"], 0)
    # unit vectors: absolute tolerances on their scale of 1 (many coordinates are near zero)
    expected = relu / np.linalg.norm(relu, axis=1, keepdims=True)
    np.testing.assert_allclose(out["audio"], expected, rtol=0, atol=1e-6)
    d = attention_distance(torch.as_tensor(audio_maps_of(out)), torch.as_tensor(out["video_map"])).numpy()
    np.testing.assert_allclose(np.diag(d), ((out["video"] - out["audio"]) ** 2).sum(1), rtol=0, atol=1e-5)


def test_acoustic_video_and_supervised_features() -> None:
    models = {"video": ResNet18(output_stride=8, width=8), "acoustic": DualCamNet()}
    out = extract_from_batches(models, [_batch(2)])
    assert out["audio_map"].shape == (2, 128, 12, 16)  # DualCamNet is the audio side here
    assert "acoustic" not in out
    sup = extract_from_batches({"model": HearNet(num_classes=10)}, [_batch(2)], energy_maps=False)
    assert sup["features"].shape == (2, 128) and np.all(sup["features"] >= 0)
    assert sup["logits"].shape == (2, 10)
    assert "energy_map" not in sup


def test_extract_is_deterministic() -> None:
    torch.manual_seed(1)
    models = {"video": ResNet18(output_stride=8, width=8), "audio": HearNet()}
    a = extract_from_batches(models, [_batch(2)])
    b = extract_from_batches(models, [_batch(2)])
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_extract_end_to_end(extracted: Path) -> None:
    arrays, meta = load_features(extracted)
    assert meta["split"] == "testing" and meta["audio_kind"] == "hearnet" and meta["nr_frames"] == 2
    assert len(arrays["labels"]) == 12  # 3 classes × 2 videos × 2 samples of 2 s
    assert arrays["starts"].tolist()[:2] == [0, 2]
    assert arrays["frames"].tolist()[1] == [25, 48]
    assert arrays["thumbnails"].shape[1:] == (112, 149, 3)
    assert set(meta["keys"]) >= {"audio", "video", "joint", "energy_map", "attention_map", "video_map"}


def test_missing_checkpoint_is_a_user_error(tmp_path: Path, tiny_dataset: dict[str, Path]) -> None:
    from acoustic_ssl.errors import AcousticSSLError

    with pytest.raises(AcousticSSLError, match="not found"):
        extract_features(tmp_path / "nope", tiny_dataset["list"], tmp_path / "f.npz")


def _damaged(data: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "truncated":
        return data[: len(data) // 2]
    flipped = bytearray(data)  # a bit in the middle of the arrays: the zip CRC of that member fails
    flipped[len(data) // 2] ^= 0x04
    return bytes(flipped)


@pytest.mark.parametrize("how", ["empty", "truncated", "bit-flipped"])
def test_damaged_features_file_is_one_line(
    extracted: Path,
    tiny_dataset: dict[str, Path],
    tmp_path: Path,
    how: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from acoustic_ssl.cli import main

    path = tmp_path / "features_training.npz"  # evaluate reuses the features it finds in its folder
    path.write_bytes(_damaged(extracted.read_bytes(), how))
    with pytest.raises(DataError, match=r"features_training\.npz: damaged features file \("):
        load_features(path)
    assert main(["evaluate", "--checkpoint", str(tiny_dataset["checkpoint"]), "--out", str(tmp_path)]) == 2
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"acoustic-ssl evaluate: error: {path}: damaged features file (")


def test_features_file_without_labels_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "other.npz", audio=np.zeros((2, 128), np.float32))
    with pytest.raises(DataError, match=r"other\.npz: not a features file of `acoustic-ssl extract`"):
        load_features(tmp_path / "other.npz")


def test_extract_refuses_a_batch_size_of_zero(
    tiny_dataset: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from acoustic_ssl.cli import main

    argv = ["extract", "--checkpoint", str(tiny_dataset["checkpoint"]), "--list", str(tiny_dataset["list"]),
            "--out", str(tmp_path / "f.npz"), "--batch-size", "0"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "argument --batch-size: expected a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(DataError, match="batch size must be at least 1, got 0"):
        extract_features(tiny_dataset["checkpoint"], tiny_dataset["list"], tmp_path / "f.npz", batch_size=0)


def test_batch_statistics_extract_in_the_original_batches_of_four(
    tiny_dataset: dict[str, Path], tmp_path: Path
) -> None:
    from acoustic_ssl.training.checkpoint import save_checkpoint

    assert extraction_batch_size({"video": ResNet18(bn_batch_stats_at_eval=True)}) == 4
    assert extraction_batch_size({"video": ResNet18(), "audio": HearNet()}) == 8
    assert extraction_batch_size({"video": ResNet18(bn_batch_stats_at_eval=True)}, 16) == 16
    torch.manual_seed(0)
    video = {"output_stride": 8, "width": 8, "bn_batch_stats_at_eval": True}
    models = {"video": ResNet18(**video), "audio": HearNet()}
    specs = {"video": {"name": "resnet18", "kwargs": video}, "audio": {"name": "hearnet", "kwargs": {}}}
    config = {"data": {"stats_dir": str(tiny_dataset["stats"]), "nr_frames": 2}}
    ckpt = tmp_path / "bn"
    save_checkpoint(ckpt, models=models, specs=specs, info={"epoch": 0, "kind": "selfsup", "config": config})

    def video_features(batch_size: int | None) -> tuple[np.ndarray, dict]:
        path = tmp_path / f"f{batch_size}.npz"
        out = extract_features(ckpt, tiny_dataset["list"], path, batch_size=batch_size)
        arrays, meta = load_features(out)
        return arrays["video"], meta

    default, meta = video_features(None)
    assert meta["batch_size"] == 4
    np.testing.assert_array_equal(default, video_features(4)[0])
    # the features depend on the batch: other batches give other features
    assert np.abs(default - video_features(6)[0]).max() > 1e-3
