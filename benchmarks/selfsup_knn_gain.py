"""Does audio–video self-supervision help? kNN class accuracy of HearNet audio features: trained vs random.

Simulates a small ACIVW-like dataset, converts it, makes lists and spectrogram statistics, trains the
``selfsup_audio_video`` preset's ``tiny`` variant, then extracts the audio feature y = l2n(Σ_p A) of the
``random`` and the ``best`` checkpoints (same network, same seed) and runs the original kNN protocol (k chosen
on validation).

    python benchmarks/selfsup_knn_gain.py --out /tmp/knn_gain --epochs 6

Last line: one JSON object with ``knn_random``, ``knn_trained``, ``gain`` (test accuracies) and timings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("knn_gain"), help="work folder (reused if present)")
    parser.add_argument("--videos-per-class", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra training config override (repeatable), e.g. --set optim.lr=1e-3",
    )
    args = parser.parse_args()

    from acoustic_ssl.data.convert import convert_dataset
    from acoustic_ssl.data.lists import make_lists
    from acoustic_ssl.data.stats import compute_stats
    from acoustic_ssl.evaluation.extract import extract_features, load_features
    from acoustic_ssl.evaluation.knn import knn_protocol
    from acoustic_ssl.simulate.dataset import simulate_dataset
    from acoustic_ssl.training.config import load_config
    from acoustic_ssl.training.run import train

    out = args.out.resolve()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    raw, records, lists, stats = out / "raw", out / "records", out / "lists", out / "stats"
    if not (lists / "testing.txt").is_file():
        simulate_dataset(raw, videos_per_class=args.videos_per_class, seconds=args.seconds, seed=args.seed)
        convert_dataset(raw, records)
        make_lists(records, lists, seed=args.seed)
        compute_stats(lists / "training.txt", stats)
    timings["data_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_dir = out / "run"
    cfg = load_config(
        "selfsup_audio_video",
        [
            f"data.train_list={lists / 'training.txt'}",
            f"data.valid_list={lists / 'validation.txt'}",
            f"data.test_list={lists / 'testing.txt'}",
            f"data.stats_dir={stats}",
            f"experiment.epochs={args.epochs}",
            f"experiment.seed={args.seed}",
            f"runtime.run_dir={run_dir}",
            "runtime.save_every=0",
            *args.overrides,
        ],
        variant="tiny",
    )
    resume = run_dir if (run_dir / "checkpoints" / "last.json").is_file() else None
    train(cfg, resume=resume)
    timings["train_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    results = {}
    for name in ("random", "best"):
        feats = {}
        for split in ("training", "validation", "testing"):
            path = extract_features(
                run_dir / "checkpoints" / name,
                lists / f"{split}.txt",
                out / "features" / f"{name}_{split}.npz",
                split=split,
                stats_dir=stats,
                maps=False,
                device="cpu",
            )
            arrays, _ = load_features(path)
            feats[split] = (arrays["audio"], arrays["labels"])
        knn = knn_protocol(*feats["training"], *feats["validation"], *feats["testing"])
        results[name] = knn["accuracy"]
        k, val = knn["k"], knn["val_accuracy"]
        print(f"{name:>6}: kNN test accuracy {knn['accuracy']:.3f} (k={k}, validation {val:.3f})")
    timings["evaluate_s"] = time.perf_counter() - t0
    summary = {
        "knn_random": results["random"],
        "knn_trained": results["best"],
        "gain": results["best"] - results["random"],
        "epochs": args.epochs,
        "overrides": args.overrides,
        **{k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
