"""Data subcommands: convert, import-video, framecount, lists, stats, pack."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acoustic_ssl.argtypes import non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the data subcommands to the top-level parser."""
    p = subparsers.add_parser(
        "convert",
        help="raw ACIVW folders -> one GZIP TFRecord per second",
        description=(
            "Convert RAW_DIR/class_K/data_NNN/{audio,MFCC_Image,video,video_time.txt} into "
            "OUT_DIR/class_K/data_NNN/Data_NNN.tfrecord (one SequenceExample per second, as the original "
            "convert_data.py). Video frames are resized to shorter side 224 with OpenCV-compatible bicubic. "
            "Resumable: existing records are kept (and temporaries of a killed run removed). All folders are "
            "checked before anything is written; an acoustic image holding NaN/inf, an OUT_DIR that is "
            "RAW_DIR or an import-video output are refused. The same input gives byte-identical records."
        ),
    )
    p.add_argument("raw_dir", type=Path, metavar="RAW_DIR", help="root of the raw class_K/data_NNN folders")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="root of the records to write")
    p.add_argument(
        "--modalities",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        choices=[0, 1, 2],
        help="0 acoustic images, 1 audio (one mic), 2 video (default: 0 1 2)",
    )
    p.add_argument(
        "--workers", type=positive_int, default=None, help="parallel processes (default: number of CPUs)"
    )
    p.add_argument(
        "--mic", type=int, default=0, help="microphone (0-127) stored as the mono track (default 0)"
    )
    p.set_defaults(func=_convert)

    p = subparsers.add_parser(
        "import-video",
        help="ordinary video files (mp4/mkv/webm/avi/mov) -> one GZIP TFRecord per second",
        description=(
            "Decode the videos of SRC (labels from SRC/<label>/ folders, or from --csv) with PyAV and write "
            "OUT/class_K/data_NNN/Data_NNN.tfrecord per clip and second: video/image at 12 fps, shorter side "
            "224 (bicubic, BGR uint8), audio/data mono at 12 288 Hz (channels averaged, resampled at the "
            "exact ratio with librosa's kaiser_best filter, full scale 1.0 = 2^23), no acoustic images. "
            "OUT/labels.json maps label names to class indices; OUT/videos.csv lists every clip (its id is "
            "the annotation key). Clips shorter "
            "than 1 s, without audio, truncated, with NaN/inf audio, undecodable or named in bytes that are "
            "not UTF-8 are skipped with one line each; nothing importable is an error. Parallel; resumable "
            "and atomic per clip (a finished data_NNN is kept, an interrupted one is redone); OUT is locked "
            "while an import runs, and records in OUT that its videos.csv does not list are refused."
        ),
    )
    p.add_argument(
        "src",
        type=Path,
        metavar="SRC",
        help="folder of videos (SRC/<label>/*.mp4 without --csv), or of image + sound pairs "
        "(SRC/frames/<id>.jpg + SRC/audio/<id>.wav: the still is every frame)",
    )
    p.add_argument("out_dir", type=Path, metavar="OUT", help="root of the records to write")
    p.add_argument(
        "--csv",
        type=Path,
        default=None,
        help="clip list: file,label[,split]; a header row naming file,label,split,start,seconds; or "
        "VGGSound's youtube_id,start,label,split (files <id>_<start:06d>.mp4, or full <id>.mp4 cut at start)",
    )
    p.add_argument(
        "--start", type=float, default=0.0, help="window start (s) where the CSV gives none (default 0)"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="window length in seconds (default: to the end; VGGSound rows: 10)",
    )
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default: number of CPUs)")
    p.set_defaults(func=_import_video)

    p = subparsers.add_parser(
        "framecount",
        help="count video seconds; write video_time/class_time and dataset summaries",
        description=(
            "Write video_time.txt per video, class_time.txt per class and datadir.txt, timedataset.txt, "
            "videodataset.txt in ROOT (the original framecount.py files), and print a per-class table. "
            "Raw: seconds = floor(#video/*.bmp / 12); tfrecord: seconds = #*.tfrecord."
        ),
    )
    p.add_argument("root", type=Path, metavar="ROOT", help="root with class_K/data_NNN folders")
    p.add_argument("--source", choices=["raw", "tfrecord"], default="raw", help="kind of tree (default raw)")
    p.set_defaults(func=_framecount)

    p = subparsers.add_parser(
        "lists",
        help="make training/validation/testing lists (or re-root the original ones)",
        description=(
            "Write OUT_DIR/{training,validation,testing}.txt. By default the videos under RECORDS_ROOT are "
            "shuffled per class with --seed and dealt out by --fractions of their number (disjoint by "
            "video, every class in every split when it has >= 3 videos, each video complete from its first "
            "second and cut to a multiple of --total-length). --method original applies the original's "
            "rule instead: per class, the videos longest first fill 75 % of its seconds for training, then "
            "half the rest for validation, the rest going to testing (greedy; --fractions scales the "
            "shares). With --from-lists ORIGINAL_DIR the original lists are instead re-rooted onto "
            "RECORDS_ROOT (every record must exist)."
        ),
    )
    p.add_argument("records_root", type=Path, metavar="RECORDS_ROOT", help="root of class_K/data_NNN records")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the three list files")
    p.add_argument("--seed", type=int, default=0, help="split seed of --method random (default 0)")
    p.add_argument(
        "--method",
        choices=("random", "original"),
        default="random",
        help="random: shuffled videos dealt out by count; original: the original's greedy rule over "
        "seconds, longest video first (default random)",
    )
    p.add_argument(
        "--fractions",
        type=float,
        nargs=3,
        default=None,
        metavar=("TRAIN", "VAL", "TEST"),
        help="share per split: of the videos (random; default 0.7 0.15 0.15) or of the seconds (original; "
        "default 0.75 0.125 0.125)",
    )
    p.add_argument(
        "--total-length",
        type=int,
        default=2,
        help="loader block length in seconds; videos are cut to a multiple of it (default 2)",
    )
    p.add_argument(
        "--from-lists",
        type=Path,
        default=None,
        metavar="ORIGINAL_DIR",
        help="re-root the original training/validation/testing.txt found in this folder",
    )
    p.add_argument(
        "--splits-from-import",
        action="store_true",
        help="follow the split column of an import-video CSV (test -> testing; validation carved from "
        "training by --fractions when the CSV has none)",
    )
    p.set_defaults(func=_lists)

    p = subparsers.add_parser(
        "stats",
        help="per-bin spectrogram mean/std of a training list",
        description=(
            "Stream the 2-s samples of LIST_FILE and write global_mean.npy and global_std_dev.npy (257 "
            "float32 values, true per-bin statistics) plus global_min/max/sum/sum_squared.npy and stats.json "
            "into OUT_DIR. --original-scaling reproduces the released statistics instead "
            "(n = lines x frames x 257, so the mean is ~514 times too small); use it only to match "
            "published numbers. A record listed twice counts twice (said on the output and in stats.json)."
        ),
    )
    p.add_argument("list_file", type=Path, metavar="LIST_FILE", help="training list")
    p.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder for the .npy files")
    p.add_argument(
        "--original-scaling", action="store_true", help="reproduce the original mis-scaled mean/std"
    )
    p.add_argument(
        "--workers", type=non_negative_int, default=0, help="DataLoader worker processes (default 0)"
    )
    p.set_defaults(func=_stats)

    p = subparsers.add_parser(
        "pack",
        help="copy a list's records into an uncompressed memory-mappable folder",
        description=(
            "Read the records of LIST_FILE (in order) and write OUT/{acoustic,audio,video}.npy and "
            "OUT/index.json. ACIVWDataset (and so training) accepts OUT wherever a list file is expected; it "
            "skips GZIP inflation, the main cost of reading records. Needs as much disk as the raw arrays "
            "(reserved before writing). Every record must carry the same modalities."
        ),
    )
    p.add_argument("list_file", type=Path, metavar="LIST_FILE", help="list of records to pack")
    p.add_argument("out", type=Path, metavar="OUT", help="new folder (must not exist or be empty)")
    p.add_argument(
        "--root", type=Path, default=None, help="re-root the list's paths onto this records folder"
    )
    p.set_defaults(func=_pack)


