"""Session fixture of the training tests: tiny generated records and lists (see ``training_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import write_records


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Training list (3 classes × 2 videos × 2 s), validation list (3 classes × 1 video × 2 s) and the
    spectrogram statistics of the training list."""
    from acoustic_ssl.data.stats import compute_stats

    root = tmp_path_factory.mktemp("tiny_training_data")
    train = write_records(root / "train", classes=3, videos=2, seconds=2, seed=1)
    valid = write_records(root / "valid", classes=3, videos=1, seconds=2, seed=2)
    lists = root / "lists"
    lists.mkdir()
    (lists / "training.txt").write_text("".join(f"{p}\n" for p in train))
    (lists / "validation.txt").write_text("".join(f"{p}\n" for p in valid))
    stats = root / "stats"
    compute_stats(lists / "training.txt", stats)
    return {"root": root, "train": lists / "training.txt", "valid": lists / "validation.txt", "stats": stats}
