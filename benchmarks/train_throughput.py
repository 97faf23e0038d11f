"""Training-step throughput and model FLOPs utilisation (MFU) of every model pair, on random inputs.

A step = forward of every stream, attention distance + loss, backward, Adam step (the frozen acoustic
teacher of the transfer pair only runs forward, under no_grad). FLOPs of one step (forward + backward, matmuls
and convolutions) are counted with ``torch.utils.flop_counter.FlopCounterMode`` on an eager step; MFU =
counted FLOPs × steps/s divided by a peak measured in the same run. Step time = median of the timed steps.

The peak is one that no kernel of the step can exceed: the fastest of several kernels measured alone, in the
dtype of the run — a large GEMM and every convolution and matrix product the steps ran (forward and backward,
with their shapes, memory layouts and dtypes, recorded on the eager step and replayed on random data, best of
a few runs each). A step's FLOP rate is its kernels' FLOPs over their times plus everything else, so it cannot
beat its fastest kernel: MFU ≤ 100 % up to timing noise. (A float32 GEMM alone is no such peak: on AMD EPYC
MKL's SGEMM reached 190 GFLOP/s where oneDNN's 3×3 convolutions reached 352, and MFUs came out above 120 %.)
The output names the kernel that set the peak. With ``--compile`` inductor may run other kernels than the
eager ones measured, so the bound is then not guaranteed.

Also printed: the best step, and a CPU-time MFU (FLOPs per CPU-second of this process against the same
kernels' best FLOPs per CPU-second). On cores shared with other processes the wall-clock figures drop, and
with several OpenMP threads they collapse (threads wait for each other at every barrier); with ``--threads 1``
the CPU-time MFU stays a fair estimate of the idle-machine figure.

Usage::

    python benchmarks/train_throughput.py                  # CPU, batch 8, documented shapes, channels_last
    python benchmarks/train_throughput.py --small          # ResNet18 output_stride 8 on 112×149 frames
    python benchmarks/train_throughput.py --threads 1      # contention-robust CPU-time MFU on a busy machine
    python benchmarks/train_throughput.py --device cuda --bf16 --channels-last --batch 64

Last line: one JSON object {pair: {"samples_per_s": x, "mfu": y}, "peak": {"gflop_s", "source", "kernel"}}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

# Idle OpenMP threads sleep instead of spinning. Must be set before torch loads its OpenMP runtime. On cores
# shared with other processes, spinning threads burn the time slices their partners need to reach the next
# barrier: measured 2-20× slower steps with 2 threads at load ≈ 5 on 2 cores. On an idle machine a wake-up
# costs microseconds against millisecond-long convolutions.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from acoustic_ssl.models import (
    DualCamNet,
    HearNet,
    ResNet18,
    attention_distance,
    audio_map_from_vector,
    decay_parameter_groups,
)
from acoustic_ssl.training.losses import same_video_mask, transfer_loss, triplet_loss

PAIRS = ("audio_video", "acoustic_video", "transfer", "supervised_hearnet", "supervised_dualcamnet")
VIDEO_FRAMES = 2  # frames per 2-s sample seen by the ResNet (frames 0 and 23 in the original)
ACOUSTIC_FRAMES = 24  # 12 acoustic images per second × 2 s
SPECTROGRAM_FRAMES = 200
NUM_CLASSES = 10


@dataclass
class Setup:
    """One pair ready to train: its loss closure (inputs captured) and the Adam optimizer of its models."""

    forward_loss: Callable[[], torch.Tensor]
    optimizer: torch.optim.Optimizer

    def step(self, forward_loss: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """Zero grads, loss (``forward_loss`` or the eager one), backward, Adam step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = (forward_loss or self.forward_loss)()
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--batch", type=int, default=8, help="samples per step (2-s samples)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per pair")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per pair")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (peak = bf16 GEMM)")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ResNet18/DualCamNet compute in channels_last (default; --no-channels-last for NCHW)",
    )
    parser.add_argument("--small", action="store_true", help="ResNet18 output_stride 8 on 112×149 frames")
    parser.add_argument("--width", type=int, default=64, help="ResNet18 width (64 = original)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: all)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models (inductor)")
    parser.add_argument("--pairs", nargs="+", choices=PAIRS, default=list(PAIRS), help="pairs to run")
    return parser.parse_args()


