"""Benchmark: one second of 128-channel audio (12 frames) -> 12 acoustic images (512-bin power -> 12 MFCC).

Prints the real-time factor (audio seconds / compute seconds, best of ``--runs``; the one-time steering
precompute is timed separately), the precision against the float64 direct reference, the same for the
beamformer's accelerator tuning (the code a GPU runs: large batches and products) on the CPU, and, when
``acoular`` is importable, the time Acoular's BeamformerBase needs for the same 12 per-frame images (same
array, same 1728 directions as far-away grid points, same 1024-sample Hann frames) and the speed ratio.
Acoular is not a dependency: run with it on PYTHONPATH to get the ratio, otherwise ``acoular_ratio`` is null.

Precision: ``max_rel_error`` is the larger of (a) the 512-bin power error relative to each (frame, bin)
image's maximum and (b) the MFCC error relative to each frame's largest |MFCC|. Element-wise relative error is
not meaningful for power (deep nulls of the beam pattern are ~1e-9 of the peak); its median is printed too.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import torch

from acoustic_ssl.imaging.beamform import Beamformer, direct_power
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.imaging.mfcc import power_to_mfcc
from acoustic_ssl.imaging.setup import ImagingSetup

SAMPLE_RATE, N_FFT, FRAMES = 12288, 1024, 12
# (video pixel, kind): a broadband source, a harmonic tone complex, a band of noise near a corner
SOURCES = [((150.0, 120.0), "noise"), ((500.0, 300.0), "harmonic"), ((600.0, 440.0), "band")]


def synthetic_second(geometry: ArrayGeometry, camera: PinholeCamera, seed: int = 0) -> np.ndarray:
    """(12, 128, 1024) float32: far-field sources with exact frequency-domain delays, plus sensor noise."""
    rng = np.random.default_rng(seed)
    length = (FRAMES + 2) * N_FFT
    freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
    total = np.zeros((geometry.num_mics, length // 2 + 1), dtype=np.complex128)
    for (x, y), kind in SOURCES:
        spectrum = np.fft.rfft(rng.standard_normal(length))
        if kind == "harmonic":
            spectrum = np.zeros_like(spectrum)
            for harmonic in range(1, 6):
                spectrum[np.argmin(np.abs(freqs - 440.0 * harmonic))] = length / harmonic
        elif kind == "band":
            spectrum *= (freqs > 2000.0) & (freqs < 4000.0)
        lead = geometry.positions @ camera.pixel_rays(x, y) / 343.0
        total += spectrum[None] * np.exp(2j * np.pi * freqs[None] * lead[:, None])
    signals = np.fft.irfft(total, n=length, axis=-1)[:, N_FFT : (FRAMES + 1) * N_FFT]
    signals += 0.05 * signals.std() * rng.standard_normal(signals.shape)
    return signals.reshape(geometry.num_mics, FRAMES, N_FFT).transpose(1, 0, 2).astype(np.float32)


def best_time(fn, runs: int) -> float:
    """Best wall-clock seconds of ``runs`` calls."""
    return best_times(fn, runs)[0]


def best_times(fn, runs: int) -> tuple[float, float]:
    """Best wall-clock and best process-CPU seconds of ``runs`` calls (CPU time, summed over threads, is
    the steadier figure on a shared machine)."""
    wall = cpu = float("inf")
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def acoular_seconds(
    frames: np.ndarray, geometry: ArrayGeometry, camera: PinholeCamera, sample_frames: int
) -> float | None:
    """Seconds Acoular's BeamformerBase needs for 12 per-frame maps (bins 0-511, all 1728 directions),
    extrapolated from ``sample_frames`` timed frames after one warm-up frame; None without Acoular."""
    try:
        import acoular
    except ImportError:
        return None
    acoular.config.global_caching = "none"
    grid = acoular.ImportGrid(pos=(camera.grid_directions().reshape(-1, 3) * 1e4).T)  # far field
    mics = acoular.MicGeom(pos_total=geometry.positions.T)
    steer = acoular.SteeringVector(grid=grid, mics=mics, steer_type="classic",
                                   env=acoular.Environment(c=343.0))

    def one_frame(frame: np.ndarray) -> np.ndarray:
        samples = acoular.TimeSamples(data=frame.T.astype(np.float64), sample_freq=SAMPLE_RATE)
        spectra = acoular.PowerSpectra(source=samples, block_size=N_FFT, window="Hanning", cached=False)
        beamformer = acoular.BeamformerBase(freq_data=spectra, steer=steer, r_diag=False, cached=False)
        return np.asarray(beamformer.result[: N_FFT // 2])  # the result is lazy: indexing computes the bins

    one_frame(frames[0])  # numba compilation and steering set-up
    start = time.perf_counter()
    for frame in frames[:sample_frames]:
        one_frame(frame)
    return (time.perf_counter() - start) / sample_frames * len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="timed repetitions (best is kept)")
    parser.add_argument("--acoular-frames", type=int, default=2,
                        help="frames Acoular is timed on (its 12-frame time is extrapolated)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    geometry, camera = ArrayGeometry.default(), PinholeCamera()
    frames = synthetic_second(geometry, camera)
    start = time.perf_counter()
    beamformer = Beamformer(ImagingSetup(geometry, camera))
    precompute_s = time.perf_counter() - start
    print(f"steering precompute: {precompute_s:.2f} s, {beamformer.steering_bytes / 1e6:.0f} MB "
          f"(half grid: {beamformer.symmetric}, mic pairs: {beamformer.mic_pairs is not None}), "
          f"torch threads: {args.threads}")

    beamformer.images(frames)  # warm-up
    load = os.getloadavg()[0]
    images_s, images_cpu_s = best_times(lambda: beamformer.images(frames), args.runs)
    power_s = best_time(lambda: beamformer.power(frames), max(2, args.runs // 2))
    realtime = (FRAMES * N_FFT / SAMPLE_RATE) / images_s
    print(f"images (12 frames -> 12 MFCC images): {images_s * 1e3:.1f} ms  => {realtime:.1f}x real time "
          f"(CPU {images_cpu_s * 1e3:.1f} ms; 1-min load average {load:.1f} on {os.cpu_count()} CPUs)")
    print(f"power  (12 frames -> 36x48x512 float32): {power_s * 1e3:.1f} ms")

    # the general path: one microphone nudged by 1 mm, so the array is no longer point-symmetric
    nudged = geometry.positions.copy()
    nudged[0, 0] += 1e-3
    general = Beamformer(ImagingSetup(ArrayGeometry(nudged), camera))
    general.images(frames)
    general_s = best_time(lambda: general.images(frames), max(2, args.runs // 2))
    general_realtime = (FRAMES * N_FFT / SAMPLE_RATE) / general_s
    print(f"general array (no mic-pair folding, {general.steering_bytes / 1e6:.0f} MB steering): "
          f"{general_s * 1e3:.1f} ms => {general_realtime:.1f}x real time")

    start = time.perf_counter()
    reference = direct_power(frames, ImagingSetup(geometry, camera))
    reference_s = time.perf_counter() - start
    power = beamformer.power(frames)
    power_scale = reference.max(axis=(1, 2), keepdims=True)  # per frame and bin
    power_error = float((np.abs(power - reference) / power_scale).max())
    reference_mfcc = power_to_mfcc(reference)
    mfcc_scale = np.abs(reference_mfcc).max(axis=(1, 2, 3), keepdims=True)
    mfcc_error = float((np.abs(beamformer.images(frames) - reference_mfcc) / mfcc_scale).max())
    median_elementwise = float(np.median(np.abs(power - reference) / reference))
    print(f"float64 direct reference: {reference_s:.1f} s; power error (per-image max) {power_error:.2e}, "
          f"MFCC error (per-frame max) {mfcc_error:.2e}, "
          f"median element-wise power error {median_elementwise:.1e}")

    # the GPU's code (tuning="accelerator": 256-frame batches, products of up to 256 MiB) on this CPU
    accelerator = Beamformer(ImagingSetup(geometry, camera), tuning="accelerator")
    accelerator_s = best_time(lambda: accelerator.images(frames), max(2, args.runs // 2))
    accelerator_error = max(
        float((np.abs(accelerator.power(frames) - reference) / power_scale).max()),
        float((np.abs(accelerator.images(frames) - reference_mfcc) / mfcc_scale).max()),
    )
    accelerator_realtime = (FRAMES * N_FFT / SAMPLE_RATE) / accelerator_s
    print(f"accelerator tuning (the GPU code) on the CPU: {accelerator_s * 1e3:.1f} ms => "
          f"{accelerator_realtime:.1f}x real time, max relative error {accelerator_error:.2e}")

    with tempfile.TemporaryDirectory() as scratch:
        cwd = os.getcwd()
        os.chdir(scratch)  # Acoular may write cache/result folders into the working directory
        try:
            acoular_s = acoular_seconds(frames, geometry, camera, args.acoular_frames)
        finally:
            os.chdir(cwd)
    ratio = None if acoular_s is None else acoular_s / images_s
    if acoular_s is None:
        print("acoular: not importable (ratio null)")
    else:
        print(f"acoular BeamformerBase, 12 per-frame maps (from {args.acoular_frames} timed frames): "
              f"{acoular_s:.2f} s => ours is {ratio:.1f}x faster")

    print(json.dumps({
        "realtime_factor": round(realtime, 2),
        "images_seconds": round(images_s, 4),
        "images_cpu_seconds": round(images_cpu_s, 4),
        "load_average": round(load, 2),
        "power_seconds": round(power_s, 4),
        "general_array_realtime_factor": round(general_realtime, 2),
        "steering_precompute_seconds": round(precompute_s, 2),
        "steering_megabytes": round(beamformer.steering_bytes / 1e6, 1),
        "max_rel_error": max(power_error, mfcc_error),
        "power_rel_error": power_error,
        "mfcc_rel_error": mfcc_error,
        "accelerator_tuning_realtime_factor": round(accelerator_realtime, 2),
        "accelerator_tuning_rel_error": accelerator_error,
        "acoular_seconds": None if acoular_s is None else round(acoular_s, 3),
        "acoular_ratio": None if ratio is None else round(ratio, 2),
        "threads": args.threads,
    }))


if __name__ == "__main__":
    main()
