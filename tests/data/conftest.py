"""Fixtures of the data tests: raw folders, record trees and an independent TFRecord/protobuf codec.

The codec below is written from the wire-format specification (varints, length-delimited fields, the
TFRecord framing with a pure-Python CRC32C) and shares no code with ``acoustic_ssl.data.tfrecord``, so it
can stand in for TensorFlow's writer and reader.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from acoustic_ssl.data.raw_writer import write_frame, write_video_time

# ----------------------------------------------------------------------------------------------------------
# Independent codec


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def int64_feature(value: int, packed: bool = True) -> bytes:
    # Feature.int64_list = 3; Int64List.value = 1
    inner = field_bytes(1, varint(value)) if packed else field_varint(1, value)
    return field_bytes(3, inner)


def bytes_feature(value: bytes) -> bytes:
    return field_bytes(1, field_bytes(1, value))  # Feature.bytes_list = 1; BytesList.value = 1


def map_entry(key: str, value: bytes) -> bytes:
    return field_bytes(1, key.encode()) + field_bytes(2, value)


def encode_sequence_example(
    context: dict[str, int], lists: dict[str, list[bytes]], *, lists_first: bool, packed: bool
) -> bytes:
    """SequenceExample: context = 1 (Features.feature map = 1), feature_lists = 2 (FeatureLists map = 1)."""
    features = b"".join(field_bytes(1, map_entry(k, int64_feature(v, packed))) for k, v in context.items())
    feature_lists = b"".join(
        field_bytes(1, map_entry(k, b"".join(field_bytes(1, bytes_feature(e)) for e in entries)))
        for k, entries in lists.items()
    )
    parts = [field_bytes(1, features), field_bytes(2, feature_lists)]
    return b"".join(reversed(parts) if lists_first else parts)


def frame_tfrecord(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(length)) + payload + struct.pack("<I", masked(payload))


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def parse_fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(number, wire type, value) of every field; length-delimited values stay bytes."""
    fields, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        fields.append((number, wire, value))
    return fields


def decode_feature(buf: bytes) -> tuple[str, list[Any]]:
    ((kind, _, inner),) = parse_fields(buf)
    if kind == 1:
        return "bytes", [v for _, _, v in parse_fields(inner)]
    assert kind == 3, kind
    values: list[int] = []
    for _, wire, v in parse_fields(inner):
        if wire == 2:
            pos = 0
            while pos < len(v):
                x, pos = read_varint(v, pos)
                values.append(x)
        else:
            values.append(v)
    return "int64", values


def decode_map(buf: bytes) -> dict[str, bytes]:
    out = {}
    for _, _, entry in parse_fields(buf):
        parts = {n: v for n, _, v in parse_fields(entry)}
        out[parts[1].decode()] = parts.get(2, b"")
    return out


def decode_tfrecord_file(path: Path) -> tuple[dict[str, int], dict[str, list[bytes]]]:
    """Gunzip, check framing and CRCs, decode the one SequenceExample: (context ints, feature lists)."""
    data = gzip.decompress(path.read_bytes())
    (length,) = struct.unpack_from("<Q", data, 0)
    assert struct.unpack_from("<I", data, 8)[0] == masked(data[:8])
    payload = data[12 : 12 + length]
    assert struct.unpack_from("<I", data, 12 + length)[0] == masked(payload)
    assert len(data) == 16 + length
    top = {n: v for n, _, v in parse_fields(payload)}
    context = {}
    for key, feature in decode_map(top.get(1, b"")).items():
        kind, values = decode_feature(feature)
        assert kind == "int64" and len(values) == 1
        context[key] = values[0]
    lists = {}
    for key, feature_list in decode_map(top.get(2, b"")).items():
        entries = []
        for _, _, feature in parse_fields(feature_list):
            kind, values = decode_feature(feature)
            assert kind == "bytes" and len(values) == 1
            entries.append(values[0])
        lists[key] = entries
    return context, lists


# ----------------------------------------------------------------------------------------------------------
# Data factories


def raw_frame(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Audio (128,1024) int32, MFCC (36,48,12) float32 and a smooth BGR frame of ``size`` with noise."""
    audio = rng.integers(-(2**20), 2**20, (128, 1024), dtype=np.int32)
    mfcc = rng.standard_normal((36, 48, 12)).astype(np.float32)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 90 * np.sin(x / 9 + c) * np.cos(y / 7 - c) for c in range(3)], axis=-1)
    bgr = np.clip(base + rng.normal(0, 15, base.shape), 0, 255).astype(np.uint8)
    return audio, mfcc, bgr


@pytest.fixture
def make_raw_video() -> Callable[..., dict[str, np.ndarray]]:
    """Write a raw video folder; returns the arrays written, stacked per kind."""

    def make(
        root: Path,
        class_index: int,
        location: int,
        frames: int,
        seconds: int | None = None,
        size: tuple[int, int] = (48, 64),
        seed: int = 0,
    ) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([seed, class_index, location])
        video_dir = root / f"class_{class_index}" / f"data_{location:03d}"
        written: dict[str, list[np.ndarray]] = {"audio": [], "mfcc": [], "bgr": []}
        for frame in range(1, frames + 1):
            audio, mfcc, bgr = raw_frame(rng, size)
            write_frame(video_dir, frame, audio, mfcc, bgr)
            written["audio"].append(audio)
            written["mfcc"].append(mfcc)
            written["bgr"].append(bgr)
        write_video_time(video_dir, frames // 12 if seconds is None else seconds)
        return {k: np.stack(v) for k, v in written.items()}

    return make


def fake_record(
    rng: np.random.Generator,
    class_index: int,
    location: int,
    second: int,
    video_shape: tuple[int, int] = (24, 32),
) -> dict[str, Any]:
    """A record whose arrays encode where they come from (frame values = global frame index)."""
    h, w = video_shape
    frame_ids = second * 12 + np.arange(12)
    video = np.broadcast_to((frame_ids % 256).astype(np.uint8)[:, None, None, None], (12, h, w, 3)).copy()
    video[..., 1] = 100  # distinct channels to check the per-channel means
    video[..., 2] = 200
    return {
        "classes": class_index,
        "location": location,
        "audio/image": rng.standard_normal((12, 36, 48, 12)).astype(np.float32),
        "audio/data": rng.integers(-(2**24), 2**24, (12, 1024), dtype=np.int32),
        "video/image": video,
    }


@pytest.fixture
def record_tree(tmp_path: Path) -> Callable[..., list[Path]]:
    """Write records for {(class, location): seconds}; returns the record paths in list order."""
    from acoustic_ssl.data.tfrecord import write_record

    def make(
        videos: dict[tuple[int, int], int],
        root: Path | None = None,
        seed: int = 0,
        video_shape: tuple[int, int] = (24, 32),
    ) -> list[Path]:
        base = root or tmp_path / "records"
        rng = np.random.default_rng(seed)
        paths = []
        for (class_index, location), seconds in videos.items():
            for second in range(seconds):
                video_dir = base / f"class_{class_index}" / f"data_{location:03d}"
                path = video_dir / f"Data_{second + 1:03d}.tfrecord"
                write_record(path, fake_record(rng, class_index, location, second, video_shape))
                paths.append(path)
        return paths

    return make


@pytest.fixture
def wire() -> SimpleNamespace:
    """The independent codec: encode_sequence_example, frame_tfrecord, decode_tfrecord_file, crc32c."""
    return SimpleNamespace(
        encode_sequence_example=encode_sequence_example,
        frame_tfrecord=frame_tfrecord,
        decode_tfrecord_file=decode_tfrecord_file,
        crc32c=crc32c,
    )
