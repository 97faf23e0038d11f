"""Two gloo processes (torchrun's environment on 127.0.0.1) give the single-process result on the global
batch."""

from __future__ import annotations

import copy
import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from training_helpers import TINY_MODELS, tiny_config_dict

from acoustic_ssl.data.layout import Modality
from acoustic_ssl.models import Network
from acoustic_ssl.training.config import config_from_dict
from acoustic_ssl.training.run import train

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _AudioNet(Network):
    """[B,257,T] → [B,128]: a small stand-in for HearNet (the check is about gathering, not the network)."""

    modality = Modality.AUDIO

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(257, 128, 4)

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embedding": self.conv(x).mean(dim=2)}


class _MapNet(Network):
    """[N,C,H,W] → a non-negative [N,128,H,W] map: stand-in for ResNet18 (video) or DualCamNet (acoustic)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 128, 1)

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embedding": torch.relu(self.conv(x))}


class _VideoNet(_MapNet):
    modality = Modality.VIDEO


class _AcousticNet(_MapNet):
    modality = Modality.ACOUSTIC


def _check_gathered_gradients(rank: int) -> None:
    """DDP + all-gather-with-grad on half batches == one process on the whole batch (loss and gradients), for
    the triplet and the contrastive objectives (their projection heads included).

    Small stand-in networks keep the float32 comparison well conditioned: the all-gather's backward sums every
    process's contribution (N × ∂L/∂x for its own embeddings) and DDP's 1/N average restores ∂L/∂θ.
    """
    import torch.distributed as dist

    from acoustic_ssl.training.distributed import local_only
    from acoustic_ssl.training.objectives import (
        Contrastive,
        ContrastiveTransfer,
        Objective,
        SelfSupervised,
        Transfer,
    )

    torch.manual_seed(0)
    batch = {
        "video": torch.randn(6, 2, 3, 12, 16),
        "spectrogram": torch.randn(6, 257, 4),
        "acoustic": torch.randn(6, 12, 12, 36, 48),  # 12 frames of 12 MFCC images
        "video_id": torch.tensor([1, 1, 2, 3, 3, 4]),  # positives split across the two processes
    }
    local = {k: v[rank::WORLD] for k, v in batch.items()}
    teacher = _AcousticNet(12)
    for kind in ("selfsup", "transfer", "contrastive", "contrastive_transfer"):
        nets = {"audio": _AudioNet(), "video": _VideoNet(3)}
        objective: Objective
        if kind == "selfsup":
            objective = SelfSupervised(nets, hard_from_epoch=4)
        elif kind == "transfer":
            objective = Transfer(nets, teacher, alpha=0.3, hard_from_epoch=4)
        elif kind == "contrastive":
            objective = Contrastive(nets, temperature=0.1)
        else:
            objective = ContrastiveTransfer(nets, teacher, temperature=0.1, alpha=0.3)
        reference = copy.deepcopy(objective)
        ddp_model = torch.nn.parallel.DistributedDataParallel(objective)
        for epoch in (0, 10):  # batch-all, then batch-hard
            objective.zero_grad()
            reference.zero_grad()
            loss, _ = objective.loss(ddp_model(local), local, epoch)
            loss.backward()
            with local_only():
                ref_loss, _ = reference.loss(reference(batch), batch, epoch)
            ref_loss.backward()
            # the loss the trainer logs: the mean over processes (a term over local samples, as the transfer's
            # localisation term, differs per process; gathered terms do not)
            logged = loss.detach().clone()
            dist.all_reduce(logged)
            # float32 sums in another order: tolerances on the scale of the margin and of each gradient
            # tensor, not relative per coordinate (many coordinates are near zero)
            torch.testing.assert_close(logged / WORLD, ref_loss, rtol=0, atol=1e-5)
            for (name, p), q in zip(objective.named_parameters(), reference.parameters(), strict=True):
                scale = q.grad.abs().max().item()
                torch.testing.assert_close(
                    p.grad, q.grad, rtol=0, atol=1e-4 * scale, msg=lambda m, n=f"{kind} {name}": f"{n}: {m}"
                )
    dist.barrier()


def _worker(rank: int, port: int, raw: dict[str, Any]) -> None:
    import torch.distributed as dist

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
        ACOUSTIC_SSL_NO_PROGRESS="1",
    )
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=WORLD)
    _check_gathered_gradients(rank)
    train(config_from_dict(raw))  # joins the existing group, leaves it at the end


def test_two_process_ddp_matches_one_process(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    sections = {
        "models": {"model": {**TINY_MODELS["acoustic"], "num_classes": 3}},
        "data": {"sample_length": 1, "total_length": 1, "batch_size": 4},
        "experiment": {"epochs": 1},
    }
    single = tiny_config_dict("supervised", tiny_data, tmp_path / "single", **sections)
    multi = tiny_config_dict("supervised", tiny_data, tmp_path / "multi", **sections)
    mp.start_processes(_worker, args=(_free_port(), multi), nprocs=WORLD, start_method="spawn")
    train(config_from_dict(single))

    a = load_file(str(tmp_path / "single" / "checkpoints" / "last.safetensors"))
    b = load_file(str(tmp_path / "multi" / "checkpoints" / "last.safetensors"))
    start = load_file(str(tmp_path / "single" / "checkpoints" / "random.safetensors"))
    weights = [k for k in a if k.startswith("model/")]
    assert weights and all(k in b for k in weights)
    for key in weights:
        # Same training updates up to float rounding, which Adam can blow up to a few·lr on coordinates whose
        # gradient is ~0: compare the whole update of each tensor, not single coordinates.
        update_a, update_b = a[key] - start[key], b[key] - start[key]
        assert update_a.norm() > 0, key
        assert (update_a - update_b).norm() <= 0.02 * update_a.norm(), key
    import json

    meta = json.loads((tmp_path / "multi" / "meta.json").read_text())
    assert meta["world_size"] == WORLD
