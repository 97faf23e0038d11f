"""Acoustic images without an array (issue 25) on simulated data: a generator trained where there is an
array, its images against the truth on unseen recordings, and a teacher trained on its images teaching the
single-microphone network where there is none.

Data (``acoustic-ssl simulate``: 10 classes, 120×160 frames, SNR 10 dB, 8 places shared by every class, 2
silent distractors of other classes on screen): ``--videos`` recordings of ``--seconds`` s per class, split by
recording into set A (``--split`` first share: the generator's, with its array), set B (the second: taught
without an array; its true images serve only the true-array teacher) and validation (the third), plus
``--test-videos`` unseen 2-s test recordings per class.

Stages, each skipped once it has finished (a marker in ``OUT/stages``; the script resumes): simulate,
convert, lists, spectrogram statistics (A + B); the generator (``generate`` preset, ``tiny`` variant, then
``--generator-set``) trained on A and selected on validation; ``evaluate-generator`` on the test recordings;
``synthesize`` B and validation; then per family — triplet (``selfsup_acoustic_video`` teacher → ``transfer``
student; ``selfsup_audio_video`` without a teacher) and contrastive (``contrastive_acoustic_video`` →
``contrastive_transfer``; ``contrastive_audio_video``) — a teacher on B's true images and one on its
generated images, the student taught by each on B, and the student without a teacher, all with the demo's
``tiny`` settings and ``--train-set`` on top (batch, epochs: B is small). Students are scored by audio kNN on
the test recordings (k chosen on validation; the kNN memory is B); intervals and paired differences by the
video-clustered bootstrap (``evaluation.statistics``). Wall and CPU seconds of every stage go to
``timings.json``; the last line printed is one JSON object (also ``results.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FAMILIES = {
    "triplet": ("selfsup_acoustic", "transfer", "selfsup_video"),
    "contrastive": ("contrastive_acoustic", "contrastive_transfer", "contrastive"),
}
SIMULATION = ["--seed", "0", "--snr-db", "10", "--frame-size", "120", "160", "--locations", "8",
              "--distractors", "2", "--device", "cpu"]


def run(argv: list[str]) -> None:
    from acoustic_ssl.cli import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"acoustic-ssl {' '.join(argv[:1])} failed ({code})")


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (simulation and conversion workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Stages:
    """Runs a stage unless its marker says it finished; keeps the wall and CPU seconds of every stage."""

    def __init__(self, root: Path, stop_after: str | None = None) -> None:
        self.stop_after = stop_after
        self.markers = root / "stages"
        self.markers.mkdir(exist_ok=True)
        self.file = root / "timings.json"
        self.timings: dict[str, dict[str, float]] = (
            json.loads(self.file.read_text()) if self.file.is_file() else {}
        )

    def __call__(self, name: str, work: Callable[[], None]) -> None:
        marker = self.markers / f"{name}.done"
        if not marker.exists():
            wall, cpu = time.perf_counter(), cpu_seconds()
            work()
            self.timings[name] = {"wall_s": round(time.perf_counter() - wall, 1),
                                  "cpu_s": round(cpu_seconds() - cpu, 1)}
            self.file.write_text(json.dumps(self.timings, indent=2) + "\n")
            marker.write_text("")
            print(f"stage {name}: {self.timings[name]}", flush=True)
        if name == self.stop_after:
            raise SystemExit(f"stopped after stage {name} (--stop-after)")


def write_lists(records: Path, test_records: Path, lists: Path, split: list[int]) -> None:
    """A (generator), B (transfer), validation by recording number within each class; test: every record."""
    from acoustic_ssl.data.lists import write_list

    bounds = np.cumsum([0, *split])
    names = ("generator", "training", "validation")
    chosen: dict[str, list[Path]] = {name: [] for name in names}
    for class_dir in sorted(records.glob("class_*"), key=lambda p: int(p.name[6:])):
        videos = sorted(class_dir.glob("data_*"))
        for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
            for video in videos[lo:hi]:
                chosen[name] += sorted(video.glob("Data_*.tfrecord"))
    for name, paths in chosen.items():
        write_list(lists / f"{name}.txt", paths)
    write_list(lists / "testing.txt", sorted(test_records.glob("class_*/data_*/Data_*.tfrecord")))


def train_args(config: str, variant: str, sets: list[str]) -> list[str]:
    args = ["train", "--config", config, *(["--variant", variant] if variant else [])]
    return args + [a for s in sets for a in ("--set", s)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (kept; resumable)")
    parser.add_argument("--videos", type=int, default=7, help="recordings per class (A + B + validation)")
    parser.add_argument("--split", type=int, nargs=3, default=[3, 3, 1], metavar=("A", "B", "VAL"))
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--test-videos", type=int, default=20, help="unseen 2-s test recordings per class")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--generator-set", nargs="*", default=[
        "experiment.epochs=10", "data.nr_frames=6", "loss.frames_per_sample=3", "data.batch_size=16",
        "optim.lr=1e-3"], help="--set lines of the generator run (after the preset's tiny variant)")
    parser.add_argument("--train-set", nargs="*", default=["experiment.epochs=12", "data.batch_size=32"],
                        help="--set lines of every teacher and student run (after the demo's tiny settings)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--frame-step", type=int, default=3, help="evaluate-generator's --frame-step")
    parser.add_argument("--stop-after", default=None, metavar="STAGE", help="stop once this stage is done")
    args = parser.parse_args()
    os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")
    from acoustic_ssl.demo.config import load_demo_config, preset_path
    from acoustic_ssl.evaluation.machine import machine_info
    from acoustic_ssl.evaluation.statistics import bootstrap_ci, paired_difference

    root = args.out.resolve()
    root.mkdir(parents=True, exist_ok=True)
    stage = Stages(root, args.stop_after)
    raw, raw_test, records, records_test = (root / n for n in ("raw", "raw_test", "records", "records_test"))
    lists, stats, runs, synthetic = (root / n for n in ("lists", "stats", "runs", "synthetic"))
    workers = ["--workers", str(args.workers)]
    stage("simulate", lambda: run(
        ["simulate", str(raw), "--videos-per-class", str(args.videos), "--seconds", str(args.seconds),
         *SIMULATION, *workers]))
    stage("simulate_test", lambda: run(
        ["simulate", str(raw_test), "--videos-per-class", str(args.test_videos), "--first-location",
         str(args.videos), "--seconds", "2", *SIMULATION, *workers]))
    stage("convert", lambda: run(["convert", str(raw), str(records), *workers]))
    stage("convert_test", lambda: run(["convert", str(raw_test), str(records_test), *workers]))
    stage("lists", lambda: write_lists(records, records_test, lists, args.split))
    both = root / "lists" / "generator_and_training.txt"
    both.write_text((lists / "generator.txt").read_text() + (lists / "training.txt").read_text())
    stage("stats", lambda: run(["stats", str(both), str(stats)]))

    data = [f"data.valid_list={lists / 'validation.txt'}", f"data.test_list={lists / 'testing.txt'}",
            f"data.stats_dir={stats}", "runtime.device=cpu", "data.num_workers=0", "runtime.log_every=5",
            "runtime.save_every=0"]
    generator = runs / "generator"
    stage("train_generator", lambda: run(train_args(
        "generate", "tiny", [*data, f"data.train_list={lists / 'generator.txt'}", *args.generator_set,
                             f"runtime.run_dir={generator}"])))
    measured = root / "generator.json"
    stage("evaluate_generator", lambda: run(
        ["evaluate-generator", "--checkpoint", str(generator), "--list", str(lists / "testing.txt"),
         "--raw-dir", str(raw_test), "--out", str(measured), "--frame-step", str(args.frame_step),
         "--device", "cpu"]))
    stage("synthesize", lambda: run(
        ["synthesize", "--checkpoint", str(generator), "--list", str(lists / "training.txt"),
         str(lists / "validation.txt"), "--out", str(synthetic), "--device", "cpu"]))

    preset = load_demo_config(preset_path("tiny"))
    sources = {"true": lists, "generated": synthetic / "lists"}
    results: dict[str, Any] = {"generator": json.loads(measured.read_text())}
    def train_run(name: str, row: str, folder: Path, run_dir: Path, *extra: str) -> None:
        """Train the demo's ``row`` on ``folder``'s lists into ``run_dir`` (stage ``name``)."""
        spec = preset.runs[row]
        sets = [*preset.train.overrides, *spec.overrides, *data, *args.train_set, *extra,
                f"data.train_list={folder / 'training.txt'}", f"data.valid_list={folder / 'validation.txt'}",
                f"runtime.run_dir={run_dir}"]
        stage(name, lambda: run(train_args(str(spec.config), spec.variant, sets)))

    for family in args.families:
        teacher_row, student_row, alone_row = FAMILIES[family]
        evaluated: dict[str, Path] = {}
        for images, folder in sources.items():
            teacher, student = runs / f"{family}_teacher_{images}", runs / f"{family}_student_{images}"
            train_run(f"{family}_teacher_{images}", teacher_row, folder, teacher)
            train_run(f"{family}_student_{images}", student_row, folder, student,
                      f"loss.teacher_checkpoint={teacher}", f"loss.alpha={preset.train.alpha}")
            evaluated[f"teacher_{images}"] = student
        evaluated["no_teacher"] = runs / f"{family}_no_teacher"
        train_run(f"{family}_no_teacher", alone_row, lists, evaluated["no_teacher"])
        outcomes = {}
        for name, run_dir in evaluated.items():
            out = root / "evaluation" / f"{family}_{name}"
            stage(f"evaluate_{family}_{name}", lambda r=run_dir, o=out: run(
                ["evaluate", "--checkpoint", str(r), "--out", str(o),
                 "--train-list", str(lists / "training.txt"), "--valid-list", str(lists / "validation.txt"),
                 "--test-list", str(lists / "testing.txt"), "--knn-k", *map(str, preset.evaluate.knn_k),
                 "--no-probe", "--no-energy", "--overlays", "0",
                 "--batch-size", str(preset.evaluate.batch_size), "--device", "cpu"]))
            metrics = json.loads((out / "metrics.json").read_text())
            feature = metrics["summary"]["audio_knn_feature"]
            outcomes[name] = np.array(metrics["per_sample"]["knn_correct"][feature], dtype=np.float64)
            videos, labels = (np.array(metrics["per_sample"][k]) for k in ("video_ids", "labels"))
        block: dict[str, Any] = {}
        for name, values in outcomes.items():
            ci = bootstrap_ci(values, videos, labels)
            block[name] = {"audio_knn_accuracy": ci.estimate, "ci95": ci.as_list()}
        pairs = (("teacher_generated", "teacher_true"), ("teacher_generated", "no_teacher"),
                 ("teacher_true", "no_teacher"))
        block["comparisons"] = {
            f"{a}_vs_{b}": paired_difference(outcomes[a], outcomes[b], videos, labels).as_dict()
            for a, b in pairs
        }
        block["test_samples"], block["test_videos"] = len(labels), len(np.unique(videos))
        results[family] = block
    results["sizes"] = {
        "classes": 10, "recordings_per_class": dict(zip(("A", "B", "validation"), args.split, strict=True)),
        "seconds": args.seconds, "test_recordings_per_class": args.test_videos,
        "generator_set": args.generator_set, "train_set": args.train_set,
    }
    results["timings"] = stage.timings
    results["cpu_seconds"] = round(sum(t["cpu_s"] for t in stage.timings.values()), 1)
    results["machine"] = machine_info()
    (root / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    g = results["generator"]
    for name in ("generated", "mean_image"):
        c = g["correlation"][name]["mean"]
        print(f"{name}: band correlation {c['estimate']:.3f} {[round(v, 3) for v in c['ci95']]}")
    for family in args.families:
        for name in ("teacher_true", "teacher_generated", "no_teacher"):
            entry = results[family][name]
            print(f"{family:<12} {name:<18} audio kNN {100 * entry['audio_knn_accuracy']:.1f} "
                  f"[{100 * entry['ci95'][0]:.1f}, {100 * entry['ci95'][1]:.1f}]")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
