"""Benchmark: how fast ``acoustic-ssl simulate`` writes a dataset (128-channel audio, acoustic images, video).

Workload: the videos of the demo's ``tiny`` preset (all 10 classes, its video length, frame size, SNR and
scene composition: shared places and silent distractors, read from the packaged preset),
``--videos-per-class`` of them per class. Two measurements in one run:

1. **Speed**: ``simulate_dataset`` with ``--workers`` processes (default 2, the demo's); the real-time factor
   ``simulate_realtime_factor`` is seconds of audio written per second of wall-clock time (the one-time
   steering precompute is included, as a user pays it). On a shared machine the wall clock
   also counts other people's jobs, so the CPU time of the workers is measured as well:
   ``cpu_realtime_factor`` = audio seconds / (worker CPU seconds / workers), what the same cores achieve
   when they are free.
2. **Profile**: the same videos once more in this process (one worker, one thread), with the CPU time spent
   in each stage: scene drawing (placement and procedural sounds), source propagation (each source's centre
   signal and the microphones' residual-delay FIR products, and its one-off 8× upsampling), diffuse noise,
   sensor noise and quantisation, beamforming (power + MFCC), beamformer setup (the steering precompute; in
   the speed run the parent builds it once for the forked workers), sprite rendering (backgrounds, sprites,
   frame finishing) and file writing. Stages are timed by wrapping the simulator's functions, so the shares
   sum to the profiled total up to the loop overhead ("other").

Timings depend on the machine's load: the script prints ``os.getloadavg()`` beside them.
Last line: one JSON object with ``simulate_realtime_factor`` (and the profile shares).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")

import torch

from acoustic_ssl.demo.config import load_demo_config, preset_path
from acoustic_ssl.imaging import beamform
from acoustic_ssl.simulate import dataset, propagation, render, scene
from acoustic_ssl.simulate.dataset import SceneComposition

DEMO = load_demo_config(preset_path("tiny")).simulate
SECONDS, FRAME_SIZE, SNR_DB = DEMO.seconds, (DEMO.frame_size[0], DEMO.frame_size[1]), DEMO.snr_db
COMPOSITION = SceneComposition(
    locations=DEMO.locations, distractors=DEMO.distractors, extra_sources=DEMO.extra_sources
)


def simulate(out: Path, videos_per_class: int, seed: int, workers: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process and its finished worker processes) to simulate into
    ``out``."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    dataset.simulate_dataset(
        out,
        videos_per_class=videos_per_class,
        seconds=SECONDS,
        seed=seed,
        snr_db=SNR_DB,
        frame_size=FRAME_SIZE,
        workers=workers,
        composition=COMPOSITION,
    )
    return time.perf_counter() - start, _cpu_seconds() - cpu


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class StageTimer:
    """Accumulates exclusive CPU time per stage for wrapped functions (nested stages are subtracted)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []

    def _enter(self) -> None:
        self._stack.append([time.process_time(), 0.0])

    def _leave(self, stage: str) -> None:
        start, inner = self._stack.pop()
        elapsed = time.process_time() - start
        self.seconds[stage] += elapsed - inner
        if self._stack:
            self._stack[-1][1] += elapsed

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return original(*args, **kwargs)
            finally:
                self._leave(stage)

        setattr(owner, name, timed)

    def wrap_generator(self, owner: Any, name: str, stage: str) -> None:
        original: Callable[..., Iterator[Any]] = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            iterator = original(*args, **kwargs)
            while True:
                self._enter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._leave(stage)
                yield item

        setattr(owner, name, timed)


def profile(out: Path, videos_per_class: int, seed: int) -> tuple[float, dict[str, float]]:
    """Total CPU seconds and exclusive CPU seconds per stage of a one-worker, one-thread run in this
    process."""
    timer = StageTimer()
    timer.wrap(scene, "make_scene", "scene and sounds")
    timer.wrap(propagation.PointSource, "__init__", "source propagation")
    timer.wrap(propagation.PointSource, "render", "source propagation")
    timer.wrap(propagation.DiffuseNoise, "__init__", "diffuse noise")
    timer.wrap(propagation.DiffuseNoise, "next_frame", "diffuse noise")
    timer.wrap_generator(render, "microphone_frames", "sensor noise and quantisation")
    timer.wrap(beamform.Beamformer, "__init__", "beamformer setup")
    timer.wrap(beamform.Beamformer, "images", "beamforming")
    timer.wrap(render.FrameRenderer, "__init__", "sprite rendering")
    timer.wrap(render.FrameRenderer, "frame", "sprite rendering")
    for name in ("write_frame", "write_dc", "write_video_time", "write_text_atomic"):
        timer.wrap(render, name, "file writing")
    dataset._WORKER_STATE.clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _, total = simulate(out, videos_per_class, seed, workers=1)
    finally:
        torch.set_num_threads(threads)
    stages = dict(timer.seconds)
    stages["other"] = max(total - sum(stages.values()), 0.0)
    return total, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-class", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-profile", action="store_true", help="skip the one-worker profile")
    args = parser.parse_args()
    audio_seconds = 10 * args.videos_per_class * SECONDS
    with tempfile.TemporaryDirectory() as tmp:
        load_before = os.getloadavg()[0]
        wall, cpu = simulate(Path(tmp) / "speed", args.videos_per_class, args.seed, args.workers)
        factor, cpu_factor = audio_seconds / wall, audio_seconds / (cpu / args.workers)
        print(
            f"{audio_seconds} s of audio ({args.videos_per_class} x 10 classes x {SECONDS} s, frames "
            f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}) with {args.workers} workers: {wall:.1f} s wall ({factor:.2f}x "
            f"real time), {cpu:.1f} CPU-s ({cpu_factor:.2f}x real time on {args.workers} free cores); load "
            f"average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
        )
        result: dict[str, Any] = {
            "audio_seconds": audio_seconds,
            "workers": args.workers,
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "cpu_realtime_factor": round(cpu_factor, 2),
            "load_average": round(load_before, 2),
        }
        if not args.no_profile:
            total, stages = profile(Path(tmp) / "profile", args.videos_per_class, args.seed + 1)
            print(
                f"profile, one worker and one thread: {total:.1f} CPU-s "
                f"({audio_seconds / total:.2f}x real time)"
            )
            for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
                print(
                    f"  {stage:32s} {seconds:7.2f} s  {100 * seconds / total:5.1f} %  "
                    f"{1000 * seconds / audio_seconds:6.1f} ms per audio second"
                )
            result["profile_cpu_seconds"] = round(total, 2)
            result["profile_ms_per_audio_second"] = {
                k: round(1000 * v / audio_seconds, 1) for k, v in stages.items()
            }
    result["simulate_realtime_factor"] = round(factor, 2)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
