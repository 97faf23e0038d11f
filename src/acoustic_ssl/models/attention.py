"""Audio-guided attention between an audio map A and a video map V (spec §5.2), for training and evaluation.

Maps are [B,128,12,16] and non-negative. For audio i and video j the attended video vector is
u_ij[c] = Σ_p A_i[c,p]·V_j[c,p]² (no softmax: the audio map weights the squared video map), the audio
vector is s_i[c] = Σ_p A_i[c,p], and the distance is d_ij = ‖l2n(u_ij) − l2n(s_i)‖² with TF's ``l2_normalize``
(x / sqrt(max(Σx², 1e-12))). Computations run in float32 even under bf16 autocast: the sums over 192
pixels and the normalisation are where low precision hurts, and they are cheap.
"""

from __future__ import annotations

import torch

GRID = (12, 16)
L2N_EPSILON = 1e-12


def l2n(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """TF ``l2_normalize``: x · rsqrt(max(Σx², 1e-12)) along ``dim``."""
    return x * torch.rsqrt(x.square().sum(dim=dim, keepdim=True).clamp_min(L2N_EPSILON))


def audio_map_from_vector(a: torch.Tensor, grid: tuple[int, int] = GRID) -> torch.Tensor:
    """Tile a HearNet embedding [B,128] over the grid after ReLU → [B,128,H,W] (the original's audio map)."""
    return torch.relu(a)[:, :, None, None].expand(*a.shape, *grid)


def as_audio_map(embedding: torch.Tensor) -> torch.Tensor:
    """The audio side's map A: a map [B,128,H,W] as it is, a vector [B,128] tiled after ReLU."""
    return audio_map_from_vector(embedding) if embedding.dim() == 2 else embedding


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.float().flatten(2)


def full_precision(x: torch.Tensor) -> torch.autocast:
    """Context that disables autocast on ``x``'s device, so products inside stay float32."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def attention_distance(audio_map: torch.Tensor, video_map: torch.Tensor) -> torch.Tensor:
    """All-pairs distance d [B,B'] (row = audio anchor i, column = video j) without a [B,B',C,H,W] tensor.

    u_ij[c] is a contraction over pixels (one [B,P]×[P,B'] product per channel); only the [B,B',C] result is
    materialised.
    """
    with full_precision(audio_map):
        a = _flat(audio_map)
        v2 = _flat(video_map).square()
        u = torch.einsum("icp,jcp->ijc", a, v2)
        s = a.sum(dim=2)
        return (l2n(u) - l2n(s)[:, None, :]).square().sum(dim=2)


def audio_vector(audio_map: torch.Tensor) -> torch.Tensor:
    """l2n(Σ_p A) [B,128]: the audio side of the distance (for retrieval/evaluation)."""
    return l2n(_flat(audio_map).sum(dim=2))


def video_vector(audio_map: torch.Tensor, video_map: torch.Tensor) -> torch.Tensor:
    """l2n(Σ_p A_i⊙V_i⊙V_i) [B,128] for paired audio/video (same index i)."""
    return l2n((_flat(audio_map) * _flat(video_map).square()).sum(dim=2))


def localization_map(audio_map: torch.Tensor, video_map: torch.Tensor) -> torch.Tensor:
    """Attention energy per pixel Σ_c A⊙V⊙V [B,12,16] for paired maps: where the audio "looks" in the frame.

    This is the per-pixel contribution to Σ_c u_ii[c] (unnormalised, non-negative); normalise it for display.
    """
    return (audio_map.float() * video_map.float().square()).sum(dim=1)
