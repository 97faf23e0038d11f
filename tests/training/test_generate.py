"""The acoustic-image generator and its ``generate`` objective.

A target modality is loaded for the loss though no network reads it (the base contract); the generator's
shapes; which frames, which spectrogram columns and which true images the objective pairs (on batches where
frame number, position in the batch and band differ); the per-band normalised loss against a naive loop;
a tiny overfit of a fixed scene; and a run trained, selected and rebuilt from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from training_helpers import epoch_records, tiny_config

from acoustic_ssl.data.audio import video_frame_columns
from acoustic_ssl.data.layout import Modality
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.models import AcousticGenerator, HearNet, Network
from acoustic_ssl.models.generator import CONDITION_DIM
from acoustic_ssl.training.objectives import OBJECTIVES, Generate, Objective, register_objective
from acoustic_ssl.training.objectives.generate import band_correlation
from acoustic_ssl.training.run import train

GENERATE_MODELS = {"generator": {"name": "acoustic_generator", "width": 4}, "audio": {"name": "hearnet"}}


class ToyTarget(Objective):
    """Regress the mean acoustic image from the audio embedding: the images are a target, not an input."""

    role_sets = (frozenset({"audio"}),)
    target_modalities = (Modality.ACOUSTIC,)
    reported = "final"

    def __init__(self, nets: Mapping[str, Network], teacher: Network | None = None) -> None:
        super().__init__(nets, teacher)
        self.heads["level"] = nn.Linear(128, 1)

    def embed(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"audio": self._outputs("audio", batch)["embedding"]}

    def loss(self, out: dict, batch: dict, epoch: int) -> tuple[torch.Tensor, dict]:
        level = batch["acoustic"].float().mean(dim=(1, 2, 3, 4))
        error = (self.heads["level"](out["audio"])[:, 0] - level).square().mean()
        return error, {"loss": error.detach(), "accuracy": -error.detach()}

    def validation_terms(self, out: dict, batch: dict) -> dict:
        return self.loss(out, batch, 0)[1]


@pytest.fixture
def toy_target() -> Iterator[None]:
    register_objective("toy_target", ToyTarget)
    yield
    del OBJECTIVES["toy_target"]


@pytest.mark.usefixtures("toy_target")
def test_a_target_modality_is_loaded_though_no_network_reads_it(tiny_data: dict, tmp_path: Path) -> None:
    cfg = tiny_config("toy_target", tiny_data, tmp_path / "run", models={"audio": {"name": "hearnet"}},
                      experiment={"epochs": 1})
    assert cfg.modalities == ("acoustic", "audio")  # HearNet reads audio; the objective needs the images
    run_dir = train(cfg)  # the loss reads batch["acoustic"]: a KeyError if the loader left it out
    assert np.isfinite(epoch_records(run_dir)[0]["train/loss"])
    objective = ToyTarget({"audio": HearNet()})
    assert objective.input_modalities == ("audio",) and objective.modalities == ("acoustic", "audio")


def test_generate_loads_all_three_modalities_and_needs_a_generator(tiny_data: dict, tmp_path: Path) -> None:
    cfg = tiny_config("generate", tiny_data, tmp_path / "a", models=GENERATE_MODELS)
    assert cfg.modalities == ("acoustic", "audio", "video")
    wrong = {**GENERATE_MODELS, "generator": {"name": "resnet18"}}
    with pytest.raises(ConfigError, match=r"models\.generator\.name: kind 'generate' needs an? AcousticGener"
                                          r"ator here \(acoustic_generator\), got resnet18"):
        tiny_config("generate", tiny_data, tmp_path / "b", models=wrong)
    with pytest.raises(ConfigError, match=r"loss\.frames_per_sample: must be ≥ 1, got 0"):
        tiny_config("generate", tiny_data, tmp_path / "c", models=GENERATE_MODELS,
                    loss={"frames_per_sample": 0})


@pytest.mark.parametrize("size", [(112, 149), (224, 298), (60, 80)])
def test_generator_shapes(size: tuple[int, int]) -> None:
    net = AcousticGenerator(width=4)
    frames = torch.randn(3, 3, *size) * 50
    assert net.generate(frames, torch.randn(3, CONDITION_DIM)).shape == (3, 12, 36, 48)
    assert net.outputs(frames)["embedding"].shape == (3, 16, 12, 16)
    assert AcousticGenerator().outputs(frames)["embedding"].shape == (3, 128, 12, 16)  # default width 32


def test_statistics_map_z_scores_to_mfcc_about_the_mean_image() -> None:
    """The mean image cell by cell (a pattern across the columns, band by band), each band's spread about
    it; z-scores have mean 0 in every cell and spread 1 in every band, and invert exactly."""
    net = AcousticGenerator(width=4)
    bands = torch.arange(12.0)[:, None, None]
    pattern = bands * 10 + torch.linspace(-5.0, 5.0, 48) * (bands - 5.5)  # [12,1,48] → every row alike
    images = torch.randn(40, 12, 36, 48) * (bands + 1.0) + pattern
    net.set_statistics(images)
    torch.testing.assert_close(net.mean_image, images.mean(dim=0))
    error = (net.mean_image.mean(dim=1) - pattern[:, 0]).abs()  # 40×36 draws per column: 4.5 σ/√1440
    assert (error < 4.5 * (bands[:, 0] + 1.0) / 1440**0.5).all()
    np.testing.assert_allclose(net.band_std, np.arange(1.0, 13.0), rtol=0.03)  # not the pattern's spread
    z = net.to_z(images)
    np.testing.assert_allclose(z.mean(dim=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.square().mean(dim=(0, 2, 3)), 1.0, rtol=1e-5)
    torch.testing.assert_close(net.to_mfcc(z), images, rtol=0, atol=1e-5 * float(images.abs().max()))
    assert bool(net.statistics_set) and {"mean_image", "band_std"} <= set(net.state_dict())  # saved


def _batch(b: int = 3, loaded: int = 24, seconds: int = 2) -> dict[str, torch.Tensor]:
    """Video frame j of sample i is constant i + j/100; acoustic frame f of sample i holds 100·i + f in
    band 0 and the band index in the others; spectrogram column c of sample i holds i + c/1000."""
    columns = 100 * seconds
    video = (torch.arange(b)[:, None] + torch.arange(loaded)[None, :] / 100.0)[..., None, None, None]
    acoustic = torch.zeros(b, 12 * seconds, 12, 36, 48)
    numbers = 100.0 * torch.arange(b)[:, None] + torch.arange(12 * seconds)[None, :]
    acoustic[:, :, 0] = numbers[..., None, None]
    acoustic[:, :, 1:] = torch.arange(1.0, 12.0)[:, None, None]
    spectrogram = (torch.arange(b)[:, None] + torch.arange(columns)[None, :] / 1000.0)[:, None, :]
    return {
        "video": video.expand(b, loaded, 3, 112, 149).clone(),
        "acoustic": acoustic,
        "spectrogram": spectrogram.expand(b, 257, columns).clone(),
        "label": torch.zeros(b, dtype=torch.long),
    }


class Recorder(AcousticGenerator):
    """Records the frames and conditions it is given."""

    def generate(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        self.seen = (frames[:, 0, 0, 0].clone(), condition.clone())
        return super().generate(frames, condition)


@pytest.mark.parametrize(("loaded", "training"), [(2, False), (24, False), (24, True)])
def test_each_generated_frame_is_paired_with_its_own_image_and_sound(loaded: int, training: bool) -> None:
    torch.manual_seed(0)
    objective = Generate({"generator": Recorder(width=4), "audio": HearNet()}, frames_per_sample=3)
    objective.train(training)
    batch = _batch(loaded=loaded)
    out = objective.embed(batch)
    frames, seen_frames, condition = out["frames"], *objective.generator.seen
    # which frames: all loaded ones at evaluation (2 loaded: the sample's frames 0 and 23), 3 random when
    # training
    if not training:
        expected = [0, 23] if loaded == 2 else list(range(24))
        assert frames.tolist() == [expected] * 3
    else:
        assert frames.shape == (3, 3) and len({tuple(f) for f in frames.tolist()}) > 1  # per sample
    # the video frame fed is the one whose image is the target, of the same sample
    loaded_index = frames if loaded == 24 else frames // 23
    position = torch.arange(3)[:, None] + loaded_index / 100.0
    torch.testing.assert_close(seen_frames.reshape(frames.shape), position.float())
    target = objective.target(out, batch)
    torch.testing.assert_close(target[:, :, 0, 5, 7], 100.0 * torch.arange(3)[:, None] + frames)
    torch.testing.assert_close(target[:, :, 4, 0, 0], torch.full(frames.shape, 4.0))
    # its sound: the sample's embedding, then the mean of the spectrogram columns heard during that frame
    audio = condition.reshape(*frames.shape, -1)[..., :128]
    torch.testing.assert_close(audio, out["audio"][:, None, :].expand_as(audio))
    heard = condition.reshape(*frames.shape, -1)[..., 128:]
    for i in range(3):
        for k, f in enumerate(frames[i].tolist()):
            span = video_frame_columns(f, 200)
            expected = i + (span.start + span.stop - 1) / 2 / 1000.0  # mean of i + c/1000 over the columns
            torch.testing.assert_close(heard[i, k], torch.full((257,), expected), rtol=0, atol=1e-5)


def test_loss_is_the_mean_squared_error_of_per_band_z_scores() -> None:
    torch.manual_seed(1)
    objective = Generate({"generator": AcousticGenerator(width=4), "audio": HearNet()}, frames_per_sample=2)
    batch = _batch()
    batch["acoustic"] = batch["acoustic"] * torch.linspace(0.5, 6.0, 12)[:, None, None] + torch.randn(
        3, 24, 12, 36, 48
    ) * torch.linspace(3.0, 0.2, 12)[:, None, None]
    out = objective.embed(batch)  # training mode: the first batch sets the band statistics
    generator = objective.generator
    assert bool(generator.statistics_set)
    loss, metrics = objective.loss(out, batch, epoch=0)
    generated, target = objective.images(out).detach().double(), objective.target(out, batch).double()
    naive = 0.0
    for k in range(12):  # each band divided by its own standard deviation, the bands averaged
        naive += ((generated[:, :, k] - target[:, :, k]) / float(generator.band_std[k])).square().mean() / 12
    assert loss.detach().item() == pytest.approx(float(naive), rel=1e-4)
    assert metrics["accuracy"].item() == pytest.approx(1 - float(naive), rel=1e-4)
    plain = (generated - target).square().mean()  # an unnormalised MSE is another number entirely
    assert abs(float(plain) - float(naive)) > 0.5 * float(naive)
    # statistics stay fixed after the first batch
    mean = generator.mean_image.clone()
    objective.embed({**batch, "acoustic": batch["acoustic"] + 100.0})
    torch.testing.assert_close(generator.mean_image, mean)


def test_band_correlation_against_numpy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 12, 36, 48)), rng.normal(size=(2, 12, 36, 48))
    b[1, 3] = 2.0 * a[1, 3] + 5.0  # perfectly correlated band
    b[0, 7] = -a[0, 7]
    got = band_correlation(torch.as_tensor(a), torch.as_tensor(b)).numpy()
    expected = [[np.corrcoef(a[i, k].ravel(), b[i, k].ravel())[0, 1] for k in range(12)] for i in range(2)]
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got[1, 3] == pytest.approx(1.0) and got[0, 7] == pytest.approx(-1.0)


def test_a_fixed_scene_is_learned() -> None:
    """One frame with a bright square and its image: a hot spot under the square (of another strength in
    every band) over a gradient across the columns. With statistics of the scene's cells shuffled (a flat
    mean image, the scene's spread: a frame stands out from the mean as in real data), the generator learns
    it to a z-score MSE below 0.05 (from ~2) in 100 Adam steps, its c₀ peaking under the square."""
    torch.manual_seed(2)
    batch = _batch(b=1, loaded=1)
    batch["video"] = torch.full((1, 1, 3, 112, 149), -60.0)
    batch["video"][..., 30:50, 90:120] = 120.0  # rows 30-49, cols 90-119 of 112×149
    slope = torch.linspace(-1.0, 1.0, 12)  # its sign and size band by band
    image = torch.linspace(-20, 2, 12) + slope * torch.linspace(0.0, 3.0, 48)[:, None]
    image = image.expand(36, 48, 12).clone()
    image[10:16, 29:38] += torch.linspace(8.0, -3.0, 12)  # under the square on the 36×48 grid
    batch["acoustic"] = image.permute(2, 0, 1).expand(1, 24, 12, 36, 48).clone()
    objective = Generate({"generator": AcousticGenerator(width=8), "audio": HearNet(init="he")})
    cells = image.permute(2, 0, 1).reshape(12, -1)
    shuffled = torch.stack([cells[:, torch.randperm(36 * 48)] for _ in range(64)]).reshape(64, 12, 36, 48)
    objective.generator.set_statistics(shuffled)
    optimizer = torch.optim.Adam(objective.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss, _ = objective.loss(objective.embed(batch), batch, epoch=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.5 and losses[-1] < 0.05, losses[::20]
    objective.eval()
    with torch.no_grad():
        energy = objective.images(objective.embed(batch))[0, 0, 0]  # c₀
    row, col = np.unravel_index(int(energy.argmax()), energy.shape)
    assert 10 <= row < 16 and 29 <= col < 38


def test_a_generate_run_trains_keeps_its_best_epoch_and_comes_back(tiny_data: dict, tmp_path: Path) -> None:
    from acoustic_ssl.evaluation.extract import extract_features, load_features
    from acoustic_ssl.training.trained import load_trained

    cfg = tiny_config("generate", tiny_data, tmp_path / "run", models=GENERATE_MODELS,
                      data={"nr_frames": 24}, experiment={"epochs": 2})
    run_dir = train(cfg)
    epochs = epoch_records(run_dir)
    for record in epochs:  # validation: the z-score error, its skill and the band correlation
        assert record["valid/accuracy"] == pytest.approx(1.0 - record["valid/loss_data"], abs=1e-6)
        assert -1.0 <= record["valid/correlation"] <= 1.0
    trained = load_trained(run_dir)  # a generator stands for its best validation epoch
    best = max(epochs, key=lambda r: r["valid/accuracy"])
    assert trained.name == "best" and trained.epoch == best["epoch"]
    generator = trained.objective.generator
    assert isinstance(trained.objective, Generate) and bool(generator.statistics_set)
    from acoustic_ssl.data.lists import read_list
    from acoustic_ssl.data.tfrecord import read_record

    images = np.stack([read_record(p)["audio/image"] for p in read_list(tiny_data["train"])])
    images = np.flip(images.reshape(-1, 36, 48, 12), (1, 2))  # video orientation, as the loader gives them
    mean_image = images.mean(axis=0).transpose(2, 0, 1)  # over all 6 samples; the first batch held 4
    assert np.corrcoef(generator.mean_image.numpy().ravel(), mean_image.ravel())[0, 1] > 0.75
    out = extract_features(run_dir, tiny_data["valid"], tmp_path / "f.npz", device="cpu", energy_maps=True)
    arrays, meta = load_features(out)
    assert meta["run_kind"] == "generate" and arrays["generated_map"].shape == (3, 36, 48)
    assert arrays["energy_map"].shape == (3, 36, 48) and (arrays["generated_map"] > 0).all()
    np.testing.assert_allclose(np.linalg.norm(arrays["audio"], axis=1), 1.0, rtol=1e-5)
