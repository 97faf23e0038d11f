"""A generator's records and its measurement against the truth: ``synthesize`` and ``evaluate-generator``.

``synthesize`` writes records that ``read_record`` parses, flagged synthetic, holding exactly the images the
generator makes for their sample (stored orientation, the right second of the right sample), copies of
records without acoustic images included; it refuses its input as output. ``evaluate-generator`` gives a
generator that returns the true images the true images' scores, and its peak distances match hand cases.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from acoustic_ssl.data.dataset import ACIVWDataset
from acoustic_ssl.data.labels import read_labels, write_labels
from acoustic_ssl.data.layout import KEY_ACOUSTIC, KEY_AUDIO, KEY_CLASS, KEY_LOCATION, KEY_VIDEO, record_name
from acoustic_ssl.data.lists import read_list
from acoustic_ssl.data.tfrecord import read_record, write_record
from acoustic_ssl.errors import DataError
from acoustic_ssl.evaluation.generator import _chance, evaluate_generator, peak_distances
from acoustic_ssl.evaluation.synthesize import synthesize
from acoustic_ssl.models import AcousticGenerator, HearNet
from acoustic_ssl.training.checkpoint import save_checkpoint
from acoustic_ssl.training.objectives import Generate
from acoustic_ssl.training.trained import load_trained

VIDEO_HW = [112, 149]


@pytest.fixture(scope="module")
def generator_checkpoint(tiny_dataset: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``generate`` checkpoint: an untrained generator whose band statistics are those of the tiny records
    (so its images are on their scale)."""
    from acoustic_ssl.training.config import config_from_dict

    torch.manual_seed(4)
    nets = {"generator": AcousticGenerator(width=4), "audio": HearNet(init="he")}
    stored = np.stack([read_record(p)[KEY_ACOUSTIC] for p in read_list(tiny_dataset["list"])[:4]])
    nets["generator"].set_statistics(torch.as_tensor(stored).flip(-3, -2).movedim(-1, -3))
    data = {"stats_dir": str(tiny_dataset["stats"]), "nr_frames": 24, "video_size": VIDEO_HW}
    specs = {"generator": {"name": "acoustic_generator", "kwargs": {"width": 4}},
             "audio": {"name": "hearnet", "kwargs": {"init": "he"}}}
    config = config_from_dict({
        "experiment": {"kind": "generate"},
        "data": {"train_list": "training.txt", "valid_list": "validation.txt", **data},
        "models": {role: {"name": spec["name"], **spec["kwargs"]} for role, spec in specs.items()},
    }).to_dict()
    path = tmp_path_factory.mktemp("generate") / "run" / "checkpoints" / "best"
    save_checkpoint(path, models=nets, specs=specs, info={"epoch": 1, "kind": "generate", "config": config},
                    spectrogram_stats=_stats(tiny_dataset["stats"]))
    return path


