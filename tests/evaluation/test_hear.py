"""The HEAR API wrapper: shapes, timestamps, determinism, random init and a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from acoustic_ssl.evaluation.hear import get_scene_embeddings, get_timestamp_embeddings, load_model


def test_random_init_model_shapes_and_timestamps() -> None:
    model = load_model()
    assert model.sample_rate == 22050
    assert model.scene_embedding_size == model.timestamp_embedding_size == 128
    audio = torch.randn(2, 11025) * 0.1  # 0.5 s
    emb, ts = get_timestamp_embeddings(audio, model)
    assert emb.shape == (2, 11, 128) and ts.shape == (2, 11)
    assert ts[0, 0] == 0.0 and ts[0, -1] == 500.0
    assert torch.all(torch.diff(ts, dim=1) == 50.0)
    scene = get_scene_embeddings(audio, model)
    assert scene.shape == (2, 128) and torch.isfinite(scene).all()
    # deterministic: a second random-init model is the same network
    emb2, _ = get_timestamp_embeddings(audio[:1], load_model())
    torch.testing.assert_close(emb[:1], emb2)


def test_windows_are_centred_on_timestamps() -> None:
    model = load_model()
    audio = torch.zeros(1, 2 * 22050 + 4410)  # 2.2 s
    audio[0, 22050 : 22050 + 2205] = torch.randn(2205)  # a burst at 1.0-1.1 s
    emb, ts = get_timestamp_embeddings(audio, model)
    heard = emb[0].abs().sum(dim=1) > 0  # silence (zero padding included) embeds to exactly 0
    # a window [t - 1 s, t + 1 s] overlaps the burst only for 0 < t < 2.1 s; the one centred on it hears it
    outside = (ts[0] <= 0) | (ts[0] >= 2100)
    assert not heard[outside].any()
    assert heard[ts[0] == 1050].all()


def test_short_audio_and_checkpoint(tiny_dataset: dict[str, Path]) -> None:
    model = load_model(str(tiny_dataset["checkpoint"]))
    assert model.normalized  # statistics from the run config
    emb, ts = get_timestamp_embeddings(torch.randn(1, 1000), model)
    assert emb.shape == (1, 1, 128) and ts.tolist() == [[0.0]]
