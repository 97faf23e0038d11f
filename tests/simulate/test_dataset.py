"""End to end: layout, determinism, ground truth, resume, CLI, and the localisation acceptance check."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from acoustic_ssl.cli import main
from acoustic_ssl.data.layout import (
    GROUND_TRUTH_FILE,
    VIDEO_TIME_FILE,
    audio_frame_path,
    mfcc_frame_path,
    video_frame_path,
)
from acoustic_ssl.errors import ConfigError, DataError
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.simulate.dataset import SceneComposition, simulate_dataset
from acoustic_ssl.simulate.render import GROUND_TRUTH_HEADER

TINY = {"videos_per_class": 1, "seconds": 1, "classes": [2, 5], "frame_size": (48, 64)}


def _files(root: Path) -> dict[str, bytes]:
    """Every file's bytes (the .mat writer uses a fixed header, so whole files must match)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _ground_truth(video_dir: Path) -> list[dict[str, str]]:
    with open(video_dir / GROUND_TRUTH_FILE, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_dataset(tmp_path_factory.mktemp("tiny") / "sim", seed=11, workers=1, **TINY)


def test_layout_and_file_counts(tiny: Path) -> None:
    assert {p.name for p in tiny.iterdir()} == {
        "array_geometry.csv",
        "camera.json",
        "simulation.json",
        "class_2",
        "class_5",
    }
    ArrayGeometry.load(tiny / "array_geometry.csv")
    assert PinholeCamera.load(tiny / "camera.json") == PinholeCamera()
    params = json.loads((tiny / "simulation.json").read_text())
    assert params["seed"] == 11 and params["classes"] == [2, 5] and params["snr_db"] == 20.0
    for class_index in (2, 5):
        video = tiny / f"class_{class_index}" / "data_000"
        assert (video / VIDEO_TIME_FILE).read_text().splitlines()[0] == "video seconds: 1"
        for sub in ("audio", "MFCC_Image", "video"):
            assert len(list((video / sub).iterdir())) == 12
        audio = np.fromfile(audio_frame_path(video, 12), dtype="<i4")
        assert audio.size == 128 * 1024 and np.abs(audio).max() < 2**23
        assert np.std(audio.reshape(128, 1024, order="F")[0]) > 100  # a real signal at the recording level
        mfcc = scipy.io.loadmat(mfcc_frame_path(video, 12))["MFCC"]
        assert mfcc.shape == (36, 48, 12) and mfcc.dtype == np.float32 and np.all(np.isfinite(mfcc))
        assert video_frame_path(video, 12).stat().st_size == 54 + 48 * 64 * 3


def test_ground_truth_rows_are_consistent_with_projection(tiny: Path) -> None:
    """Every row is its source's 3-D position at the middle of the frame's audio, (k − 0.5)/12 s, projected
    here by the pinhole formula of ``camera.json``: x = W/2 + f·X/Z, y = H/2 + f·Y/Z, f = (W/2)/tan(hfov/2).
    The sources are those of the video's scene, drawn again from the video's seed."""
    import math

    from acoustic_ssl.simulate.dataset import video_seed
    from acoustic_ssl.simulate.scene import make_scene

    camera = json.loads((tiny / "camera.json").read_text())
    params = json.loads((tiny / "simulation.json").read_text())
    width, height = camera["width"], camera["height"]
    focal = width / 2 / math.tan(math.radians(camera["hfov_deg"]) / 2)
    for class_index in (2, 5):
        video = tiny / f"class_{class_index}" / "data_000"
        header = (video / GROUND_TRUTH_FILE).read_text().splitlines()[0].split(",")
        assert header[:7] == GROUND_TRUTH_HEADER.split(",")[:7]
        rows = _ground_truth(video)
        main_rows = [r for r in rows if r["source_id"] == "0"]
        assert [int(r["frame"]) for r in main_rows] == list(range(1, 13))
        assert all(int(r["class"]) == class_index for r in main_rows)
        seed = video_seed(params["seed"], class_index, 0)
        scene = make_scene(class_index, params["seconds"], params["snr_db"], PinholeCamera(**camera), seed)
        by_source = {s.source_id: s for s in scene.sources}
        assert {int(r["source_id"]) for r in rows} >= set(by_source)
        for r in rows:
            source = by_source.get(int(r["source_id"]))
            if source is None:
                continue
            assert int(r["class"]) == source.class_index
            px, py, pz = source.trajectory.at(np.array([(int(r["frame"]) - 0.5) / 12.0]))[0]
            assert float(r["distance_m"]) == pytest.approx(math.sqrt(px * px + py * py + pz * pz), abs=2e-3)
            x, y = width / 2 + focal * px / pz, height / 2 + focal * py / pz
            assert (float(r["x"]), float(r["y"])) == pytest.approx((x, y), abs=0.01)
            assert int(r["on_screen"]) == int(pz > 0 and 0 <= x < width and 0 <= y < height)
            assert 1.0 < float(r["distance_m"]) < 40.0


def test_same_seed_identical_bytes_any_workers_and_other_seed_differs(tiny: Path, tmp_path: Path) -> None:
    again = simulate_dataset(tmp_path / "again", seed=11, workers=2, **TINY)
    other = simulate_dataset(tmp_path / "other", seed=12, workers=1, **TINY)
    reference = _files(tiny)
    assert _files(again) == reference
    different = _files(other)
    assert different.keys() == reference.keys()
    changed = [
        name
        for name in reference
        if name.endswith((".dc", ".mat", ".bmp")) and different[name] != reference[name]
    ]
    assert len(changed) == 3 * 12 * 2


def test_a_run_in_another_process_writes_the_same_bytes(tiny: Path, tmp_path: Path) -> None:
    """Hash seeds, allocation addresses and thread pools differ between interpreters; the files must not."""
    command = [
        sys.executable, "-m", "acoustic_ssl", "simulate", str(tmp_path / "cli"), "--seed", "11",
        "--videos-per-class", "1", "--seconds", "1", "--classes", "2", "5", "--frame-size", "48", "64",
        "--workers", "1", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1", "PYTHONHASHSEED": "3"}
    subprocess.run(command, check=True, env=env, capture_output=True)
    assert _files(tmp_path / "cli") == _files(tiny)


def test_resume_skips_complete_videos_and_refuses_other_parameters(tiny: Path) -> None:
    marker = tiny / "class_2" / "data_000" / "audio" / "A_000001.dc"
    before = marker.stat().st_mtime_ns
    simulate_dataset(tiny, seed=11, workers=1, **TINY)
    assert marker.stat().st_mtime_ns == before
    with pytest.raises(DataError, match="seed"):
        simulate_dataset(tiny, seed=99, workers=1, **TINY)


def test_invalid_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="classes"):
        simulate_dataset(tmp_path, videos_per_class=1, seconds=1, seed=0, classes=[10])
    with pytest.raises(ConfigError, match="seconds"):
        simulate_dataset(tmp_path, videos_per_class=1, seconds=0, seed=0)


def test_cli_refuses_a_missing_gpu_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    args = ["simulate", str(tmp_path / "g"), "--seed", "1", "--videos-per-class", "1", "--seconds", "1",
            "--device", "cuda"]  # fmt: skip
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("--device=cuda: no CUDA device is available (use cpu or auto)"), error
    assert not (tmp_path / "g").exists()


def test_cli_audio_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = main(
        [
            "simulate",
            str(out),
            "--videos-per-class",
            "1",
            "--seconds",
            "1",
            "--seed",
            "3",
            "--classes",
            "4",
            "--snr-db",
            "10",
            "--workers",
            "1",
            "--audio-only",
        ]
    )
    assert code == 0 and "simulated dataset written" in capsys.readouterr().out
    video = out / "class_4" / "data_000"
    assert len(list((video / "audio").iterdir())) == 12
    assert not (video / "MFCC_Image").exists() and (video / GROUND_TRUTH_FILE).exists()
    assert (
        main(
            [
                "simulate",
                str(tmp_path / "bad"),
                "--videos-per-class",
                "1",
                "--seconds",
                "1",
                "--seed",
                "3",
                "--classes",
                "12",
            ]
        )
        == 2
    )


def test_acoustic_peak_within_two_cells_of_ground_truth(tmp_path: Path) -> None:
    """Acceptance check: at 20 dB SNR the MFCC-c0 peak of the stored image is within 2 cells of the ground
    truth's stored cell in >= 90 % of on-screen frames (all classes, one 2-s video each)."""
    root = simulate_dataset(
        tmp_path / "acceptance",
        videos_per_class=1,
        seconds=2,
        seed=2024,
        snr_db=20.0,
        frame_size=(24, 32),
        workers=2,
    )
    camera = PinholeCamera.load(root / "camera.json")
    hits = []
    for video in sorted(root.glob("class_*/data_*")):
        for row in _ground_truth(video):
            if row["source_id"] != "0" or row["on_screen"] != "1":
                continue
            energy = scipy.io.loadmat(mfcc_frame_path(video, int(row["frame"])))["MFCC"][..., 0]
            peak = np.unravel_index(np.argmax(energy), energy.shape)
            cell = camera.pixel_to_cell(float(row["x"]), float(row["y"]))
            hits.append(max(abs(int(peak[0]) - int(cell[0])), abs(int(peak[1]) - int(cell[1]))) <= 2)
    assert len(hits) >= 200
    assert np.mean(hits) >= 0.9, np.mean(hits)


CROWDED = {"videos_per_class": 4, "seconds": 1, "classes": [1, 4, 7], "frame_size": (96, 128)}


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    composition = SceneComposition(locations=2, distractors=2, extra_sources=1)
    return simulate_dataset(
        tmp_path_factory.mktemp("crowded") / "sim", seed=4, workers=2, composition=composition, **CROWDED
    )


def test_shared_locations_are_recorded_and_balanced(crowded: Path) -> None:
    params = json.loads((crowded / "simulation.json").read_text())
    assert params["composition"]["locations"] == 2 and params["composition"]["distractors"] == 2
    places = params["video_locations"]
    assert len(places) == 12
    for class_index in CROWDED["classes"]:  # every class: two videos at each of the two places
        mine = [places[f"class_{class_index}/data_{v:03d}"] for v in range(4)]
        assert sorted(mine) == [0, 0, 1, 1]


def _background_difference(a: Path, b: Path) -> float:
    """Mean absolute difference of two videos' first frames outside every object box."""
    from PIL import Image

    frames, mask = [], np.ones((96, 128), bool)
    for video in (a, b):
        frames.append(np.asarray(Image.open(video / "video" / "I_000001.bmp"), dtype=float))
        for r in _ground_truth(video):
            if r["frame"] == "1":
                x0, y0, x1, y1 = (float(r[k]) * 0.2 for k in ("x0", "y0", "x1", "y1"))
                mask[max(int(y0) - 2, 0) : int(y1) + 3, max(int(x0) - 2, 0) : int(x1) + 3] = False
    return float(np.abs(frames[0] - frames[1]).max(axis=2)[mask].mean())


def test_videos_at_one_place_share_the_background(crowded: Path) -> None:
    places = json.loads((crowded / "simulation.json").read_text())["video_locations"]
    by_place: dict[int, list[Path]] = {}
    for name, place in sorted(places.items()):
        by_place.setdefault(place, []).append(crowded / name)
    same = [_background_difference(v[0], v[-1]) for v in by_place.values()]
    different = _background_difference(by_place[0][0], by_place[1][0])
    assert max(same) < 10.0 < different, (same, different)


def test_ground_truth_of_distractors_and_extra_sources(crowded: Path) -> None:
    camera = PinholeCamera()
    silent = sounding_on_screen = 0
    for video in sorted(crowded.glob("class_*/data_*")):
        rows = _ground_truth(video)
        assert list(rows[0]) == GROUND_TRUTH_HEADER.split(",")
        class_index = int(video.parent.name.split("_")[1])
        ids = sorted({int(r["source_id"]) for r in rows})
        assert ids == list(range(len(ids)))
        for frame in range(1, 13):
            assert sorted(int(r["source_id"]) for r in rows if int(r["frame"]) == frame) == ids
        for r in rows:
            x, y = float(r["x"]), float(r["y"])
            x0, y0, x1, y1 = (float(r[k]) for k in ("x0", "y0", "x1", "y1"))
            assert 0 <= x0 <= x1 <= camera.width and 0 <= y0 <= y1 <= camera.height
            if r["source_id"] == "0":
                assert r["sounding"] == "1" and int(r["class"]) == class_index
            else:
                assert int(r["class"]) != class_index
            if r["sounding"] == "0":
                silent += 1
            if r["on_screen"] == "1":  # the centre is inside the box of what is drawn
                assert x0 < x < x1 and y0 < y < y1
                sounding_on_screen += r["sounding"] == "1" and r["source_id"] != "0"
        never_drawn = {r["source_id"] for r in rows} - {r["source_id"] for r in rows if r["x1"] != r["x0"]}
        for r in rows:  # objects without a box anywhere are the off-screen interferers: heard, never seen
            if r["source_id"] in never_drawn:
                assert r["on_screen"] == "0" and r["sounding"] == "1" and r["x0"] == r["x1"] == "0.00"
    assert silent >= 12 * 12 and sounding_on_screen >= 12 * 6  # most videos got their distractors and extra


def test_bad_composition_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="distractors"):
        simulate_dataset(tmp_path, videos_per_class=1, seconds=1, seed=0,
                         composition=SceneComposition(distractors=9))
    with pytest.raises(ConfigError, match="locations"):
        simulate_dataset(tmp_path, videos_per_class=1, seconds=1, seed=0,
                         composition=SceneComposition(locations=-1))


