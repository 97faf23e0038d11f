"""Tiny generated ACIVW records and checkpoints shared by the evaluation tests."""

from __future__ import annotations

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
                acoustic[:, 10 + 5 * c : 15 + 5 * c, 20:25, 0] += 20.0
                record = {
                    KEY_CLASS: c,
                    KEY_LOCATION: loc,
                    KEY_AUDIO: tone.reshape(12, 1024).astype(np.int32),
                    KEY_ACOUSTIC: acoustic,
                    KEY_VIDEO: video,
                }
                path = root / "records" / video_dir_name(c, loc) / record_name(s)
                write_record(path, record, level=1)
                paths.append(path)
    list_file = root / "lists" / "testing.txt"
    list_file.parent.mkdir(parents=True, exist_ok=True)
    list_file.write_text("".join(f"{p}\n" for p in paths))
    return list_file


def save_tiny_checkpoint(path: Path, roles: dict[str, tuple[str, dict]], config: dict | None = None) -> Path:
    """A checkpoint holding freshly initialised networks by role: {role: (model name, kwargs)}."""
    import torch

    from acoustic_ssl.models import build_model
    from acoustic_ssl.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    models = {role: build_model(name, **kwargs) for role, (name, kwargs) in roles.items()}
    specs = {role: {"name": name, "kwargs": kwargs} for role, (name, kwargs) in roles.items()}
    info = {"epoch": 0, "kind": "selfsup", "config": config or {}}
    save_checkpoint(path, models=models, specs=specs, info=info)
    return path


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
