"""Ordinary videos end to end: generated clips -> import-video -> train (``tiny`` preset) -> kNN and boxes.

Writes ``--classes`` x ``--videos`` clips of ``--seconds`` s (``acoustic_ssl.data.synthetic_video``: a
coloured square that sounds, a silent circle of another colour, a class-pitched tone; H.264/AAC, VP8/Opus,
MPEG-4/MP3 and H.264/FLAC in turn), imports them, splits the videos of every class 10/3/3 (disjoint by
video), and trains the demo's ``tiny`` preset runs ``selfsup_video`` (HearNet + ResNet18) and ``supervised``
(HearNet classifier) on them. Then, on the testing clips: audio kNN accuracy (k chosen on validation) of the
random init, self-supervised and supervised networks with Wilson 95 % intervals over test samples, and
localisation of the random-init and trained attention against the square's true boxes at 0.5, 1.5, ... s of
every test clip (CSV annotations, EZ-VSL protocol: cIoU success at 0.5 and AUC, bootstrap 95 % intervals
over annotated frames). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

LABELS = ("bell", "horn", "whistle", "siren", "gong", "flute", "drum", "chime")
FORMATS = (".mp4", ".webm", ".avi", ".mkv")


def wilson(successes: float, n: int, z: float = 1.96) -> list[float]:
    """Wilson score interval of a binomial proportion."""
    if n == 0:
        return [float("nan")] * 2
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def run(argv: list[str]) -> None:
    from acoustic_ssl.cli import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"acoustic-ssl {' '.join(argv[:1])} failed ({code})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--videos", type=int, default=16, help="videos per class")
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--object-size", type=float, default=0.6,
                        help="sounding square's side / frame height (the median rule predicts half the "
                        "frame, so cIoU <= box area / half the frame)")
    parser.add_argument("--semitones", type=float, default=2.0, help="pitch step between classes")
    parser.add_argument("--out", type=Path, default=None, help="keep everything here (default: a temp dir)")
    args = parser.parse_args()
    os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")
    from acoustic_ssl.data.synthetic_video import write_synthetic_video
    from acoustic_ssl.data.video_import import read_index
    from acoustic_ssl.demo.config import load_demo_config, preset_path

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.out or Path(tmp)).resolve()
        src, records, lists, stats = (root / n for n in ("src", "records", "lists", "stats"))
        videos = {}
        for c in range(args.classes):
            for v in range(args.videos):
                path = src / LABELS[c] / f"{LABELS[c]}{v:02d}{FORMATS[v % len(FORMATS)]}"
                videos[path.stem] = write_synthetic_video(
                    path, c, classes=args.classes, seconds=args.seconds, fps=(25, 30)[v % 2], size=(120, 160),
                    seed=v, object_size=args.object_size, semitones=args.semitones,
                )
        t0 = time.perf_counter()
        run(["import-video", str(src), str(records), "--workers", str(os.cpu_count() or 1)])
        import_s = time.perf_counter() - t0
        run(["lists", str(records), str(lists), "--fractions", "10", "3", "3", "--seed", "0"])
        run(["stats", str(lists / "training.txt"), str(stats)])

        preset = load_demo_config(preset_path("tiny"))
        checkpoints = {}
        for name in ("selfsup_video", "supervised"):
            spec = preset.runs[name]
            sets = [*preset.train.overrides, *spec.overrides, f"data.train_list={lists / 'training.txt'}",
                    f"data.valid_list={lists / 'validation.txt'}", f"data.test_list={lists / 'testing.txt'}",
                    f"data.stats_dir={stats}", f"runtime.run_dir={root / 'runs' / name}",
                    f"experiment.seed={args.seed}", "runtime.save_every=0"]
            run(["train", "--config", str(spec.config), *[a for s in sets for a in ("--set", s)]])
            checkpoints[name] = root / "runs" / name / "checkpoints" / spec.checkpoint
        checkpoints["random"] = root / "runs" / "selfsup_video" / "checkpoints" / "random"

        rows = {r["clip"]: r for r in read_index(records)}
        test_dirs = {Path(p).parent.relative_to(records).as_posix()
                     for p in (lists / "testing.txt").read_text().split()}
        test_clips = [c for c, r in rows.items()
                      if f"class_{r['class']}/data_{int(r['location']):03d}" in test_dirs]
        lines = ["file,frame_time,x0,y0,x1,y1"]
        for clip in test_clips:
            video = videos[clip]
            for t in (s + 0.5 for s in range(args.seconds)):
                box = video.boxes[min(math.floor(t * video.fps), len(video.boxes) - 1)]
                lines.append(f"{video.path.name},{t},{','.join(str(int(v)) for v in box)}")
        (root / "boxes.csv").write_text("\n".join(lines) + "\n")

        result: dict = {"clips": len(videos), "classes": args.classes, "seconds_per_clip": args.seconds,
                        "import_video_seconds_per_s": round(len(videos) * args.seconds / import_s, 2)}
        for name in ("random", "selfsup_video", "supervised"):
            out = root / "evaluation" / name
            argv = ["evaluate", "--checkpoint", str(checkpoints[name]), "--out", str(out), "--knn-k",
                    *map(str, preset.evaluate.knn_k), "--no-probe", "--batch-size", "16"]
            if name != "supervised":
                argv += ["--boxes", str(root / "boxes.csv")]
            run(argv)
            metrics = json.loads((out / "metrics.json").read_text())
            key = metrics["summary"]["audio_knn_feature"]
            knn = metrics["knn"][key]
            with np.load(out / "features_testing.npz") as data:
                n_test = len(data["labels"])
            entry = {"audio_knn_accuracy": round(knn["accuracy"], 4), "feature": key, "k": knn.get("k"),
                     "test_samples": n_test, "knn_interval95": wilson(knn["accuracy"] * n_test, n_test)}
            if "localization_boxes" in metrics:
                b = metrics["localization_boxes"]
                entry.update({"boxes_n": b["n"], "ciou_success@0.5": round(b["success@0.5"], 4),
                              "auc": round(b["auc"], 4), "ciou_mean": round(b["ciou_mean"], 4),
                              "boxes_interval95": b["interval95"]})
            result[name] = entry
        result["test_clips"] = len(test_clips)
        result["seconds"] = round(time.perf_counter() - started, 1)
        result["load_average_1min"] = round(os.getloadavg()[0], 2)
    for name in ("random", "selfsup_video", "supervised"):
        e = result[name]
        line = f"{name:<14} audio kNN {100 * e['audio_knn_accuracy']:.1f} % {e['knn_interval95']}"
        if "auc" in e:
            line += f"; boxes cIoU@0.5 {100 * e['ciou_success@0.5']:.1f} %, AUC {e['auc']:.3f}"
            line += f" (n={e['boxes_n']})"
        print(line)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
