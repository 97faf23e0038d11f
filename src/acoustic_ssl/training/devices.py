"""What training does differently on a GPU, each decision in one small function the CPU tests can call.

* **bf16**: autocast to bfloat16 only where asked (``runtime.bf16``) and only on a CUDA GPU that computes in
  bf16 natively (compute capability 8.0, Ampere, or later; older GPUs emulate it, slower than float32). Never
  on the CPU: its bf16 kernels are slower than float32 on most CPUs and would change the CPU results that
  resuming and the tests reproduce exactly.
* **channels_last**: the image networks' weights in NHWC memory on CUDA (``runtime.channels_last``), where the
  tensor cores want it; a no-op elsewhere.
* **SyncBatchNorm**: under DDP on CUDA, BatchNorm statistics over the global batch, as one process would
  compute them (SyncBatchNorm has no CPU kernel; gloo runs keep per-process statistics).
* **Preprocessing** (``data.preprocess_on``): ``auto`` finishes the samples on the device when it is a GPU
  (:meth:`acoustic_ssl.data.dataset.ACIVWDataset.finish`), in the loader's workers otherwise.
* **Feeding**: :class:`DeviceFeed` copies each batch from pinned memory on a side CUDA stream while the
  previous step computes, then finishes it on the device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from acoustic_ssl.data.layout import Modality

Batch = dict[str, torch.Tensor]
PREPROCESS_CHOICES = ("auto", "loader", "device")
BF16_MIN_CAPABILITY = (8, 0)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` is a CUDA GPU with bf16 tensor cores (compute capability ≥ 8.0)."""
    return device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) >= BF16_MIN_CAPABILITY


def use_bf16(device: torch.device, requested: bool) -> bool:
    """bf16 autocast for this run: asked for, and on a GPU that has it natively (module docstring)."""
    return requested and native_bf16(device)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """The forward passes' autocast context (bf16 when ``enabled``, a no-op otherwise)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def use_channels_last(device: torch.device, requested: bool) -> bool:
    """NHWC weights for the image networks: asked for, and on CUDA."""
    return requested and device.type == "cuda"


def preprocess_on_device(setting: str, device: torch.device) -> bool:
    """Whether samples are finished on the training device (``data.preprocess_on``)."""
    if setting not in PREPROCESS_CHOICES:
        raise ValueError(f"data.preprocess_on={setting!r}: expected {', '.join(PREPROCESS_CHOICES)}")
    return setting == "device" or (setting == "auto" and device.type == "cuda")


def prepare_networks(
    nets: nn.ModuleDict, device: torch.device, *, channels_last: bool, distributed: bool
) -> nn.ModuleDict:
    """``nets`` ready for ``device`` (not moved): NHWC image networks where :func:`use_channels_last`, and
    SyncBatchNorm under DDP on CUDA. Returns the (possibly converted) ModuleDict."""
    if use_channels_last(device, channels_last):
        for net in nets.values():
            if net.modality is Modality.VIDEO:  # image networks: NHWC weights for tensor cores
                net.to(memory_format=torch.channels_last)
    if distributed and device.type == "cuda":
        nets = nn.SyncBatchNorm.convert_sync_batchnorm(nets)
    return nets


def loader_options(device: torch.device, num_workers: int) -> dict[str, Any]:
    """DataLoader options for feeding ``device``: pinned host memory for a GPU (so the copy is a DMA that
    can run while the GPU computes), and four batches in flight per worker instead of two."""
    options: dict[str, Any] = {"num_workers": num_workers, "pin_memory": device.type == "cuda"}
    if num_workers > 0:
        options["prefetch_factor"] = 4
    return options


class DeviceFeed:
    """The batches of ``batches`` on ``device``, finished by ``finish`` (e.g. ``ACIVWDataset.finish``).

    On CUDA the next batch is copied on a side stream while the current one is being used (the loader pins
    it first), and the compute stream waits for that copy only when it takes the batch; elsewhere each batch
    is moved when it is taken. Batches are yielded in order; a consumer that stops early leaves at most one
    batch copied and unused.
    """

    def __init__(
        self, batches: Iterable[Batch], device: torch.device, finish: Callable[[Batch], Batch]
    ) -> None:
        self.batches, self.device, self.finish = batches, device, finish

    def __iter__(self) -> Iterator[Batch]:
        if self.device.type != "cuda":
            for batch in self.batches:
                yield self.finish({k: v.to(self.device) for k, v in batch.items()})
            return
        copy_stream = torch.cuda.Stream(self.device)
        iterator = iter(self.batches)

        def upload() -> Batch | None:
            batch = next(iterator, None)
            if batch is None:
                return None
            with torch.cuda.stream(copy_stream):
                return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

        ahead = upload()
        while ahead is not None:
            compute = torch.cuda.current_stream(self.device)
            compute.wait_stream(copy_stream)
            for tensor in ahead.values():
                tensor.record_stream(compute)  # its memory is not reused before the compute stream is done
            current, ahead = ahead, upload()
            yield self.finish(current)
