"""Acoustic-image generator: a video frame and its sound → the frame's 36×48×12 MFCC acoustic image.

After Sanguineti et al., *Audio-Visual Localization by Synthetic Acoustic Image Generation* (AAAI 2021; the
U-Net of its IEEE TIP 2022 extension): the array's image is predicted from what every ordinary video has,
so the acoustic-image network can teach (and localise) without an array.

A U-Net on the frame (resized to 144×192, four times the acoustic grid, so the encoder's stride-4 features
sit on the 36×48 acoustic cells and its stride-12 bottleneck on the 12×16 grid of the video maps)::

    frame 144×192 ─conv s2─► 72×96 ─conv s2─► 36×48 ─conv s3─► 12×16 (4w) ─FiLM─► up ×3 ─┐
                                                │ skip (2w)                               ▼
                                                └─────► concat + cell coordinates ─► 36×48 ─FiLM─► 1×1 → 12

The sound enters as a condition vector (the objective builds it: the audio network's embedding, which says
*what* sounds, and the frame's own slice of the spectrogram, which says *how loud, now*), through FiLM
(feature-wise scale and shift, Perez et al. 2018) at the bottleneck, where the decoder decides which object
sounds, and at the 36×48 stage; and as a level per band added to the whole image, since how loud each band
is now is a property of the sound alone, which leaves the decoder the pattern across the cells. The FiLM
layers and the level start at zero effect.
The decoder also sees each cell's coordinates (CoordConv, Liu et al. 2018): the array's response depends on
the direction of a cell (sidelobes, the edge of the field of view), not only on what the camera sees there,
and convolutions alone barely know where they are.

The network predicts deviations from the mean image in units of each band's spread: ``mean_image``
[12,36,48] and ``band_std`` [12] (buffers, saved with the weights) turn them into MFCC, so a checkpoint
generates images with nothing else, and an untrained generator already gives the mean image. The objective
sets them once from the first training batch (data-dependent initialisation, as ActNorm in Glow) and keeps
them fixed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.data.audio import NUM_BINS
from acoustic_ssl.data.layout import ACOUSTIC_SHAPE, Modality
from acoustic_ssl.models.base import Network
from acoustic_ssl.models.layers import init_weights_

GRID = ACOUSTIC_SHAPE[:2]  # 36 × 48 cells
BANDS = ACOUSTIC_SHAPE[2]  # 12 MFCC coefficients
INPUT_SIZE = (4 * GRID[0], 4 * GRID[1])  # 144 × 192
AUDIO_EMBEDDING_DIM = 128
CONDITION_DIM = AUDIO_EMBEDDING_DIM + NUM_BINS  # audio embedding + the frame's spectrum
HIDDEN = 256
VIDEO_SCALE = 1.0 / 128.0  # BGR minus the means spans about ±128
MIN_SPREAD = 1e-3  # MFCC units


def _block(c_in: int, c_out: int, stride: int = 1, padding: int = 1) -> nn.Sequential:
    """3×3 convolution, GroupNorm (batch-independent: the same numbers in training and at synthesis), ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=padding),
        nn.GroupNorm(min(8, c_out), c_out),
        nn.ReLU(inplace=True),
    )


def film(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """x·(1 + γ) + β per channel, with (γ, β) = ``params`` [N, 2C] split in halves."""
    gamma, beta = params.chunk(2, dim=1)
    return x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]


