"""Feature extraction on tiny generated records and on hand-made batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.extract import (
    extract_batch,
    extract_features,
    extract_from_batches,
    extraction_batch_size,
    load_features,
    score_inputs,
)
from acoustic_ssl.models import DualCamNet, HearNet, ResNet18, attention_distance
from acoustic_ssl.training.objectives import SelfSupervised, Supervised, Transfer


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
        Transfer({"video": video, "audio": audio}, acoustic), [_batch(2), _batch(1, start=2)]
    )
    assert out["labels"].tolist() == [0, 1, 0]
    assert out["frames"].tolist()[:2] == [[1, 24], [13, 36]]
    for key in ("audio", "video", "joint", "acoustic", "audio_raw"):
        assert out[key].shape == (3, 128), key
    np.testing.assert_allclose(np.linalg.norm(out["audio"], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out["joint"], out["audio"] + out["video"], rtol=1e-6)
    # the frozen acoustic network's target: l2n of its frame-mean map summed over positions
    with torch.inference_mode():
        batches = [_batch(2)["acoustic"], _batch(1, start=2)["acoustic"]]
        frames = [acoustic.outputs(x.flatten(0, 1))["embedding"].unflatten(0, (len(x), 24)) for x in batches]
        target = torch.cat([m.mean(dim=1).sum(dim=(2, 3)) for m in frames]).numpy()
    expected = target / np.linalg.norm(target, axis=1, keepdims=True)
    np.testing.assert_allclose(out["acoustic"], expected, rtol=0, atol=1e-5)
    # the energy map: the acoustic images averaged over the sample's frames (loader orientation), as energy
    from acoustic_ssl.imaging.mfcc import mfcc_to_energy

    images = torch.cat(batches).double().mean(dim=1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(out["energy_map"], mfcc_to_energy(images), rtol=1e-5)
    assert out["video_map"].shape == (3, 128, 12, 16) and "audio_map" not in out
    assert out["attention_map"].shape == (3, 12, 16)
    assert out["energy_map"].shape == (3, 36, 48) and np.all(out["energy_map"] > 0)
    assert out["thumbnails"].dtype == np.uint8 and out["thumbnails"].shape[0] == 3
    # y = l2n(ReLU(a)); the paired distance ‖x − y‖² equals the diagonal of the attention distance
    relu = np.maximum(out["audio_raw"], 0)
    # unit vectors: absolute tolerances on their scale of 1 (many coordinates are near zero)
    expected = relu / np.linalg.norm(relu, axis=1, keepdims=True)
    np.testing.assert_allclose(out["audio"], expected, rtol=0, atol=1e-6)
    audio_side, video_map = score_inputs(out)
    d = attention_distance(torch.relu(audio_side)[:, :, None, None].expand(-1, -1, 12, 16), video_map).numpy()
    np.testing.assert_allclose(np.diag(d), ((out["video"] - out["audio"]) ** 2).sum(1), rtol=0, atol=1e-5)


def test_acoustic_video_and_supervised_features() -> None:
    models = {"video": ResNet18(output_stride=8, width=8), "acoustic": DualCamNet()}
    out = extract_from_batches(SelfSupervised(models), [_batch(2)])
    assert out["audio_map"].shape == (2, 128, 12, 16)  # DualCamNet is the audio side here
    assert "acoustic" not in out
    sup = extract_from_batches(Supervised({"model": HearNet(num_classes=10)}), [_batch(2)], energy_maps=False)
    assert sup["features"].shape == (2, 128) and np.all(sup["features"] >= 0)
    assert sup["logits"].shape == (2, 10)
    assert "energy_map" not in sup


def test_extract_is_deterministic() -> None:
    torch.manual_seed(1)
    objective = SelfSupervised({"video": ResNet18(output_stride=8, width=8), "audio": HearNet()})
    a = extract_from_batches(objective, [_batch(2)])
    b = extract_from_batches(objective, [_batch(2)])
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
    tiny_dataset: dict[str, Path], tmp_path: Path, make_checkpoint: Any
) -> None:
    assert extraction_batch_size({"video": ResNet18(bn_batch_stats_at_eval=True)}) == 4
    assert extraction_batch_size({"video": ResNet18(), "audio": HearNet()}) == 8
    assert extraction_batch_size({"video": ResNet18(bn_batch_stats_at_eval=True)}, 16) == 16
    video = {"output_stride": 8, "width": 8, "bn_batch_stats_at_eval": True}
    roles = {"video": ("resnet18", video), "audio": ("hearnet", {})}
    config = {"data": {"stats_dir": str(tiny_dataset["stats"]), "nr_frames": 2}}
    ckpt = make_checkpoint(tmp_path / "bn", roles, config)

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
def _naive_inputs(list_file: Path, stats_dir: Path, nr_frames: int) -> dict[str, torch.Tensor]:
    """The list's 2-s samples as one batch, the spectrograms z-scored here with the statistics."""
    from acoustic_ssl.data.dataset import ACIVWDataset
    from acoustic_ssl.data.stats import load_stats

    dataset = ACIVWDataset(list_file, mode="inference", nr_frames=nr_frames, video_size=(112, 149))
    items = [dataset[i] for i in range(len(dataset))]
    batch = {key: torch.stack([item[key] for item in items]) for key in items[0]}
    mean, std = (torch.as_tensor(v, dtype=torch.float32)[:, None] for v in load_stats(stats_dir))
    batch["spectrogram"] = (batch["spectrogram"] - mean) / torch.where(std > 0, std, 1.0)
    return batch


