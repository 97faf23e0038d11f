"""Losses of the original trainers (spec §5.2–5.6): triplet (batch-all / batch-hard), transfer, distillation.

Distance matrices are d [B,B'] with rows = anchors (audio i) and columns = candidates (videos / acoustic j);
``same[i, j]`` says whether i and j come from the same recording (positives) or not (negatives). All
reductions run in float32.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from acoustic_ssl.models.attention import full_precision, l2n

TRIPLET_EPSILON = 1e-16


def same_video_mask(video_ids: torch.Tensor, locations: torch.Tensor | None = None) -> torch.Tensor:
    """same[i, j] (bool [B,B]): samples i and j come from the same recording (diagonal always True).

    Pass either ``video_ids`` alone (``layout.video_id(class, location)``), or class labels and ``locations``:
    as in the original, the same recording means same class AND same location index.
    """
    same = video_ids[:, None] == video_ids[None, :]
    if locations is not None:
        same = same & (locations[:, None] == locations[None, :])
    return same


def _triplet_terms(d: torch.Tensor, same: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ReLU(d[i,j] − d[i,k] + margin) on valid triplets (j same, k different) [B,B',B'] and the mask."""
    d = d.float()
    valid = same[:, :, None] & ~same[:, None, :]
    terms = torch.relu(d[:, :, None] - d[:, None, :] + margin) * valid
    return terms, valid