class AcousticGenerator(Network):
    """Frame [N,3,H,W] + condition [N,``condition_dim``] → z-scored acoustic image [N,12,36,48].

    ``outputs`` (the ``Network`` contract) gives the unconditioned bottleneck map [N,4w,12,16] as the
    ``embedding`` (128 channels at the default width, as the other video networks' maps); ``generate`` the
    conditioned image as z-scores about the mean image; ``to_mfcc`` / ``to_z`` convert. Images are in video
    orientation (as batches hold them). ``width`` w: channels at 72×96, doubled at 36×48 and again at 12×16.
    No weight decay: the regression loss alone.

    Example
    -------
    >>> import torch
    >>> net = AcousticGenerator(width=8)
    >>> net.generate(torch.zeros(2, 3, 112, 149), torch.zeros(2, CONDITION_DIM)).shape
    torch.Size([2, 12, 36, 48])
    >>> net.outputs(torch.zeros(2, 3, 112, 149))["embedding"].shape
    torch.Size([2, 32, 12, 16])
    """

    modality = Modality.VIDEO

    def __init__(self, width: int = 32, condition_dim: int = CONDITION_DIM, init: str = "he") -> None:
        super().__init__()
        wide, deep = 2 * width, 4 * width
        self.stem = _block(3, width, stride=2)  # 72×96
        self.down = nn.Sequential(_block(width, wide, stride=2), _block(wide, wide))  # 36×48: the skip
        self.bottom = nn.Sequential(_block(wide, deep, stride=3, padding=0), _block(deep, deep))  # 12×16
        self.mid = _block(deep, deep)
        self.up = _block(deep + wide + 2, wide)
        self.out_block = _block(wide, wide)
        self.head = nn.Conv2d(wide, BANDS, 1)
        self.condition = nn.Sequential(nn.Linear(condition_dim, HIDDEN), nn.ReLU(inplace=True))
        self.film_bottom = nn.Linear(HIDDEN, 2 * deep)
        self.film_up = nn.Linear(HIDDEN, 2 * wide)
        self.level = nn.Linear(HIDDEN, BANDS)
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        init_weights_(layers, init)
        for layer in (self.film_bottom, self.film_up, self.level):  # no effect of the sound at first
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("mean_image", torch.zeros(BANDS, *GRID))
        self.register_buffer("band_std", torch.ones(BANDS))
        self.register_buffer("statistics_set", torch.tensor(False))

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(skip [N,2w,36,48], bottleneck [N,4w,12,16]) of frames [N,3,H,W]."""
        x = F.interpolate(x.float() * VIDEO_SCALE, size=INPUT_SIZE, mode="bilinear", align_corners=False,
                          antialias=x.shape[-2] > INPUT_SIZE[0])
        skip = self.down(self.stem(x))
        return skip, self.bottom(skip)

    @staticmethod
    def _coordinates(like: torch.Tensor) -> torch.Tensor:
        """Row and column of every 36×48 cell in [-1, 1], [N,2,36,48] (the dtype and device of ``like``)."""
        rows = torch.linspace(-1.0, 1.0, GRID[0], dtype=like.dtype, device=like.device)
        cols = torch.linspace(-1.0, 1.0, GRID[1], dtype=like.dtype, device=like.device)
        grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"))
        return grid.expand(len(like), *grid.shape)

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The bottleneck map of the frame alone [N,4w,12,16] (no sound)."""
        return {"embedding": self._encode(x)[1]}

    def generate(self, frames: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """The acoustic image of each frame given its sound, as z-scores [N,12,36,48] (``to_mfcc``)."""
        skip, bottom = self._encode(frames)
        hidden = self.condition(condition.float())
        x = self.mid(film(bottom, self.film_bottom(hidden)))
        x = torch.cat([F.interpolate(x, size=GRID, mode="nearest"), skip, self._coordinates(skip)], dim=1)
        x = self.out_block(film(self.up(x), self.film_up(hidden)))
        return self.head(x) + self.level(hidden)[:, :, None, None]

    def to_mfcc(self, z: torch.Tensor) -> torch.Tensor:
        """MFCC [...,12,36,48] of z-scores: mean_image + band_std·z."""
        return self.mean_image + self.band_std[:, None, None] * z

    def to_z(self, mfcc: torch.Tensor) -> torch.Tensor:
        """Z-scores [...,12,36,48] of MFCC images, (mfcc − mean_image) / band_std: inverts ``to_mfcc``."""
        return (mfcc.float() - self.mean_image) / self.band_std[:, None, None]

    @torch.no_grad()
    def set_statistics(self, images: torch.Tensor) -> None:
        """The mean of MFCC images [...,12,36,48] cell by cell, and each band's standard deviation about it
        (at least ``MIN_SPREAD``: a band that never varies is not divided by zero)."""
        images = images.float().reshape(-1, BANDS, *GRID)
        self.mean_image.copy_(images.mean(dim=0))
        spread = (images - self.mean_image).movedim(1, 0).reshape(BANDS, -1).square().mean(dim=1).sqrt()
        self.band_std.copy_(spread.clamp_min(MIN_SPREAD))
        self.statistics_set.fill_(True)