@pytest.mark.parametrize("nr_frames", [2, 1])
def test_extraction_feeds_the_networks_as_the_run_was_trained(
    tiny_dataset: dict[str, Path], extracted: Path, make_checkpoint: Any, tmp_path: Path, nr_frames: int
) -> None:
    """z-scored spectrograms (statistics of the run), the run's number of frames, maps averaged over them."""
    from acoustic_ssl.training.checkpoint import load_checkpoint

    checkpoint, path = tiny_dataset["checkpoint"], extracted
    if nr_frames != 2:
        data = {"stats_dir": str(tiny_dataset["stats"]), "nr_frames": 1, "video_size": [112, 149]}
        roles = {"video": ("resnet18", {"output_stride": 8, "width": 8}), "audio": ("hearnet", {})}
        checkpoint = make_checkpoint(tmp_path / "one_frame", roles, {"data": data})
        path = extract_features(checkpoint, tiny_dataset["list"], tmp_path / "f.npz", batch_size=5)
    arrays, meta = load_features(path)
    assert meta["nr_frames"] == nr_frames and arrays["frames"].shape == (12, nr_frames)
    models, _ = load_checkpoint(checkpoint)
    batch = _naive_inputs(tiny_dataset["list"], tiny_dataset["stats"], nr_frames)
    with torch.inference_mode():
        audio = models["audio"].outputs(batch["spectrogram"])["embedding"]
        b, f = batch["video"].shape[:2]
        frames = models["video"].outputs(batch["video"].flatten(0, 1))["embedding"]
        video_map = frames.reshape(b, f, 128, 12, 16).mean(dim=1)
    for key, expected in (("audio_raw", audio), ("video_map", video_map)):
        scale = float(expected.abs().max())
        np.testing.assert_allclose(arrays[key], expected.numpy(), rtol=0, atol=1e-5 * scale, err_msg=key)


def test_thumbnails_turn_the_loader_bgr_into_rgb() -> None:
    """A frame known in BGR (as records and the loader hold it) comes back as RGB, whatever our readers."""
    from acoustic_ssl.data.layout import VIDEO_MEAN_BGR_ORDER
    bgr = torch.zeros(3, 112, 150)
    bgr[2, :, :75] = 255.0  # left half red (BGR channel 2), right half blue (channel 0)
    bgr[0, :, 75:] = 255.0
    bgr[1] = 128.0
    video = (bgr - torch.tensor(VIDEO_MEAN_BGR_ORDER)[:, None, None])[None, None]  # loader: BGR minus means
    batch = {**_batch(1), "video": video.expand(1, 2, -1, -1, -1)}
    objective = SelfSupervised({"video": ResNet18(output_stride=8, width=4), "audio": HearNet()}).eval()
    thumbnail = extract_batch(objective, batch)["thumbnails"][0]
    assert thumbnail.dtype == np.uint8 and thumbnail.shape[-1] == 3
    np.testing.assert_array_equal(thumbnail[0, 0], [255, 128, 0])  # red on the left
    np.testing.assert_array_equal(thumbnail[-1, -1], [0, 128, 255])  # blue on the right


def test_video_map_is_oriented_as_the_frame() -> None:
    """Changing the top-right corner of the frames changes the top-right cells of the map most."""
    torch.manual_seed(2)
    objective = SelfSupervised({"video": ResNet18(output_stride=8, width=8), "audio": HearNet()}).eval()
    batch = _batch(1)
    changed = {**batch, "video": batch["video"].clone()}
    changed["video"][..., :28, -37:] += 100.0  # top-right quarter of each dimension
    before, after = extract_batch(objective, batch), extract_batch(objective, changed)
    diff = np.abs(after["video_map"] - before["video_map"]).sum(axis=(0, 1))  # [12, 16]
    row, col = np.unravel_index(np.argmax(diff), diff.shape)
    assert row < 4 and col >= 12, (row, col)
    heat = np.abs(after["attention_map"] - before["attention_map"])[0]
    assert heat[:6, 8:].sum() > heat[6:, :8].sum() * 5  # top right, not the mirrored bottom left


def test_attention_map_is_where_the_audio_weights_the_squared_video_map() -> None:
    """One hot cell on the right of the video map: the attention map peaks there (rows top to bottom)."""
    video = torch.full((2, 128, 12, 16), 0.1)
    video[0, :, 3, 14] = 2.0
    video[1, 5, 9, 1] = 3.0  # only channel 5, which the second audio vector weights
    audio = torch.ones(2, 128)
    audio[1, 5] = 2.0
    objective = SelfSupervised({"video": ResNet18(width=4), "audio": HearNet()})
    out = objective.features({"video": video, "audio": audio})
    maps = out["attention_map"].numpy()
    assert np.unravel_index(np.argmax(maps[0]), (12, 16)) == (3, 14)
    assert np.unravel_index(np.argmax(maps[1]), (12, 16)) == (9, 1)
    expected = (torch.relu(audio)[:, :, None, None] * video**2).sum(dim=1)
    np.testing.assert_allclose(maps, expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out["video"], axis=1), 1.0, rtol=1e-5)
