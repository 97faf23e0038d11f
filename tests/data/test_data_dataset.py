"""ACIVWDataset: shapes, flips, frames, crops, inference order, workers, DDP sampler, audio, stats, pack."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from acoustic_ssl.cli import main
from acoustic_ssl.data import (
    ACIVWDataset,
    compute_stats,
    load_normalization,
    load_stats,
    read_record,
    sensor_audio_to_waveform,
    waveform_to_spectrogram,
)
from acoustic_ssl.data.audio import _torch_spectrogram, resample
from acoustic_ssl.data.layout import video_id
from acoustic_ssl.data.lists import write_list
from acoustic_ssl.data.packed import pack_records
from acoustic_ssl.data.stats import Normalization
from acoustic_ssl.data.tfrecord import write_record
from acoustic_ssl.errors import AcousticSSLWarning, DataError


def numpy_stft(waveform: np.ndarray) -> np.ndarray:
    """TensorFlow-style STFT: 440-sample frames every 219, periodic Hann, FFT 512 padded at the end."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(440) / 440)
    starts = range(0, len(waveform) - 440 + 1, 219)
    frames = np.stack([waveform[s : s + 440] * window for s in starts])
    return np.abs(np.fft.rfft(frames, n=512, axis=1)).T


@pytest.fixture
def dataset_list(tmp_path: Path, record_tree) -> Path:
    paths = record_tree({(1, 4): 4, (2, 0): 2, (2, 7): 4})
    write_list(tmp_path / "list.txt", paths)
    return tmp_path / "list.txt"


def test_item_shapes_and_labels(dataset_list: Path) -> None:
    dataset = ACIVWDataset(dataset_list, mode="inference")
    assert len(dataset) == 5
    item = dataset[2]
    assert item["acoustic"].shape == (24, 12, 36, 48) and item["acoustic"].dtype == torch.float32
    assert item["spectrogram"].shape == (257, 200)
    assert item["video"].shape == (2, 3, 24, 32)
    assert (int(item["label"]), int(item["location"]), int(item["video_id"]), int(item["start"])) == (
        2,
        0,
        video_id(2, 0),
        0,
    )
    assert all(
        item[k].dtype == torch.int64 and item[k].shape == () for k in ("label", "location", "video_id")
    )


def test_acoustic_images_are_flipped_both_ways(dataset_list: Path) -> None:
    item = ACIVWDataset(dataset_list, mode="inference", modalities=("acoustic",))[0]
    assert set(item) == {"acoustic", "label", "location", "video_id", "start"}
    paths = dataset_list.read_text().split()
    stored = np.concatenate([read_record(p)["audio/image"] for p in paths[:2]])  # [24, 36, 48, 12]
    got = item["acoustic"].numpy()
    for t, c, r, col in [(0, 0, 0, 0), (5, 3, 10, 20), (23, 11, 35, 47), (13, 7, 0, 47)]:
        assert got[t, c, r, col] == stored[t, 35 - r, 47 - col, c]


def test_video_frames_0_and_23_minus_bgr_means(dataset_list: Path) -> None:
    video = ACIVWDataset(dataset_list, mode="inference", modalities=("video",))[1]["video"]
    # records hold frame index (within the video) in channel 0, 100 in channel 1, 200 in channel 2
    assert video[0, 0, 0, 0] == pytest.approx(24 - 123.68)  # sample 1 starts at second 2 -> frame 24
    assert video[1, 0, 0, 0] == pytest.approx(47 - 123.68)
    assert video[0, 1, 5, 5] == pytest.approx(100 - 116.78) and video[1, 2, 3, 3] == pytest.approx(
        200 - 103.94
    )
    five = ACIVWDataset(dataset_list, mode="inference", modalities=("video",), nr_frames=5)[0]["video"]
    assert five[:, 0, 0, 0].tolist() == pytest.approx([f - 123.68 for f in (0, 5, 11, 17, 23)])
    resized = ACIVWDataset(dataset_list, mode="inference", modalities=("video",), video_size=(12, 16))[0]
    resized = resized["video"]
    assert resized.shape == (2, 3, 12, 16) and resized[1, 0].mean() == pytest.approx(23 - 123.68, abs=1e-3)


