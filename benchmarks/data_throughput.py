"""Training-input throughput: 2-s samples with all modalities through DataLoader(num_workers=2).

Builds its own small dataset (default 4 videos x 6 s at full size, written with write_record in a temp dir),
then times (1) TFRecord samples through ACIVWDataset (full preprocessing: flips, resample, STFT, video
means), (2) decoding only (read_record of the two records of a sample), (3) the same samples from a packed
folder (`acoustic-ssl pack`), (4) when TensorFlow is importable, tf.data parsing of the same files (GZIP
TFRecordDataset + parse_single_sequence_example + decode_raw, no preprocessing): ratio_vs_tf compares (1)
with it, parse_ratio_vs_tf compares (2). Also reports where one record's read time goes (inflate vs
the rest). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def _frame(rng: np.random.Generator, h: int = 224, w: int = 298) -> np.ndarray:
    """A camera-like BGR frame (smooth structure plus sensor noise) so GZIP works as on real video."""
    y, x = np.mgrid[0:h, 0:w]
    phase = rng.uniform(0, 6.28)
    base = np.stack([120 + 80 * np.sin(x / 23 + phase + c) * np.cos(y / 31 - c) for c in range(3)], axis=-1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def make_dataset(root: Path, videos: int, seconds: int) -> list[Path]:
    from acoustic_ssl.data import write_record

    rng = np.random.default_rng(0)
    paths = []
    for v in range(videos):
        for s in range(seconds):
            path = root / f"class_{v % 10}" / f"data_{v:03d}" / f"Data_{s + 1:03d}.tfrecord"
            write_record(
                path,
                {
                    "classes": v % 10,
                    "location": v,
                    "audio/image": rng.standard_normal((12, 36, 48, 12)).astype(np.float32),
                    "audio/data": (rng.standard_normal((12, 1024)) * 2e6).astype(np.int32),
                    "video/image": np.stack([_frame(rng) for _ in range(12)]),
                },
            )
            paths.append(path)
    return paths


def time_loader(dataset, epochs: int, workers: int, batch_size: int) -> float:
    """Samples per second over ``epochs`` passes after one warm-up pass (workers already started)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, shuffle=True, persistent_workers=workers > 0
    )
    for _ in loader:  # warm-up: worker start, imports, page cache
        pass
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            count += len(batch["label"])
    return count / (time.perf_counter() - start)


