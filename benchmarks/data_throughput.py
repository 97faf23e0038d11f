"""Training-input throughput: 2-s samples through ACIVWDataset + DataLoader, where the loader's time goes, and
samples/s per CPU core for every input path.

Builds its own small dataset (default 4 videos x 6 s at full size, 224x298 frames, written with write_record
in a temp dir), then times

1. TFRecord samples with all modalities through ACIVWDataset and DataLoader(--workers) (full preprocessing:
   flips, resample, STFT, video means); (2) decoding only (read_record of the two records of a sample);
   (3) the same samples from a packed folder (`acoustic-ssl pack`); (4) when TensorFlow is importable,
   tf.data parsing of the same files (GZIP TFRecordDataset + parse_single_sequence_example + decode_raw, no
   preprocessing): ratio_vs_tf compares (1) with it, parse_ratio_vs_tf compares (2);
2. a profile of one sample's CPU work, stage by stage, single-threaded (ms of process CPU time per 2-s
   sample): reading the files, GZIP inflation, TFRecord framing + CRC, protobuf parsing, resampling, STFT,
   video frames (uint8 -> float minus the means, channels first), acoustic images (flip, copy), collation
   into a batch, and a packed row;
3. for the two pairs of the `paper` preset (audio+video, acoustic+video) and four input paths -- GZIP records
   or a packed folder, each finished in the loader (the CPU default) or on the device (`data.preprocess_on =
   device`, a GPU's default: uint8 frames, waveforms and stored images leave the loader, `finish` runs on the
   GPU) -- samples per CPU-second of one loader worker (``__getitem__`` + collation, single-threaded, by
   process CPU time, so other jobs on the machine do not count) and samples/s of DataLoader(--workers) by the
   wall clock. The per-core figure times the cores a machine gives its loader is what it can feed a GPU.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
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


PAIRS = {"audio_video": ("audio", "video"), "acoustic_video": ("acoustic", "video")}
PATHS = ("records", "records_on_device", "packed", "packed_on_device")


def cpu_ms(fn, repeats: int) -> float:
    """Milliseconds of process CPU time per call of ``fn`` (after one untimed call)."""
    fn()
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - start) / repeats * 1e3


def stage_profile(paths: list[Path], packed_dir: Path, repeats: int, batch_size: int) -> dict[str, float]:
    """CPU milliseconds per 2-s sample (two records) of each stage of the loader, single-threaded."""
    from torch.utils.data import default_collate

    from acoustic_ssl.data import ACIVWDataset, read_record
    from acoustic_ssl.data.audio import sensor_audio_to_waveform, waveform_to_spectrogram
    from acoustic_ssl.data.packed import PackedRecords
    from acoustic_ssl.data.tfrecord import _decompress, _read_file, iter_framed, parse_sequence_example

    two = paths[:2]
    raws = [_read_file(p) for p in two]
    inflated = [_decompress(r, p) for r, p in zip(raws, two, strict=True)]
    payloads = [next(iter(iter_framed(b, p))) for b, p in zip(inflated, two, strict=True)]
    records = [read_record(p) for p in two]
    sensor = np.concatenate([r["audio/data"] for r in records])
    waveform = sensor_audio_to_waveform(sensor)
    frames = np.stack([records[0]["video/image"][0], records[1]["video/image"][11]])
    images = np.concatenate([r["audio/image"] for r in records])
    means = np.asarray((103.939, 116.779, 123.68), dtype=np.float32)
    common = {"mode": "training", "total_length": 2, "sample_length": 2}
    finished = ACIVWDataset(paths, modalities=("audio", "video"), **common)
    deferred = ACIVWDataset(paths, modalities=("audio", "video"), device_preprocessing=True, **common)
    items = [finished[i % len(finished)] for i in range(batch_size)]
    raw_items = [deferred[i % len(deferred)] for i in range(batch_size)]
    packed = PackedRecords(packed_dir)
    keys = ("audio/data", "video/image")
    batch = default_collate(raw_items)
    profile = {
        "file_read": cpu_ms(lambda: [_read_file(p) for p in two], repeats),
        "gzip_inflate": cpu_ms(lambda: [_decompress(r, p) for r, p in zip(raws, two, strict=True)], repeats),
        "framing_crc": cpu_ms(lambda: [list(iter_framed(b, p)) for b, p in zip(inflated, two, strict=True)],
                              repeats),
        "protobuf_parse": cpu_ms(lambda: [parse_sequence_example(q, p, None)
                                          for q, p in zip(payloads, two, strict=True)], repeats),
        "resample": cpu_ms(lambda: sensor_audio_to_waveform(sensor), repeats),
        "stft": cpu_ms(lambda: waveform_to_spectrogram(waveform), repeats),
        "video_frames": cpu_ms(
            lambda: np.ascontiguousarray((frames.astype(np.float32) - means).transpose(0, 3, 1, 2)), repeats
        ),
        "acoustic_flip": cpu_ms(
            lambda: np.ascontiguousarray(images[:, ::-1, ::-1, :].transpose(0, 3, 1, 2)), repeats
        ),
        "collate_finished": cpu_ms(lambda: default_collate(items), repeats) / batch_size,
        "collate_raw": cpu_ms(lambda: default_collate(raw_items), repeats) / batch_size,
        "packed_row": cpu_ms(lambda: [{k: np.array(v) for k, v in packed.read(r, keys).items()
                                       if isinstance(v, np.ndarray)} for r in (0, 1)], repeats),
        "finish_on_cpu": cpu_ms(lambda: deferred.finish(batch), repeats) / batch_size,
    }
    return profile


def per_core_rate(dataset, batch_size: int, epochs: int) -> float:
    """Samples per CPU-second of one loader worker's work (``__getitem__`` + collation), single-threaded."""
    from torch.utils.data import default_collate

    order = np.random.default_rng(0).permutation(len(dataset))
    default_collate([dataset[int(i)] for i in order[:batch_size]])  # warm-up: page cache, filter design
    count, start = 0, time.process_time()
    for _ in range(epochs):
        for first in range(0, len(order) - batch_size + 1, batch_size):
            default_collate([dataset[int(i)] for i in order[first : first + batch_size]])
            count += batch_size
    return count / (time.process_time() - start)