@pytest.mark.parametrize("nr_frames", [1, 2, 5, 24])
def test_recorded_frame_numbers_are_the_frames_the_loader_feeds(dataset_list: Path, nr_frames: int) -> None:
    """``sample_frame_numbers`` (what extraction records for localisation) names exactly the frames the loader
    puts in each sample: the records hold each frame's index within its video in channel 0."""
    from acoustic_ssl.data.dataset import sample_frame_numbers

    dataset = ACIVWDataset(dataset_list, mode="inference", modalities=("video",), nr_frames=nr_frames)
    assert len(dataset) >= 3
    for item in (dataset[i] for i in range(len(dataset))):
        fed = [round(float(v) + 123.68) + 1 for v in item["video"][:, 0, 0, 0]]  # 1-based frame numbers
        assert fed == sample_frame_numbers(int(item["start"]), 2, nr_frames)
    assert sample_frame_numbers(3, 2, 2) == [37, 60]  # seconds 3-4: frames 0 and 23 of the sample
    assert sample_frame_numbers(1, 2, 24) == list(range(13, 37))


def test_video_frames_keep_the_stored_orientation_pixel_by_pixel(tmp_path: Path) -> None:
    """Frames of arbitrary content come out as stored (rows top to bottom, columns left to right, BGR), minus
    the per-channel means: only the acoustic images are rotated."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(2, 12, 6, 8, 3), dtype=np.uint8)  # 2 s of 12 frames
    paths = []
    for second in (1, 2):
        path = tmp_path / "class_1" / "data_004" / f"Data_{second:03d}.tfrecord"
        write_record(path, {"classes": 1, "location": 4, "video/image": frames[second - 1]})
        paths.append(path)
    write_list(tmp_path / "list.txt", paths)
    video = ACIVWDataset(tmp_path / "list.txt", mode="inference", modalities=("video",))[0]["video"]
    means = np.array([123.68, 116.78, 103.94], np.float32)
    for got, stored in ((video[0], frames[0, 0]), (video[1], frames[1, 11])):  # frames 0 and 23
        expected = (stored.astype(np.float32) - means).transpose(2, 0, 1)
        np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-4)


def test_inference_order_is_consecutive_and_non_overlapping(dataset_list: Path) -> None:
    dataset = ACIVWDataset(
        dataset_list, mode="inference", total_length=2, sample_length=1, modalities=("video",)
    )
    items = [dataset[i] for i in range(len(dataset))]
    got = [(int(i["video_id"]), int(i["start"])) for i in items]
    a, b, c = video_id(1, 4), video_id(2, 0), video_id(2, 7)
    assert got == [(a, 0), (a, 1), (a, 2), (a, 3), (b, 0), (b, 1)] + [(c, s) for s in range(4)]
    assert items[0]["video"][1, 0, 0, 0] == pytest.approx(11 - 123.68)


def test_training_crops_stay_in_their_block_and_follow_seed_and_epoch(dataset_list: Path) -> None:
    dataset = ACIVWDataset(
        dataset_list, total_length=2, sample_length=1, number_of_crops=8, modalities=("video",), seed=1
    )
    assert len(dataset) == 40
    starts = [dataset.first_record(i) for i in range(len(dataset))]
    assert all(2 * (i // 8) <= s <= 2 * (i // 8) + 1 for i, s in enumerate(starts))
    assert set(starts) == set(range(10))  # with 8 crops per block both offsets appear
    assert starts == [dataset.first_record(i) for i in range(len(dataset))]
    dataset.set_epoch(1)
    assert starts != [dataset.first_record(i) for i in range(len(dataset))]
    dataset.set_epoch(0)
    assert starts == [dataset.first_record(i) for i in range(len(dataset))]
    whole = ACIVWDataset(dataset_list, mode="training", modalities=("video",))
    assert [whole.first_record(i) for i in range(len(whole))] == [0, 2, 4, 6, 8]


def test_invalid_configurations_are_errors(dataset_list: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="multiple of sample_length"):
        ACIVWDataset(dataset_list, total_length=3, sample_length=2)
    with pytest.raises(DataError, match="not a multiple of total_length=4"):
        ACIVWDataset(dataset_list, total_length=4, sample_length=2)
    with pytest.raises(DataError, match="nr_frames"):
        ACIVWDataset(dataset_list, nr_frames=25)
    with pytest.raises(DataError, match=r"subset of acoustic, audio, video, got \[0, 2\]"):
        ACIVWDataset(dataset_list, modalities=(0, 2))  # the original's numbers exist only at the CLI
    lines = dataset_list.read_text().split()
    write_list(tmp_path / "straddle.txt", lines[3:5])  # last second of one video + first of the next
    with pytest.raises(DataError, match="not the next second"):
        ACIVWDataset(tmp_path / "straddle.txt", mode="inference", modalities=("video",))[0]


def test_spectrogram_matches_an_independent_computation(dataset_list: Path) -> None:
    dataset = ACIVWDataset(dataset_list, mode="inference", modalities=("audio",))
    paths = dataset_list.read_text().split()
    sensor = np.concatenate([read_record(p)["audio/data"] for p in paths[:2]]).reshape(-1).astype(np.float64)
    waveform = resample(sensor, 3675, 2048)  # kaiser_best, checked against resampy in test_audio.py
    waveform = waveform / np.abs(waveform).max() * 256
    assert waveform.shape == (44100,)
    expected = numpy_stft(waveform)
    # float32 waveform vs float64: errors scale with each frame's largest bin, not with the (near-zero) bin
    scale = expected.max(axis=0, keepdims=True)
    assert (np.abs(dataset[0]["spectrogram"].numpy() - expected) / scale).max() < 1e-5


def test_audio_helpers() -> None:
    silent = sensor_audio_to_waveform(np.zeros((12, 1024), np.int32))
    assert silent.shape == (22050,) and not silent.any()
    loud = sensor_audio_to_waveform(np.random.default_rng(0).integers(-5, 5, (24, 1024)).astype(np.int32))
    assert loud.dtype == np.float32 and np.abs(loud).max() == pytest.approx(256)
    tone = np.sin(2 * np.pi * 1000 * np.arange(22050) / 22050)
    spec = waveform_to_spectrogram(torch.tensor(tone)).numpy()
    assert spec.shape == (257, 99) and spec.dtype == np.float32
    assert int(spec.mean(axis=1).argmax()) == round(1000 / 22050 * 512)
    batched = waveform_to_spectrogram(np.stack([tone, 2 * tone]))
    scale = float(spec.max())  # a tone: most bins are near zero, compare on the peak's scale
    assert batched.shape == (2, 257, 99)
    torch.testing.assert_close(batched[1], 2 * batched[0], rtol=0, atol=2e-6 * scale)
    accelerator_path = _torch_spectrogram(torch.tensor(tone))  # the path used for tensors on a GPU
    torch.testing.assert_close(accelerator_path, torch.from_numpy(spec), rtol=0, atol=1e-6 * scale)


def test_stats_match_numpy_and_zscore_the_spectrograms(dataset_list: Path, tmp_path: Path) -> None:
    values = compute_stats(dataset_list, tmp_path / "stats")
    dataset = ACIVWDataset(dataset_list, mode="inference", modalities=("audio",))
    specs = np.stack([dataset[i]["spectrogram"].numpy().astype(np.float64) for i in range(len(dataset))])
    np.testing.assert_allclose(values["global_mean"], specs.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(values["global_std_dev"], specs.std(axis=(0, 2)), rtol=1e-4)
    np.testing.assert_allclose(values["global_min"], specs.min(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(values["global_sum"], specs.sum(axis=(0, 2)), rtol=1e-5)
    for name in (
        "global_mean",
        "global_std_dev",
        "global_min",
        "global_max",
        "global_sum",
        "global_sum_squared",
    ):
        array = np.load(tmp_path / "stats" / f"{name}.npy")
        assert array.dtype == np.float32 and array.shape == (257,)
    mean, std = load_stats(tmp_path / "stats")
    assert np.array_equal(mean, values["global_mean"]) and np.array_equal(std, values["global_std_dev"])
    normalize = load_normalization(tmp_path / "stats")
    normalised = ACIVWDataset(dataset_list, mode="inference", modalities=("audio",), normalize=normalize)
    z = np.stack([normalised[i]["spectrogram"].numpy() for i in range(len(normalised))])
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-3)


def test_original_scaling_reproduces_the_published_formula(dataset_list: Path, tmp_path: Path) -> None:
    assert main(["stats", str(dataset_list), str(tmp_path / "orig"), "--original-scaling"]) == 0
    dataset = ACIVWDataset(dataset_list, mode="inference", modalities=("audio",))
    specs = np.stack([dataset[i]["spectrogram"].numpy().astype(np.float64) for i in range(len(dataset))])
    n = 10 * 200 * 257  # list lines x frames x bins
    total, total_sq = specs.sum(axis=(0, 2)), np.square(specs).sum(axis=(0, 2))
    np.testing.assert_allclose(np.load(tmp_path / "orig" / "global_mean.npy"), total / n, rtol=1e-5)
    expected_std = np.sqrt((total_sq - total**2 / n) / n)
    np.testing.assert_allclose(np.load(tmp_path / "orig" / "global_std_dev.npy"), expected_std, rtol=1e-4)
    assert json.loads((tmp_path / "orig" / "stats.json").read_text())["original_scaling"] is True


def _as_tuple(item: dict[str, torch.Tensor]) -> tuple:
    return (
        int(item["video_id"]),
        int(item["start"]),
        float(item["acoustic"].sum()),
        float(item["video"].sum()),
    )


def test_dataloader_with_two_workers_matches_direct_indexing(dataset_list: Path) -> None:
    dataset = ACIVWDataset(
        dataset_list, total_length=2, sample_length=1, number_of_crops=2, modalities=("acoustic", "video")
    )
    dataset.set_epoch(3)
    direct = [_as_tuple(dataset[i]) for i in range(len(dataset))]
    loader = DataLoader(dataset, batch_size=3, num_workers=2, shuffle=False)
    batches = list(loader)
    assert batches[0]["acoustic"].shape == (3, 12, 12, 36, 48) and batches[0]["label"].shape == (3,)
    loaded = [
        _as_tuple({k: v[j] for k, v in batch.items()})
        for batch in batches
        for j in range(len(batch["label"]))
    ]
    assert loaded == direct


def test_distributed_sampler_partitions_the_samples(dataset_list: Path) -> None:
    dataset = ACIVWDataset(
        dataset_list, mode="inference", total_length=2, sample_length=1, modalities=("video",)
    )
    parts = [
        list(DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=True, seed=5, drop_last=True))
        for rank in range(2)
    ]
    assert len(parts[0]) == len(parts[1]) == 5
    assert sorted(parts[0] + parts[1]) == list(range(10))


def test_packed_folder_gives_the_same_items(dataset_list: Path, tmp_path: Path, capsys) -> None:
    assert main(["pack", str(dataset_list), str(tmp_path / "packed")]) == 0
    assert "10 records packed" in capsys.readouterr().out
    from_records = ACIVWDataset(dataset_list, total_length=2, number_of_crops=2, seed=9)
    from_pack = ACIVWDataset(tmp_path / "packed", total_length=2, number_of_crops=2, seed=9)
    assert len(from_pack) == len(from_records) == 10
    for i in (0, 7):
        a, b = from_records[i], from_pack[i]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    loader = DataLoader(from_pack, batch_size=4, num_workers=2)
    assert sum(len(batch["label"]) for batch in loader) == 10
    with pytest.raises(DataError, match="not empty"):
        pack_records([Path(p) for p in dataset_list.read_text().split()], tmp_path / "packed")


def test_pack_keeps_the_list_order_across_its_read_chunks(
    dataset_list: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records are read a chunk at a time by threads: every row still holds its own list line's record,
    also in a list that is not in file order and spans several chunks."""
    from acoustic_ssl.data import packed
    from acoustic_ssl.data.layout import KEY_AUDIO, KEY_VIDEO
    from acoustic_ssl.data.tfrecord import read_record

    paths = [Path(p) for p in dataset_list.read_text().split()][::-1]
    fresh = packed._records_in_order
    monkeypatch.setattr(packed, "_records_in_order", lambda paths, first: fresh(paths, first, chunk=3))
    pack_records(paths, tmp_path / "packed")
    audio, video = np.load(tmp_path / "packed" / "audio.npy"), np.load(tmp_path / "packed" / "video.npy")
    assert len(audio) == len(paths) == 10
    for row, path in enumerate(paths):
        record = read_record(path)
        np.testing.assert_array_equal(audio[row], record[KEY_AUDIO])
        np.testing.assert_array_equal(video[row], record[KEY_VIDEO])


