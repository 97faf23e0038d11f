"""Tiny generated ACIVW records and checkpoints shared by the evaluation tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

CLASSES, VIDEOS, SECONDS = 3, 2, 4
VIDEO_HW = (112, 149)


def write_tiny_records(root: Path, seed: int = 0) -> Path:
    """3 classes × 2 videos × 4 s of records (class-dependent tone, bright blob, acoustic hot spot); returns
    the list file."""
    from acoustic_ssl.data.layout import (
        KEY_ACOUSTIC,
        KEY_AUDIO,
        KEY_CLASS,
        KEY_LOCATION,
        KEY_VIDEO,
        record_name,
        video_dir_name,
    )
    from acoustic_ssl.data.tfrecord import write_record

    rng = np.random.default_rng(seed)
    paths = []
    t = np.arange(12 * 1024) / 12288.0
    for c in range(CLASSES):
        for loc in range(1, VIDEOS + 1):
            for s in range(1, SECONDS + 1):
                tone = np.sin(2 * np.pi * (300 + 700 * c) * t) * 1e6 + rng.normal(scale=1e5, size=t.size)
                video = rng.integers(0, 40, size=(12, *VIDEO_HW, 3), dtype=np.uint8)
                video[:, 20 + 20 * c : 40 + 20 * c, 30:60] = 250
                acoustic = rng.normal(size=(12, 36, 48, 12)).astype(np.float32)
                # hot spot under the blob: video-orientation rows 7+6c..12+6c, cols 10..19 of the 36×48 grid,
                # stored rotated by 180° as the sensor writes it
                acoustic[:, 24 - 6 * c : 29 - 6 * c, 29:38, 0] += 20.0
                record = {
                    KEY_CLASS: c,
                    KEY_LOCATION: loc,
                    KEY_AUDIO: tone.reshape(12, 1024).astype(np.int32),
                    KEY_ACOUSTIC: acoustic,
                    KEY_VIDEO: video,
                }
                path = root / "records" / video_dir_name(c, loc) / record_name(s)
                write_record(path, record)
                paths.append(path)
    list_file = root / "lists" / "testing.txt"
    list_file.parent.mkdir(parents=True, exist_ok=True)
    list_file.write_text("".join(f"{p}\n" for p in paths))
    return list_file


def run_config(roles: dict[str, tuple[str, dict]], data: dict, kind: str | None = None) -> dict:
    """A complete, validated run config (as ``config.json`` holds it) for networks by role."""
    from acoustic_ssl.training.config import config_from_dict

    kind = kind or ("supervised" if "model" in roles else "selfsup")
    raw = {
        "experiment": {"kind": kind},
        "data": {"train_list": "training.txt", "valid_list": "validation.txt", **data},
        "models": {role: {"name": name, **kwargs} for role, (name, kwargs) in roles.items()},
    }
    return config_from_dict(raw).to_dict()


def save_tiny_checkpoint(path: Path, roles: dict[str, tuple[str, dict]], config: dict | None = None) -> Path:
    """A checkpoint holding freshly initialised networks by role: {role: (model name, kwargs)}; ``config``:
    the ``data`` (and optionally ``experiment``) sections of its run config."""
    import torch

    from acoustic_ssl.models import build_model
    from acoustic_ssl.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = config or {}
    run = run_config(roles, config.get("data", {}), config.get("experiment", {}).get("kind"))
    models = {role: build_model(name, **kwargs) for role, (name, kwargs) in roles.items()}
    specs = {role: {"name": name, "kwargs": kwargs} for role, (name, kwargs) in roles.items()}
    info = {"epoch": 0, "kind": run["experiment"]["kind"], "config": run}
    save_checkpoint(path, models=models, specs=specs, info=info)
    return path


@pytest.fixture(scope="session")
def make_checkpoint() -> Callable[..., Path]:
    """``save_tiny_checkpoint``, for tests that need a checkpoint of other roles or another run config."""
    return save_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Records, list, spectrogram stats and a video+audio checkpoint, built once per session."""
    from acoustic_ssl.data.stats import compute_stats

    root = tmp_path_factory.mktemp("tiny")
    list_file = write_tiny_records(root)
    stats = root / "stats"
    compute_stats(list_file, stats)
    ckpt = save_tiny_checkpoint(
        root / "run" / "checkpoints" / "random",
        {"video": ("resnet18", {"output_stride": 8, "width": 8}), "audio": ("hearnet", {})},
        {"data": {"stats_dir": str(stats), "nr_frames": 2, "video_size": list(VIDEO_HW)}},
    )
    return {"root": root, "list": list_file, "stats": stats, "checkpoint": ckpt}


