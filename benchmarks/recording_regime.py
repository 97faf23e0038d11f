"""Recording length or visits per recording? Self-supervised audio kNN on the same long recordings, 3 ways.

In the original's regime (the demo's ``tiny``) each training recording lasts 16 s and gives 8 samples per
epoch: a batch then holds other moments of the same recording as positives, *and* each recording is visited
8 times per epoch. This separates the two on the data of a finished demo folder (``--demo DIR``: its
training/validation lists, statistics, test set and run settings), for each self-supervised objective:

* ``blocks`` — the demo's run itself: the 8 fixed 2-s blocks of each recording every epoch (in-batch
  positives from other moments; 8 visits per recording per epoch);
* ``one_crop`` — one random 2-s crop per recording per epoch (``data.total_length=16``,
  ``number_of_crops=1``) for 8× the epochs: every moment is still seen over the epochs and the samples seen
  are as many, but a batch holds no other moment of a recording, so no positive but the sample itself;
* ``first_clip`` — only the first 2 s of each recording, 8× the epochs: as many visits and steps, but one
  moment per recording (what a short recording gives), no in-batch positive either.

``blocks − one_crop`` is the effect of in-batch cross-moment positives at equal visits; ``one_crop −
first_clip`` that of seeing many moments of a recording (its length) at equal visits. Each arm's audio kNN
(the demo's protocol: k on validation, accuracy on the test recordings) is compared with its own random
init and with ``blocks``, paired, with 95 % intervals clustered by test recording.

    python benchmarks/recording_regime.py --demo demo_out --out regime_out [--runs selfsup_video contrastive]

Last line: one JSON object ``{"<run>": {"<arm>": {"knn", "knn_ci95", "vs_random": {...}, "vs_blocks":
{...}}}, "seconds", "demo"}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

ARMS = ("blocks", "one_crop", "first_clip")


def first_clip_list(training: Path, out: Path) -> Path:
    """A list of the first two records (seconds) of every recording of ``training``."""
    from acoustic_ssl.data import read_list
    from acoustic_ssl.data.lists import write_list

    seen: dict[Path, list[Path]] = {}
    for record in read_list(training):
        seen.setdefault(Path(record).parent, []).append(Path(record))
    write_list(out, [r for records in seen.values() for r in sorted(records)[:2]])
    return out


def knn_outcomes(metrics: dict[str, Any]) -> list[int]:
    """Per test clip, whether the headline audio kNN was right."""
    return metrics["per_sample"]["knn_correct"][metrics["summary"]["audio_knn_feature"]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo", type=Path, required=True, help="a finished `acoustic-ssl demo` folder")
    parser.add_argument("--out", type=Path, default=Path("regime_out"), help="work folder (resumable)")
    parser.add_argument(
        "--runs", nargs="+", default=["selfsup_video", "contrastive"], help="demo runs to vary"
    )
    args = parser.parse_args()

    import numpy as np

    from acoustic_ssl.allocator import keep_freed_memory
    from acoustic_ssl.demo.cli import SETTINGS_FILE
    from acoustic_ssl.demo.config import parse_demo_config
    from acoustic_ssl.demo.layout import ROWS, eval_dir, run_dir
    from acoustic_ssl.evaluation.evaluate import evaluate_checkpoint
    from acoustic_ssl.evaluation.statistics import bootstrap_ci, paired_difference
    from acoustic_ssl.training.config import load_config
    from acoustic_ssl.training.run import train

    keep_freed_memory()  # as the acoustic-ssl command does
    started = time.perf_counter()
    demo = args.demo.resolve()
    settings = json.loads((demo / SETTINGS_FILE).read_text(encoding="utf-8"))
    config = parse_demo_config(settings["config_text"], Path(settings["config_source"]))
    seed = config.seed_list[0]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    train_config = json.loads((run_dir(demo, args.runs[0], seed) / "config.json").read_text(encoding="utf-8"))
    training_list = Path(train_config["data"]["train_list"])
    lists = {"training": training_list, "validation": Path(train_config["data"]["valid_list"]),
             "testing": Path(train_config["data"]["test_list"])}
    seconds = config.simulate.seconds
    first = first_clip_list(demo / "lists" / "training.txt", out / "first_clip.txt")
    raw = demo / ("raw_test" if config.separate_test_set else "raw")
    rows = {row.name: row for row in ROWS}
    result: dict[str, Any] = {"demo": str(demo), "seconds": 0.0}
    for run in args.runs:
        random_row = next(r for r in ROWS if r.run == run and r.checkpoint == "random")
        random = json.loads((eval_dir(demo, random_row, seed) / "metrics.json").read_text(encoding="utf-8"))
        blocks = json.loads((eval_dir(demo, rows[run], seed) / "metrics.json").read_text(encoding="utf-8"))
        videos = np.asarray(blocks["per_sample"]["video_ids"])
        labels = np.asarray(blocks["per_sample"]["labels"])
        source = run_dir(demo, run, seed) / "config.json"
        epochs = json.loads(source.read_text(encoding="utf-8"))["experiment"]["epochs"]
        arms = {"blocks": blocks}
        for arm, sets in (
            ("one_crop", [f"data.total_length={seconds}", "data.number_of_crops=1"]),
            ("first_clip", [f"data.train_list={first}"]),
        ):
            folder = out / run / arm
            metrics_file = folder / "evaluation" / "metrics.json"
            if not metrics_file.is_file():
                overrides = [*sets, f"experiment.epochs={epochs * seconds // 2}", f"runtime.run_dir={folder}"]
                cfg = load_config(source, overrides)
                train(cfg, resume="auto" if (folder / "checkpoints" / "last.json").is_file() else None)
                evaluate_checkpoint(folder, folder / "evaluation", lists=lists, raw_dir=raw, probe=False,
                                    ks=config.evaluate.knn_k, overlays=0, device="cpu")
            arms[arm] = json.loads(metrics_file.read_text(encoding="utf-8"))
        base, reference = np.array([knn_outcomes(random)], float), np.array([knn_outcomes(blocks)], float)
        result[run] = {}
        for arm, metrics in arms.items():
            outcome = np.array([knn_outcomes(metrics)], float)
            result[run][arm] = {
                "knn": float(outcome.mean()),
                "knn_ci95": bootstrap_ci(outcome, videos, labels).as_list(),
                "vs_random": paired_difference(outcome, base, videos, labels).as_dict(),
                "vs_blocks": paired_difference(outcome, reference, videos, labels).as_dict(),
            }
            found = result[run][arm]
            print(f"{run:14s} {arm:10s} kNN {100 * found['knn']:.1f} "
                  f"[{100 * found['knn_ci95'][0]:.1f}, {100 * found['knn_ci95'][1]:.1f}]  "
                  f"vs random {100 * found['vs_random']['difference']:+.1f} {found['vs_random']['verdict']}  "
                  f"vs blocks {100 * found['vs_blocks']['difference']:+.1f} {found['vs_blocks']['verdict']}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