def _stats(stats_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    from acoustic_ssl.data.stats import load_normalization

    return load_normalization(stats_dir).stats


def _generated_by_sample(checkpoint: Path, list_file: Path) -> torch.Tensor:
    """The generator's images [samples, 24, 12, 36, 48] (video orientation) of the 2-s samples of a list."""
    trained = load_trained(checkpoint)
    dataset = ACIVWDataset(list_file, mode="inference", modalities=("audio", "video"), nr_frames=24,
                           normalize=trained.normalization, video_size=tuple(VIDEO_HW))
    batch = torch.utils.data.default_collate([dataset[i] for i in range(len(dataset))])
    with torch.inference_mode():
        return trained.objective.images(trained.objective.embed(batch))


def test_synthesize_writes_flagged_records_holding_the_generated_images(
    tiny_dataset: dict[str, Path], generator_checkpoint: Path, tmp_path: Path
) -> None:
    from acoustic_ssl.cli import main

    out = tmp_path / "synthetic"
    code = main(["synthesize", "--checkpoint", str(generator_checkpoint), "--list", str(tiny_dataset["list"]),
                 "--out", str(out), "--batch-size", "3", "--device", "cpu"])
    assert code == 0
    inputs = read_list(tiny_dataset["list"])
    copies = read_list(out / "lists" / "testing.txt")
    assert [p.relative_to(out) for p in copies] == [Path(*p.parts[-3:]) for p in inputs]  # same order
    for source, copy in zip(inputs, copies, strict=True):
        original, record = read_record(source), read_record(copy)
        assert record["audio_image/synthetic"] == 1 and "audio_image/synthetic" not in original
        for key in (KEY_CLASS, KEY_LOCATION):
            assert record[key] == original[key]
        for key in (KEY_AUDIO, KEY_VIDEO):
            np.testing.assert_array_equal(record[key], original[key])
        assert record[KEY_ACOUSTIC].shape == (12, 36, 48, 12) and record[KEY_ACOUSTIC].dtype == np.float32
        assert not np.allclose(record[KEY_ACOUSTIC], original[KEY_ACOUSTIC])
    # read back as the loader reads acoustic images (flipped into video orientation): the generator's images
    # of each 2-s sample, second by second
    loaded = ACIVWDataset(out / "lists" / "testing.txt", mode="inference", modalities=("acoustic",))
    expected = _generated_by_sample(generator_checkpoint, tiny_dataset["list"])
    for i in (0, 5, 11):
        scale = float(expected[i].abs().max())
        torch.testing.assert_close(loaded[i]["acoustic"], expected[i].float(), rtol=0, atol=1e-5 * scale)
    summary = json.loads((out / "synthesis.json").read_text())
    assert (summary["records"], summary["videos"], summary["left_out"]) == (24, 6, 0)
    assert summary["acoustic_images"] == "generated" and summary["checkpoint"] == str(generator_checkpoint)
    assert not list(tmp_path.glob(".synthetic*"))  # no staging folder left


def test_synthesize_refuses_its_input_and_a_full_folder_and_other_kinds(
    tiny_dataset: dict[str, Path], generator_checkpoint: Path, tmp_path: Path
) -> None:
    records = tiny_dataset["root"] / "records"
    with pytest.raises(DataError, match=r"records: is the records folder of the input; write .* elsewhere"):
        synthesize(generator_checkpoint, [tiny_dataset["list"]], records)
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    with pytest.raises(DataError, match=r"full: exists and is not an empty folder"):
        synthesize(generator_checkpoint, [tiny_dataset["list"]], full)
    with pytest.raises(DataError, match=r"random: a 'selfsup' checkpoint; this needs a 'generate' run's"):
        synthesize(tiny_dataset["checkpoint"], [tiny_dataset["list"]], tmp_path / "new")
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{tmp_path / 'clip.tfrecord'}\n")
    with pytest.raises(DataError, match=r"bad\.txt: .*clip\.tfrecord is not a class_K/data_NNN/Data_NNN"):
        synthesize(generator_checkpoint, [bad], tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_imported_records_gain_acoustic_images_and_their_index_is_marked(
    tiny_dataset: dict[str, Path], generator_checkpoint: Path, tmp_path: Path
) -> None:
    """Records of ``import-video`` (audio and video, no acoustic images; labels.json, videos.csv): a 3-s clip
    gets all three seconds (the last shares the sample ending with it), a 1-s clip is left out."""
    source = read_list(tiny_dataset["list"])
    root = tmp_path / "imported"
    lengths = {(0, 0): 3, (1, 0): 1}
    paths = []
    for (c, loc), seconds in lengths.items():
        for s in range(1, seconds + 1):
            record = read_record(source[s - 1])
            del record[KEY_ACOUSTIC]
            record.update({KEY_CLASS: c, KEY_LOCATION: loc})
            paths.append(root / f"class_{c}" / f"data_{loc:03d}" / record_name(s))
            write_record(paths[-1], record)
    write_labels(root, {"bell": 0, "horn": 1})
    (root / "videos.csv").write_text("class,location,clip,label,split,status\n0,0,b1,bell,train,imported\n"
                                     "1,0,h1,horn,train,imported\n")
    (tmp_path / "all.txt").write_text("".join(f"{p}\n" for p in paths))
    summary = synthesize(generator_checkpoint, [tmp_path / "all.txt"], tmp_path / "out", device="cpu")
    assert (summary["records"], summary["videos"], summary["left_out"]) == (3, 1, 1)
    copies = read_list(tmp_path / "out" / "lists" / "all.txt")
    assert [p.name for p in copies] == ["Data_001.tfrecord", "Data_002.tfrecord", "Data_003.tfrecord"]
    images = [read_record(p)[KEY_ACOUSTIC] for p in copies]
    assert all(i.shape == (12, 36, 48, 12) for i in images)
    # seconds 1-2 come from the sample of seconds 1-2, the third from the sample of seconds 2-3
    cases = (("first.txt", copies[:2], slice(0, 24)), ("last.txt", copies[1:], slice(12, 24)))
    for name, pair, second in cases:
        (tmp_path / name).write_text("".join(f"{p}\n" for p in pair))
        expected = _generated_by_sample(generator_checkpoint, tmp_path / name)[0, second]
        stored = np.ascontiguousarray(np.flip(expected.numpy(), (-2, -1)).transpose(0, 2, 3, 1))
        got = np.concatenate(images[:2]) if name == "first.txt" else images[2]
        np.testing.assert_allclose(got, stored, rtol=0, atol=1e-5 * float(np.abs(stored).max()))
    assert read_labels(tmp_path / "out") == {"bell": 0, "horn": 1}
    with open(tmp_path / "out" / "videos.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["clip"], r["acoustic_images"]) for r in rows] == [("b1", "generated")]


def test_peak_distances_against_hand_cases() -> None:
    heat = np.zeros((3, 36, 48))
    heat[:, 10, 20] = 1.0
    sources = [np.array([[10.0, 23.0]]), np.array([[12.0, 21.0], [30.0, 40.0]]), np.zeros((0, 2))]
    distance, within = peak_distances(heat, sources)
    np.testing.assert_allclose(distance[:2], [3.0, np.sqrt(5.0)])
    assert within[0] == 0.0 and within[1] == 1.0 and np.isnan(distance[2]) and np.isnan(within[2])
    chance_distance, chance_within = _chance([np.array([[0.0, 0.0]])])
    rows, cols = np.meshgrid(np.arange(36), np.arange(48), indexing="ij")
    assert chance_distance[0] == pytest.approx(np.sqrt(rows**2 + cols**2).mean())
    assert chance_within[0] == pytest.approx(9 / (36 * 48))  # cells (0..2, 0..2)


def test_a_generator_of_the_true_images_scores_as_the_true_images(
    tiny_dataset: dict[str, Path], tiny_raw: Path, generator_checkpoint: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = tiny_raw
    real = evaluate_generator(generator_checkpoint, tiny_dataset["list"], raw, device="cpu", frame_step=3)
    embed = Generate.embed

    def perfect(self: Generate, batch: dict) -> dict:
        out = embed(self, batch)
        out["generated"] = self.generator.to_z(self.target(out, batch))
        return out

    monkeypatch.setattr(Generate, "embed", perfect)
    result = evaluate_generator(generator_checkpoint, tiny_dataset["list"], raw, tmp_path / "g.json",
                                device="cpu", frame_step=3)
    assert json.loads((tmp_path / "g.json").read_text()) == result
    assert (result["frames"], result["samples"], result["videos"]) == (96, 12, 6)  # 8 of 24 frames
    assert result["correlation"]["generated"]["mean"]["estimate"] == pytest.approx(1.0, abs=1e-9)
    assert result["correlation"]["mean_image"] == real["correlation"]["mean_image"]  # the baseline
    assert all(band["estimate"] == pytest.approx(0.0, abs=1e-3) for band in result["rmse"]["generated"])
    loc = result["localization"]
    assert loc["generated"] == loc["true_energy"] and loc["true_energy"]["pointing_accuracy"] > 0.9
    assert result["comparisons"]["localization_generated_vs_true_energy"]["difference"] == 0.0
    distance = result["peak_distance_cells"]
    assert distance["generated"] == distance["true_energy"] and distance["true_energy"]["estimate"] < 3.0
    assert distance["chance"]["estimate"] > 10.0
    # the untrained generator is another matter: its images neither correlate nor point like the truth
    assert real["correlation"]["generated"]["mean"]["estimate"] < 0.5
    assert real["rmse"]["generated"][0]["estimate"] > 1.0
    assert real["localization"]["true_energy"] == loc["true_energy"]  # the truth does not depend on it
