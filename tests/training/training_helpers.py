"""Tiny generated ACIVW records, configs and run readers shared by the training tests.

Every class has a distinct tone, a bright block at a class-dependent height in the video and an acoustic hot
spot, so a few steps of any trainer can lower its loss. Frames are stored small (56×75) and resized to the
112×149 that a ResNet18 with output_stride 8 maps to the 12×16 grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

VIDEO_STORED = (56, 75)
VIDEO_SIZE = [112, 149]


def write_records(root: Path, classes: int, videos: int, seconds: int, seed: int) -> list[Path]:
    """Records class_c/data_00l/Data_00s.tfrecord for every class, video and second; returns their paths."""
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
    t = np.arange(12 * 1024) / 12288.0
    paths = []
    h, w = VIDEO_STORED
    for c in range(classes):
        for loc in range(1, videos + 1):
            phase = rng.uniform(0, 2 * np.pi)
            for s in range(1, seconds + 1):
                tone = np.sin(2 * np.pi * (400 + 900 * c) * t + phase) * 1e6 + rng.normal(
                    scale=2e5, size=t.size
                )
                # Coarse noise keeps the GZIP records small and quick to read.
                video = (rng.integers(0, 4, size=(12, h, w, 3)) * 16).astype(np.uint8)
                top = 5 + 15 * c
                video[:, top : top + 12, 10 + 10 * loc : 40 + 10 * loc, c % 3] = 250
                acoustic = rng.integers(-2, 3, size=(12, 36, 48, 12)).astype(np.float32)
                acoustic[:, 5 + 9 * c : 12 + 9 * c, 10 + 6 * loc : 18 + 6 * loc, :3] += 8.0
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
    return paths


TINY_MODELS: dict[str, dict[str, Any]] = {
    "video": {"name": "resnet18", "width": 8, "output_stride": 8},
    "audio": {"name": "hearnet"},
    "acoustic": {"name": "dualcamnet"},
}


def tiny_config_dict(
    kind: str, data_lists: dict[str, Path], run_dir: Path, **sections: dict[str, Any]
) -> dict:
    """A complete config dict for ``kind`` on ``tiny_data``; ``sections`` update the defaults per section."""
    classifier = {"model": {"name": "hearnet", "num_classes": 3}}
    pair = {"video": TINY_MODELS["video"], "audio": TINY_MODELS["audio"]}  # every audio-visual kind
    models: dict[str, Any] = classifier if kind in ("supervised", "distillation") else pair
    raw: dict[str, Any] = {
        "experiment": {"name": f"tiny_{kind}", "kind": kind, "seed": 3, "epochs": 2},
        "data": {
            "train_list": str(data_lists["train"]),
            "valid_list": str(data_lists["valid"]),
            "total_length": 2,
            "sample_length": 2,
            "nr_frames": 1,
            "video_size": VIDEO_SIZE,
            "batch_size": 4,
            **({"stats_dir": str(data_lists["stats"])} if "stats" in data_lists else {}),
        },
        "models": models,
        "optim": {"lr": 1e-3},
        "loss": {"hard_from_epoch": 100} if kind in ("selfsup", "transfer") else {},  # batch-all throughout
        "runtime": {"run_dir": str(run_dir), "device": "cpu", "log_every": 1},
    }
    for section, values in sections.items():
        if section == "models":
            raw["models"] = values
        else:
            raw.setdefault(section, {}).update(values)
    return raw


def tiny_config(kind: str, data_lists: dict[str, Path], run_dir: Path, **sections: dict[str, Any]) -> Any:
    from acoustic_ssl.training.config import config_from_dict

    return config_from_dict(tiny_config_dict(kind, data_lists, run_dir, **sections))


def save_random_teacher(path: Path, num_classes: int | None) -> Path:
    """A checkpoint with a freshly initialised DualCamNet (map mode, or classifier with ``num_classes``)."""
    import torch

    from acoustic_ssl.models import build_model
    from acoustic_ssl.training.checkpoint import save_checkpoint

    torch.manual_seed(11)
    kwargs = {"num_classes": num_classes} if num_classes else {}
    role = "model" if num_classes else "acoustic"
    save_checkpoint(
        path,
        models={role: build_model("dualcamnet", **kwargs)},
        specs={role: {"name": "dualcamnet", "kwargs": kwargs}},
        info={"epoch": 0, "config": {}},
    )
    return path


def epoch_records(run_dir: Path) -> list[dict[str, Any]]:
    import json

    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "epoch"]


def step_records(run_dir: Path) -> list[dict[str, Any]]:
    import json

    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "step"]