def input_paths(list_file: Path, packed_dir: Path, args: argparse.Namespace) -> dict[str, dict[str, dict]]:
    """Per pair and path: samples per CPU-second of one worker, and samples/s of DataLoader(--workers)."""
    from acoustic_ssl.data import ACIVWDataset

    results: dict[str, dict[str, dict]] = {}
    for pair, modalities in PAIRS.items():
        results[pair] = {}
        for path in PATHS:
            source = packed_dir if path.startswith("packed") else list_file
            dataset = ACIVWDataset(
                source, mode="training", total_length=2, sample_length=2, modalities=modalities,
                device_preprocessing=path.endswith("on_device"),
            )  # fmt: skip
            per_core = per_core_rate(dataset, args.batch_size, args.epochs)
            loader = time_loader(dataset, args.epochs, args.workers, args.batch_size)
            results[pair][path] = {"per_core": round(per_core, 1), "loader": round(loader, 1)}
            print(f"  {pair:15s} {path:18s} {per_core:7.1f} samples per CPU-second   "
                  f"{loader:7.1f} samples/s with {args.workers} workers", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3, help="timed passes over the samples")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--profile-repeats", type=int, default=20, help="timed calls per profiled stage")
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
        every = ("acoustic", "audio", "video")
        common = {"mode": "training", "total_length": 2, "sample_length": 2, "modalities": every}
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
        profile = stage_profile(paths, root / "packed", args.profile_repeats, args.batch_size)
        stages = ", ".join(f"{k} {v:.2f}" for k, v in profile.items())
        print(f"CPU ms per 2-s sample, single-threaded: {stages}")
        print(f"input paths (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs):")
        paths_result = input_paths(root / "list.txt", root / "packed", args)
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
        "profile_ms_per_sample": {k: round(v, 3) for k, v in profile.items()},
        "paths": paths_result,
        "load_average": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