def write_ground_truth(raw_dir: Path) -> None:
    """camera.json and a ground_truth.csv per tiny video: the source sits on the bright blob of the frames,
    at a distance that makes its box about 120 pixels wide."""
    from acoustic_ssl.data.layout import GROUND_TRUTH_FILE, video_dir_name
    from acoustic_ssl.imaging.geometry import PinholeCamera
    from acoustic_ssl.simulate.objects import OBJECT_SIZE_M

    camera = PinholeCamera(640, 480, 60.0)
    camera.save(raw_dir / "camera.json")
    sx, sy = 640 / VIDEO_HW[1], 480 / VIDEO_HW[0]
    for c in range(CLASSES):
        distance = camera.focal_px * OBJECT_SIZE_M[c] / 120.0
        for loc in range(1, VIDEOS + 1):
            lines = ["frame,source_id,class,x,y,distance_m,on_screen"]
            x, y = 45 * sx, (30 + 20 * c) * sy
            for frame in range(1, SECONDS * 12 + 1):
                on = 0 if (loc == 2 and frame > 24) else 1  # second sample of video 2 off screen
                lines.append(f"{frame},0,{c},{x:.1f},{y:.1f},{distance:.3f},{on}")
            path = raw_dir / video_dir_name(c, loc) / GROUND_TRUTH_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="session")
def extracted(tiny_dataset: dict[str, Path]) -> Path:
    """Features of the tiny list extracted through the CLI (with energy maps)."""
    from acoustic_ssl.cli import main

    out = tiny_dataset["root"] / "features.npz"
    code = main(["extract", "--checkpoint", str(tiny_dataset["checkpoint"]), "--list",
                 str(tiny_dataset["list"]), "--out", str(out), "--energy-maps", "--batch-size", "6"])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def tiny_raw(tiny_dataset: dict[str, Path]) -> Path:
    """The tiny records' raw folder as far as localisation reads it: camera.json and the ground truth."""
    raw = tiny_dataset["root"] / "raw"
    write_ground_truth(raw)
    return raw


@pytest.fixture(scope="session")
def evaluated_run(tiny_dataset: dict[str, Path], extracted: Path, tiny_raw: Path) -> Path:
    """The tiny run evaluated through the CLI (metrics in <run>/evaluation/random).

    The one extracted list stands in for all three splits (copied where ``evaluate`` reuses features).
    """
    import shutil

    from acoustic_ssl.cli import main

    raw = tiny_raw
    run = tiny_dataset["root"] / "run"
    for split in ("training", "validation", "testing"):
        (run / "evaluation" / "random").mkdir(parents=True, exist_ok=True)
        shutil.copy(extracted, run / "evaluation" / "random" / f"features_{split}.npz")
    code = main(["evaluate", "--checkpoint", str(tiny_dataset["checkpoint"]), "--raw-dir", str(raw),
                 "--knn-k", "1", "3", "--overlays", "2"])
    assert code == 0
    records = [{"event": "step", "epoch": 1, "step": s, "train/loss": 1.0 / s} for s in range(1, 6)]
    records += [{"event": "epoch", "epoch": e, "step": 5 * e, "train/loss": 0.5 / e, "valid/loss": 0.6 / e,
                 "valid/accuracy": 0.3 * e} for e in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"torn')
    return run
