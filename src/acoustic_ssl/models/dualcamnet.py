"""DualCamNet of the original acoustic stream (spec §4.3, ``DualCamHybridModel``).

Input: MFCC acoustic images [N,12,36,48] (12 MFCC channels per pixel), N = B·12·L frames in time order, where
every 12 consecutive frames form one 1-s block. A temporal convolution mixes the 12 frames of each block
independently (zero padding at the block edges, like TF SAME on the [blocks,12,36,48,12] reshape), then two
5×5 convolutions and a 3×3/3 max pool give a 12×16×128 map aligned with the ResNet18 map.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models.base import Network
from acoustic_ssl.models.layers import init_weights_

FRAMES_PER_BLOCK = 12
MFCC_CHANNELS = 12


class DualCamNet(Network):
    """Acoustic-image network: [N,12,36,48] → non-negative map [N,128,12,16]; classifier → logits [N,C].

    Classifier mode sums the map over the 12×16 positions (as the original, not a mean) and applies a fully
    connected layer 128 → C per frame; trainers average the per-frame logits/maps over a sample's frames.
    All weights are truncated normal(0, 0.01) with zero biases (``init="he"``: He, see
    ``layers.init_weights_``); the original applied no weight decay here. ``width``: channels between the two
    5×5 convolutions (the original's 32); the map keeps 128 channels whatever the width. It sets most of
    the cost (a 2-s sample is 24 frames): the CPU-sized presets use 8, about 4× cheaper, as they shrink the
    ResNet18.
    ``channels_last`` computes in the NHWC memory format (faster with oneDNN); the map is returned
    contiguous NCHW.
    """

    modality = Modality.ACOUSTIC
    head_prefixes = ("full1.",)

    def __init__(
        self,
        num_classes: int | None = None,
        channels_last: bool = True,
        init: str = "original",
        width: int = 32,
    ) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"DualCamNet width must be positive, got {width}")
        self.num_classes = num_classes
        self.channels_last = channels_last
        # The original's 7×1×1 Conv3d over [blocks, frames, 36, 48]; pixels are independent, so it is a
        # (7, 1) Conv2d over [blocks, channels, frames, pixels], which keeps channels_last inputs copy-free.
        self.conv1 = nn.Conv2d(MFCC_CHANNELS, MFCC_CHANNELS, (7, 1), padding=(3, 0))
        self.conv2 = nn.Conv2d(MFCC_CHANNELS, width, 5, padding=2)
        self.conv3 = nn.Conv2d(width, 128, 5, padding=2)
        self.full1 = nn.Linear(128, num_classes) if num_classes is not None else None
        init_weights_([m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))], init)

    def weight_decay_parameters(self) -> list[nn.Parameter]:
        """None: the original DualCamNet had no L2 regulariser."""
        return []

    def temporal_conv(self, x: torch.Tensor) -> torch.Tensor:
        """7×1×1 convolution over the 12 frames of each 1-s block, 12 → 12 channels, then ReLU."""
        n, c, h, w = x.shape
        if n % FRAMES_PER_BLOCK:
            raise ValueError(
                f"DualCamNet needs a multiple of {FRAMES_PER_BLOCK} frames (1-s blocks), got {n}"
            )
        blocks = x.reshape(n // FRAMES_PER_BLOCK, FRAMES_PER_BLOCK, c, h * w).transpose(1, 2)
        y = F.relu(self.conv1(blocks))
        return y.transpose(1, 2).reshape(n, -1, h, w)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The non-negative per-frame map [N,128,12,16]."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.temporal_conv(x)
        x = F.max_pool2d(F.relu(self.conv2(x)), 3, 3)
        return F.relu(self.conv3(x)).contiguous()  # NCHW for callers that .view(); a small copy

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embedding mode: the map; classifier: logits of the map summed over positions, and that sum."""
        fmap = self.feature_map(x)
        if self.full1 is None:
            return {"embedding": fmap}
        summed = fmap.sum(dim=(2, 3))
        return {"logits": self.full1(summed), "features": summed}