def _convert(args: argparse.Namespace) -> int:
    from acoustic_ssl.data.convert import convert_dataset
    from acoustic_ssl.data.layout import Modality

    modalities = [Modality.from_number(n) for n in args.modalities]
    summary = convert_dataset(args.raw_dir, args.out_dir, modalities, workers=args.workers, mic=args.mic)
    print(
        f"{summary.videos} videos: {summary.written} records written, {summary.skipped} already present "
        f"-> {args.out_dir}"
    )
    return 0


def _import_video(args: argparse.Namespace) -> int:
    from acoustic_ssl.data.video_import import import_videos

    summary = import_videos(
        args.src, args.out_dir, csv_path=args.csv, start=args.start, seconds=args.seconds,
        workers=args.workers,
    )
    print(summary.describe(args.out_dir))
    return 0


def _framecount(args: argparse.Namespace) -> int:
    from acoustic_ssl.data.framecount import format_table, framecount

    print(format_table(framecount(args.root, args.source)))
    return 0


def _lists(args: argparse.Namespace) -> int:
    from acoustic_ssl.data.lists import make_lists, reroot_lists, video_of

    if args.from_lists is not None:
        splits = reroot_lists(args.from_lists, args.records_root, args.out_dir)
    elif args.splits_from_import:
        from acoustic_ssl.data.video_import import make_import_lists

        splits = make_import_lists(
            args.records_root, args.out_dir, seed=args.seed, fractions=args.fractions or (0.7, 0.15, 0.15),
            total_length=args.total_length,
        )
    else:
        splits = make_lists(
            args.records_root,
            args.out_dir,
            seed=args.seed,
            fractions=args.fractions,
            total_length=args.total_length,
            method=args.method,
        )
    for name, paths in splits.items():
        videos = {video_of(p) for p in paths}
        print(
            f"{name:<11} {len(paths):>7} records {len(videos):>5} videos -> {args.out_dir / (name + '.txt')}"
        )
    return 0


def _stats(args: argparse.Namespace) -> int:
    from acoustic_ssl.data.stats import compute_stats

    values = compute_stats(
        args.list_file, args.out_dir, original_scaling=args.original_scaling, workers=args.workers
    )
    mean, std = values["global_mean"], values["global_std_dev"]
    print(
        f"mean {mean.mean():.4g} (bins {mean.min():.4g}..{mean.max():.4g}), std {std.mean():.4g} "
        f"-> {args.out_dir}"
    )
    summary = json.loads((args.out_dir / "stats.json").read_text(encoding="utf-8"))
    repeated = summary["records_listed_more_than_once"]
    if repeated:
        print(f"note: {repeated} record(s) are listed more than once and counted each time they are listed")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from acoustic_ssl.data.lists import read_list
    from acoustic_ssl.data.packed import pack_records

    paths = read_list(args.list_file, root=args.root)
    out = pack_records(paths, args.out)
    print(f"{len(paths)} records packed -> {out}")
    return 0
