"""What each objective computes from a batch, against the naive references of ``naive_losses``.

The batch below holds three recordings, two of them of one class, and a third recording that shares its
location index with the first: positives are the other samples of the same *recording*, never merely of the
same class or location. Transfer weighs its terms (1 − α, α), distillation (1 − λ, λ); every network's
outputs are averaged over a sample's frames before any loss sees them.
"""

from __future__ import annotations

import pytest
import torch
from naive_losses import (
    naive_batch_all,
    naive_cross_entropy,
    naive_distillation,
    naive_same_recording,
    naive_triplet,
    naive_vector_distances,
    per_frame,
    pooled,
    tiled,
)

from acoustic_ssl.data.layout import video_id
from acoustic_ssl.models import DualCamNet, HearNet, ResNet18, attention_distance
from acoustic_ssl.training.objectives import Distillation, SelfSupervised, Supervised, Transfer

LABELS = [0, 0, 0, 0, 1, 1]
LOCATIONS = [1, 1, 2, 2, 1, 1]
B = len(LABELS)
MARGIN = 0.5


def _ids() -> dict[str, torch.Tensor]:
    return {
        "label": torch.tensor(LABELS),
        "location": torch.tensor(LOCATIONS),
        "video_id": torch.tensor([video_id(c, loc) for c, loc in zip(LABELS, LOCATIONS, strict=True)]),
    }


def _same_class() -> torch.Tensor:
    return torch.tensor([[a == b for b in LABELS] for a in LABELS])


