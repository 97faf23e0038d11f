"""What reverberation does to the acoustic images: localisation in free field vs rooms of RT60 0.3 and 0.6 s.

The indoor classes (drill, razor, hair dryer, hoover) are simulated at 20 dB SNR, the same seeds (so the same
scenes, sources and paths) in free field and in a 5 × 6 × 3 m room (``simulate --room all --room-size 5 6 3
--rt60 T``). For every on-screen frame of the class source, the peak of the stored image's energy (MFCC c0) is
compared with the ground-truth cell: the share within 2 cells (Chebyshev distance), as
``benchmarks/simulate_report.py`` measures it for free field, with a 95% interval (bootstrap over videos);
and, a finer measure of what the reflections add, the image contrast: peak over median of the per-cell energy
(inverse MFCC), in dB, averaged over the same frames.

Last line: one JSON object with ``within_2_cells`` ({"free_field", "rt60_0.3", "rt60_0.6"}), their
``ci95``, ``contrast_db`` and the number of frames.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

from acoustic_ssl.data.layout import GROUND_TRUTH_FILE, mfcc_frame_path
from acoustic_ssl.imaging.geometry import PinholeCamera
from acoustic_ssl.imaging.mfcc import mfcc_to_energy
from acoustic_ssl.simulate.dataset import Extras, simulate_dataset
from acoustic_ssl.simulate.room import Room

INDOOR = [4, 5, 6, 7]
CONDITIONS = {"free_field": None, "rt60_0.3": 0.3, "rt60_0.6": 0.6}


def hits_per_video(root: Path) -> tuple[list[list[bool]], list[float]]:
    """Per video, whether each on-screen frame's energy peak is within 2 cells of the class source; and each
    frame's contrast (dB)."""
    camera = PinholeCamera.load(root / "camera.json")
    videos, contrasts = [], []
    for video in sorted(root.glob("class_*/data_*")):
        hits = []
        with open(video / GROUND_TRUTH_FILE, newline="") as handle:
            for row in csv.DictReader(handle):
                if row["source_id"] != "0" or row["on_screen"] != "1":
                    continue
                mfcc = scipy.io.loadmat(mfcc_frame_path(video, int(row["frame"])))["MFCC"]
                energy = mfcc[..., 0]
                peak = np.unravel_index(np.argmax(energy), energy.shape)
                power = mfcc_to_energy(mfcc)
                contrasts.append(float(10 * np.log10(power.max() / np.median(power))))
                cell = camera.pixel_to_cell(float(row["x"]), float(row["y"]))
                hits.append(max(abs(int(peak[0]) - int(cell[0])), abs(int(peak[1]) - int(cell[1]))) <= 2)
        videos.append(hits)
    return videos, contrasts


def bootstrap(videos: list[list[bool]], draws: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the pooled hit rate, resampling videos."""
    rng = np.random.default_rng(seed)
    counts = np.array([[sum(v), len(v)] for v in videos], dtype=float)
    picks = rng.integers(len(videos), size=(draws, len(videos)))
    rates = counts[picks, 0].sum(1) / np.maximum(counts[picks, 1].sum(1), 1)
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-class", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")
    result: dict[str, dict[str, object]] = {"within_2_cells": {}, "ci95": {}, "frames": {}, "contrast_db": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, rt60 in CONDITIONS.items():
            rooms = {c: Room((5.0, 6.0, 3.0), rt60) for c in INDOOR} if rt60 else {}
            start = time.perf_counter()
            root = simulate_dataset(
                Path(tmp) / name,
                videos_per_class=args.videos_per_class,
                seconds=args.seconds,
                seed=args.seed,
                snr_db=20.0,
                classes=INDOOR,
                frame_size=(48, 64),
                workers=args.workers,
                extras=Extras(rooms=rooms),
            )
            videos, contrasts = hits_per_video(root)
            rate = sum(map(sum, videos)) / sum(map(len, videos))
            low, high = bootstrap(videos)
            result["within_2_cells"][name] = round(rate, 3)
            result["ci95"][name] = [round(low, 3), round(high, 3)]
            result["frames"][name] = sum(map(len, videos))
            result["contrast_db"][name] = round(float(np.mean(contrasts)), 2)
            print(
                f"{name:10s}: {100 * rate:5.1f}% of {sum(map(len, videos))} on-screen frames within 2 cells "
                f"(95% CI {100 * low:.1f}-{100 * high:.1f}), contrast {np.mean(contrasts):.1f} dB, "
                f"simulated in {time.perf_counter() - start:.0f} s"
            )
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
