"""What each objective computes from a batch, against the naive references of ``naive_losses``.

The batch below holds three recordings, two of them of one class, and a third recording that shares its
location index with the first: positives are the other samples of the same *recording*, never merely of the
same class or location. Transfer weighs its terms (1 − α, α), distillation (1 − λ, λ); every network's
outputs are averaged over a sample's frames before any loss sees them.
"""

from __future__ import annotations

import numpy as np
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
from acoustic_ssl.training.objectives import (
    Contrastive,
    ContrastiveTransfer,
    Distillation,
    SelfSupervised,
    Supervised,
    Transfer,
)

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


def test_teacher_vectors_are_computed_once_per_sample_and_never_stale() -> None:
    """A later batch of other composition reuses each sample's vector (the teacher runs once per sample); a
    sample whose input changed under the same recording and start is computed afresh, not served stale."""
    teacher = DualCamNet().eval()
    objective = ContrastiveTransfer(
        {"video": ResNet18(output_stride=8, width=4), "audio": HearNet()}, teacher
    ).eval()
    g = torch.Generator().manual_seed(5)
    batch = {
        "video": torch.randn(4, 1, 3, 112, 149, generator=g) * 50,
        "spectrogram": torch.randn(4, 257, 200, generator=g),
        "acoustic": torch.randn(4, 24, 12, 36, 48, generator=g),
        "video_id": torch.tensor([7, 7, 9, 9]),
        "start": torch.tensor([0, 2, 0, 2]),
    }
    expected = pooled(teacher, batch["acoustic"], "embedding").mean(dim=(2, 3))
    changed = {k: v.clone() for k, v in batch.items()}
    changed["acoustic"][2] += 0.5
    expected_changed = pooled(teacher, changed["acoustic"][2:3], "embedding").mean(dim=(2, 3))[0]
    calls: list[int] = []
    teacher.conv2.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    _close(objective.embed(batch)["acoustic"], expected)
    assert calls == [24] * 4  # each sample alone: its 24 frames
    order = torch.tensor([3, 0, 1])
    again = objective.embed({k: v[order] for k, v in batch.items()})["acoustic"]
    assert len(calls) == 4 and torch.equal(again, objective.embed(batch)["acoustic"][order])
    fresh = objective.embed(changed)["acoustic"]
    assert len(calls) == 5
    _close(fresh[2], expected_changed)
    assert (fresh[2] - expected[2]).abs().max() > 1e-3 * expected[2].abs().max()


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


# ------------------------------------------------------------------------------------------ contrastive
def _contrastive(audio_role: str = "audio", **kwargs: float) -> Contrastive:
    audio_net = HearNet() if audio_role == "audio" else DualCamNet()
    torch.manual_seed(5)
    return Contrastive({"video": ResNet18(output_stride=8, width=4), audio_role: audio_net}, **kwargs)


@pytest.mark.parametrize("audio_map", [False, True])
def test_contrastive_score_is_the_max_over_cells_of_the_projected_cosine(audio_map: bool) -> None:
    """EZ-VSL's score with the objective's own projections: a 1×1 convolution of the video map, a linear
    layer of the audio vector (a DualCamNet map first averaged over its cells), cosine, max over cells."""
    from naive_losses import naive_max_cosine, naive_project

    objective = _contrastive("acoustic" if audio_map else "audio")
    out = _outputs(audio_map, seed=2)
    audio, video = out["audio"][:3], out["video"][:4]
    heads = objective.heads
    vector = audio.mean(dim=(2, 3)) if audio_map else audio
    a = naive_project(vector, heads["audio"].weight.detach(), heads["audio"].bias.detach())
    v = naive_project(video, heads["video"].weight.detach(), heads["video"].bias.detach())
    expected = naive_max_cosine(a, v)
    with torch.no_grad():
        got = objective.similarity(audio, video)
        distances = objective.pair_distances(audio, video)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(distances.double(), -expected, rtol=0, atol=1e-5)
    assert got.shape == (3, 4)


def test_contrastive_localisation_map_is_the_cosine_map_of_the_own_audio() -> None:
    """A video cell planted along the audio's projected direction is where the map peaks (rows top down)."""
    objective = _contrastive(projection_dim=0)  # without projections the cosine is of the raw outputs
    g = torch.Generator().manual_seed(6)
    video = torch.rand(2, 128, 12, 16, generator=g)
    audio = torch.randn(2, 128, generator=g)
    video[0, :, 2, 13] = audio[0] * 5
    video[1, :, 10, 1] = audio[1] * 5
    with torch.no_grad():
        maps = objective.localization_map(audio, video)
    assert maps.shape == (2, 12, 16)
    assert torch.unravel_index(maps[0].argmax(), (12, 16)) == (2, 13)
    assert torch.unravel_index(maps[1].argmax(), (12, 16)) == (10, 1)
    cos = torch.nn.functional.cosine_similarity(audio[0][:, None, None], video[0], dim=0)
    torch.testing.assert_close(maps[0], cos, rtol=0, atol=1e-5)


