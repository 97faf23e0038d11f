"""The GPU path, measured in one prepared run of a few minutes on a fresh CUDA machine.

    python benchmarks/gpu_check.py                          # needs CUDA: without it, says so and exits 0
    python benchmarks/gpu_check.py --device cpu --dry-run   # the same code at tiny size on the CPU

It makes its own data and runs, in order:

1. **Beamforming** on the device: ``--beamform-seconds`` of 128-channel audio (three far-field sources) into
   36×48×12 MFCC images, NumPy frames in and NumPy images out as ``beamform`` and ``simulate`` use it
   (real-time factor = audio seconds / wall seconds, best of 3), the same with frames and images resident on
   the device, the CPU path for comparison, and the precision of one second against the float64 reference
   (power relative to each frame-and-bin image's maximum, MFCC relative to each frame's largest |value|).
2. **A small simulated set** at the ``paper`` preset's 240×320 frames (``simulate`` on the device, ``convert``
   to 224×298, statistics, ``pack``).
3. **The bf16 peak**: the best of a few large bf16 GEMMs (the device's measured dense bf16 rate).
4. **The ``paper`` preset's audio+video and acoustic+video runs** (``selfsup_video`` and ``selfsup_acoustic``
   of ``presets/demo/paper.toml``, batch 64, with bf16 autocast and channels_last on): the training step alone
   on a batch resident on the device (samples/s, matmul+convolution FLOPs counted on a real step, MFU = FLOP/s
   over the bf16 GEMM peak, peak memory), then one epoch of the packed set through the trainer's own loader
   (samples/s of the steps after the first two, and of the whole epoch), and the loader alone from GZIP
   records and from the packed folder with ``--workers`` workers, copied to the device and finished there
   (samples/s), beside the step's consumption.
5. The ``paper`` preset's epoch time implied by these rates (its training split holds ``PAPER_TRAIN_SAMPLES``
   2-s samples).

Last line: one JSON object with ``beamform_realtime_factor`` (host to host), ``train_samples_per_s`` (per
pair: the epoch's steady rate), ``mfu_bf16`` and ``peak_memory_gib`` (per pair, step alone),
``loader_samples_per_s`` (per source and pair), and the details. ``--dry-run`` figures say nothing about any
machine: the mode exists so that this script is tested code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch

PAIRS = {"audio_video": "selfsup_video", "acoustic_video": "selfsup_acoustic"}  # pair -> paper run
PAPER_TRAIN_SAMPLES = 6650  # paper preset: 10 classes x ~19 training videos x 70 s / 2-s samples
GIB = 2.0**30


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--device", default="cuda", help="torch device (default cuda; cpu only with --dry-run)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="tiny sizes: exercises every step, measures nothing"
    )
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1), help="loader workers")
    parser.add_argument("--classes", type=int, default=4, help="simulated classes")
    parser.add_argument("--videos-per-class", type=int, default=8, help="simulated videos per class")
    parser.add_argument("--seconds", type=int, default=30, help="seconds per simulated video")
    parser.add_argument("--beamform-seconds", type=int, default=20, help="audio beamformed for the timing")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps on a resident batch")
    parser.add_argument("--out", type=Path, default=None, help="keep the data and runs here (default: temp)")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.classes, args.videos_per_class, args.seconds = 2, 1, 4
        args.beamform_seconds, args.steps, args.workers = 1, 2, min(args.workers, 2)
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_wall(fn: Callable[[], object], device: torch.device, runs: int = 3) -> float:
    """Best wall-clock seconds of ``runs`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------- beamforming
def check_beamformer(device: torch.device, seconds: int, dry_run: bool) -> dict[str, Any]:
    from acoustic_ssl.imaging.beamform import Beamformer, direct_power
    from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
    from acoustic_ssl.imaging.mfcc import power_to_mfcc
    from acoustic_ssl.imaging.setup import ImagingSetup
    from beamform import synthetic_second

    geometry, camera = ArrayGeometry.default(), PinholeCamera()
    setup = ImagingSetup(geometry, camera, rows=9, cols=12) if dry_run else ImagingSetup(geometry, camera)
    second = synthetic_second(geometry, camera)  # (12, 128, 1024) float32
    frames = np.ascontiguousarray(np.tile(second, (seconds, 1, 1)))
    start = time.perf_counter()
    gpu = Beamformer(setup, device=device, tuning="accelerator")
    sync(device)
    setup_s = time.perf_counter() - start
    host_s = best_wall(lambda: gpu.images(frames), device)
    resident = torch.from_numpy(frames).to(device)
    resident_s = best_wall(lambda: gpu.images(resident), device)
    cpu = Beamformer(setup)
    cpu_s = best_wall(lambda: cpu.images(second), torch.device("cpu"), runs=2)
    reference = direct_power(second, setup)
    power = gpu.power(second)
    power_error = float((np.abs(power - reference) / reference.max(axis=(1, 2), keepdims=True)).max())
    reference_mfcc = power_to_mfcc(reference)
    mfcc_scale = np.abs(reference_mfcc).max(axis=(1, 2, 3), keepdims=True)
    mfcc_error = float((np.abs(gpu.images(second) - reference_mfcc) / mfcc_scale).max())
    result = {
        "realtime_factor": seconds / host_s,
        "resident_realtime_factor": seconds / resident_s,
        "cpu_realtime_factor": 1.0 / cpu_s,
        "power_rel_error": power_error,
        "mfcc_rel_error": mfcc_error,
        "setup_seconds": setup_s,
        "steering_mb": gpu.steering_bytes / 1e6,
        "frame_batch": gpu.frame_batch,
    }
    say(
        f"beamforming {setup.rows}x{setup.cols}, {seconds} s of audio on {device}: "
        f"{result['realtime_factor']:.0f}x real time host to host, {result['resident_realtime_factor']:.0f}x "
        f"resident on the device; CPU path {result['cpu_realtime_factor']:.1f}x; error vs float64: power "
        f"{power_error:.1e}, MFCC {mfcc_error:.1e}; steering {result['steering_mb']:.0f} MB built in "
        f"{setup_s:.2f} s"
    )
    return result


# ------------------------------------------------------------------------------------------------- the data
def make_data(root: Path, args: argparse.Namespace, device: torch.device) -> dict[str, Path]:
    """Simulated raw videos -> records -> lists -> statistics -> packed folder; returns the paths."""
    from acoustic_ssl.data.convert import convert_dataset
    from acoustic_ssl.data.lists import write_list
    from acoustic_ssl.data.packed import pack_records
    from acoustic_ssl.data.stats import compute_stats
    from acoustic_ssl.simulate.dataset import simulate_dataset

    stages: dict[str, float] = {}
    start = time.perf_counter()
    frame_size = (48, 64) if args.dry_run else (240, 320)
    simulate_dataset(
        root / "raw", videos_per_class=args.videos_per_class, seconds=args.seconds, seed=0, snr_db=10.0,
        classes=list(range(args.classes)), frame_size=frame_size, workers=args.workers, device=str(device),
    )  # fmt: skip
    stages["simulate"] = time.perf_counter() - start
    convert_dataset(root / "raw", root / "records", workers=args.workers)
    stages["convert"] = time.perf_counter() - start - stages["simulate"]
    records = sorted((root / "records").glob("class_*/data_*/Data_*.tfrecord"))
    write_list(root / "training.txt", records)
    first_video = sorted({p.parent for p in records})[0]
    write_list(root / "validation.txt", sorted(first_video.glob("Data_*.tfrecord")))
    compute_stats(root / "validation.txt", root / "stats")  # enough for z-scoring: speed is the point
    mark = time.perf_counter()
    pack_records(records, root / "packed")
    stages["pack"] = time.perf_counter() - mark
    seconds = args.classes * args.videos_per_class * args.seconds
    say(
        f"data: {seconds} s of simulated video ({len(records)} records) at {frame_size[0]}x{frame_size[1]}: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
    )
    return {
        "records": root / "training.txt",
        "validation": root / "validation.txt",
        "stats": root / "stats",
        "packed": root / "packed",
    }


# -------------------------------------------------------------------------------------------------- training
def bf16_gemm_peak(device: torch.device, dry_run: bool) -> float:
    """Best FLOP/s of large bf16 GEMMs on ``device``."""
    n = 256 if dry_run else 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    seconds = best_wall(lambda: [a @ b for _ in range(10)], device, runs=5) / 10
    peak = 2 * n**3 / seconds
    say(f"bf16 GEMM {n}x{n}: {peak / 1e12:.3g} TFLOP/s (the peak of the MFU)")
    return peak


def paper_config(pair: str, data: dict[str, Path], run_dir: Path, args: argparse.Namespace, train_list: Path):
    """The ``paper`` preset's training config of ``pair`` for the small set, one epoch, bf16 and NHWC on."""
    from acoustic_ssl.demo.config import load_demo_config, preset_path
    from acoustic_ssl.training.config import load_config

    demo = load_demo_config(preset_path("paper"))
    run = demo.runs[PAIRS[pair]]
    overrides = [
        *demo.train.overrides, *run.overrides,
        f"data.train_list={train_list}", f"data.valid_list={data['validation']}",
        f"data.stats_dir={data['stats']}", "experiment.epochs=1", "runtime.bf16=true",
        "runtime.channels_last=true", f"runtime.device={args.device}", f"data.num_workers={args.workers}",
        "runtime.save_every=0", "runtime.log_every=1",
        f"runtime.run_dir={run_dir}",
    ]  # fmt: skip
    if args.dry_run:  # the CPU-sized networks of the presets' tiny variant
        overrides += ["data.batch_size=2", "data.video_size=[112,149]", "models.video.width=16",
                      "models.video.output_stride=8"]  # fmt: skip
    return load_config(run.config, overrides)


@contextlib.contextmanager
def trainer_for(cfg: Any, run_dir: Path) -> Iterator[Any]:
    from acoustic_ssl.training import distributed as ddp
    from acoustic_ssl.training.run import Trainer

    info = ddp.setup(cfg.runtime.device)
    trainer = Trainer(cfg, run_dir, info, resume=False, command=["gpu_check"])
    try:
        yield trainer
    finally:
        trainer.log.close()


def step_alone(trainer: Any, steps: int, warmup: int) -> dict[str, Any]:
    """The training step on one batch resident on the device: samples/s, FLOPs, peak memory."""
    from torch.utils.flop_counter import FlopCounterMode

    device = trainer.info.device
    loader = trainer._loader(trainer.train_set, trainer.local_batch, None, 0)
    batch = next(iter(trainer._on_device(loader, trainer.train_set)))
    trainer.model.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(warmup):  # cuDNN autotuning, allocator
        trainer._step(batch)
    counter = FlopCounterMode(display=False)
    with counter:
        trainer._step(batch)
    seconds = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        trainer._step(batch)
        sync(device)
        seconds.append(time.perf_counter() - start)
    samples = int(batch["label"].shape[0])
    step_s = statistics.median(seconds)
    memory = torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None
    return {
        "samples_per_s": samples / step_s,
        "step_ms": 1e3 * step_s,
        "flops_per_step": counter.get_total_flops(),
        "batch": samples,
        "peak_memory_gib": memory,
        "bf16": trainer.bf16,
    }


def one_epoch(trainer: Any) -> dict[str, Any]:
    """One epoch through the trainer's loader: the steady rate (steps after the first two) and the whole."""
    from acoustic_ssl.training.stop import StopRequest

    device = trainer.info.device
    marks: list[float] = []
    account = trainer._account

    def timed_account(values: dict[str, float], samples: int) -> None:
        sync(device)
        marks.append(time.perf_counter())
        account(values, samples)

    trainer._account = timed_account
    start = time.perf_counter()
    with StopRequest() as stop:
        trainer.train_epoch(stop)
    sync(device)
    total = time.perf_counter() - start
    batch = trainer.local_batch
    steady = (len(marks) - 3) * batch / (marks[-1] - marks[2]) if len(marks) > 3 else None
    return {
        "steps": len(marks),
        "samples_per_s": steady,
        "epoch_samples_per_s": len(marks) * batch / total,
        "epoch_seconds": total,
    }


def loader_alone(cfg: Any, trainer: Any, source: Path, batches: int) -> float:
    """Samples/s of the trainer's loader on ``source``, copied to the device and finished there."""
    from acoustic_ssl.training.run import _dataset

    dataset = _dataset(
        cfg, str(source), "training", trainer.normalization, trainer.train_set.device_preprocessing
    )
    loader = trainer._loader(dataset, trainer.local_batch, None, 0)
    iterator = iter(trainer._on_device(loader, dataset))
    next(iterator)  # worker start-up is not the steady rate
    count, start = 0, time.perf_counter()
    for _, batch in zip(range(batches), iterator, strict=False):
        count += int(batch["label"].shape[0])
    sync(trainer.info.device)
    return count / (time.perf_counter() - start)


def check_training(
    data: dict[str, Path], root: Path, args: argparse.Namespace, peak: float
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for pair in PAIRS:
        cfg = paper_config(pair, data, root / "runs" / pair, args, data["packed"])
        with trainer_for(cfg, root / "runs" / pair) as trainer:
            step = step_alone(trainer, args.steps, warmup=1 if args.dry_run else 3)
            epoch = one_epoch(trainer)
            batches = 4 if args.dry_run else 12
            loaders = {
                source: loader_alone(cfg, trainer, data[source], batches) for source in ("records", "packed")
            }
        mfu = step["flops_per_step"] * step["samples_per_s"] / step["batch"] / peak
        results[pair] = {"step": step, "epoch": epoch, "loader": loaders, "mfu_bf16": mfu}
        memory = "" if step["peak_memory_gib"] is None else f", peak memory {step['peak_memory_gib']:.1f} GiB"
        steady = epoch["samples_per_s"]
        say(
            f"{pair}: step alone {step['samples_per_s']:.0f} samples/s ({step['step_ms']:.1f} ms per batch "
            f"of {step['batch']}, {step['flops_per_step'] / 1e12:.2f} TFLOP, bf16 {step['bf16']}) = MFU "
            f"{100 * mfu:.1f} %{memory}; epoch {epoch['steps']} steps: "
            + (f"{steady:.0f} samples/s steady, " if steady else "")
            + f"{epoch['epoch_samples_per_s']:.0f} whole; loader alone with {args.workers} workers: "
            f"GZIP records {loaders['records']:.0f}, packed {loaders['packed']:.0f} samples/s"
        )
    return results


def summary(beam: dict[str, Any], training: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    def rate(pair: str) -> float:
        epoch = training[pair]["epoch"]
        return epoch["samples_per_s"] or epoch["epoch_samples_per_s"]

    for pair in PAIRS:
        minutes = PAPER_TRAIN_SAMPLES / rate(pair) / 60
        say(
            f"paper preset, {pair}: {minutes:.1f} min per epoch at this rate "
            f"(20 epochs: {20 * minutes:.0f} min)"
        )
    return {
        "beamform_realtime_factor": round(beam["realtime_factor"], 1),
        "train_samples_per_s": {p: round(rate(p), 1) for p in PAIRS},
        "mfu_bf16": {p: round(training[p]["mfu_bf16"], 4) for p in PAIRS},
        "loader_samples_per_s": {
            s: {p: round(training[p]["loader"][s], 1) for p in PAIRS} for s in ("records", "packed")
        },
        "peak_memory_gib": {p: training[p]["step"]["peak_memory_gib"] for p in PAIRS},
        "step_samples_per_s": {p: round(training[p]["step"]["samples_per_s"], 1) for p in PAIRS},
        "paper_epoch_minutes": {p: round(PAPER_TRAIN_SAMPLES / rate(p) / 60, 2) for p in PAIRS},
        "beamform": {k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in beam.items()},
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "load_average": round(os.getloadavg()[0], 2),
        "dry_run": args.dry_run,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keys = (
        "beamform_realtime_factor",
        "train_samples_per_s",
        "mfu_bf16",
        "loader_samples_per_s",
        "peak_memory_gib",
    )
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        say(
            "gpu_check: no CUDA device is visible, so nothing was measured. Run it on a machine with a CUDA "
            "GPU (a CUDA build of torch 2.13), or `python benchmarks/gpu_check.py --device cpu --dry-run` to "
            "exercise the script at tiny size."
        )
        print(json.dumps({**dict.fromkeys(keys), "skipped": "no CUDA device"}))
        return 0
    if not args.device.startswith("cuda") and not args.dry_run:
        say(
            f"gpu_check: --device {args.device} measures nothing meaningful; add --dry-run to exercise the "
            "script"
        )
        print(json.dumps({**dict.fromkeys(keys), "skipped": f"--device {args.device} without --dry-run"}))
        return 0
    device = torch.device(args.device)
    started = time.perf_counter()
    say(
        f"gpu_check on {summary_device(device)}, {os.cpu_count()} CPUs, torch {torch.__version__}"
        + (" (dry run: tiny sizes, figures not meaningful)" if args.dry_run else "")
    )
    with tempfile.TemporaryDirectory(prefix="acoustic_ssl_gpu_check_") as scratch:
        root = args.out or Path(scratch)
        beam = check_beamformer(device, args.beamform_seconds, args.dry_run)
        data = make_data(root, args, device)
        peak = bf16_gemm_peak(device, args.dry_run)
        training = check_training(data, root, args, peak)
        result = summary(beam, training, args)
    say(f"gpu_check took {time.perf_counter() - started:.0f} s")
    print(json.dumps(result))
    return 0


def summary_device(device: torch.device) -> str:
    if device.type == "cuda":
        memory = torch.cuda.get_device_properties(device).total_memory / GIB
        return f"{torch.cuda.get_device_name(device)} ({memory:.0f} GiB)"
    return str(device)


if __name__ == "__main__":
    sys.exit(main())
