"""The HEAR API wrapper: shapes, timestamps, determinism, random init and a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
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
    assert model.normalization is not None  # statistics stored in the checkpoint
    emb, ts = get_timestamp_embeddings(torch.randn(1, 1000), model)
    assert emb.shape == (1, 1, 128) and ts.tolist() == [[0.0]]


def _naive_embedding(net: torch.nn.Module, window: torch.Tensor, stats_dir: Path | None) -> torch.Tensor:
    """What HearNet must see for a 2-s window: peaked to ±256 as the ACIVW loader does, the data layer's
    spectrogram, z-scored per bin with the run's statistics; the unit vector of the ReLU of the embedding
    (the paper's self-supervised audio feature, as kNN reads it)."""
    from acoustic_ssl.data.audio import PEAK_SCALE, waveform_to_spectrogram
    from acoustic_ssl.data.stats import load_stats

    spec = waveform_to_spectrogram(window * (PEAK_SCALE / window.abs().max()))
    if stats_dir is not None:
        mean, std = (torch.as_tensor(v, dtype=torch.float32)[:, None] for v in load_stats(stats_dir))
        spec = (spec - mean) / torch.where(std > 0, std, 1.0)
    with torch.inference_mode():
        feature = torch.relu(net.outputs(spec[None])["embedding"])[0]
    return feature / feature.norm()


def test_timestamp_and_scene_embeddings_feed_the_z_scored_spectrogram(tiny_dataset: dict[str, Path]) -> None:
    from acoustic_ssl.training.checkpoint import load_checkpoint

    model = load_model(str(tiny_dataset["checkpoint"]))
    net = load_checkpoint(tiny_dataset["checkpoint"])[0]["audio"]
    g = torch.Generator().manual_seed(5)
    t = torch.arange(3 * 22050) / 22050
    audio = (0.3 * torch.sin(2 * torch.pi * 700 * t) + 0.05 * torch.randn(t.shape, generator=g))[None]
    emb, ts = get_timestamp_embeddings(audio, model)
    for index in (20, 40):  # windows [0, 2 s] and [1, 3 s], centred on 1 s and 2 s
        assert ts[0, index] == 50.0 * index
        start = (index - 20) * 1102.5
        window = audio[0, round(start) : round(start) + 44100]
        expected = _naive_embedding(net, window, tiny_dataset["stats"])
        torch.testing.assert_close(emb[0, index], expected, rtol=0, atol=1e-4 * float(expected.abs().max()))
        unnormalised = _naive_embedding(net, window, None)
        assert (unnormalised - expected).abs().max() > 0.1 * expected.abs().max()  # the z-score matters
    scene = get_scene_embeddings(audio, model)
    every_500_ms = emb[0, ::10].mean(dim=0)
    torch.testing.assert_close(scene[0], every_500_ms, rtol=0, atol=1e-5 * float(scene.abs().max()))


def test_random_init_model_uses_given_statistics(tiny_dataset: dict[str, Path]) -> None:
    from acoustic_ssl.models import HearNet

    torch.manual_seed(0)
    net = HearNet()
    audio = torch.randn(1, 44100) * 0.2
    plain, _ = get_timestamp_embeddings(audio, load_model())
    normalised, _ = get_timestamp_embeddings(audio, load_model(stats_dir=str(tiny_dataset["stats"])))
    window = torch.nn.functional.pad(audio[0], (22050, 22050))[22050 : 22050 + 44100]  # centred on 1 s
    torch.testing.assert_close(plain[0, 20], _naive_embedding(net, window, None), rtol=0, atol=1e-4)
    expected = _naive_embedding(net, window, tiny_dataset["stats"])
    torch.testing.assert_close(normalised[0, 20], expected, rtol=0, atol=1e-4 * float(expected.abs().max()))


def test_each_sound_of_a_batch_is_embedded_from_its_own_audio() -> None:
    """Two different sounds in one call embed as each does alone (the second is not the first's audio)."""
    model = load_model()
    g = torch.Generator().manual_seed(3)
    t = torch.arange(33075) / 22050  # 1.5 s
    audio = torch.stack([torch.sin(2 * torch.pi * 440 * t), 0.3 * torch.randn(t.shape, generator=g)])
    emb, _ = get_timestamp_embeddings(audio, model)
    scene = get_scene_embeddings(audio, model)
    for s in range(2):
        alone, _ = get_timestamp_embeddings(audio[s : s + 1], model)
        torch.testing.assert_close(emb[s], alone[0], rtol=0, atol=1e-5 * float(alone.abs().max()))
        torch.testing.assert_close(scene[s], get_scene_embeddings(audio[s : s + 1], model)[0])
    assert (emb[0] - emb[1]).abs().max() > 0.1 * emb.abs().max()


def test_bins_whose_statistics_never_varied_are_divided_by_one(tmp_path: Path) -> None:
    """A zero std (a bin constant over the training set) leaves that bin centred but unscaled, as the loader's
    normalisation does: the embedding is finite and equals the naive one with std 1 there."""
    import numpy as np

    from acoustic_ssl.models import HearNet

    rng = np.random.default_rng(0)
    mean = rng.uniform(0.0, 2.0, 257).astype(np.float32)
    std = rng.uniform(0.5, 2.0, 257).astype(np.float32)
    std[[0, 100, 256]] = 0.0
    np.save(tmp_path / "global_mean.npy", mean)
    np.save(tmp_path / "global_std_dev.npy", std)
    audio = torch.from_numpy(rng.standard_normal(44100).astype(np.float32))[None] * 0.2
    emb, _ = get_timestamp_embeddings(audio, load_model(stats_dir=str(tmp_path)))
    assert torch.isfinite(emb).all()
    torch.manual_seed(0)
    net = HearNet()
    ones = tmp_path / "ones"
    ones.mkdir()
    np.save(ones / "global_mean.npy", mean)
    np.save(ones / "global_std_dev.npy", np.where(std > 0, std, 1.0).astype(np.float32))
    window = torch.nn.functional.pad(audio[0], (22050, 22050))[22050 : 22050 + 44100]
    expected = _naive_embedding(net, window, ones)
    torch.testing.assert_close(emb[0, 20], expected, rtol=0, atol=1e-4 * float(expected.abs().max()))


def test_non_finite_audio_is_a_value_error_naming_the_sounds() -> None:
    model = load_model()
    audio = torch.randn(4, 4410) * 0.1
    audio[1, 300] = float("nan")
    audio[3, 7] = float("inf")
    for embed in (get_timestamp_embeddings, get_scene_embeddings):
        with pytest.raises(ValueError) as caught:
            embed(audio, model)
        assert str(caught.value) == (
            "audio holds NaN or infinite samples in 2 of 4 sounds (sounds 1, 3; first: sound 1, sample 300 = "
            "nan)"
        )
