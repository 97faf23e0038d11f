"""``generate``: learn the acoustic camera's image of a frame from the frame and the mono track.

Roles: ``generator`` (an :class:`~acoustic_ssl.models.AcousticGenerator`, reading the video) and ``audio``
(any spectrogram network: its embedding says what sounds); the true acoustic images are the objective's
target modality, loaded for the loss and read by no network, so a trained generator runs on data without
an array (``acoustic-ssl synthesize``).

The sound of frame f is its condition vector: the audio network's embedding of the whole sample, and the
mean of the spectrogram frames heard during frame f (``data.audio.video_frame_columns``), since the image
changes within a sample as the source moves and its sound starts and stops.

**Loss**: the mean squared error of z-scores about the mean image, L = (1/12) Σ_k mean over samples, frames
and the 36×48 cells of ((ŷ_k − y_k) / σ_k)², where the generator predicts ŷ as μ + σ·z with μ the mean
training image (cell by cell and band by band) and σ_k band k's standard deviation about it, both from the
first training batch and kept in the generator (``AcousticGenerator.set_statistics``). Why per band: the
coefficients' spreads differ with the data and the recipe (the sine lifter alone scales c_k by 1 to 12; c₀
carries the recording's loudness), so a plain MSE would weigh them by whatever spread they have, while each
says something else (c₀ how loud, c₁…c₁₁ the spectral shape that tells the acoustic network *what* sounds);
dividing by σ_k gives each coefficient the same say. Why about the mean image: the array images a fixed
pattern whatever the scene (its response to the diffuse noise and to the edge of the field of view: on the
benchmark's simulated recordings the training mean image alone correlates 0.56 with c₀ of a frame), which
the network need not relearn; an untrained generator starts from it, and ``evaluate-generator`` reports it
as the baseline to beat. Every cell weighs the same: the energy map
(where it sounds) and the background both matter downstream. Squared error because the target is a
deterministic function of the scene up to sensor noise: the conditional mean is the image wanted.

**Frames**: in training ``frames_per_sample`` of the sample's loaded frames at random per sample (more
distinct frames per epoch than a fixed pick, at the cost of that many generator passes); at evaluation
every loaded frame. Train with ``data.nr_frames = 12·sample_length`` so that every frame can be drawn.

**Validation and selection**: ``loss`` (the z-score MSE), ``accuracy`` = 1 − loss, the skill over the mean
image (1: exact, 0: no better than the mean image; the trainer keeps the highest), and ``correlation``: the
per-band Pearson correlation of generated and true images over the cells of each frame, averaged
(``band_correlation``, what ``evaluate-generator`` reports).

**No VAE variant**: the TIP paper's VAE samples images from a latent, which serves image diversity; here
the target is nearly deterministic given frame and sound (sources are points, the beamformer fixed), the
consumers (energy localisation, a teacher's embedding) want the conditional mean, and sampling would only
add noise to both. A VAE would earn its place where one frame and sound admit several images (unseen
sources off screen, reverberant rooms), which these experiments do not measure.

Features for ``extract``/``evaluate``: ``audio`` (the l2-normalised audio embedding, for kNN) and
``generated_map``, the energy of the generated images (``imaging.mfcc.energy_map``), which ``evaluate
--raw-dir`` scores for localisation beside the true images' ``energy_map``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import torch

from acoustic_ssl.data.audio import spectrogram_seconds, video_frame_columns
from acoustic_ssl.data.dataset import pick_frames
from acoustic_ssl.data.layout import Modality
from acoustic_ssl.imaging.mfcc import energy_map
from acoustic_ssl.models import AcousticGenerator, Network, l2n
from acoustic_ssl.training.objectives.base import Batch, Constraint, Metrics, Objective, Outputs


def band_correlation(generated: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Pearson correlation over the 36×48 cells of each image and band: [..., 12, H, W] → [..., 12].

    A band constant over the cells (no spatial pattern) has no correlation: NaN.
    """
    a = generated.double().flatten(-2)
    b = true.double().flatten(-2)
    a = a - a.mean(dim=-1, keepdim=True)
    b = b - b.mean(dim=-1, keepdim=True)
    return (a * b).sum(dim=-1) / (a.square().sum(dim=-1) * b.square().sum(dim=-1)).sqrt()


