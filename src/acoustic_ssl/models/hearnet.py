"""HearNet of the original audio stream (spec §4.2): a 1-D convolutional net over spectrogram time.

Input [N,257,T]: the 257 STFT bins are channels, T frames (200 for 2 s). Three conv + max-pool(5/5)
stages reduce 200 frames to 1 step (pools drop the leftover frames, like TF VALID pooling: 8 → 1 at pool3
discards 3 frames, spec §7 item 15), then 1×1 convolutions and the fully connected head.

Any T ≥ 125 works: pool3 then leaves ⌊⌊⌊T/5⌋/5⌋/5⌋ ≥ 1 steps. When more than one step remains (T ≥ 250), the
1024-d conv5 features are averaged over time before the head, so a clip of any length gives one vector (the
original only ever saw T = 200 and squeezed the single step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models.base import Network
from acoustic_ssl.models.layers import init_weights_

FREQUENCY_BINS = 257
EMBEDDING_DIM = 128
MIN_FRAMES = 125


class HearNet(Network):
    """Spectrogram network: [N,257,T] → embedding [N,128] (linear fc2); classifier mode → logits [N,C].

    Embedding mode (self-supervised): fc2 is linear; the trainer applies ReLU before tiling it over the grid
    (``attention.audio_map_from_vector``) and uses the raw output for the transfer loss.
    Classifier mode (supervised / distillation student): fc2 has a ReLU (the 128-d feature, ``features``) and
    fc3 gives the logits. Convolutions are Xavier-uniform (slim defaults) and L2-decayed; the head is
    truncated normal(0, 0.01) without decay, as in the original; ``init="he"`` He-initialises every layer
    instead (see ``layers.init_weights_``: small datasets and short schedules train far better).
    """

    modality = Modality.AUDIO
    min_seconds = 2  # ≥ 125 spectrogram frames (three 5/5 poolings); 1 s gives 99
    head_prefixes = ("fc3.",)

    def __init__(self, num_classes: int | None = None, init: str = "original") -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv1d(FREQUENCY_BINS, 128, 11, padding=5)
        self.conv2 = nn.Conv1d(128, 256, 5, padding=2)
        self.conv3 = nn.Conv1d(256, 256, 3, padding=1)
        self.conv4 = nn.Conv1d(256, 1024, 1)
        self.conv5 = nn.Conv1d(1024, 1024, 1)
        self.fc1 = nn.Linear(1024, 1000)
        self.fc2 = nn.Linear(1000, EMBEDDING_DIM)
        self.fc3 = nn.Linear(EMBEDDING_DIM, num_classes) if num_classes is not None else None
        head = [fc for fc in (self.fc1, self.fc2, self.fc3) if fc is not None]
        if init == "original":
            for conv in self._convs():
                nn.init.xavier_uniform_(conv.weight)
                nn.init.zeros_(conv.bias)
            init_weights_(head, "original")
        else:
            init_weights_([*self._convs(), *head], init)

    def _convs(self) -> tuple[nn.Conv1d, ...]:
        return (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5)

    def weight_decay_parameters(self) -> list[nn.Parameter]:
        """conv1–conv5 weights (the original's L2 5e-4 set); biases and the head are not decayed."""
        return [conv.weight for conv in self._convs()]

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Convolutional part: [N,257,T] → [N,1024], averaged over the steps left after pool3."""
        if x.dim() != 3 or x.shape[1] != FREQUENCY_BINS:
            raise ValueError(f"HearNet expects [N,{FREQUENCY_BINS},T] spectrograms, got {tuple(x.shape)}")
        if x.shape[2] < MIN_FRAMES:
            raise ValueError(
                f"HearNet needs at least {MIN_FRAMES} frames (three 5/5 poolings), got {x.shape[2]}"
            )
        x = F.max_pool1d(F.relu(self.conv1(x)), 5)
        x = F.max_pool1d(F.relu(self.conv2(x)), 5)
        x = F.max_pool1d(F.relu(self.conv3(x)), 5)
        x = F.relu(self.conv5(F.relu(self.conv4(x))))
        return x.mean(dim=2)

    def _fc2(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(self.trunk(x))))

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embedding mode: the linear fc2 output; classifier: logits and ReLU(fc2) (``hear_net/fc2``)."""
        out = self._fc2(x)
        if self.fc3 is None:
            return {"embedding": out}
        features = F.relu(out)
        return {"logits": self.fc3(features), "features": features}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """128-d feature: ReLU(fc2) in classifier mode, else the linear embedding."""
        out = self.outputs(x)
        return out["embedding"] if self.fc3 is None else out["features"]