class ParseOnly:
    """2-s samples decoded by read_record only (no preprocessing): the counterpart of TF's parse."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths) // 2

    def __getitem__(self, index: int) -> dict:
        from acoustic_ssl.data import read_record

        records = [read_record(p) for p in self.paths[2 * index : 2 * index + 2]]
        # only sizes go back: the arrays would be pickled between processes, which TF does not pay either
        return {"label": records[0]["classes"], "bytes": sum(r["video/image"].nbytes for r in records)}


def _keep(batch: list) -> list:
    return batch


def time_parse_only(paths: list[Path], epochs: int, workers: int) -> float:
    from torch.utils.data import DataLoader

    loader = DataLoader(
        ParseOnly(paths),
        batch_size=None,
        num_workers=workers,
        collate_fn=_keep,
        persistent_workers=workers > 0,
    )
    for _ in loader:
        pass
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for _ in loader:
            count += 1
    return count / (time.perf_counter() - start)


def time_tensorflow(paths: list[Path], epochs: int, workers: int) -> float | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    files = [str(p) for p in paths]

    def parse(serialized):
        _, seq = tf.io.parse_single_sequence_example(
            serialized,
            context_features={
                "classes": tf.io.FixedLenFeature([], tf.int64),
                "location": tf.io.FixedLenFeature([], tf.int64),
            },
            sequence_features={
                k: tf.io.FixedLenSequenceFeature([], tf.string)
                for k in ("audio/image", "audio/data", "video/image")
            },
        )
        return (
            tf.io.decode_raw(seq["audio/image"], tf.float32),
            tf.io.decode_raw(seq["audio/data"], tf.int32),
            tf.io.decode_raw(seq["video/image"], tf.uint8),
        )

    # as many parallel readers and parsers as DataLoader workers; two records make one 2-s sample
    data = (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(
            lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
            cycle_length=workers,
            num_parallel_calls=workers,
        )
        .map(parse, num_parallel_calls=workers)
        .batch(2)
        .prefetch(4)
    )
    for _ in data:
        pass
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for _ in data:
            count += 1  # one 2-s sample = two records
    return count / (time.perf_counter() - start)


def record_breakdown(paths: list[Path]) -> dict[str, float]:
    """Milliseconds per record: whole read_record vs GZIP inflation alone."""
    from acoustic_ssl.data import read_record
    from acoustic_ssl.data.tfrecord import _decompress

    start = time.perf_counter()
    for p in paths:
        read_record(p)
    total = (time.perf_counter() - start) / len(paths)
    raws = [p.read_bytes() for p in paths]
    start = time.perf_counter()
    for path, raw in zip(paths, raws, strict=True):
        _decompress(raw, path)  # the same inflater read_record uses (ISA-L when installed)
    inflate = (time.perf_counter() - start) / len(paths)
    return {
        "read_record_ms": 1e3 * total,
        "inflate_ms": 1e3 * inflate,
        "record_mb": float(np.mean([len(r) for r in raws]) / 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3, help="timed passes over the samples")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    import torch

    from acoustic_ssl.data import ACIVWDataset, pack_records
    from acoustic_ssl.data.lists import write_list

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="acoustic_ssl_bench_") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        paths = make_dataset(root / "records", args.videos, args.seconds)
        write_s = time.perf_counter() - start
        write_list(root / "list.txt", paths)
        print(f"wrote {len(paths)} records in {write_s:.1f} s ({write_s / len(paths) * 1e3:.0f} ms/record)")
        breakdown = record_breakdown(paths)
        print(
            f"read_record {breakdown['read_record_ms']:.1f} ms/record, of which GZIP inflation "
            f"{breakdown['inflate_ms']:.1f} ms ({breakdown['record_mb']:.2f} MB compressed)"
        )
        common = {"mode": "training", "total_length": 2, "sample_length": 2, "modalities": (0, 1, 2)}
        records = ACIVWDataset(root / "list.txt", **common)
        samples_per_s = time_loader(records, args.epochs, args.workers, args.batch_size)
        print(f"TFRecord samples/s (2-s, all modalities, {args.workers} workers): {samples_per_s:.1f}")
        parse_per_s = time_parse_only(paths, args.epochs, args.workers)
        print(f"TFRecord samples/s, decoding only (no preprocessing): {parse_per_s:.1f}")
        pack_records(paths, root / "packed")
        packed = ACIVWDataset(root / "packed", **common)
        packed_per_s = time_loader(packed, args.epochs, args.workers, args.batch_size)
        print(f"packed samples/s: {packed_per_s:.1f}")
        tf_per_s = time_tensorflow(paths, args.epochs, args.workers)
        print("TensorFlow: " + ("not importable" if tf_per_s is None else f"{tf_per_s:.1f} samples/s"))
    result = {
        "samples_per_s": round(samples_per_s, 2),
        "packed_samples_per_s": round(packed_per_s, 2),
        "tf_samples_per_s": None if tf_per_s is None else round(tf_per_s, 2),
        "ratio_vs_tf": None if tf_per_s is None else round(samples_per_s / tf_per_s, 3),
        "parse_samples_per_s": round(parse_per_s, 2),
        "parse_ratio_vs_tf": None if tf_per_s is None else round(parse_per_s / tf_per_s, 3),
        "read_record_ms": round(breakdown["read_record_ms"], 2),
        "inflate_ms": round(breakdown["inflate_ms"], 2),
        "records": len(paths),
        "workers": args.workers,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
