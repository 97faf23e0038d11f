"""Class-difficulty and localisation report of the simulator.

1. For each SNR, simulate a small audio-only dataset, take microphone 0 (the mono track the models see),
   cut it into 1-s segments, describe each by the mean and standard deviation over time of its 24 log-mel
   energies (0-6400 Hz), and train a logistic regression (scikit-learn, standardised features) on the
   segments of training videos; accuracy on the segments of held-out videos (split by video, stratified
   by class).
2. At 20 dB, simulate a small dataset with acoustic images and measure how often the energy peak (MFCC
   coefficient 0 of the stored image) lies within 2 cells of the ground-truth source cell, per class.

Prints tables; the last line is one JSON object with ``knn_or_logreg_accuracy_by_snr`` (plus
``logreg_accuracy_by_snr_and_class``), ``localization_within_2_cells_by_class`` and
``localization_within_2_cells``. Usage: ``python benchmarks/simulate_report.py [--videos-per-class 6] ...``
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

from acoustic_ssl.data.layout import (
    CLASS_NAMES,
    FRAMES_PER_SECOND,
    GROUND_TRUTH_FILE,
    NUM_CLASSES,
    audio_frame_path,
    mfcc_frame_path,
)
from acoustic_ssl.imaging.geometry import PinholeCamera
from acoustic_ssl.simulate.dataset import simulate_dataset
from acoustic_ssl.simulate.sounds import log_mel_means


def mono_segments(video_dir: Path, seconds: int) -> list[np.ndarray]:
    """Microphone 0 of a raw video, as one float array per second."""
    frames = [
        np.fromfile(audio_frame_path(video_dir, k), dtype="<i4").reshape(128, 1024, order="F")[0]
        for k in range(1, seconds * FRAMES_PER_SECOND + 1)
    ]
    audio = np.concatenate(frames).astype(np.float64)
    return np.split(audio, seconds)


def segment_features(segment: np.ndarray) -> np.ndarray:
    """Log-mel means and standard deviations over 128-sample-hop frames (level-normalised by mean removal)."""
    n_fft = 256
    frames = [log_mel_means(segment[i : i + 1024], n_fft=n_fft) for i in range(0, len(segment) - 1023, 512)]
    profile = np.stack(frames)
    means = profile.mean(axis=0)
    return np.concatenate([means - means.mean(), profile.std(axis=0)])


def classification(
    root: Path, seconds: int, videos_per_class: int, seed: int
) -> tuple[float, dict[str, float]]:
    """Logistic-regression accuracy (overall, per class) on held-out videos."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    test_videos = {
        c: set(rng.choice(videos_per_class, max(videos_per_class // 3, 1), replace=False).tolist())
        for c in range(NUM_CLASSES)
    }
    x_train, y_train, x_test, y_test = [], [], [], []
    for c in range(NUM_CLASSES):
        for video in range(videos_per_class):
            feats = [
                segment_features(s) for s in mono_segments(root / f"class_{c}" / f"data_{video:03d}", seconds)
            ]
            if video in test_videos[c]:
                x_test += feats
                y_test += [c] * len(feats)
            else:
                x_train += feats
                y_train += [c] * len(feats)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    model.fit(np.array(x_train), np.array(y_train))
    predicted = model.predict(np.array(x_test))
    y_test_arr = np.array(y_test)
    per_class = {CLASS_NAMES[c]: float(np.mean(predicted[y_test_arr == c] == c)) for c in range(NUM_CLASSES)}
    return float(np.mean(predicted == y_test_arr)), per_class


def localisation(root: Path) -> tuple[dict[str, float], dict[int, list[bool]]]:
    """Fraction of on-screen frames whose c0 peak is within 2 cells (Chebyshev) of the truth, per class."""
    camera = PinholeCamera.load(root / "camera.json")
    hits: dict[int, list[bool]] = {c: [] for c in range(NUM_CLASSES)}
    for video in sorted(root.glob("class_*/data_*")):
        with open(video / GROUND_TRUTH_FILE, newline="") as handle:
            for row in csv.DictReader(handle):
                if row["source_id"] != "0" or row["on_screen"] != "1":
                    continue
                energy = scipy.io.loadmat(mfcc_frame_path(video, int(row["frame"])))["MFCC"][..., 0]
                peak = np.unravel_index(np.argmax(energy), energy.shape)
                cell = camera.pixel_to_cell(float(row["x"]), float(row["y"]))
                hit = max(abs(int(peak[0]) - int(cell[0])), abs(int(peak[1]) - int(cell[1]))) <= 2
                hits[int(row["class"])].append(bool(hit))
    return {CLASS_NAMES[c]: float(np.mean(h)) if h else float("nan") for c, h in hits.items()}, hits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--snrs", type=float, nargs="+", default=[0.0, 10.0, 20.0, 30.0])
    parser.add_argument("--videos-per-class", type=int, default=6, help="audio-only videos per class and SNR")
    parser.add_argument("--seconds", type=int, default=3, help="seconds per audio-only video")
    parser.add_argument("--loc-videos-per-class", type=int, default=3, help="videos per class with images")
    parser.add_argument("--loc-seconds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the simulated data here (default: temp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        accuracy, per_class_accuracy = {}, {}
        for snr in args.snrs:
            start = time.time()
            root = simulate_dataset(
                base / f"audio_snr{snr:g}",
                videos_per_class=args.videos_per_class,
                seconds=args.seconds,
                seed=args.seed,
                snr_db=snr,
                workers=args.workers,
                write_images=False,
            )
            simulated = time.time() - start
            accuracy[f"{snr:g}"], per_class_accuracy[f"{snr:g}"] = classification(
                root, args.seconds, args.videos_per_class, args.seed
            )
            print(
                f"SNR {snr:5g} dB: logistic-regression accuracy {accuracy[f'{snr:g}']:.3f} "
                f"(simulated {NUM_CLASSES * args.videos_per_class * args.seconds} s of audio "
                f"in {simulated:.0f} s)"
            )

        print("\nper-class accuracy (held-out videos, 1-s segments of mic 0):")
        print(f"{'class':<14}" + "".join(f"{s + ' dB':>9}" for s in per_class_accuracy))
        for name in CLASS_NAMES:
            print(f"{name:<14}" + "".join(f"{per_class_accuracy[s][name]:>9.2f}" for s in per_class_accuracy))

        start = time.time()
        loc_root = simulate_dataset(
            base / "images_snr20",
            videos_per_class=args.loc_videos_per_class,
            seconds=args.loc_seconds,
            seed=args.seed,
            snr_db=20.0,
            frame_size=(60, 80),
            workers=args.workers,
        )
        simulated = time.time() - start
        by_class, hits = localisation(loc_root)
        overall = float(np.mean([h for values in hits.values() for h in values]))
        video_seconds = NUM_CLASSES * args.loc_videos_per_class * args.loc_seconds
        print(
            f"\nlocalisation at 20 dB (c0 peak within 2 cells of the truth, on-screen frames; "
            f"{video_seconds} s of video simulated in {simulated:.0f} s):"
        )
        for name, value in by_class.items():
            print(f"{name:<14}{value:>7.3f}")
        print(f"{'all':<14}{overall:>7.3f}")

    print(
        json.dumps(
            {
                "knn_or_logreg_accuracy_by_snr": accuracy,
                "logreg_accuracy_by_snr_and_class": per_class_accuracy,
                "localization_within_2_cells_by_class": by_class,
                "localization_within_2_cells": overall,
            }
        )
    )


if __name__ == "__main__":
    main()