def triplet_batch_all(d: torch.Tensor, same: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-all triplet loss: mean of the positive (> 1e-16) terms over all valid (i, j, k) triplets.

    L = Σ ReLU(m_ijk·(d_ij − d_ik + margin)) / (#terms > 1e-16 + 1e-16), m_ijk = same(i,j) ∧ ¬same(i,k).
    """
    terms, _ = _triplet_terms(d, same, margin)
    positive = (terms > TRIPLET_EPSILON).sum()
    return terms.sum() / (positive + TRIPLET_EPSILON)


def triplet_accuracy(d: torch.Tensor, same: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Validation metric of the original: 1 − (#valid triplets with positive loss / #valid triplets)."""
    terms, valid = _triplet_terms(d, same, margin)
    positive = (terms > TRIPLET_EPSILON).sum()
    return 1.0 - positive / (valid.sum() + TRIPLET_EPSILON)


def triplet_batch_hard(d: torch.Tensor, same: torch.Tensor, margin: float = 0.2) -> torch.Tensor:
    """Batch-hard triplet loss: mean over anchors of ReLU(hardest positive − hardest negative + margin).

    hp_i = max_j same·d_ij; hn_i = min_j (d_ij + max_k d_ik · same_ij): adding the row maximum to positives
    removes them from the minimum (the original's masking trick).
    """
    d = d.float()
    same_f = same.float()
    hardest_positive = (d * same_f).amax(dim=1)
    row_max = d.amax(dim=1, keepdim=True)
    hardest_negative = (d + row_max * same_f).amin(dim=1)
    return torch.relu(hardest_positive - hardest_negative + margin).mean()


def triplet_loss(
    d: torch.Tensor, same: torch.Tensor, margin: float = 0.2, epoch: int = 0, hard_from_epoch: int = 4
) -> torch.Tensor:
    """The original's schedule: batch-all for epoch indices < ``hard_from_epoch`` (0–3), then batch-hard."""
    if epoch >= hard_from_epoch:
        return triplet_batch_hard(d, same, margin)
    return triplet_batch_all(d, same, margin)


def pairwise_sq_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖a_i − b_j‖² [B,B'] = ‖a_i‖² − 2·a_i·b_j + ‖b_j‖², clamped at 0.

    The original swapped the norm indices (spec §7 item 21), harmless only for unit vectors; this is the
    intended formula.
    """
    with full_precision(a):
        a = a.float()
        b = b.float()
        sq = a.square().sum(1)[:, None] - 2.0 * a @ b.T + b.square().sum(1)[None, :]
        return sq.clamp_min(0.0)


def acoustic_embedding(acoustic: torch.Tensor) -> torch.Tensor:
    """Transfer target t = l2n(Σ_p map): from the frame-mean DualCamNet map [B,128,H,W] or its sum."""
    acoustic = acoustic.float()
    if acoustic.dim() == 4:
        acoustic = acoustic.sum(dim=(2, 3))
    return l2n(acoustic)


class TransferLoss(NamedTuple):
    """The transfer loss and its two triplet terms (the terms detached, for logging)."""

    loss: torch.Tensor
    audio_video: torch.Tensor
    audio_acoustic: torch.Tensor


def transfer_loss(
    d_av: torch.Tensor,
    same: torch.Tensor,
    audio_emb: torch.Tensor,
    acoustic_emb: torch.Tensor,
    alpha: float,
    margin: float = 0.2,
    epoch: int = 0,
    hard_from_epoch: int = 4,
) -> TransferLoss:
    """(1 − α)·triplet(audio–video d) + α·triplet(audio–acoustic distance) (spec §5.3).

    ``audio_emb`` is HearNet's raw (linear, no ReLU) fc2 output [B,128], normalised here; ``acoustic_emb`` is
    the frozen DualCamNet map averaged over frames [B,128,H,W] (or already summed, [B,128]). Both terms follow
    the same batch-all → batch-hard schedule and the same ``same`` mask.
    """
    d_aa = pairwise_sq_distance(l2n(audio_emb.float()), acoustic_embedding(acoustic_emb))
    l_av = triplet_loss(d_av, same, margin, epoch, hard_from_epoch)
    l_aa = triplet_loss(d_aa, same, margin, epoch, hard_from_epoch)
    return TransferLoss((1.0 - alpha) * l_av + alpha * l_aa, l_av.detach(), l_aa.detach())


def teacher_targets(
    teacher_logits: torch.Tensor, temperature: float = 1.0, average: Literal["softmax", "logits"] = "softmax"
) -> torch.Tensor:
    """Soft targets q [B,C] from per-frame teacher logits [B,F,C] (or [B,C]).

    ``average="softmax"``: mean over frames of softmax(logits/T), the ECCV trainer (spec §5.4);
    ``average="logits"``: softmax(mean over frames of logits / T), the WACV trainer (spec §5.6). They differ
    (§7 item 25); with one frame they agree.
    """
    logits = teacher_logits.float()
    if logits.dim() == 2:
        logits = logits[:, None, :]
    if average == "softmax":
        return torch.softmax(logits / temperature, dim=-1).mean(dim=1)
    if average == "logits":
        return torch.softmax(logits.mean(dim=1) / temperature, dim=-1)
    raise ValueError(f"average must be 'softmax' or 'logits', got {average!r}")


def distillation_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    teacher_logits: torch.Tensor,
    lam: float = 0.5,
    temperature: float = 1.0,
    average: Literal["softmax", "logits"] = "softmax",
) -> torch.Tensor:
    """(1 − λ)·CE(y, s) + λ·CE(q, s): labels and teacher soft targets, both means over the batch.

    As in the original the student logits are not divided by T and there is no T² factor; the teacher is
    treated as a constant (no gradient).
    """
    s = student_logits.float()
    q = teacher_targets(teacher_logits.detach(), temperature, average)
    hard = F.cross_entropy(s, labels)
    soft = -(q * F.log_softmax(s, dim=-1)).sum(dim=-1).mean()
    return (1.0 - lam) * hard + lam * soft


def info_nce(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Multi-positive InfoNCE over the rows: mean_i of −(1/|P_i|)·Σ_{j∈P_i} log softmax_j(logits_i)[j].

    ``positives[i, j]`` marks the candidates that match anchor i (at least one per row). With the diagonal
    as the only positive this is the cross-entropy with targets ``arange(B)`` (EZ-VSL, CLIP).
    """
    log_p = logits.float().log_softmax(dim=1)
    pos = positives.float()
    return -((log_p * pos).sum(dim=1) / pos.sum(dim=1)).mean()


def symmetric_info_nce(similarity: torch.Tensor, same: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of audio anchors over videos plus that of video anchors over audios (EZ-VSL sums the two).

    ``similarity`` [B,B]: rows audio, columns video; ``same``: the same-recording mask (the positives).
    """
    logits = similarity.float() / temperature
    return info_nce(logits, same) + info_nce(logits.T, same.T)


def retrieval_accuracy(similarity: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Share of audio anchors whose most similar video in the batch is one of their positives."""
    best = similarity.argmax(dim=1)
    return same[torch.arange(len(best), device=same.device), best].float().mean()
