"""Process-group setup for ``torchrun`` and the collectives the trainers need.

``torchrun --nproc_per_node N`` (or any launcher exporting RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR
/ MASTER_PORT) makes every process train on 1/N of each global batch: NCCL with one GPU per process, gloo on
CPU.

The triplet losses compare every audio with every video of the *global* batch, so embeddings are
all-gathered **with gradient** (``torch.distributed.nn.functional.all_gather``) and every process computes the
same global loss. The all-gather's backward sums the gradient that each process sends to each slice, i.e.
every process gets N × ∂L/∂(its embeddings); DDP then averages parameter gradients over the N processes, which
yields exactly the single-process gradient of the global-batch loss (tested with 2 gloo processes). Per-sample
losses (cross-entropy, distillation) are local means whose DDP average is the global mean, as long as every
process has the same local batch size (the ``DistributedSampler`` pads the epoch to a multiple of N for that).
BatchNorm statistics are per process unless CUDA SyncBatchNorm is used (it is, for DDP on GPUs).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from acoustic_ssl.device import pick_device
from acoustic_ssl.errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job and its compute device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return int(value) if value is not None else default
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def process_group_backend(device: torch.device) -> str:
    """NCCL for processes that each drive a CUDA GPU, gloo for everything else (CPU)."""
    return "nccl" if device.type == "cuda" else "gloo"


def setup(device_preference: str) -> DistInfo:
    """Join the process group announced by the launcher's environment (no-op for a single process)."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = pick_device(device_preference, local_rank, setting="runtime.device")
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            process_group_backend(device),
            init_method="env://",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(minutes=60),  # rank 0 validates alone while the others wait
        )
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def teardown(info: DistInfo) -> None:
    """Leave the process group if this module joined one."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()


_local_only = False


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Within the block the collectives below act as if this process were alone (rank-0-only validation)."""
    global _local_only
    previous, _local_only = _local_only, True
    try:
        yield
    finally:
        _local_only = previous


def _alone() -> bool:
    return _local_only or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` [b, ...] of every process along dim 0, differentiably (identity when alone)."""
    if _alone():
        return tensor
    import warnings

    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of a private API; still the differentiable one
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(tensor.contiguous())
    return torch.cat(parts, dim=0)


def gather_many_with_grad(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``gather_with_grad`` of several [b, ...] tensors through ONE collective.

    Several differentiable all-gathers in one graph would each launch a collective from the backward pass, in
    an order the autograd engine does not promise to keep identical on every process; one gather of the
    concatenated rows keeps the backward collectives paired.
    """
    if _alone():
        return tensors
    b = tensors[0].shape[0]
    flat = torch.cat([t.reshape(b, -1).float() for t in tensors], dim=1)
    gathered = gather_with_grad(flat)
    sizes = [t[0].numel() for t in tensors]
    parts = torch.split(gathered, sizes, dim=1)
    return tuple(p.reshape(-1, *t.shape[1:]).to(t.dtype) for p, t in zip(parts, tensors, strict=True))


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` of every process along dim 0, without gradient (identity when alone)."""
    if _alone():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce(tensor: torch.Tensor, op: str = "mean") -> torch.Tensor:
    """Mean / max / sum of ``tensor`` over processes (returned; identity when alone)."""
    if _alone():
        return tensor
    out = tensor.clone()
    reduce_op = {"mean": dist.ReduceOp.SUM, "sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op]
    dist.all_reduce(out, op=reduce_op)
    return out / dist.get_world_size() if op == "mean" else out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every process (e.g. the run directory name)."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    """Wait for every process (no-op when alone)."""
    if info.distributed:
        dist.barrier()
