"""Triplet, transfer and distillation losses against naive Python-loop implementations of spec §5."""

from __future__ import annotations

import math

import pytest
import torch
from naive_losses import naive_batch_all, naive_batch_hard, naive_distillation

from acoustic_ssl.training.losses import (
    distillation_loss,
    pairwise_sq_distance,
    same_video_mask,
    teacher_targets,
    transfer_loss,
    triplet_accuracy,
    triplet_batch_all,
    triplet_batch_hard,
    triplet_loss,
)


def random_batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([3, 3, 5, 7, 5, 9, 3, 11][:n])
    return torch.rand(n, n) * 0.6, same_video_mask(ids)


def test_same_video_mask_from_ids_or_class_and_location() -> None:
    same = same_video_mask(torch.tensor([4, 4, 2, 4]))
    assert same.dtype == torch.bool and same.diagonal().all()
    assert same.tolist()[0] == [True, True, False, True]
    classes = torch.tensor([1, 1, 2, 1])
    locations = torch.tensor([0, 3, 0, 0])  # same location index in another class is another recording
    same = same_video_mask(classes, locations)
    assert same.tolist() == [
        [True, False, False, True],
        [False, True, False, False],
        [False, False, True, False],
        [True, False, False, True],
    ]


@pytest.mark.parametrize("margin", [0.2, 1.0])
def test_batch_all_and_accuracy_match_naive(margin: float) -> None:
    d, same = random_batch()
    loss, acc = naive_batch_all(d, same, margin)
    assert triplet_batch_all(d, same, margin).item() == pytest.approx(loss, rel=1e-5)
    assert triplet_accuracy(d, same, margin).item() == pytest.approx(acc, rel=1e-5)


def test_batch_all_is_zero_when_all_triplets_are_satisfied() -> None:
    same = same_video_mask(torch.tensor([0, 0, 1, 1]))
    d = torch.where(same, 0.0, 1.0)
    assert triplet_batch_all(d, same, 0.2).item() == 0.0
    assert triplet_accuracy(d, same, 0.2).item() == pytest.approx(1.0)


def test_batch_hard_matches_naive() -> None:
    d, same = random_batch()
    assert triplet_batch_hard(d, same, 0.2).item() == pytest.approx(naive_batch_hard(d, same, 0.2), rel=1e-5)


def test_triplet_loss_switches_to_batch_hard_from_epoch_4() -> None:
    d, same = random_batch()
    assert torch.equal(triplet_loss(d, same, 0.2, epoch=3), triplet_batch_all(d, same, 0.2))
    assert torch.equal(triplet_loss(d, same, 0.2, epoch=4), triplet_batch_hard(d, same, 0.2))
    assert torch.equal(
        triplet_loss(d, same, 0.2, epoch=1, hard_from_epoch=1), triplet_batch_hard(d, same, 0.2)
    )


def test_pairwise_sq_distance_uses_the_right_indices() -> None:
    a, b = torch.randn(4, 6) * 3, torch.randn(5, 6)
    expected = torch.tensor([[float(((a[i] - b[j]) ** 2).sum()) for j in range(5)] for i in range(4)])
    scale = expected.max().item()  # ‖a‖² + ‖b‖² − 2a·b cancels: float32 errors scale with the norms
    torch.testing.assert_close(pairwise_sq_distance(a, b), expected, rtol=0, atol=1e-5 * scale)
    assert pairwise_sq_distance(a, a).diagonal().abs().max() < 1e-5 * a.square().sum(dim=1).max()


@pytest.mark.parametrize("epoch", [0, 6])
def test_transfer_loss_matches_naive(epoch: int) -> None:
    d_av, same = random_batch()
    audio = torch.randn(8, 128)
    acoustic_map = torch.rand(8, 128, 12, 16)
    alpha = 0.3
    t = [naive_vec / math.sqrt(float((naive_vec**2).sum())) for naive_vec in acoustic_map.sum(dim=(2, 3))]
    a = [v / math.sqrt(float((v**2).sum())) for v in audio]
    d_aa = torch.tensor([[float(((a[i] - t[j]) ** 2).sum()) for j in range(8)] for i in range(8)])
    if epoch >= 4:
        l_av, l_aa = naive_batch_hard(d_av, same, 0.2), naive_batch_hard(d_aa, same, 0.2)
    else:
        l_av, l_aa = naive_batch_all(d_av, same, 0.2)[0], naive_batch_all(d_aa, same, 0.2)[0]
    expected = (1 - alpha) * l_av + alpha * l_aa
    got = transfer_loss(d_av, same, audio, acoustic_map, alpha, 0.2, epoch)
    assert got.loss.item() == pytest.approx(expected, rel=1e-4)
    assert (got.audio_video.item(), got.audio_acoustic.item()) == pytest.approx((l_av, l_aa), rel=1e-4)
    summed = transfer_loss(d_av, same, audio, acoustic_map.sum(dim=(2, 3)), alpha, 0.2, epoch)
    assert summed.loss.item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("average", "temp"), [("softmax", 1.0), ("logits", 1.0), ("softmax", 2.0), ("logits", 3.0)]
)
def test_distillation_matches_naive(average: str, temp: float) -> None:
    s, t = torch.randn(4, 10) * 2, torch.randn(4, 24, 10) * 3
    y = torch.tensor([0, 3, 9, 3])
    got = distillation_loss(s, y, t, lam=0.3, temperature=temp, average=average)
    assert got.item() == pytest.approx(naive_distillation(s, y, t, 0.3, temp, average), rel=1e-5)


