"""TFRecord I/O: round trip, compatibility with an independent codec (and TensorFlow when present), errors."""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from acoustic_ssl.data import read_record, write_record
from acoustic_ssl.data.tfrecord import (
    Example,
    build_sequence_example,
    read_records_raw,
    serialize_sequence_example,
)
from acoustic_ssl.errors import AcousticSSLWarning, DataError

ORIGINAL_CONTEXT_KEYS = {
    "classes", "location", "audio_image/height", "audio_image/width", "audio_image/depth",
    "audio_data/mics", "audio_data/samples", "video/height", "video/width", "video/depth",
}  # fmt: skip


def _record(rng: np.random.Generator, frames: int = 12) -> dict:
    return {
        "classes": 7,
        "location": 58,
        "audio/image": rng.standard_normal((frames, 36, 48, 12)).astype(np.float32),
        "audio/data": rng.integers(-(2**31), 2**31 - 1, (frames, 1024), dtype=np.int32),
        "video/image": rng.integers(0, 256, (frames, 20, 30, 3), dtype=np.uint8),
    }


def _assert_same(record: dict, expected: dict) -> None:
    assert set(record) == set(expected)
    for key, value in expected.items():
        if isinstance(value, int):
            assert record[key] == value
        else:
            assert record[key].dtype == value.dtype and record[key].shape == value.shape
            np.testing.assert_array_equal(record[key], value)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    expected = _record(np.random.default_rng(1))
    path = tmp_path / "Data_001.tfrecord"
    write_record(path, expected)
    _assert_same(read_record(path), expected)
    assert [p.name for p in tmp_path.iterdir()] == ["Data_001.tfrecord"]  # no temporary left over


def test_absent_modalities_are_absent_keys(tmp_path: Path) -> None:
    full = _record(np.random.default_rng(2))
    audio_only = {k: full[k] for k in ("classes", "location", "audio/data")}
    write_record(tmp_path / "a.tfrecord", audio_only)
    _assert_same(read_record(tmp_path / "a.tfrecord"), audio_only)


def test_independent_decoder_reads_our_file(tmp_path: Path, wire: SimpleNamespace) -> None:
    expected = _record(np.random.default_rng(3), frames=3)
    write_record(tmp_path / "r.tfrecord", expected)
    context, lists = wire.decode_tfrecord_file(tmp_path / "r.tfrecord")
    assert set(context) == ORIGINAL_CONTEXT_KEYS
    assert context == {
        "classes": 7, "location": 58, "audio_image/height": 36, "audio_image/width": 48,
        "audio_image/depth": 12, "audio_data/mics": 1, "audio_data/samples": 1024,
        "video/height": 20, "video/width": 30, "video/depth": 3,
    }  # fmt: skip
    assert set(lists) == {"audio/image", "audio/data", "video/image"}
    for key, dtype in (("audio/image", "<f4"), ("audio/data", "<i4"), ("video/image", "u1")):
        assert len(lists[key]) == 3
        for i, entry in enumerate(lists[key]):
            assert entry == expected[key][i].astype(dtype).tobytes()


def test_synthetic_images_are_flagged_in_the_context(tmp_path: Path, wire: SimpleNamespace) -> None:
    """``synthesize`` marks generated acoustic images with one extra int64 context key, which the original
    converter never wrote (so unmarked records keep exactly its keys) and readers that ask only for its keys
    skip."""
    marked = {**_record(np.random.default_rng(12), frames=2), "audio_image/synthetic": 1}
    write_record(tmp_path / "s.tfrecord", marked)
    _assert_same(read_record(tmp_path / "s.tfrecord"), marked)
    context, _ = wire.decode_tfrecord_file(tmp_path / "s.tfrecord")
    assert set(context) == ORIGINAL_CONTEXT_KEYS | {"audio_image/synthetic"}
    assert context["audio_image/synthetic"] == 1
    write_record(tmp_path / "u.tfrecord", {**marked, "audio_image/synthetic": 0})
    assert "audio_image/synthetic" not in read_record(tmp_path / "u.tfrecord")