@dataclass
class Timing:
    """Wall-clock seconds and process CPU seconds per thread of one timed call.

    On a CPU shared with other processes, wall time includes the time the scheduler gave to others; CPU time
    per thread only counts this process's work (plus some OpenMP spinning), so the CPU-time MFU is a
    contention-robust estimate of what an idle machine would give.
    """

    wall: float
    cpu: float


def timed(fn: Callable[[], object], device: torch.device) -> Timing:
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return Timing(time.perf_counter() - wall, (time.process_time() - cpu) / torch.get_num_threads())


@dataclass(frozen=True)
class TensorSpec:
    """Shape, strides and dtype of a kernel argument: enough to replay the kernel on random data."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    def make(self, device: torch.device) -> torch.Tensor:
        extent = 1 + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        storage = torch.randn(extent if all(self.shape) else 0, device=device).to(self.dtype)
        return storage.as_strided(self.shape, self.stride)


@dataclass(frozen=True)
class Kernel:
    """One matmul or convolution call of a step: an aten op and its arguments, tensors as specs."""

    op: Any
    args: tuple[Any, ...]

    def describe(self) -> str:
        tensors = [a for a in self.args if isinstance(a, TensorSpec)]
        shapes = ", ".join("x".join(map(str, t.shape)) for t in tensors)
        return f"{self.op.__name__} {str(tensors[0].dtype).removeprefix('torch.')} [{shapes}]"


KERNEL_OPS = {
    torch.ops.aten.convolution.default,
    torch.ops.aten.convolution_backward.default,
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten.baddbmm.default,
}


def _spec(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return TensorSpec(tuple(value.shape), tuple(value.stride()), value.dtype)
    if isinstance(value, (list, tuple)):
        return tuple(_spec(v) for v in value)
    return value


def _materialise(value: Any, device: torch.device) -> Any:
    if isinstance(value, TensorSpec):
        return value.make(device)
    if isinstance(value, tuple):
        return [_materialise(v, device) for v in value]
    return value


class KernelRecorder(TorchDispatchMode):
    """Records every distinct matmul/convolution (op, shapes, layouts, dtypes) that runs under it."""

    def __init__(self) -> None:
        super().__init__()
        self.kernels: dict[Kernel, None] = {}  # insertion-ordered set

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in KERNEL_OPS and not kwargs:  # these aten overloads take positional arguments only
            self.kernels[Kernel(func, tuple(_spec(a) for a in args))] = None
        return func(*args, **kwargs)


@dataclass
class Peak:
    """Best FLOP/s of one kernel run alone, by wall-clock and by CPU time, and what the kernel was."""

    name: str
    wall: float
    cpu: float


def _peak(name: str, flops: int, runs: list[Timing]) -> Peak:
    return Peak(name, flops / min(r.wall for r in runs), flops / max(min(r.cpu for r in runs), 1e-12))


def kernel_peak(kernel: Kernel, device: torch.device, reps: int = 3) -> Peak:
    """FLOP/s of ``kernel`` replayed alone on random data: best of ``reps`` runs after a warm-up."""
    args = [_materialise(a, device) for a in kernel.args]
    counter = FlopCounterMode(display=False)
    with counter:
        kernel.op(*args)  # also the warm-up (oneDNN builds its primitive on the first call)
    runs = [timed(lambda: kernel.op(*args), device) for _ in range(reps)]
    return _peak(kernel.describe(), counter.get_total_flops(), runs)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 2048, reps: int = 5) -> Peak:
    """Best achieved FLOP/s of an n×n GEMM, by wall-clock and by CPU time."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    runs = [timed(lambda: a @ b, device) for _ in range(reps + 1)][1:]
    return _peak(f"GEMM {str(dtype).removeprefix('torch.')} {n}x{n}", 2 * n**3, runs)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(pair: str, args: argparse.Namespace, device: torch.device) -> Setup:
    """Models, random inputs and the step closure of one pair."""
    b = args.batch
    frame_hw = (112, 149) if args.small else (224, 298)
    autocast: Callable[[], AbstractContextManager[object]] = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if args.bf16 else nullcontext
    )

    def prep(model: nn.Module) -> nn.Module:
        return model.to(device).train()

    def tensor(*shape: int) -> torch.Tensor:
        """Random NCHW input, as a data loader delivers it (the models switch layout themselves)."""
        return torch.randn(*shape, device=device)

    video_ids = torch.arange(b, device=device) // 2  # pairs of samples from the same recording
    same = same_video_mask(video_ids)
    labels = torch.randint(0, NUM_CLASSES, (b,), device=device)

    def video_net() -> nn.Module:
        stride = 8 if args.small else 16
        return prep(ResNet18(output_stride=stride, width=args.width, channels_last=args.channels_last))

    def video_map(net: nn.Module, frames: torch.Tensor) -> torch.Tensor:
        return net(frames).reshape(b, VIDEO_FRAMES, 128, 12, 16).mean(dim=1)

    def acoustic_map(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return net(images).reshape(b, ACOUSTIC_FRAMES, 128, 12, 16).mean(dim=1)

    frames = tensor(b * VIDEO_FRAMES, 3, *frame_hw)
    spectrogram = tensor(b, 257, SPECTROGRAM_FRAMES)
    acoustic = tensor(b * ACOUSTIC_FRAMES, 12, 36, 48)

    if pair in ("audio_video", "transfer"):
        video, audio = video_net(), prep(HearNet())
        teacher = (
            prep(DualCamNet(channels_last=args.channels_last)).eval().requires_grad_(False)
            if pair == "transfer"
            else None
        )
        trained: list[nn.Module] = [video, audio]

        def forward_loss() -> torch.Tensor:
            with autocast():
                v = video_map(video, frames)
                a = audio(spectrogram)
                d = attention_distance(audio_map_from_vector(a), v)
                if teacher is None:
                    return triplet_loss(d, same, 0.2, epoch=0)
                with torch.no_grad():
                    t = acoustic_map(teacher, acoustic)
                return transfer_loss(d, same, a, t, alpha=0.5, margin=0.2, epoch=0).loss

    elif pair == "acoustic_video":
        video, acoustic_net = video_net(), prep(DualCamNet(channels_last=args.channels_last))
        trained = [video, acoustic_net]

        def forward_loss() -> torch.Tensor:
            with autocast():
                d = attention_distance(acoustic_map(acoustic_net, acoustic), video_map(video, frames))
                return triplet_loss(d, same, 0.2, epoch=0)

    elif pair == "supervised_hearnet":
        net = prep(HearNet(num_classes=NUM_CLASSES))
        trained = [net]

        def forward_loss() -> torch.Tensor:
            with autocast():
                return nn.functional.cross_entropy(net(spectrogram).float(), labels)

    else:
        net = prep(DualCamNet(num_classes=NUM_CLASSES, channels_last=args.channels_last))
        trained = [net]

        def forward_loss() -> torch.Tensor:
            with autocast():
                logits = net(acoustic).reshape(b, ACOUSTIC_FRAMES, NUM_CLASSES).mean(dim=1)
                return nn.functional.cross_entropy(logits.float(), labels)

    optimizer = torch.optim.Adam(
        [g for m in trained for g in decay_parameter_groups(m, 5e-4)], lr=1e-5, fused=True
    )
    return Setup(forward_loss=forward_loss, optimizer=optimizer)


def step_flops(setup: Setup) -> tuple[int, list[Kernel]]:
    """Matmul/convolution FLOPs of one training step (forward + backward), counted on a real eager step, and
    the distinct kernels it ran."""
    counter, recorder = FlopCounterMode(display=False), KernelRecorder()
    with counter, recorder:
        setup.step()
    return counter.get_total_flops(), list(recorder.kernels)


def time_steps(setup: Setup, args: argparse.Namespace, device: torch.device) -> list[Timing]:
    """Timings of ``args.steps`` training steps after ``args.warmup`` untimed ones.

    With ``--compile`` the loss closure (both streams, distance, loss) is compiled as one graph, so inductor
    can fuse BatchNorm/ReLU and their backward; compilation happens in the warm-up steps.
    """
    forward_loss = torch.compile(setup.forward_loss) if args.compile else setup.forward_loss
    for _ in range(max(args.warmup, 2 if args.compile else 0)):
        setup.step(forward_loss)
    return [timed(lambda: setup.step(forward_loss), device) for _ in range(args.steps)]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    peak_dtype = torch.bfloat16 if args.bf16 else torch.float32
    print(
        f"device {device} threads {torch.get_num_threads()} batch {args.batch} bf16 {args.bf16} "
        f"channels_last {args.channels_last} small {args.small} width {args.width} compile {args.compile} "
        f"OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY')}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes share the cores)", flush=True)
    # Each pair's kernels are measured right after its steps and the GEMM after every pair, and the best rate
    # is kept: a peak taken while other processes steal the cores would underestimate it and inflate the MFU.
    peaks = [matmul_peak(device, peak_dtype)]
    measured: dict[str, tuple[int, list[Timing]]] = {}
    seen: set[Kernel] = set()
    for pair in args.pairs:
        setup = build(pair, args, device)
        flops, kernels = step_flops(setup)
        measured[pair] = (flops, time_steps(setup, args, device))
        fresh = [k for k in kernels if k not in seen]
        seen.update(fresh)
        peaks += [kernel_peak(k, device) for k in fresh]
        peaks.append(matmul_peak(device, peak_dtype))
        best = max(peaks, key=lambda p: p.wall)
        print(
            f"  {pair}: {len(measured[pair][1])} steps timed, {len(fresh)} new kernels measured alone; "
            f"peak so far {best.wall / 1e9:.1f} GFLOP/s ({best.name})",
            flush=True,
        )
    on_cpu = device.type == "cpu"  # CPU time says nothing about GPU kernels
    best, cpu_best = max(peaks, key=lambda p: p.wall), max(peaks, key=lambda p: p.cpu)
    peak, cpu_peak = best.wall, cpu_best.cpu
    print(
        f"peak {peak / 1e9:.1f} GFLOP/s, measured: the fastest of the {len(seen)} distinct convolutions and "
        f"matmuls of the steps and a {peak_dtype} GEMM, each run alone (best of a few runs): {best.name}; "
        f"the GEMM alone reached {max(p.wall for p in peaks if p.name.startswith('GEMM')) / 1e9:.1f}"
    )
    if on_cpu:
        print(f"CPU-time peak {cpu_peak / 1e9:.1f} GFLOP/s per CPU-second×threads: {cpu_best.name}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    results: dict[str, Any] = {}
    for pair, (flops, timings) in measured.items():
        median = statistics.median(t.wall for t in timings)
        fastest = min(t.wall for t in timings)
        cpu = statistics.median(t.cpu for t in timings)
        samples_per_s = args.batch / median
        mfu = flops / median / peak
        cpu_mfu = f", CPU-time {100 * flops / cpu / cpu_peak:5.1f}%" if on_cpu else ""
        print(
            f"{pair:22s} step {median * 1e3:8.1f} ms (best {fastest * 1e3:.1f}) {samples_per_s:7.2f} smp/s"
            f"  {flops / 1e9:7.1f} GFLOP/step  {flops / median / 1e9:6.1f} GFLOP/s  MFU {100 * mfu:5.1f}%"
            f"  (best step {100 * flops / fastest / peak:5.1f}%{cpu_mfu})"
        )
        results[pair] = {"samples_per_s": round(samples_per_s, 3), "mfu": round(mfu, 4)}
    results["peak"] = {"gflop_s": round(peak / 1e9, 1), "source": "measured", "kernel": best.name}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
