"""Audio-guided attention distance against an explicit per-pair computation."""

from __future__ import annotations

import torch

from acoustic_ssl.models.attention import (
    attention_distance,
    audio_map_from_vector,
    audio_vector,
    l2n,
    localization_map,
    video_vector,
)


def naive_l2n(x: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt(torch.clamp((x * x).sum(), min=1e-12))


def naive_distance(audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    d = torch.empty(audio.shape[0], video.shape[0])
    for i in range(audio.shape[0]):
        s = naive_l2n(audio[i].sum(dim=(1, 2)))
        for j in range(video.shape[0]):
            u = naive_l2n((audio[i] * video[j] * video[j]).sum(dim=(1, 2)))
            d[i, j] = ((u - s) ** 2).sum()
    return d


def test_attention_distance_matches_explicit_pairs() -> None:
    audio = torch.rand(4, 128, 12, 16)
    video = torch.rand(5, 128, 12, 16)
    torch.testing.assert_close(attention_distance(audio, video), naive_distance(audio, video))


def test_tiled_audio_map_gives_the_closed_form() -> None:
    a = torch.randn(3, 128)
    audio = audio_map_from_vector(a)
    assert audio.shape == (3, 128, 12, 16) and audio.min() >= 0
    video = torch.rand(3, 128, 12, 16)
    u = torch.relu(a)[:, None, :] * video.square().sum(dim=(2, 3))[None, :, :]
    expected = (l2n(u) - l2n(torch.relu(a))[:, None, :]).square().sum(dim=2)
    torch.testing.assert_close(attention_distance(audio, video), expected)


def test_paired_vectors_and_localization_map_agree_with_the_distance() -> None:
    audio = torch.rand(3, 128, 12, 16)
    video = torch.rand(3, 128, 12, 16)
    d = attention_distance(audio, video)
    paired = (video_vector(audio, video) - audio_vector(audio)).square().sum(dim=1)
    torch.testing.assert_close(torch.diagonal(d), paired)
    loc = localization_map(audio, video)
    assert loc.shape == (3, 12, 16)
    torch.testing.assert_close(loc.sum(dim=(1, 2)), (audio * video.square()).sum(dim=(1, 2, 3)))


def test_all_zero_maps_do_not_divide_by_zero() -> None:
    d = attention_distance(torch.zeros(2, 128, 12, 16), torch.rand(2, 128, 12, 16))
    assert torch.isfinite(d).all() and torch.count_nonzero(d) == 0


def test_distance_is_float32_under_bf16_autocast_and_has_gradients() -> None:
    audio = torch.rand(2, 128, 12, 16, requires_grad=True)
    video = torch.rand(3, 128, 12, 16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = attention_distance(audio, video)
    assert d.dtype == torch.float32
    torch.testing.assert_close(d, attention_distance(audio, video), rtol=0, atol=0)  # no bf16 inside
    d.sum().backward()
    assert audio.grad is not None and video.grad is not None and video.grad.abs().sum() > 0