class Generate(Objective):
    """Per-band z-score regression of the acoustic image of video frames (module docstring)."""

    role_sets = (frozenset({"generator", "audio"}),)
    role_networks: ClassVar[Mapping[str, type[Network]]] = {"generator": AcousticGenerator}
    target_modalities = (Modality.ACOUSTIC,)
    reported = "best"
    constraints: ClassVar[Mapping[str, Constraint]] = {
        "frames_per_sample": (lambda v: v >= 1, "must be ≥ 1"),
    }

    def __init__(
        self, nets: Mapping[str, Network], teacher: Network | None = None, *, frames_per_sample: int = 2
    ) -> None:
        super().__init__(nets, teacher)
        self.frames_per_sample = frames_per_sample
        self.audio_role = "audio"

    @property
    def generator(self) -> AcousticGenerator:
        return self.nets["generator"]

    # ------------------------------------------------------------------------------------------ forward
    def _chosen(self, batch_size: int, loaded: int, device: torch.device) -> torch.Tensor:
        """Indices [B,K] of the loaded video frames to generate: random in training, all at evaluation."""
        if not self.training or self.frames_per_sample >= loaded:
            return torch.arange(loaded, device=device).expand(batch_size, loaded)
        draws = torch.rand(batch_size, loaded).argsort(dim=1)[:, : self.frames_per_sample]
        return draws.sort(dim=1).values.to(device)

    @staticmethod
    def frame_spectra(spectrogram: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """The mean spectrogram frame [B,K,257] heard during each sample's video frames ``frames`` [B,K]
        (0-based within the sample)."""
        columns = spectrogram.shape[-1]
        spans = [video_frame_columns(int(f), columns) for f in range(int(frames.max()) + 1)]
        means = torch.stack([spectrogram[..., span].float().mean(dim=-1) for span in spans], dim=1)
        return means[torch.arange(len(frames), device=frames.device)[:, None], frames]  # [B,K,257]

    def embed(self, batch: Batch) -> Outputs:
        """``audio`` [B,D]; ``frames`` [B,K], the sample's frame numbers (0-based) generated; ``generated``
        [B,K,12,36,48], their z-scores (``images`` gives MFCC)."""
        video, spectrogram = batch["video"], batch["spectrogram"]
        if self.training and not bool(self.generator.statistics_set):
            self.generator.set_statistics(batch[Modality.ACOUSTIC.batch_key])
        audio = self._outputs("audio", batch)["embedding"]
        b, loaded = video.shape[:2]
        chosen = self._chosen(b, loaded, video.device)
        seconds = spectrogram_seconds(spectrogram.shape[-1])
        frames = torch.as_tensor(pick_frames(seconds, loaded), device=video.device)[chosen]  # [B,K]
        rows = torch.arange(b, device=video.device)[:, None]
        heard = self.frame_spectra(spectrogram, frames)
        condition = torch.cat([audio.float()[:, None, :].expand(-1, chosen.shape[1], -1), heard], dim=2)
        z = self.generator.generate(video[rows, chosen].flatten(0, 1), condition.flatten(0, 1))
        return {"audio": audio, "frames": frames, "generated": z.reshape(b, chosen.shape[1], *z.shape[1:])}

    def images(self, out: Outputs) -> torch.Tensor:
        """The generated MFCC images [B,K,12,36,48] (video orientation) of ``embed``'s outputs."""
        return self.generator.to_mfcc(out["generated"])

    def target(self, out: Outputs, batch: Batch) -> torch.Tensor:
        """The true MFCC images [B,K,12,36,48] of the frames ``embed`` generated."""
        acoustic = batch[Modality.ACOUSTIC.batch_key]
        rows = torch.arange(len(acoustic), device=acoustic.device)[:, None]
        return acoustic[rows, out["frames"]].float()

    # ------------------------------------------------------------------------------------------ training
    def loss(self, out: Outputs, batch: Batch, epoch: int) -> tuple[torch.Tensor, Metrics]:
        error = (out["generated"] - self.generator.to_z(self.target(out, batch))).square().mean()
        return error, {"loss": error.detach(), "accuracy": 1.0 - error.detach()}

    def validation_terms(self, out: Outputs, batch: Batch) -> Metrics:
        _, metrics = self.loss(out, batch, epoch=0)
        correlation = band_correlation(self.images(out), self.target(out, batch))
        return {**metrics, "correlation": correlation.nanmean().float()}

    # ------------------------------------------------------------------------------------------ evaluation
    def audio_feature(self, audio: torch.Tensor) -> torch.Tensor:
        return l2n(audio.float())

    def features(self, out: Outputs) -> dict[str, torch.Tensor]:
        """The audio features, and ``generated_map``: the energy [B,36,48] of the generated images."""
        feats = super().features({"audio": out["audio"]})
        feats["generated_map"] = torch.from_numpy(energy_map(self.images(out)))
        return feats
