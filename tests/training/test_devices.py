"""What training does on a GPU, decided and exercised on the CPU: device choice, bf16, channels_last,
SyncBatchNorm, the process-group backend, loader options and the device feed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from training_helpers import TINY_MODELS, step_records, tiny_config

from acoustic_ssl.device import pick_device
from acoustic_ssl.models import DualCamNet, HearNet, ResNet18
from acoustic_ssl.training import devices
from acoustic_ssl.training import distributed as ddp
from acoustic_ssl.training.run import train

GPU = torch.device("cuda", 1)
CPU = torch.device("cpu")


def test_auto_picks_this_process_gpu_when_cuda_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert pick_device("auto", local_rank=5) == torch.device("cuda", 1)  # torchrun's LOCAL_RANK, wrapped
    assert pick_device("cuda", local_rank=2) == torch.device("cuda", 2)
    assert pick_device("cuda:3") == torch.device("cuda", 3)
    assert pick_device("cpu") == CPU


@pytest.mark.parametrize(
    ("device", "requested", "capability", "expected"),
    [
        (GPU, True, (9, 0), True),  # Hopper
        (GPU, True, (8, 0), True),  # Ampere
        (GPU, True, (7, 0), False),  # Volta: emulated bf16, float32 instead
        (GPU, False, (9, 0), False),  # not asked
        (CPU, True, None, False),  # never on the CPU
    ],
)
def test_bf16_only_where_asked_and_native(
    monkeypatch: pytest.MonkeyPatch,
    device: torch.device,
    requested: bool,
    capability: tuple[int, int] | None,
    expected: bool,
) -> None:
    def fake_capability(asked: torch.device) -> tuple[int, int]:
        assert asked == device and capability is not None  # the CPU case must not ask CUDA
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", fake_capability)
    assert devices.use_bf16(device, requested) is expected


def test_autocast_runs_bf16_when_enabled() -> None:
    x, w = torch.randn(4, 8), torch.randn(8, 3)
    with devices.autocast(CPU, enabled=False):
        assert (x @ w).dtype == torch.float32
    with devices.autocast(CPU, enabled=True):  # the same context a GPU run enters
        assert (x @ w).dtype == torch.bfloat16


def test_channels_last_and_sync_batchnorm_only_on_cuda() -> None:
    def nets() -> nn.ModuleDict:
        return nn.ModuleDict({"video": ResNet18(width=8), "audio": HearNet(), "acoustic": DualCamNet()})

    cpu = devices.prepare_networks(nets(), CPU, channels_last=True, distributed=True)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in cpu.modules())  # gloo: per-process statistics
    assert all(p.is_contiguous() for p in cpu.parameters())

    gpu = devices.prepare_networks(nets(), GPU, channels_last=True, distributed=True)
    batchnorms = [m for m in gpu.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert batchnorms and all(isinstance(m, nn.SyncBatchNorm) for m in batchnorms)
    video_convs = [m for m in gpu["video"].modules() if isinstance(m, nn.Conv2d)]
    nhwc = [m.weight.is_contiguous(memory_format=torch.channels_last) for m in video_convs]
    assert video_convs and all(nhwc)
    audio_weights = [p for p in gpu["audio"].parameters() if p.dim() == 4]
    assert all(p.is_contiguous() for p in audio_weights)  # only the image networks change layout

    alone = devices.prepare_networks(nets(), GPU, channels_last=False, distributed=False)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in alone.modules())
    assert all(p.is_contiguous() for p in alone.parameters())


def test_nccl_only_for_gpu_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ddp.process_group_backend(GPU) == "nccl"
    assert ddp.process_group_backend(CPU) == "gloo"
    calls: dict[str, Any] = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(ddp.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(ddp.dist, "init_process_group", lambda name, **kw: calls.update(backend=name, **kw))
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.update(device=device))
    monkeypatch.setattr(ddp, "pick_device", lambda _preference, rank, setting: torch.device("cuda", rank))
    info = ddp.setup("auto")
    assert (calls["backend"], calls["device"], calls["rank"], calls["world_size"]) == ("nccl", GPU, 1, 2)
    assert info.device == GPU and info.distributed
    monkeypatch.setattr(ddp, "pick_device", lambda preference, local_rank, setting: CPU)
    calls.clear()
    ddp.setup("cpu")
    assert calls["backend"] == "gloo" and "device" not in calls


def test_preprocessing_goes_to_the_gpu_by_default() -> None:
    assert devices.preprocess_on_device("auto", GPU) and not devices.preprocess_on_device("auto", CPU)
    assert devices.preprocess_on_device("device", CPU) and not devices.preprocess_on_device("loader", GPU)
    with pytest.raises(ValueError, match="preprocess_on"):
        devices.preprocess_on_device("gpu", GPU)


def test_loader_options_pin_memory_for_a_gpu() -> None:
    assert devices.loader_options(GPU, 8) == {"num_workers": 8, "pin_memory": True, "prefetch_factor": 4}
    assert devices.loader_options(CPU, 0) == {"num_workers": 0, "pin_memory": False}


def test_device_feed_yields_every_batch_in_order_finished() -> None:
    batches = [{"x": torch.full((2,), float(i))} for i in range(3)]
    fed = list(devices.DeviceFeed(batches, CPU, lambda b: {**b, "y": b["x"] + 1}))
    assert [float(b["y"][0]) for b in fed] == [1.0, 2.0, 3.0]
    assert all(b["x"].device == CPU for b in fed)


@pytest.mark.parametrize("streams", ["audio", "acoustic"])
def test_training_with_preprocessing_on_the_device_matches_the_loader(
    streams: str, tiny_data: dict[str, Path], tmp_path: Path
) -> None:
    """``data.preprocess_on=device`` (a GPU's default) trains on the same inputs as the loader path."""
    models = {"video": TINY_MODELS["video"], streams: TINY_MODELS[streams]}
    losses = {}
    for where in ("loader", "device"):
        cfg = tiny_config(
            "selfsup", tiny_data, tmp_path / where, models=models, experiment={"epochs": 1},
            data={"preprocess_on": where, "batch_size": 6},
        )  # fmt: skip
        losses[where] = [r["train/loss"] for r in step_records(train(cfg))]
    assert losses["device"] == pytest.approx(losses["loader"], rel=1e-4, abs=1e-6)