def test_corrupt_record_stops_pack_and_stats_leaving_nothing(dataset_list: Path, tmp_path: Path) -> None:
    paths = dataset_list.read_text().split()
    victim = Path(paths[5])
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(DataError, match=re.escape(str(victim))):
        pack_records([Path(p) for p in paths], tmp_path / "packed")
    assert not (tmp_path / "packed").exists() and not list(tmp_path.glob(".packed*"))
    assert main(["stats", str(dataset_list), str(tmp_path / "stats")]) == 2
    assert not (tmp_path / "stats").exists()


def test_an_error_in_a_dataloader_worker_is_still_one_line(
    dataset_list: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = Path(dataset_list.read_text().split()[3])
    victim.write_bytes(victim.read_bytes()[:-20])  # a worker raises; PyTorch re-raises it with its traceback
    assert main(["stats", str(dataset_list), str(tmp_path / "stats"), "--workers", "2"]) == 2
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"acoustic-ssl stats: error: {victim}: ")


def _ones_but(index: int, value: float) -> np.ndarray:
    return np.where(np.arange(257) == index, value, 1.0)


@pytest.mark.parametrize(
    ("name", "values", "problem"),
    [
        ("global_mean", _ones_but(40, np.nan), r"mean has 1 non-finite value\(s\) \(bin 40"),
        ("global_std_dev", _ones_but(3, np.inf), r"std has 1 non-finite value\(s\) \(bin 3"),
        ("global_std_dev", _ones_but(9, -1.0), r"std is negative in bin 9"),
        ("global_mean", np.ones(256), r"mean must be 257 numbers .* shape \(256,\)"),
        ("global_std_dev", np.ones((257, 2)), r"std must be 257 numbers .* shape \(257, 2\)"),
    ],
    ids=["nan-mean", "inf-std", "negative-std", "short-mean", "2d-std"],
)
def test_bad_statistics_are_refused_not_patched(
    dataset_list: Path, tmp_path: Path, name: str, values: np.ndarray, problem: str
) -> None:
    stats = tmp_path / "stats"
    compute_stats(dataset_list, stats)
    np.save(stats / f"{name}.npy", values.astype(np.float32))
    with pytest.raises(DataError, match=rf"{name}\.npy: spectrogram {problem}"):
        load_normalization(stats)
    arrays = {"global_mean": np.zeros(257), "global_std_dev": np.ones(257), name: values}
    with pytest.raises(DataError, match=problem):  # statistics given as arrays (from a checkpoint)
        Normalization.from_stats(arrays["global_mean"], arrays["global_std_dev"])