def test_first_location_simulates_those_videos_of_a_larger_simulation(tmp_path: Path) -> None:
    """Test recordings beside long training ones: ``first_location`` numbers the videos from there, with the
    scenes (audio, ground truth, place) those numbers have in one larger simulation of the same seed."""
    composition = SceneComposition(locations=3, distractors=1)
    common = {"seed": 5, "seconds": 1, "classes": [3], "workers": 1, "write_images": False,
              "composition": composition}
    whole = simulate_dataset(tmp_path / "whole", videos_per_class=4, **common)
    tail = simulate_dataset(tmp_path / "tail", videos_per_class=2, first_location=2, **common)
    assert sorted(p.name for p in (tail / "class_3").iterdir()) == ["data_002", "data_003"]
    for name in ("data_002", "data_003"):
        assert _files(tail / "class_3" / name) == _files(whole / "class_3" / name)
    params = json.loads((tail / "simulation.json").read_text())
    assert params["first_location"] == 2
    whole_places = json.loads((whole / "simulation.json").read_text())["video_locations"]
    assert params["video_locations"] == {k: v for k, v in whole_places.items() if k[-3:] in ("002", "003")}
    assert "first_location" not in json.loads((whole / "simulation.json").read_text())  # old files unchanged
    with pytest.raises(ConfigError, match="first_location must be >= 0"):
        simulate_dataset(tmp_path / "bad", videos_per_class=1, first_location=-1, **common)


def test_a_folder_that_is_not_a_simulation_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "acivw" / "class_0" / "data_000" / "audio" / "A_000001.dc"  # a recorded dataset
    real.parent.mkdir(parents=True)
    real.write_bytes(b"recorded")
    args = ["simulate", str(tmp_path / "acivw"), "--seed", "1", "--videos-per-class", "1", "--seconds", "1",
            "--classes", "0", "--workers", "1", "--audio-only"]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (
        f"acoustic-ssl simulate: error: {tmp_path / 'acivw'}: holds class_0 but no simulation.json, so not a "
        "simulation of this command; simulate into an empty or new folder"
    )
    assert real.read_bytes() == b"recorded" and sorted(p.name for p in (tmp_path / "acivw").iterdir()) == [
        "class_0"]
    room = ["--room", "all", "--room-size", "nan", "6", "3"]
    assert main(["simulate", str(tmp_path / "new"), *args[2:], *room]) == 2
    assert "room size must be width depth height of at least 1 m each" in capsys.readouterr().err