def test_teacher_averaging_variants_differ_and_validate() -> None:
    t = torch.randn(2, 12, 5) * 4
    assert not torch.allclose(teacher_targets(t, average="softmax"), teacher_targets(t, average="logits"))
    torch.testing.assert_close(
        teacher_targets(t[:, :1], average="softmax"), teacher_targets(t[:, 0], average="logits")
    )
    with pytest.raises(ValueError, match="average"):
        teacher_targets(t, average="mean")  # type: ignore[arg-type]


def test_gradients_flow_to_both_streams_through_the_triplet_loss() -> None:
    from acoustic_ssl.models import HearNet, ResNet18, attention_distance, audio_map_from_vector

    video_net, audio_net = ResNet18(output_stride=8, width=4), HearNet()
    frames = torch.randn(4 * 2, 3, 112, 149)
    video = video_net(frames).reshape(4, 2, 128, 12, 16).mean(dim=1)
    audio = audio_map_from_vector(audio_net(torch.randn(4, 257, 200)))
    same = same_video_mask(torch.tensor([1, 1, 2, 3]))
    loss = triplet_batch_all(attention_distance(audio, video), same, margin=1.0)
    loss.backward()
    assert loss.item() > 0
    assert video_net.conv1[0].weight.grad is not None and video_net.conv1[0].weight.grad.abs().sum() > 0
    assert audio_net.conv1.weight.grad is not None and audio_net.conv1.weight.grad.abs().sum() > 0


def test_distillation_does_not_backpropagate_into_the_teacher() -> None:
    t = torch.randn(2, 12, 4, requires_grad=True)
    s = torch.randn(2, 4, requires_grad=True)
    distillation_loss(s, torch.tensor([1, 2]), t).backward()
    assert t.grad is None and s.grad is not None


def test_info_nce_matches_the_naive_loop_with_several_positives() -> None:
    """Same-recording pairs are all positives: anchors 0/1 share a recording, so do 3/4/5."""
    from naive_losses import naive_info_nce, naive_retrieval_accuracy

    from acoustic_ssl.training.losses import retrieval_accuracy, symmetric_info_nce

    g = torch.Generator().manual_seed(3)
    s = torch.rand(6, 6, generator=g) * 2 - 1  # cosines
    same = same_video_mask(torch.tensor([4, 4, 2, 7, 7, 7]))
    for tau in (0.03, 0.5):
        expected = naive_info_nce(s, same, tau)
        assert float(symmetric_info_nce(s, same, tau)) == pytest.approx(expected, rel=1e-5)
    assert float(retrieval_accuracy(s, same)) == pytest.approx(naive_retrieval_accuracy(s, same), abs=1e-7)
    # transposing the scores swaps the two directions: the symmetric loss is unchanged, one direction is not
    swapped = float(symmetric_info_nce(s.T, same.T, 0.5))
    assert swapped == pytest.approx(naive_info_nce(s, same, 0.5), rel=1e-5)


def test_info_nce_with_one_positive_each_is_ezvsl_cross_entropy() -> None:
    """EZ-VSL: CE(logits, arange(B)) + CE(logitsᵀ, arange(B)) when every recording gives one sample."""
    import torch.nn.functional as F

    from acoustic_ssl.training.losses import info_nce, symmetric_info_nce

    g = torch.Generator().manual_seed(4)
    s = torch.rand(5, 5, generator=g)
    same = same_video_mask(torch.arange(5))
    targets = torch.arange(5)
    expected = F.cross_entropy(s / 0.07, targets) + F.cross_entropy(s.T / 0.07, targets)
    assert float(symmetric_info_nce(s, same, 0.07)) == pytest.approx(float(expected), rel=1e-6)
    # rows are anchors: a row-only loss differs from the column one on an asymmetric matrix
    assert float(info_nce(s / 0.07, same)) != pytest.approx(float(info_nce(s.T / 0.07, same)), rel=1e-3)