@pytest.mark.parametrize("lists_first", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_reads_records_of_tensorflows_writer(
    tmp_path: Path, wire: SimpleNamespace, lists_first: bool, packed: bool
) -> None:
    """A record produced like TensorFlow's writer (hand-encoded; field order and int64 packing varied)."""
    rng = np.random.default_rng(4)
    acoustic = rng.standard_normal((3, 36, 48, 12)).astype(np.float32)
    audio = rng.integers(-1000, 1000, (3, 1024), dtype=np.int32)
    video = rng.integers(0, 256, (3, 224, 298, 3), dtype=np.uint8)
    context = {
        "classes": 3, "location": 60, "audio_image/height": 36, "audio_image/width": 48,
        "audio_image/depth": 12, "audio_data/mics": 1, "audio_data/samples": 1024,
        "video/height": 224, "video/width": 298, "video/depth": 3,
    }  # fmt: skip
    lists = {
        "audio/image": [f.tobytes() for f in acoustic],
        "audio/data": [f.tobytes() for f in audio],
        "video/image": [f.tobytes() for f in video],
    }
    payload = wire.encode_sequence_example(context, lists, lists_first=lists_first, packed=packed)
    path = tmp_path / "Data_001.tfrecord"
    path.write_bytes(gzip.compress(wire.frame_tfrecord(payload)))
    _assert_same(
        read_record(path),
        {"classes": 3, "location": 60, "audio/image": acoustic, "audio/data": audio, "video/image": video},
    )


def test_serialization_is_wire_identical_to_the_schema(wire: SimpleNamespace) -> None:
    """One map entry per map fixes the order, so the bytes must equal the hand encoding exactly."""
    frames = np.arange(2 * 1024, dtype=np.int32).reshape(2, 1024)
    ours = build_sequence_example({"classes": 1, "location": 2, "audio/data": frames})
    ours.context.feature.pop("location")
    ours.context.feature.pop("audio_data/mics")
    ours.context.feature.pop("audio_data/samples")
    expected = wire.encode_sequence_example(
        {"classes": 1}, {"audio/data": [f.tobytes() for f in frames]}, lists_first=False, packed=True
    )
    assert ours.SerializeToString() == expected


def _tensorflow() -> Any:
    """TensorFlow when installed. ``.ci/run`` runs the two interop tests in a throwaway environment that has
    it, with ACOUSTIC_SSL_REQUIRE_TENSORFLOW=1: there a missing TensorFlow fails instead of skipping."""
    if os.environ.get("ACOUSTIC_SSL_REQUIRE_TENSORFLOW") == "1":
        import tensorflow

        return tensorflow
    return pytest.importorskip("tensorflow")


def test_tensorflow_parses_our_file(tmp_path: Path) -> None:
    tf = _tensorflow()
    expected = _record(np.random.default_rng(5), frames=2)
    path = tmp_path / "r.tfrecord"
    write_record(path, expected)
    (serialized,) = list(tf.data.TFRecordDataset(str(path), compression_type="GZIP").as_numpy_iterator())
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={"classes": tf.io.FixedLenFeature([], tf.int64)},
        sequence_features={"audio/data": tf.io.FixedLenSequenceFeature([], tf.string)},
    )
    assert int(context["classes"]) == 7
    decoded = tf.io.decode_raw(sequence["audio/data"], tf.int32).numpy()
    np.testing.assert_array_equal(decoded, expected["audio/data"])


def test_we_read_tensorflows_own_files(tmp_path: Path) -> None:
    tf = _tensorflow()
    rng = np.random.default_rng(11)
    audio = rng.integers(-1000, 1000, (12, 1024), dtype=np.int32)
    video = rng.integers(0, 256, (12, 6, 8, 3), dtype=np.uint8)

    def int64(v: int):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))

    def frames(a: np.ndarray):
        return tf.train.FeatureList(
            feature=[tf.train.Feature(bytes_list=tf.train.BytesList(value=[f.tobytes()])) for f in a]
        )

    context = {"classes": 4, "location": 12, "audio_data/mics": 1, "audio_data/samples": 1024,
               "video/height": 6, "video/width": 8, "video/depth": 3}  # fmt: skip
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature={k: int64(v) for k, v in context.items()}),
        feature_lists=tf.train.FeatureLists(
            feature_list={"audio/data": frames(audio), "video/image": frames(video)}
        ),
    )
    path = tmp_path / "Data_001.tfrecord"
    with tf.io.TFRecordWriter(str(path), options=tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        writer.write(example.SerializeToString())
    _assert_same(read_record(path), {"classes": 4, "location": 12, "audio/data": audio, "video/image": video})


def _write_gzip_payload(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data))