def test_contrastive_features_are_the_unit_embeddings_before_the_projection() -> None:
    objective = _contrastive()
    out = _outputs(audio_map=False, seed=3)
    with torch.no_grad():
        feats = objective.features(out)
    raw = out["audio"]
    torch.testing.assert_close(feats["audio"], raw / raw.norm(dim=1, keepdim=True), rtol=0, atol=1e-6)
    assert (feats["audio"] < 0).any()  # no ReLU: the contrastive embedding is read as it is
    mean_map = out["video"].mean(dim=(2, 3))
    unit_map = mean_map / mean_map.norm(dim=1, keepdim=True)
    torch.testing.assert_close(feats["video"], unit_map, rtol=0, atol=1e-6)
    torch.testing.assert_close(feats["joint"], feats["audio"] + feats["video"])
    torch.testing.assert_close(feats["audio_raw"], raw)
    assert feats["attention_map"].shape == (B, 12, 16) and feats["attention_map"].abs().max() <= 1.0 + 1e-5


def test_contrastive_loss_and_validation_on_the_same_recording_positives() -> None:
    """The loss of a batch against the naive loop: projections, max-over-cells cosine, same-recording
    positives (not same class, not same location), symmetric InfoNCE at the temperature."""
    from naive_losses import naive_info_nce, naive_max_cosine, naive_project, naive_retrieval_accuracy

    objective = _contrastive(temperature=0.2)
    out, batch = _outputs(audio_map=False, seed=4), _ids()
    heads = objective.heads
    a = naive_project(out["audio"], heads["audio"].weight.detach(), heads["audio"].bias.detach())
    v = naive_project(out["video"], heads["video"].weight.detach(), heads["video"].bias.detach())
    s = naive_max_cosine(a, v)
    same = naive_same_recording(LABELS, LOCATIONS)
    with torch.no_grad():
        loss, metrics = objective.loss(out, batch, epoch=7)
        valid = objective.validation_terms(out, batch)
    assert float(loss) == pytest.approx(naive_info_nce(s, same, 0.2), rel=1e-4)
    assert float(metrics["accuracy"]) == pytest.approx(naive_retrieval_accuracy(s, same), abs=1e-7)
    assert float(valid["loss"]) == pytest.approx(float(loss), rel=1e-6)
    by_class = naive_info_nce(s, _same_class(), 0.2)
    assert float(loss) != pytest.approx(by_class, rel=1e-3)  # positives are recordings, not classes


def test_acoustic_energy_target_puts_its_mass_where_the_array_hears_the_sound() -> None:
    """Against a NumPy reference: frame-mean MFCC → energy per pixel, 3×3 means onto the 12×16 grid, log,
    z-score over the cells, softmax."""
    from acoustic_ssl.imaging.mfcc import mfcc_to_energy
    from acoustic_ssl.training.objectives.contrastive import acoustic_energy_target

    g = torch.Generator().manual_seed(7)
    acoustic = torch.randn(2, 12, 12, 36, 48, generator=g) * 0.1
    acoustic[0, :, 0, 6:9, 30:33] += 8.0  # loud c0 in the cell (2, 10)
    acoustic[1, 3:, 0, 30:33, 3:6] += 8.0  # in cell (10, 1), from the 4th frame on
    target = acoustic_energy_target(acoustic)
    assert target.shape == (2, 192)
    torch.testing.assert_close(target.sum(dim=1), torch.ones(2), rtol=0, atol=1e-5)
    assert divmod(int(target[0].argmax()), 16) == (2, 10) and divmod(int(target[1].argmax()), 16) == (10, 1)
    energy = mfcc_to_energy(acoustic.double().mean(dim=1).permute(0, 2, 3, 1).numpy())  # [2, 36, 48]
    pooled = energy.reshape(2, 12, 3, 16, 3).mean(axis=(2, 4)).reshape(2, -1)
    z = np.log(pooled)
    z = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, ddof=1, keepdims=True)
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(target.numpy(), expected, rtol=0, atol=1e-4 * expected.max())
