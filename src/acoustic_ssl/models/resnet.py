"""ResNet18_v1 of the original video stream (spec §4.4): a truncated ResNet-18 that ends in a 12×16×128 map.

Only three residual blocks are kept (block4 was commented out in the original), and a 3×4 VALID convolution
maps the 14×19 stride-16 feature map of a 224×298 frame to the 12×16 grid of the acoustic images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models.base import Network
from acoustic_ssl.models.layers import BatchNorm2d, he_trunc_normal_, tf_same_max_pool2d

MAP_CHANNELS = 128


class ConvBN(nn.Sequential):
    """Bias-free convolution followed by BatchNorm (the contrib resnet arg scope), optional ReLU."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        relu: bool = True,
        bn_momentum: float = 0.003,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            BatchNorm2d(c_out, momentum=bn_momentum),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class BasicUnit(nn.Module):
    """relu(shortcut(x) + BN(conv3×3(ReLU(BN(conv3×3/s(x)))))), projection shortcut if the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv1 = ConvBN(c_in, c_out, 3, stride=stride, padding=1, bn_momentum=bn_momentum)
        self.conv2 = ConvBN(c_out, c_out, 3, padding=1, relu=False, bn_momentum=bn_momentum)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = ConvBN(c_in, c_out, 1, stride=stride, relu=False, bn_momentum=bn_momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.shortcut(x), inplace=True)


class ResNet18(Network):
    """Video network: [N,3,224,298] → non-negative map [N,128,12,16]; classifier mode → logits [N,C].

    Args:
        num_classes: None for the map (self-supervised) mode; otherwise global average pool of the map and a
            1×1 convolution to ``num_classes`` logits (with bias, no BN, L2-decayed like the original).
        output_stride: 16 (original: [N,3,224,298] → 14×19 before ``conv_map``) or 8 (block3 keeps stride 1,
            so half-resolution frames [N,3,112,149] give the same 12×16 map; a cheap CPU preset).
        width: channels of block1 (block2/block3 use 2× and 4×); 64 is the original. The map has 128 channels
            whatever the width.
        bn_batch_stats_at_eval: reproduce the original's BatchNorm, which used batch statistics even at
            validation/test/feature-extraction time (spec §7 item 13). Default False: running statistics.
        channels_last: compute in the channels_last (NHWC) memory format whatever the input's layout: oneDNN
            on CPU runs this ~20% faster (GPU tensor cores prefer it too); the map is returned as NCHW.
        bn_momentum: running-statistics update rate, 1 − TF decay (0.997 → 0.003 as the original). The
            running averages need ~1/momentum steps to settle; short runs should raise it (e.g. 0.1) or
            evaluate with ``bn_batch_stats_at_eval``.
    """

    modality = Modality.VIDEO
    head_prefixes = ("logits.",)

    def __init__(
        self,
        num_classes: int | None = None,
        output_stride: int = 16,
        width: int = 64,
        bn_batch_stats_at_eval: bool = False,
        bn_momentum: float = 0.003,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"ResNet18 output_stride must be 8 or 16, got {output_stride}")
        if width < 1:
            raise ValueError(f"ResNet18 width must be positive, got {width}")
        self.num_classes = num_classes
        self.output_stride = output_stride
        self.width = width
        self.channels_last = channels_last
        w1, w2, w3 = width, 2 * width, 4 * width
        m = bn_momentum
        stride3 = 2 if output_stride == 16 else 1
        self.conv1 = ConvBN(3, w1, 7, stride=2, padding=3, bn_momentum=m)
        self.block1 = nn.Sequential(BasicUnit(w1, w1, 1, m), BasicUnit(w1, w1, 1, m))
        self.block2 = nn.Sequential(BasicUnit(w1, w2, 2, m), BasicUnit(w2, w2, 1, m))
        self.block3 = nn.Sequential(BasicUnit(w2, w3, stride3, m), BasicUnit(w3, w3, 1, m))
        self.conv_map = ConvBN(w3, MAP_CHANNELS, (3, 4), bn_momentum=m)
        self.logits = nn.Conv2d(MAP_CHANNELS, num_classes, 1) if num_classes is not None else None
        self._init_weights()
        self.bn_batch_stats_at_eval = bn_batch_stats_at_eval

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                he_trunc_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def bn_batch_stats_at_eval(self) -> bool:
        """Whether BatchNorm normalises with batch statistics in eval mode (the original's behaviour)."""
        return self._bn_batch_stats_at_eval

    @bn_batch_stats_at_eval.setter
    def bn_batch_stats_at_eval(self, value: bool) -> None:
        self._bn_batch_stats_at_eval = bool(value)
        for module in self.modules():
            if isinstance(module, BatchNorm2d):
                module.batch_stats_at_eval = self._bn_batch_stats_at_eval

    def weight_decay_parameters(self) -> list[nn.Parameter]:
        """Every convolution weight (incl. shortcuts, conv_map and logits): the original's L2 5e-4 set."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Conv2d)]

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The non-negative [N,128,12,16] map (for 224×298 frames, or 112×149 with output_stride 8)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.conv1(x)
        x = tf_same_max_pool2d(x, 3, 2)
        x = self.block3(self.block2(self.block1(x)))
        return self.conv_map(x).contiguous()  # NCHW for callers that .view(); a small copy

    @property
    def input_size(self) -> tuple[int, int]:
        """Frames that give the 12×16 map: 224×298 at output stride 16, 112×149 at stride 8."""
        return (224, 298) if self.output_stride == 16 else (112, 149)

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embedding mode: the map; classifier: logits of the average-pooled map, and that pooled map."""
        fmap = self.feature_map(x)
        if self.logits is None:
            return {"embedding": fmap}
        pooled = fmap.mean(dim=(2, 3), keepdim=True)
        return {"logits": self.logits(pooled).flatten(1), "features": pooled.flatten(1)}