def test_flipped_byte_is_a_crc_error(tmp_path: Path) -> None:
    path = tmp_path / "Data_004.tfrecord"
    write_record(path, _record(np.random.default_rng(6), frames=1))
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[len(data) // 2] ^= 0x01
    _write_gzip_payload(path, bytes(data))
    with pytest.raises(DataError, match=r"Data_004\.tfrecord.*CRC"):
        read_record(path)


def test_flipped_byte_in_the_compressed_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Data_005.tfrecord"
    write_record(path, _record(np.random.default_rng(7), frames=1))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"Data_005\.tfrecord"):
        read_record(path)


def test_corrupt_length_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Data_006.tfrecord"
    write_record(path, _record(np.random.default_rng(8), frames=1))
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[0] ^= 0x04
    _write_gzip_payload(path, bytes(data))
    with pytest.raises(DataError, match=r"Data_006\.tfrecord.*length CRC"):
        read_record(path)


@pytest.mark.parametrize("cut", ["compressed", "framed"])
def test_truncated_record_is_an_error(tmp_path: Path, cut: str) -> None:
    path = tmp_path / "Data_007.tfrecord"
    write_record(path, _record(np.random.default_rng(9), frames=2))
    if cut == "compressed":
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    else:
        data = gzip.decompress(path.read_bytes())
        _write_gzip_payload(path, data[:-100])
    with pytest.raises(DataError, match=r"Data_007\.tfrecord.*truncated"):
        read_record(path)


def test_trailing_bytes_are_read_past_with_one_warning_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "Data_010.tfrecord"
    expected = _record(np.random.default_rng(12), frames=1)
    write_record(path, expected)
    path.write_bytes(path.read_bytes() + b"\0" * 37)  # e.g. a block-padded copy
    with pytest.warns(AcousticSSLWarning, match=r"Data_010\.tfrecord: ignored 37 trailing bytes"):
        _assert_same(read_record(path), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_same(read_record(path), expected)  # once per file, not at every epoch


def test_serialization_is_deterministic_sorted_by_key(wire: SimpleNamespace) -> None:
    """Map entries in key order, whatever order protobuf's hash tables hold them in (byte-identical runs)."""
    frames = np.arange(2 * 1024, dtype=np.int32).reshape(2, 1024)
    context = {"audio_data/mics": 1, "audio_data/samples": 1024, "classes": 4, "location": 9}
    expected = wire.encode_sequence_example(
        context, {"audio/data": [f.tobytes() for f in frames]}, lists_first=False, packed=True
    )
    assert serialize_sequence_example({"location": 9, "audio/data": frames, "classes": 4}) == expected


def test_non_gzip_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "Data_008.tfrecord"
    write_record(path, _record(np.random.default_rng(10), frames=1))
    path.write_bytes(gzip.decompress(path.read_bytes()))  # an uncompressed TFRecord
    with pytest.raises(DataError, match=r"Data_008\.tfrecord.*not a GZIP"):
        read_record(path)


def test_missing_file_and_garbage_payload_are_errors(tmp_path: Path, wire: SimpleNamespace) -> None:
    with pytest.raises(DataError, match=r"nothere\.tfrecord"):
        read_record(tmp_path / "nothere.tfrecord")
    path = tmp_path / "bad.tfrecord"
    _write_gzip_payload(path, wire.frame_tfrecord(b"\xff\xff\xff"))
    with pytest.raises(DataError, match=r"bad\.tfrecord.*SequenceExample"):
        read_record(path)


def test_wrong_entry_size_is_an_error(tmp_path: Path, wire: SimpleNamespace) -> None:
    payload = wire.encode_sequence_example(
        {"classes": 0, "location": 0, "audio_data/mics": 1, "audio_data/samples": 1024},
        {"audio/data": [b"\0" * 100]},
        lists_first=False,
        packed=True,
    )
    path = tmp_path / "short.tfrecord"
    _write_gzip_payload(path, wire.frame_tfrecord(payload))
    with pytest.raises(DataError, match=r"short\.tfrecord.*'audio/data' entry 0 has 100 bytes"):
        read_record(path)


def test_generic_reader_handles_uncompressed_example_files(tmp_path: Path, wire: SimpleNamespace) -> None:
    """TUT-style files: uncompressed, several tf.train.Example records (features = field 1)."""
    encode = wire.encode_sequence_example
    payloads = [encode({"label": i}, {}, lists_first=False, packed=True) for i in range(3)]
    path = tmp_path / "clips.tfrecords"
    path.write_bytes(b"".join(wire.frame_tfrecord(p) for p in payloads))
    records = read_records_raw(path, compressed=False)
    labels = [Example.FromString(r).features.feature["label"].int64_list.value[0] for r in records]
    assert labels == [0, 1, 2]
