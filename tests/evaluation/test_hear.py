"""The HEAR API wrapper: shapes, timestamps, determinism, random init and a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from acoustic_ssl.evaluation.hear import get_scene_embeddings, get_timestamp_embeddings, load_model


def test_random_init_model_shapes_and_timestamps() -> None:
    model = load_model()
    assert model.sample_rate == 22050
    assert model.scene_embedding_size == model.timestamp_embedding_size == 128
    audio = torch.randn(2, 22050) * 0.1  # 1 s
    emb, ts = get_timestamp_embeddings(audio, model)
    assert emb.shape == (2, 21, 128) and ts.shape == (2, 21)
    assert ts[0, 0] == 0.0 and ts[0, -1] == 1000.0
    assert torch.all(torch.diff(ts, dim=1) == 50.0)
    scene = get_scene_embeddings(audio, model)
    assert scene.shape == (2, 128) and torch.isfinite(scene).all()
    # deterministic: a second random-init model is the same network
    emb2, _ = get_timestamp_embeddings(audio, load_model())
    torch.testing.assert_close(emb, emb2)


def test_windows_are_centred_on_timestamps() -> None:
    model = load_model()
    audio = torch.zeros(1, 3 * 22050)
    audio[0, 22050 : 22050 + 2205] = torch.randn(2205)  # a burst at 1.0-1.1 s
    emb, ts = get_timestamp_embeddings(audio, model)
    silent = (emb.abs().sum(dim=2) == emb[0, 0].abs().sum()).squeeze(0)  # same as the all-zero window
    heard = ~silent
    # the burst is heard by the windows whose 2-s span [t - 1 s, t + 1 s] overlaps 1.0-1.1 s: t in (0, 2.1) s
    assert not heard[0] and heard[1] and heard[ts[0] < 2100].all() and not heard[ts[0] > 2150].any()


def test_short_audio_and_checkpoint(tiny_dataset: dict[str, Path]) -> None:
    model = load_model(str(tiny_dataset["checkpoint"]))
    assert model.normalized  # statistics from the run config
    emb, ts = get_timestamp_embeddings(torch.randn(1, 1000), model)
    assert emb.shape == (1, 1, 128) and ts.tolist() == [[0.0]]
