"""CLI of the evaluation concern: ``extract``, ``evaluate``, ``scenes``, ``report``, and a generator's
``synthesize`` and ``evaluate-generator``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acoustic_ssl.argtypes import non_negative_int, positive_int
from acoustic_ssl.errors import ConfigError, DataError
from acoustic_ssl.evaluation.protocol import KNN_KS, OVERLAYS_PER_MAP

if TYPE_CHECKING:
    from acoustic_ssl.training.trained import Trained

KS_HELP = "k values tried for kNN, chosen on validation (the default is the original's)"
STATS_HELP = (
    "spectrogram statistics folder; if omitted those stored in the checkpoint (older checkpoints: the run "
    "config's data.stats_dir)"
)
CHECKPOINT_HELP = (
    "checkpoint stem (run/checkpoints/epoch_20; .../random: random init), or a run dir: the checkpoint the "
    "original reported for its kind (self-supervised/transfer: the last epoch; supervised/distillation: best)"
)
BASELINE_HELP = (
    "instead of --checkpoint, features that need no learning: logmel (mean and std over time of a 64-band "
    "log-mel spectrogram, 0-6144 Hz, of the same mono 2-s samples; 128 numbers, l2-normalised so that kNN "
    "ranks by cosine)"
)
BATCH_HELP = (
    "samples per batch, in list order (default: the original's 4 when the video network's BatchNorm uses "
    "batch statistics at evaluation, as the features then depend on the batch; else 8)"
)


def register(subparsers: Any) -> None:
    """Add the evaluation subcommands."""
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = subparsers.add_parser(
        "extract", formatter_class=fmt,
        help="run a checkpoint on a record list and save per-sample features (.npz)",
        description=(
            "Run a checkpoint's networks (inference mode, 2-s consecutive samples) on a record list and "
            "save the audio/video/joint/acoustic/supervised features, labels, video ids, starts, attention "
            "maps and, with --energy-maps, acoustic energy maps to one .npz (keys documented in "
            "acoustic_ssl.evaluation.extract). With --baseline NAME instead of --checkpoint, a baseline's "
            "features of the same samples under the key audio (meta run_kind: baseline)."
        ),
    )
    p.add_argument("--checkpoint", type=Path, default=None, help=f"{CHECKPOINT_HELP} (or --baseline)")
    p.add_argument("--baseline", default=None, metavar="NAME", help=BASELINE_HELP)
    p.add_argument("--list", required=True, type=Path, dest="list_file", help="record list or packed folder")
    p.add_argument("--split", default=None, help="split name stored in the file; if omitted the list's stem")
    p.add_argument("--out", required=True, type=Path, help="output .npz file")
    p.add_argument("--stats-dir", type=Path, default=None, help=STATS_HELP)
    p.add_argument("--batch-size", type=positive_int, default=None, help=BATCH_HELP)
    p.add_argument("--energy-maps", action="store_true", help="also load acoustic images for energy maps")
    p.add_argument("--maps", choices=("auto", "yes", "no"), default="auto",
                   help="keep the 128x12x16 audio/video maps (retrieval); auto = only for the testing split")
    _add_runtime_args(p)
    p.set_defaults(func=_extract)

    p = subparsers.add_parser(
        "evaluate", formatter_class=fmt,
        help="kNN, linear probe, cross-modal retrieval and localisation of a checkpoint -> metrics.json",
        description=(
            "Extract features of the training/validation/testing lists (defaults: the lists of the run "
            "config), then compute kNN (original protocol) and linear-probe accuracy per feature (audio: the "
            "original's per-modality feature; joint: audio + video, what its compute_knn_accuracy.sh "
            "scored), a supervised checkpoint's own test accuracy and a self-supervised one's test-set "
            "triplet accuracy (the trainers' test modes), audio<->video retrieval (recall@1/2/5/10/30, mAP, "
            "confusions) and, with --raw-dir pointing at simulated raw data, localisation (pointing "
            "accuracy, cIoU, AUC) with PNG overlays. "
            "Writes OUT/metrics.json. With --boxes FILE, also scores the attention of each annotated frame "
            "against Flickr-SoundNet XML, VGG-SS JSON or CSV boxes as the LVS / EZ-VSL evaluation code does "
            "(cIoU@0.5, 21-threshold AUC, bootstrap intervals) -> OUT/boxes.json, boxes_per_clip.csv. "
            "Localisation also scores two baselines that ignore the sound: pointing at a random visible "
            "object (any_object) and at the largest visible box (largest_object, the size prior). "
            "With --baseline NAME instead of --checkpoint (and --out and the three lists), a baseline that "
            "needs no learning is scored by the same kNN protocol and per-sample outcomes (metrics.json with "
            "run_kind baseline)."
        ),
    )
    p.add_argument("--checkpoint", type=Path, default=None, help=f"{CHECKPOINT_HELP} (or --baseline)")
    p.add_argument("--baseline", default=None, metavar="NAME", help=BASELINE_HELP)
    p.add_argument("--out", type=Path, default=None,
                   help="output folder; if omitted <run dir>/evaluation/<checkpoint name> (--baseline: "
                   "required)")
    p.add_argument("--train-list", type=Path, default=None)
    p.add_argument("--valid-list", type=Path, default=None)
    p.add_argument("--test-list", type=Path, default=None)
    p.add_argument("--raw-dir", type=Path, default=None,
                   help="simulated raw dataset (ground_truth.csv per video, camera.json) for localisation")
    p.add_argument("--stats-dir", type=Path, default=None, help=STATS_HELP)
    p.add_argument("--batch-size", type=positive_int, default=None, help=BATCH_HELP)
    p.add_argument("--knn-k", type=positive_int, nargs="+", default=list(KNN_KS), help=KS_HELP)
    p.add_argument("--no-probe", action="store_true", help="skip the linear probe")
    p.add_argument("--no-energy", action="store_true", help="do not load acoustic images for energy maps")
    p.add_argument("--overlays", type=non_negative_int, default=OVERLAYS_PER_MAP,
                   help="localisation overlay PNGs per map")
    p.add_argument("--localization-mask", choices=("frame", "map"), default="frame",
                   help="binarise the map at its mean after upsampling it to the frame, or on its own grid "
                   "(12x16 / 36x48) and then upsample the mask, as the original's follow-up did")
    _add_runtime_args(p)
    p.add_argument("--fresh", action="store_true", help="re-extract even if OUT has features_<split>.npz")
    p.add_argument("--boxes", type=Path, default=None, metavar="FILE",
                   help="also score the attention against box annotations: a Flickr-SoundNet XML folder (or "
                   "file), VGG-SS JSON, or CSV file,frame_time,x0,y0,x1,y1 (source pixels) -> OUT/boxes.json")
    p.add_argument("--boxes-format", choices=("auto", "flickr", "vggss", "csv"), default="auto",
                   help="annotation format (auto: folder/.xml flickr, .json vggss, .csv csv)")
    p.add_argument("--boxes-protocol", choices=("ez", "lvs"), default="ez",
                   help="mask rule of the published code: ez (EZ-VSL: align-corners resize, >= median) or "
                   "lvs (LVS: half-pixel resize, > median); cIoU, success at 0.5, 21-point AUC as both do")
    p.add_argument("--records", type=Path, default=None,
                   help="import-video output holding the annotated clips (default: the test list's records)")
    p.add_argument("--only-boxes", action="store_true",
                   help="with --boxes: skip kNN/probe/retrieval (no training/validation lists needed)")
    p.set_defaults(func=_evaluate)

    p = subparsers.add_parser(
        "scenes", formatter_class=fmt,
        help="acoustic-scene transfer (DCASE/TUT layout): kNN and linear probe on audio features",
        description=(
            "Acoustic-scene classification with a frozen audio network on a DCASE/TUT-style folder: "
            "audio/*.wav, meta.csv (filename<TAB>scene_label[...]) and evaluation_setup/fold1_train.txt + "
            "fold1_evaluate.txt (or fold1_test.txt). Clips -> 22 050 Hz, 10 s, five 2-s crops each. The "
            "original protocol (default): consecutive crops at 0/2/4/6/8 s in every split, kNN fitted on all "
            "training crops, k (and the probe's C) chosen on a validation fold (--valid-fold), accuracy on "
            "the test fold. --protocol inner: 5 random crops per training clip, k and C chosen on a fifth of "
            "the training recordings, for folders without a third fold."
        ),
    )
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint with a HearNet")
    p.add_argument("--data", required=True, type=Path, help="DCASE/TUT-style folder")
    p.add_argument("--protocol", choices=("original", "inner"), default="original",
                   help="original: k chosen on --valid-fold; inner: on a split of the training fold")
    p.add_argument("--valid-fold", type=Path, default=None, metavar="FILE",
                   help="fold file of the validation clips (relative to --data or absolute; default "
                   "evaluation_setup/fold1_validation.txt); the original protocol needs one")
    p.add_argument("--original-stats", action="store_true",
                   help="z-score with the original's mis-scaled statistics (n = clips x frames x 257: the "
                   "mean is 5/257 of the true one), to match its published numbers")
    p.add_argument("--out", type=Path, default=None, help="also write the metrics JSON to this file")
    p.add_argument("--seed", type=int, default=0,
                   help="inner protocol: seed of the training crops and of the split")
    p.add_argument("--knn-k", type=positive_int, nargs="+", default=list(KNN_KS), help=KS_HELP)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.set_defaults(func=_scenes)

    p = subparsers.add_parser(
        "synthesize", formatter_class=fmt,
        help="copies of records with acoustic images generated by a `generate` run (no array needed)",
        description=(
            "Run a generate checkpoint on the records of one or more lists (simulated, ACIVW or import-video "
            "records: these gain acoustic images) and write copies whose audio/image is the generated one, "
            "flagged synthetic in each record's context (audio_image/synthetic = 1), under OUT: the input's "
            "class_K/data_NNN layout, OUT/lists/<list name> (the copies, in order, to train on), "
            "OUT/synthesis.json, and where the input has them labels.json and videos.csv (column "
            "acoustic_images = generated). OUT must be a new or empty folder, not the input's; it appears "
            "complete or not at all."
        ),
    )
    p.add_argument("--checkpoint", required=True, type=Path, help=CHECKPOINT_HELP)
    p.add_argument("--list", required=True, type=Path, nargs="+", dest="lists", metavar="LIST",
                   help="record lists (their records are copied; one output list each)")
    p.add_argument("--out", required=True, type=Path, help="new output records folder")
    p.add_argument("--batch-size", type=positive_int, default=4, help="samples per batch")
    _add_runtime_args(p)
    p.set_defaults(func=_synthesize)

    p = subparsers.add_parser(
        "evaluate-generator", formatter_class=fmt,
        help="a generate run's images against the true ones on simulated recordings -> JSON",
        description=(
            "Generate the acoustic images of held-out simulated records and compare them with the array's: "
            "per-band correlation over the cells and RMSE (beside those of the training mean image), the "
            "distance from the energy peak to the true source's cell (generated, true, chance), and "
            "localisation of each "
            "frame's energy against the sounding objects' boxes (generated, true energy, chance), with 95 % "
            "intervals from the video-clustered bootstrap. Writes OUT (JSON)."
        ),
    )
    p.add_argument("--checkpoint", required=True, type=Path, help=CHECKPOINT_HELP)
    p.add_argument("--list", required=True, type=Path, dest="list_file", help="held-out simulated records")
    p.add_argument("--raw-dir", required=True, type=Path,
                   help="their simulated raw folder (ground_truth.csv per video, camera.json)")
    p.add_argument("--out", required=True, type=Path, help="output JSON file")
    p.add_argument("--frame-step", type=positive_int, default=3,
                   help="score every N-th frame of each sample (neighbouring frames are nearly alike)")
    p.add_argument("--batch-size", type=positive_int, default=4, help="samples per batch")
    _add_runtime_args(p)
    p.set_defaults(func=_evaluate_generator)

    p = subparsers.add_parser(
        "report", formatter_class=fmt,
        help="self-contained HTML + Markdown report of one or more runs",
        description=(
            "Collect each run's metrics.jsonl (training curves) and evaluation/*/metrics.json (or a folder "
            "holding metrics.json directly) and write OUT/report.html (inline CSS, images as base64 PNG, no "
            "network) and OUT/report.md: curves, metric tables across runs, t-SNE of test embeddings, "
            "retrieval examples and localisation overlays."
        ),
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run or evaluation folders")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--title", default="acoustic-ssl report")
    p.add_argument("--no-tsne", action="store_true", help="skip t-SNE plots (the slowest part)")
    p.set_defaults(func=_report)


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="torch device for the networks (auto: GPU if visible)")
    p.add_argument("--workers", type=non_negative_int, default=0, help="DataLoader worker processes")


# flags that only a checkpoint's networks use (None / False when not given): refused with --baseline
CHECKPOINT_ONLY = {
    "stats_dir": "--stats-dir", "energy_maps": "--energy-maps", "raw_dir": "--raw-dir", "boxes": "--boxes",
    "only_boxes": "--only-boxes", "records": "--records",
}


def _baseline_or_checkpoint(args: argparse.Namespace) -> str | None:
    """The ``--baseline`` name, or None for ``--checkpoint``: exactly one of them, and no flag that only a
    checkpoint uses beside a baseline (one-line errors)."""
    if (args.checkpoint is None) == (args.baseline is None):
        both = args.checkpoint is not None
        raise ConfigError(f"pass --checkpoint or --baseline{' (not both)' if both else ''}")
    if args.baseline is not None:
        for dest, flag in CHECKPOINT_ONLY.items():
            if getattr(args, dest, None) not in (None, False):
                raise ConfigError(f"{flag} applies to --checkpoint only (a baseline has no networks or maps)")
    return args.baseline


def _extract(args: argparse.Namespace) -> int:
    from acoustic_ssl.evaluation.extract import extract_features, load_features

    baseline = _baseline_or_checkpoint(args)
    if baseline is not None:
        from acoustic_ssl.evaluation.baselines import extract_baseline

        path = extract_baseline(baseline, args.list_file, args.out, split=args.split,
                                batch_size=args.batch_size, num_workers=args.workers)
        arrays, _ = load_features(path)
        print(f"{path}: {len(arrays['labels'])} samples, keys {', '.join(sorted(arrays))}")
        return 0
    path = extract_features(
        args.checkpoint, args.list_file, args.out, split=args.split, stats_dir=args.stats_dir,
        batch_size=args.batch_size, energy_maps=args.energy_maps, device=args.device,
        num_workers=args.workers, maps={"auto": None, "yes": True, "no": False}[args.maps],
    )
    arrays, _ = load_features(path)
    print(f"{path}: {len(arrays['labels'])} samples, keys {', '.join(sorted(arrays))}")
    return 0


def _default_eval_dir(checkpoint: Path) -> Path:
    from acoustic_ssl.training.checkpoint import checkpoint_paths

    stem = checkpoint_paths(checkpoint)[1].with_suffix("")
    run_dir = stem.parent.parent if stem.parent.name == "checkpoints" else stem.parent
    return run_dir / "evaluation" / stem.name


def _evaluate(args: argparse.Namespace) -> int:
    from acoustic_ssl.evaluation.evaluate import evaluate_checkpoint
    from acoustic_ssl.training.trained import load_trained

    baseline = _baseline_or_checkpoint(args)
    if baseline is not None:
        return _evaluate_baseline(args, baseline)
    out = args.out or _default_eval_dir(args.checkpoint)
    if args.only_boxes and args.boxes is None:
        raise DataError("--only-boxes needs --boxes FILE")
    if args.boxes is not None and not args.only_boxes:
        from acoustic_ssl.evaluation.boxes import read_annotations

        read_annotations(args.boxes, args.boxes_format)  # a bad file stops before the long evaluation
    trained = load_trained(args.checkpoint, stats_dir=args.stats_dir)  # read and verified once
    if args.boxes is not None and args.only_boxes:
        return _evaluate_boxes(args, trained, out)
    lists = {"training": args.train_list, "validation": args.valid_list, "testing": args.test_list}
    metrics = evaluate_checkpoint(
        trained, out, lists={k: v for k, v in lists.items() if v}, raw_dir=args.raw_dir,
        batch_size=args.batch_size, ks=args.knn_k, probe=not args.no_probe,
        reuse=not args.fresh, energy_maps=False if args.no_energy else None, overlays=args.overlays,
        device=args.device, num_workers=args.workers, localization_mask=args.localization_mask,
    )
    print(json.dumps(metrics["summary"], indent=2))
    print(f"metrics: {out / 'metrics.json'}")
    return _evaluate_boxes(args, trained, out) if args.boxes is not None else 0


def _evaluate_baseline(args: argparse.Namespace, baseline: str) -> int:
    from acoustic_ssl.evaluation.evaluate import evaluate_baseline

    if args.out is None:
        raise ConfigError(f"--baseline {baseline} needs --out DIR (there is no run folder to default to)")
    lists = {"training": args.train_list, "validation": args.valid_list, "testing": args.test_list}
    metrics = evaluate_baseline(
        baseline, args.out, lists=lists, ks=args.knn_k, probe=not args.no_probe, reuse=not args.fresh,
        batch_size=args.batch_size, num_workers=args.workers,
    )
    print(json.dumps(metrics["summary"], indent=2))
    print(f"metrics: {args.out / 'metrics.json'}")
    return 0


def _evaluate_boxes(args: argparse.Namespace, trained: Trained, out: Path) -> int:
    from acoustic_ssl.evaluation.boxes import evaluate_boxes

    result = evaluate_boxes(
        trained, args.boxes, out, fmt=args.boxes_format, protocol=args.boxes_protocol,
        records=args.records, test_list=args.test_list or trained.config.data.test_list or None,
        batch_size=args.batch_size, device=args.device, num_workers=args.workers, overlays=args.overlays,
    )
    low, high = result["interval95"].get("success@0.5", (float("nan"),) * 2)
    print(f"boxes ({result['format']}, {result['protocol']} protocol): {result['n']} annotated frames, "
          f"cIoU@0.5 {100 * result['success@0.5']:.1f} % [{100 * low:.1f}, {100 * high:.1f}], "
          f"AUC {result['auc']:.3f}, mean cIoU {result['ciou_mean']:.3f} -> {out / 'boxes.json'}")
    return 0


def _scenes(args: argparse.Namespace) -> int:
    from acoustic_ssl.evaluation.metrics_file import clean_json
    from acoustic_ssl.evaluation.scenes import scene_transfer
    from acoustic_ssl.io_utils import write_json_atomic

    result = clean_json(scene_transfer(
        args.checkpoint, args.data, protocol=args.protocol, valid_fold=args.valid_fold,
        original_stats=args.original_stats, seed=args.seed, ks=args.knn_k, batch_size=args.batch_size,
    ))
    if args.out:
        write_json_atomic(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


def _synthesize(args: argparse.Namespace) -> int:
    from acoustic_ssl.evaluation.synthesize import synthesize

    summary = synthesize(args.checkpoint, args.lists, args.out, batch_size=args.batch_size,
                         device=args.device, num_workers=args.workers)
    short = summary["left_out"]
    left_out = f"; {short} records of runs shorter than a sample left out" if short else ""
    print(f"{args.out}: {summary['records']} records of {summary['videos']} videos with generated acoustic "
          f"images{left_out}; lists: {', '.join(summary['lists'].values())}")
    return 0


def _evaluate_generator(args: argparse.Namespace) -> int:
    from acoustic_ssl.evaluation.generator import evaluate_generator

    result = evaluate_generator(args.checkpoint, args.list_file, args.raw_dir, args.out,
                                frame_step=args.frame_step, batch_size=args.batch_size, device=args.device,
                                num_workers=args.workers)
    correlation, loc = result["correlation"]["generated"]["mean"], result["localization"]
    pointing = {name: f"{loc[name]['pointing_accuracy']:.3f}" for name in loc}
    print(f"{result['frames']} frames of {result['videos']} videos: band correlation "
          f"{correlation['estimate']:.3f} {correlation['ci95']}; pointing accuracy generated "
          f"{pointing['generated']}, true energy {pointing['true_energy']}, chance {pointing['chance']} "
          f"-> {args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from acoustic_ssl.evaluation.report import write_report

    html_path, md_path = write_report(args.runs, args.out, title=args.title, tsne=not args.no_tsne)
    print(f"report: {html_path} and {md_path}")
    return 0
