"""TFRecord reading and writing without TensorFlow, wire-compatible with ``tf.io.TFRecordWriter``.

A file is a GZIP stream of records; each record is ``uint64 length | masked crc32c(length) | data |
masked crc32c(data)`` (little endian). The data is a serialized ``tensorflow.SequenceExample``. The protobuf
message classes are built here from descriptors with TensorFlow's package name and field numbers, so the bytes
are identical to what TensorFlow writes and TensorFlow reads ours.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from acoustic_ssl.data.layout import (
    KEY_ACOUSTIC,
    KEY_AUDIO,
    KEY_CLASS,
    KEY_LOCATION,
    KEY_SYNTHETIC,
    KEY_VIDEO,
    SAMPLES_PER_FRAME,
)
from acoustic_ssl.errors import DataError, warn_once
from acoustic_ssl.io_utils import atomic_path

try:  # ISA-L inflates about twice and deflates ten times as fast as zlib; same GZIP format
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - isal is a declared dependency, zlib keeps things working without it
    _deflate = zlib

__all__ = [
    "FEATURE_DTYPES",
    "Example",
    "SequenceExample",
    "masked_crc32c",
    "read_record",
    "read_records_raw",
    "serialize_sequence_example",
    "write_record",
]

# Feature-list key -> dtype of its payload bytes (per-frame shapes come from the context size keys).
FEATURE_DTYPES: dict[str, np.dtype] = {
    KEY_ACOUSTIC: np.dtype("<f4"),
    KEY_AUDIO: np.dtype("<i4"),
    KEY_VIDEO: np.dtype("u1"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CRC_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
# ISA-L's default level; with plain zlib, TensorFlow's default (Z_DEFAULT_COMPRESSION = 6).
GZIP_LEVEL = 2 if _deflate is not zlib else 6


def _build_message_classes() -> dict[str, Any]:
    """Build the tf.train example messages (feature.proto + example.proto) in a private descriptor pool."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="acoustic_ssl/tensorflow_example.proto", package="tensorflow", syntax="proto3"
    )
    f = descriptor_pb2.FieldDescriptorProto
    repeated, optional = f.LABEL_REPEATED, f.LABEL_OPTIONAL

    def add_message(
        name: str, fields: list[tuple[str, int, int, int, str | None]]
    ) -> descriptor_pb2.DescriptorProto:
        msg = fdp.message_type.add(name=name)
        for field_name, number, label, ftype, type_name in fields:
            field = msg.field.add(name=field_name, number=number, label=label, type=ftype)
            if type_name:
                field.type_name = type_name
        return msg

    add_message("BytesList", [("value", 1, repeated, f.TYPE_BYTES, None)])
    add_message("FloatList", [("value", 1, repeated, f.TYPE_FLOAT, None)])
    add_message("Int64List", [("value", 1, repeated, f.TYPE_INT64, None)])
    feature = add_message(
        "Feature",
        [
            ("bytes_list", 1, optional, f.TYPE_MESSAGE, ".tensorflow.BytesList"),
            ("float_list", 2, optional, f.TYPE_MESSAGE, ".tensorflow.FloatList"),
            ("int64_list", 3, optional, f.TYPE_MESSAGE, ".tensorflow.Int64List"),
        ],
    )
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0

    def add_map_message(name: str, field_name: str, entry: str, value_type: str) -> None:
        msg = add_message(name, [(field_name, 1, repeated, f.TYPE_MESSAGE, f".tensorflow.{name}.{entry}")])
        nested = msg.nested_type.add(name=entry)
        nested.options.map_entry = True
        nested.field.add(name="key", number=1, label=optional, type=f.TYPE_STRING)
        nested.field.add(name="value", number=2, label=optional, type=f.TYPE_MESSAGE, type_name=value_type)

    add_map_message("Features", "feature", "FeatureEntry", ".tensorflow.Feature")
    add_message("FeatureList", [("feature", 1, repeated, f.TYPE_MESSAGE, ".tensorflow.Feature")])
    add_map_message("FeatureLists", "feature_list", "FeatureListEntry", ".tensorflow.FeatureList")
    add_message("Example", [("features", 1, optional, f.TYPE_MESSAGE, ".tensorflow.Features")])
    add_message(
        "SequenceExample",
        [
            ("context", 1, optional, f.TYPE_MESSAGE, ".tensorflow.Features"),
            ("feature_lists", 2, optional, f.TYPE_MESSAGE, ".tensorflow.FeatureLists"),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    names = [
        "BytesList",
        "FloatList",
        "Int64List",
        "Feature",
        "Features",
        "FeatureList",
        "FeatureLists",
        "Example",
        "SequenceExample",
    ]
    return {n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.{n}")) for n in names}


_MESSAGES = _build_message_classes()
SequenceExample = _MESSAGES["SequenceExample"]
Example = _MESSAGES["Example"]


def masked_crc32c(data: bytes | np.ndarray) -> int:
    """TFRecord's masked CRC32C: rotate right by 15 bits and add a constant (guards CRCs of CRCs)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """One TFRecord frame: header (length + its CRC), payload, payload CRC."""
    header = struct.pack("<Q", len(data))
    return header + _FOOTER.pack(masked_crc32c(header)) + data + _FOOTER.pack(masked_crc32c(data))


def iter_framed(buffer: bytes, name: str | os.PathLike[str]) -> Iterator[memoryview]:
    """Split a decompressed TFRecord stream into payloads (zero-copy views), verifying both CRCs of each."""
    view = memoryview(buffer)
    array = np.frombuffer(buffer, dtype=np.uint8)  # google_crc32c accepts read-only arrays, not memoryviews
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < _HEADER.size:
            raise DataError(f"{name}: truncated TFRecord (partial header at byte {pos})")
        length, length_crc = _HEADER.unpack_from(view, pos)
        if masked_crc32c(array[pos : pos + 8]) != length_crc:
            raise DataError(f"{name}: corrupt TFRecord (length CRC mismatch at byte {pos})")
        start = pos + _HEADER.size
        stop = start + length
        if stop + _FOOTER.size > end:
            raise DataError(f"{name}: truncated TFRecord (record of {length} bytes at byte {pos} is cut)")
        payload = view[start:stop]
        (data_crc,) = _FOOTER.unpack_from(view, stop)
        if masked_crc32c(array[start:stop]) != data_crc:
            raise DataError(f"{name}: corrupt TFRecord (data CRC mismatch in record at byte {pos})")
        yield payload
        pos = stop + _FOOTER.size


def _decompress(raw: bytes, name: str | os.PathLike[str]) -> bytes:
    """Inflate a (possibly multi-member) GZIP file; DataError for non-GZIP, corrupt or cut streams."""
    if raw[:2] != _GZIP_MAGIC:
        raise DataError(f"{name}: not a GZIP TFRecord file (missing gzip magic bytes)")
    chunks = []
    data = raw
    try:
        while data:
            inflater = _deflate.decompressobj(16 + zlib.MAX_WBITS)
            chunks.append(inflater.decompress(data))
            if not inflater.eof:
                raise DataError(f"{name}: truncated GZIP stream")
            data = inflater.unused_data
            if data and data[:2] != _GZIP_MAGIC:  # trailing garbage: gzip ignores it too, but says so
                warn_once(f"{name}: ignored {len(data)} trailing bytes after the end of the GZIP stream")
                break
    except (zlib.error, _deflate.error) as exc:
        raise DataError(f"{name}: corrupt GZIP stream ({exc})") from exc
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_file(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read record file ({exc.strerror})") from exc


def read_records_raw(path: str | os.PathLike[str], *, compressed: bool = True) -> list[bytes]:
    """All record payloads of a TFRecord file (GZIP unless ``compressed=False``), CRC-checked.

    Generic: also reads other TFRecord files (e.g. uncompressed ``tf.train.Example`` files, see ``Example``).
    """
    raw = _read_file(path)
    buffer = _decompress(raw, path) if compressed else raw
    return [bytes(p) for p in iter_framed(buffer, path)]


def _context_int(context: Any, key: str, path: str | os.PathLike[str]) -> int | None:
    if key not in context.feature:
        return None
    values = context.feature[key].int64_list.value
    if len(values) != 1:
        raise DataError(f"{path}: context feature {key!r} must hold one int64, got {len(values)}")
    return int(values[0])


def _frame_shape(key: str, ctx: dict[str, int | None], path: str | os.PathLike[str]) -> tuple[int, ...]:
    if key == KEY_ACOUSTIC:
        dims = (ctx["audio_image/height"], ctx["audio_image/width"], ctx["audio_image/depth"])
    elif key == KEY_AUDIO:
        mics, samples = ctx["audio_data/mics"], ctx["audio_data/samples"]
        if mics not in (None, 1):
            return (mics, samples if samples is not None else SAMPLES_PER_FRAME)
        dims = (samples if samples is not None else SAMPLES_PER_FRAME,)
    else:
        dims = (ctx["video/height"], ctx["video/width"], ctx["video/depth"])
    if any(d is None for d in dims):
        raise DataError(f"{path}: context lacks the size keys of feature list {key!r}")
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


_SIZE_KEYS = (
    "audio_image/height",
    "audio_image/width",
    "audio_image/depth",
    "audio_data/mics",
    "audio_data/samples",
    "video/height",
    "video/width",
    "video/depth",
)


def parse_sequence_example(
    payload: bytes | memoryview, path: str | os.PathLike[str], keys: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Decode one serialized SequenceExample into the record mapping (see ``read_record``)."""
    example = SequenceExample()
    try:
        example.ParseFromString(payload)
    except Exception as exc:  # protobuf raises its own DecodeError type
        raise DataError(f"{path}: record is not a valid SequenceExample ({exc})") from exc
    context = example.context
    record: dict[str, Any] = {}
    for key in (KEY_CLASS, KEY_LOCATION):
        value = _context_int(context, key, path)
        if value is None:
            raise DataError(f"{path}: context lacks {key!r}")
        record[key] = value
    if _context_int(context, KEY_SYNTHETIC, path):
        record[KEY_SYNTHETIC] = 1
    ctx = {k: _context_int(context, k, path) for k in _SIZE_KEYS}
    lists = example.feature_lists.feature_list
    for key, dtype in FEATURE_DTYPES.items():
        if key not in lists or (keys is not None and key not in keys):
            continue
        shape = _frame_shape(key, ctx, path)
        entries = lists[key].feature
        frames = [entry.bytes_list.value[0] if len(entry.bytes_list.value) == 1 else b"" for entry in entries]
        frame_bytes = int(np.prod(shape)) * dtype.itemsize
        bad = [i for i, f in enumerate(frames) if len(f) != frame_bytes]
        if bad:
            raise DataError(
                f"{path}: feature list {key!r} entry {bad[0]} has {len(frames[bad[0]])} bytes, "
                f"expected {frame_bytes} for shape {shape} {dtype}"
            )
        array = np.empty((len(frames), *shape), dtype=dtype)
        flat = array.reshape(len(frames), -1).view(np.uint8)
        for i, frame in enumerate(frames):
            flat[i] = np.frombuffer(frame, dtype=np.uint8)
        record[key] = array
    return record


def read_record(path: str | os.PathLike[str], *, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Read a one-second GZIP SequenceExample record written by the original converter or by ``write_record``.

    Returns ``{"classes": int, "location": int, "audio/image": float32 [F,36,48,12] (as stored, no flip),
    "audio/data": int32 [F,1024], "video/image": uint8 [F,H,W,3] BGR}``; absent modalities are absent keys,
    and ``"audio_image/synthetic": 1`` marks acoustic images a generator made (``layout.KEY_SYNTHETIC``).
    ``keys`` restricts decoding to some feature lists (the file is still read and CRC-checked in full).
    """
    payloads = list(iter_framed(_decompress(_read_file(path), path), path))
    if len(payloads) != 1:
        raise DataError(f"{path}: expected exactly one record in the file, found {len(payloads)}")
    return parse_sequence_example(payloads[0], path, keys)


def _int64_feature(value: int) -> Any:
    feature = _MESSAGES["Feature"]()
    feature.int64_list.value.append(int(value))
    return feature


def build_sequence_example(record: Mapping[str, Any]) -> Any:
    """Build the SequenceExample with exactly the original converter's context keys and feature lists (and the
    synthetic flag where ``record`` sets it)."""
    example = SequenceExample()
    context = example.context.feature
    for key in (KEY_CLASS, KEY_LOCATION):
        if key not in record:
            raise DataError(f"record lacks {key!r}")
        context[key].CopyFrom(_int64_feature(record[key]))
    if record.get(KEY_SYNTHETIC):
        context[KEY_SYNTHETIC].CopyFrom(_int64_feature(1))
    arrays: dict[str, np.ndarray] = {}
    for key, dtype in FEATURE_DTYPES.items():
        if key in record:
            arrays[key] = np.ascontiguousarray(np.asarray(record[key]), dtype=dtype)
    if KEY_ACOUSTIC in arrays:
        a = arrays[KEY_ACOUSTIC]
        if a.ndim != 4:
            raise DataError(f"{KEY_ACOUSTIC} must be [F, rows, cols, depth], got shape {a.shape}")
        for name, size in zip(("height", "width", "depth"), a.shape[1:], strict=True):
            context[f"audio_image/{name}"].CopyFrom(_int64_feature(size))
    if KEY_AUDIO in arrays:
        a = arrays[KEY_AUDIO]
        if a.ndim != 2:
            raise DataError(f"{KEY_AUDIO} must be [F, samples] (one mic), got shape {a.shape}")
        context["audio_data/mics"].CopyFrom(_int64_feature(1))
        context["audio_data/samples"].CopyFrom(_int64_feature(a.shape[1]))
    if KEY_VIDEO in arrays:
        a = arrays[KEY_VIDEO]
        if a.ndim != 4:
            raise DataError(f"{KEY_VIDEO} must be [F, H, W, 3], got shape {a.shape}")
        for name, size in zip(("height", "width", "depth"), a.shape[1:], strict=True):
            context[f"video/{name}"].CopyFrom(_int64_feature(size))
    lists = example.feature_lists.feature_list
    for key, array in arrays.items():
        entries = lists[key].feature
        for frame in array:
            entries.add().bytes_list.value.append(frame.tobytes())
    return example


def serialize_sequence_example(record: Mapping[str, Any]) -> bytes:
    """The SequenceExample of ``record`` as bytes that depend on the record only.

    Protobuf writes map entries (the context keys, the feature lists) in hash-table order, which changes from
    one process to the next; deterministic serialisation sorts them by key, so the same record gives the
    same bytes in every run.
    """
    return build_sequence_example(record).SerializeToString(deterministic=True)


def write_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Write ``record`` (the ``read_record`` mapping) as one GZIP SequenceExample, atomically."""
    payload = serialize_sequence_example(record)
    compressor = _deflate.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    data = compressor.compress(frame_record(payload)) + compressor.flush()
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