def _outputs(audio_map: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """Hand-made per-sample outputs: video maps, and HearNet vectors or DualCamNet maps on the audio side."""
    g = torch.Generator().manual_seed(seed)

    def spiky_map() -> torch.Tensor:  # log-normal cells: distances spread over ~0.3-1.2
        return torch.exp(1.5 * torch.randn(B, 128, 12, 16, generator=g))

    audio = spiky_map() if audio_map else torch.randn(B, 128, generator=g)
    return {"video": spiky_map(), "audio": audio}


def _selfsup(audio_role: str, **kwargs: float) -> SelfSupervised:
    audio_net = HearNet() if audio_role == "audio" else DualCamNet()
    return SelfSupervised({"video": ResNet18(output_stride=8, width=4), audio_role: audio_net}, **kwargs)


@pytest.mark.parametrize("audio_role", ["audio", "acoustic"])
@pytest.mark.parametrize("epoch", [0, 3, 4, 7])
def test_selfsup_positives_are_the_same_recording_not_the_same_class(audio_role: str, epoch: int) -> None:
    objective = _selfsup(audio_role, margin=MARGIN, hard_from_epoch=4)
    out = _outputs(audio_map=audio_role == "acoustic")
    loss, metrics = objective.loss(out, _ids(), epoch)

    audio_map = out["audio"] if audio_role == "acoustic" else tiled(out["audio"])
    d = attention_distance(audio_map, out["video"])
    same = naive_same_recording(LABELS, LOCATIONS)
    hard = epoch >= 4  # batch-all for the first four epochs (indices 0-3), batch-hard afterwards
    expected = naive_triplet(d, same, MARGIN, hard)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    # the batch tells the rules apart: "same class" positives or the other schedule give other losses
    assert abs(naive_triplet(d, _same_class(), MARGIN, hard) - expected) > 0.01
    assert abs(naive_triplet(d, same, MARGIN, not hard) - expected) > 0.01
    assert metrics["accuracy"].item() == pytest.approx(naive_batch_all(d, same, MARGIN)[1], rel=1e-5)

    valid = objective.validation_terms(out, _ids())  # the original validated with batch-all, any epoch
    assert valid["loss"].item() == pytest.approx(naive_batch_all(d, same, MARGIN)[0], rel=1e-4)
    assert valid["accuracy"].item() == pytest.approx(naive_batch_all(d, same, MARGIN)[1], rel=1e-5)


@pytest.mark.parametrize(("alpha", "epoch"), [(0.3, 0), (0.3, 6), (0.0, 0), (1.0, 6)])
def test_transfer_weighs_video_by_one_minus_alpha_and_acoustic_by_alpha(alpha: float, epoch: int) -> None:
    nets = {"video": ResNet18(output_stride=8, width=4), "audio": HearNet()}
    objective = Transfer(nets, DualCamNet(), alpha=alpha, margin=MARGIN, hard_from_epoch=4)
    out = _outputs(audio_map=False, seed=1)
    out["acoustic"] = torch.rand(B, 128, generator=torch.Generator().manual_seed(2)) * 50  # Σ_p teacher map
    loss, metrics = objective.loss(out, _ids(), epoch)

    same = naive_same_recording(LABELS, LOCATIONS)
    d_av = attention_distance(tiled(out["audio"]), out["video"])
    d_aa = naive_vector_distances(out["audio"], out["acoustic"])
    hard = epoch >= 4
    l_av, l_aa = naive_triplet(d_av, same, MARGIN, hard), naive_triplet(d_aa, same, MARGIN, hard)
    assert abs(l_av - l_aa) > 0.05  # so that swapped weights would show
    assert loss.item() == pytest.approx((1 - alpha) * l_av + alpha * l_aa, rel=1e-4)
    assert metrics["loss_av"].item() == pytest.approx(l_av, rel=1e-4)
    assert metrics["loss_aa"].item() == pytest.approx(l_aa, rel=1e-4)
    assert metrics["accuracy"].item() == pytest.approx(naive_batch_all(d_av, same, MARGIN)[1], rel=1e-5)

    valid = objective.validation_terms(out, _ids())
    all_av, all_aa = naive_batch_all(d_av, same, MARGIN)[0], naive_batch_all(d_aa, same, MARGIN)[0]
    assert valid["loss"].item() == pytest.approx((1 - alpha) * all_av + alpha * all_aa, rel=1e-4)


@pytest.mark.parametrize(
    ("lam", "temperature", "average"), [(0.3, 2.0, "softmax"), (0.3, 1.0, "logits"), (0.0, 1.0, "softmax")]
)
def test_distillation_weighs_labels_by_one_minus_lambda(lam: float, temperature: float, average: str) -> None:
    objective = Distillation(
        {"model": HearNet(num_classes=3)},
        DualCamNet(num_classes=3),
        lambda_=lam,
        temperature=temperature,
        teacher_average=average,
    )
    g = torch.Generator().manual_seed(3)
    logits, teacher = torch.randn(B, 3, generator=g) * 2, torch.randn(B, 24, 3, generator=g) * 3
    features = torch.rand(B, 128)
    out = {"logits": logits, "features": features, "teacher": teacher, "acoustic": features}
    labels = torch.tensor(LABELS)
    loss, metrics = objective.loss(out, _ids(), 0)
    expected = naive_distillation(logits, labels, teacher, lam, temperature, average)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    swapped = naive_distillation(logits, labels, teacher, 1 - lam, temperature, average)
    assert abs(swapped - expected) > 0.05  # so that swapped weights would show
    assert metrics["cross_entropy"].item() == pytest.approx(naive_cross_entropy(logits, labels), rel=1e-5)
    assert metrics["accuracy"].item() == pytest.approx(
        sum(int(logits[b].argmax()) == LABELS[b] for b in range(B)) / B
    )
    teacher_hits = sum(int(teacher[b].mean(dim=0).argmax()) == LABELS[b] for b in range(B))
    assert metrics["teacher_accuracy"].item() == pytest.approx(teacher_hits / B)


def test_supervised_loss_is_the_cross_entropy_and_accuracy_the_argmax_match() -> None:
    objective = Supervised({"model": HearNet(num_classes=3)})
    logits = torch.tensor([[3.0, 0, 0], [0, 1, 2], [1, 0, 0], [0, 4, 0], [0, 2, 1], [1, 0, 0]])
    loss, metrics = objective.loss({"logits": logits, "features": torch.rand(B, 128)}, _ids(), 0)
    assert loss.item() == pytest.approx(naive_cross_entropy(logits, torch.tensor(LABELS)), rel=1e-5)
    assert metrics["accuracy"].item() == pytest.approx(3 / 6)  # rows 0, 2 and 4 are right


# ---------------------------------------------------------------------------------------- temporal pooling
def _inputs(frames: int = 3, seconds: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    return {
        **{k: v[:2] for k, v in _ids().items()},
        "video": torch.randn(2, frames, 3, 112, 149, generator=g) * 50,
        "spectrogram": torch.randn(2, 257, 100 * seconds, generator=g),
        "acoustic": torch.randn(2, 12 * seconds, 12, 36, 48, generator=g),
    }


def _close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    actual, expected = actual.detach().float(), expected.detach().float()
    scale = float(expected.abs().max())
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5 * scale)


def test_selfsup_embed_averages_each_network_over_the_sample_frames() -> None:
    video, audio = ResNet18(output_stride=8, width=4).eval(), HearNet().eval()
    batch = _inputs()
    out = SelfSupervised({"video": video, "audio": audio}).eval().embed(batch)
    _close(out["video"], pooled(video, batch["video"], "embedding"))
    _close(out["audio"], audio.outputs(batch["spectrogram"])["embedding"])
    # frame 0 alone (or the last) is not the mean: the frames differ
    assert not torch.allclose(
        out["video"].detach(), per_frame(video, batch["video"], "embedding")[:, 0], rtol=1e-3
    )

    acoustic = DualCamNet().eval()
    out = SelfSupervised({"video": video, "acoustic": acoustic}).eval().embed(batch)
    _close(out["audio"], pooled(acoustic, batch["acoustic"], "embedding"))  # mean over the 24 frames


def test_transfer_target_is_the_frame_mean_teacher_map_summed_over_positions() -> None:
    teacher = DualCamNet().eval()
    objective = Transfer({"video": ResNet18(output_stride=8, width=4), "audio": HearNet()}, teacher).eval()
    batch = _inputs()
    out = objective.embed(batch)
    _close(out["acoustic"], pooled(teacher, batch["acoustic"], "embedding").sum(dim=(2, 3)))


@pytest.mark.parametrize("name", ["resnet18", "dualcamnet"])
def test_supervised_frame_networks_average_their_logits_over_frames(name: str) -> None:
    net = (ResNet18(output_stride=8, width=4, num_classes=3) if name == "resnet18" else DualCamNet(3)).eval()
    batch = _inputs()
    x = batch["video" if name == "resnet18" else "acoustic"]
    out = Supervised({"model": net}).eval().embed(batch)
    _close(out["logits"], pooled(net, x, "logits"))
    _close(out["features"], pooled(net, x, "features"))


def test_distillation_feeds_per_frame_teacher_logits_and_the_frame_mean_feature() -> None:
    student, teacher = HearNet(num_classes=3).eval(), DualCamNet(num_classes=3).eval()
    batch = _inputs()
    out = Distillation({"model": student}, teacher).eval().embed(batch)
    _close(out["logits"], student.outputs(batch["spectrogram"])["logits"])
    assert out["teacher"].shape == (2, 24, 3)
    _close(out["teacher"], per_frame(teacher, batch["acoustic"], "logits"))
    _close(out["acoustic"], pooled(teacher, batch["acoustic"], "features"))
