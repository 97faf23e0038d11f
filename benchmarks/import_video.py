"""import-video throughput: seconds of video imported per wall-clock second, against decoding alone.

Writes its own clips with PyAV (default 8 clips x 10 s, 640x360 H.264 at 25 fps + AAC 44.1 kHz stereo: the
shape of a VGGSound clip) into a temp dir, then times (1) decoding alone (PyAV: every video frame to BGR at
full size, every audio frame to float; no resampling, resizing or writing), (2) ``import_videos`` with one
worker and (3) with ``--workers`` processes (default: all CPUs). ``ratio_vs_decode`` = import rate with one
worker / decode-only rate (the share of the time the conversion itself adds). One 1-s clip is imported first
so that imports and set-up are not timed. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def make_clips(root: Path, clips: int, seconds: float, size: tuple[int, int]) -> list[Path]:
    from acoustic_ssl.data.synthetic_video import write_synthetic_video

    return [
        write_synthetic_video(root / f"label{i % 4}" / f"clip{i:03d}.mp4", i % 4, classes=4, seconds=seconds,
                              fps=25, size=size, seed=i).path
        for i in range(clips)
    ]


def decode_only(paths: list[Path]) -> float:
    """Wall seconds to decode every frame (BGR) and audio frame (float) of ``paths``, one process."""
    import av

    start = time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frame.to_ndarray(format="bgr24")
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                frame.to_ndarray()
    return time.perf_counter() - start


def time_import(src: Path, out: Path, workers: int) -> float:
    from acoustic_ssl.data.video_import import import_videos

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    summary = import_videos(src, out, workers=workers)
    elapsed = time.perf_counter() - start
    if summary.imported != sum(1 for _ in src.rglob("*.mp4")):
        raise SystemExit(f"import failed: {summary.describe(out)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, nargs=2, default=[360, 640], metavar=("H", "W"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    os.environ.setdefault("ACOUSTIC_SSL_NO_PROGRESS", "1")

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        paths = make_clips(src, args.clips, args.seconds, tuple(args.size))
        total = args.clips * args.seconds
        warm = Path(tmp) / "warm"  # imports, filter design and codec set-up once, outside the timings
        make_clips(warm, 1, 1.0, tuple(args.size))
        time_import(warm, Path(tmp) / "warm_out", workers=1)
        decode_s = decode_only(paths)
        one_s = time_import(src, Path(tmp) / "out1", workers=1)
        many_s = time_import(src, Path(tmp) / "outN", workers=args.workers)
        records_mb = sum(p.stat().st_size for p in (Path(tmp) / "outN").rglob("*.tfrecord")) / 1e6
    result = {
        "clips": args.clips,
        "seconds_per_clip": args.seconds,
        "source_size": list(args.size),
        "workers": args.workers,
        "video_seconds_per_s": round(total / many_s, 2),
        "video_seconds_per_s_one_worker": round(total / one_s, 2),
        "decode_only_video_seconds_per_s": round(total / decode_s, 2),
        "ratio_vs_decode": round(decode_s / one_s, 3),
        "records_mb_per_video_second": round(records_mb / total, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(f"{total:g} s of {args.size[1]}x{args.size[0]} video in {args.clips} clips: decode only "
          f"{result['decode_only_video_seconds_per_s']} s/s; import-video "
          f"{result['video_seconds_per_s_one_worker']}"
          f" s/s (1 worker), {result['video_seconds_per_s']} s/s ({args.workers} workers)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