def test_pack_refuses_a_list_of_mixed_modalities_naming_the_first_odd_record(
    tmp_path: Path, record_tree, capsys: pytest.CaptureFixture[str]
) -> None:
    full = record_tree({(1, 0): 2})
    audio_only = tmp_path / "records" / "class_1" / "data_001" / "Data_001.tfrecord"
    write_record(audio_only, {"classes": 1, "location": 1, "audio/data": np.zeros((12, 1024), np.int32)})
    write_list(tmp_path / "mixed.txt", [*full, audio_only, audio_only.with_name("Data_002.tfrecord")])
    assert main(["pack", str(tmp_path / "mixed.txt"), str(tmp_path / "packed")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"acoustic-ssl pack: error: {audio_only}: record carries audio but the first record of the list "
        f"({full[0]}) carries acoustic + audio + video; pack lists whose records all hold the same "
        "modalities"
    ]
    assert not (tmp_path / "packed").exists() and not list(tmp_path.glob(".packed*"))


def test_stats_of_a_list_naming_records_twice_warns_and_says_so(
    dataset_list: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = dataset_list.read_text().splitlines()
    twice = tmp_path / "twice.txt"
    twice.write_text("\n".join(lines + lines[:2]) + "\n")  # the first 2-s block oversampled
    with pytest.warns(AcousticSSLWarning, match=r"twice\.txt: 2 record\(s\) listed more than once"):
        assert main(["stats", str(twice), str(tmp_path / "stats")]) == 0
    assert "note: 2 record(s) are listed more than once" in capsys.readouterr().out
    summary = json.loads((tmp_path / "stats" / "stats.json").read_text())
    assert summary["records_listed_more_than_once"] == 2 and summary["records"] == 12


def test_pack_removes_the_staging_folder_of_a_killed_pack_and_reserves_its_space(
    dataset_list: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / ".packed.k1ll3d.tmp"  # a pack killed by SIGKILL (or a SIGBUS) leaves this
    stale.mkdir()
    (stale / "audio.npy").write_bytes(b"\0" * 1000)

    def full_disk(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full_disk)
    assert main(["pack", str(dataset_list), str(tmp_path / "packed")]) == 2
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"acoustic-ssl pack: error: {tmp_path / 'packed'}: cannot write packed folder "
                          "(No space left on device; it needs ")
    assert not stale.exists() and not list(tmp_path.glob(".packed*")) and not (tmp_path / "packed").exists()


@pytest.mark.parametrize("video_size", [None, (12, 20)])
def test_device_preprocessing_finishes_batches_as_the_loader_does(
    dataset_list: Path, tmp_path: Path, video_size: tuple[int, int] | None
) -> None:
    """The GPU path (raw uint8 frames, waveforms and stored images collated, finished on the device), run on
    the CPU: the same batches as the loader's own preprocessing."""
    stats = tmp_path / "stats"
    compute_stats(dataset_list, stats)
    common = {"mode": "training", "normalize": load_normalization(stats), "video_size": video_size, "seed": 3}
    finished = ACIVWDataset(dataset_list, **common)
    deferred = ACIVWDataset(dataset_list, device_preprocessing=True, **common)
    item = deferred[1]
    assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (2, 24, 32, 3)
    assert item["waveform"].shape == (44100,) and item["acoustic_stored"].shape == (24, 36, 48, 12)
    assert {"video", "spectrogram", "acoustic"}.isdisjoint(item)
    expected = next(iter(DataLoader(finished, batch_size=3)))
    batch = deferred.finish(next(iter(DataLoader(deferred, batch_size=3))))
    assert batch.keys() == expected.keys()
    for key, value in expected.items():
        assert batch[key].shape == value.shape and batch[key].dtype == value.dtype, key
        scale = float(value.abs().max()) if value.is_floating_point() else 0.0
        torch.testing.assert_close(batch[key], value, rtol=0, atol=1e-5 * scale)
    video = batch["video"].flatten(0, 1)
    assert video.is_contiguous(memory_format=torch.channels_last)  # what the image networks want
    assert finished.finish(expected) == expected  # a finished batch passes through


def test_cached_items_are_the_items_and_the_budget_holds(dataset_list: Path) -> None:
    """Random crops across epochs: a recurring sample comes from memory, equal to a fresh read; what does not
    fit the budget is read again; a caller editing a returned item does not edit the cache."""

    def cached(cache_bytes: int) -> tuple[ACIVWDataset, list[int]]:
        dataset = ACIVWDataset(
            dataset_list, total_length=2, sample_length=1, number_of_crops=3, seed=2, cache_bytes=cache_bytes
        )
        reads: list[int] = []
        read = dataset.source.read
        dataset.source.read = lambda index, keys: reads.append(index) or read(index, keys)
        return dataset, reads

    fresh = ACIVWDataset(dataset_list, total_length=2, sample_length=1, number_of_crops=3, seed=2)
    one_item = sum(v.element_size() * v.nelement() for v in fresh[0].values())
    epochs = (0, 1, 0)
    for cache_bytes in (100 * one_item, one_item - 1):
        dataset, reads = cached(cache_bytes)
        for epoch in epochs:
            dataset.set_epoch(epoch)
            fresh.set_epoch(epoch)
            for i in range(len(dataset)):
                item, expected = dataset[i], fresh[i]
                assert item.keys() == expected.keys()
                assert all(torch.equal(item[k], expected[k]) for k in item), (cache_bytes, epoch, i)
                item["label"] = torch.tensor(-1)
        if cache_bytes > one_item:  # each of the 10 records (1-s samples) read once, though 45 were served
            assert sorted(reads) == list(range(10))
        else:
            assert len(reads) == len(epochs) * len(dataset) and dataset._cached_bytes == 0
