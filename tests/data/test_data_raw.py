"""Raw readers: .dc layout, MATLAB v5 and v7.3, BMP channel order, video_time.txt and folder checks."""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from acoustic_ssl.data.raw import (
    iter_video_dirs,
    read_bmp,
    read_dc,
    read_mfcc_mat,
    read_video_seconds,
    scan_video_dir,
)
from acoustic_ssl.data.raw_writer import write_bmp, write_dc, write_mfcc_mat
from acoustic_ssl.errors import DataError


def test_dc_is_sample_interleaved(tmp_path: Path) -> None:
    path = tmp_path / "A_000001.dc"
    np.arange(128 * 1024, dtype="<i4").tofile(path)
    audio = read_dc(path)
    assert audio.shape == (128, 1024) and audio.dtype == np.int32
    # value k belongs to mic k mod 128, sample k div 128
    assert audio[0, 0] == 0 and audio[1, 0] == 1 and audio[0, 1] == 128 and audio[5, 7] == 7 * 128 + 5


def test_dc_round_trips_through_the_writer_and_checks_size(tmp_path: Path) -> None:
    samples = np.random.default_rng(0).integers(-(2**31), 2**31 - 1, (128, 1024), dtype=np.int32)
    write_dc(tmp_path / "A_000002.dc", samples)
    np.testing.assert_array_equal(read_dc(tmp_path / "A_000002.dc"), samples)
    (tmp_path / "A_000003.dc").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match=r"A_000003\.dc.*25 int32 values"):
        read_dc(tmp_path / "A_000003.dc")


def test_mat_v5_single_and_double(tmp_path: Path) -> None:
    mfcc = np.random.default_rng(1).standard_normal((36, 48, 12)).astype(np.float32)
    write_mfcc_mat(tmp_path / "Data_1.mat", mfcc)
    out = read_mfcc_mat(tmp_path / "Data_1.mat")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, mfcc)
    scipy.io.savemat(tmp_path / "Data_2.mat", {"MFCC": mfcc.astype(np.float64)})
    np.testing.assert_array_equal(read_mfcc_mat(tmp_path / "Data_2.mat"), mfcc)


def _write_mat_v73(path: Path, array: np.ndarray) -> None:
    """A MAT-file as MATLAB's -v7.3 writes it: 512-byte header, HDF5 body, column-major (axes reversed)."""
    with h5py.File(path, "w", userblock_size=512) as handle:
        dataset = handle.create_dataset("MFCC", data=np.ascontiguousarray(array.T))
        dataset.attrs["MATLAB_class"] = np.bytes_(b"single")
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    header = text.ljust(116, b" ") + b"\0" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as handle:
        handle.write(header.ljust(512, b"\0"))


def test_mat_v73_is_read_in_matlab_orientation(tmp_path: Path) -> None:
    mfcc = np.random.default_rng(2).standard_normal((36, 48, 12)).astype(np.float32)
    path = tmp_path / "Data_3.mat"
    _write_mat_v73(path, mfcc)
    with pytest.raises(NotImplementedError):  # the file really is v7.3 for scipy
        scipy.io.loadmat(path)
    out = read_mfcc_mat(path)
    assert out.shape == (36, 48, 12)
    np.testing.assert_array_equal(out, mfcc)


def test_mat_wrong_shape_or_variable_is_an_error(tmp_path: Path) -> None:
    scipy.io.savemat(tmp_path / "Data_4.mat", {"MFCC": np.zeros((36, 48, 11), np.float32)})
    with pytest.raises(DataError, match=r"Data_4\.mat.*\(36, 48, 11\).*expected \(36, 48, 12\)"):
        read_mfcc_mat(tmp_path / "Data_4.mat")
    scipy.io.savemat(tmp_path / "Data_5.mat", {"other": np.zeros(3)})
    with pytest.raises(DataError, match=r"Data_5\.mat.*no variable 'MFCC'"):
        read_mfcc_mat(tmp_path / "Data_5.mat")
    _write_mat_v73(tmp_path / "Data_6.mat", np.zeros((36, 48, 6), np.float32))
    with pytest.raises(DataError, match=r"Data_6\.mat.*\(36, 48, 6\)"):
        read_mfcc_mat(tmp_path / "Data_6.mat")
    with pytest.raises(DataError, match=r"Data_7\.mat.*missing"):
        read_mfcc_mat(tmp_path / "Data_7.mat")


def _bmp_24bit(rows_bgr: list[list[tuple[int, int, int]]]) -> bytes:
    """A 24-bit BMP written byte by byte from the format: rows bottom-up, B G R per pixel, rows padded to
    4 bytes."""
    height, width = len(rows_bgr), len(rows_bgr[0])
    stride = (3 * width + 3) // 4 * 4
    pixels = b"".join(
        bytes(v for pixel in row for v in pixel).ljust(stride, b"\0") for row in reversed(rows_bgr)
    )
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def _bmp_pixels(data: bytes) -> np.ndarray:
    """The pixel bytes of a bottom-up 24-bit BMP as stored, as (H, W, 3) top row first (B, G, R order)."""
    offset, _, width, height, _, bits = struct.unpack_from("<IIiiHH", data, 10)
    assert bits == 24 and height > 0
    stride = (3 * width + 3) // 4 * 4
    rows = [np.frombuffer(data, np.uint8, 3 * width, offset + r * stride) for r in range(height)]
    return np.stack(rows[::-1]).reshape(height, width, 3)


# Top row: pure red, green, blue; bottom row: distinct values in every channel.
BMP_BGR = [[(0, 0, 255), (0, 255, 0), (255, 0, 0)], [(10, 20, 30), (40, 50, 60), (70, 80, 90)]]


def test_bmp_is_read_as_bgr(tmp_path: Path) -> None:
    """Bytes written from the BMP format itself (not by our writer) come back in BGR order, top row first."""
    path = tmp_path / "I_000001.bmp"
    path.write_bytes(_bmp_24bit(BMP_BGR))
    frame = read_bmp(path)
    np.testing.assert_array_equal(frame, np.array(BMP_BGR, np.uint8))
    assert frame[0, 0].tolist() == [0, 0, 255]  # red: its last channel
    (tmp_path / "I_000002.bmp").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"I_000002\.bmp.*cannot decode"):
        read_bmp(tmp_path / "I_000002.bmp")


def test_bmp_is_written_as_the_format_stores_bgr(tmp_path: Path) -> None:
    """Our writer's pixel bytes, read straight from the file: B G R, as a DualCam .bmp holds them."""
    bgr = np.array(BMP_BGR, np.uint8)
    write_bmp(tmp_path / "I_000001.bmp", bgr)
    np.testing.assert_array_equal(_bmp_pixels((tmp_path / "I_000001.bmp").read_bytes()), bgr)


def test_video_seconds(tmp_path: Path) -> None:
    (tmp_path / "video_time.txt").write_text("video seconds: 17")  # the original wrote no newline
    assert read_video_seconds(tmp_path) == 17
    (tmp_path / "video_time.txt").write_text("seconds = 3\n")
    with pytest.raises(DataError, match=r"video_time\.txt.*'video seconds: N'"):
        read_video_seconds(tmp_path)
    with pytest.raises(DataError, match=r"missing video_time\.txt"):
        read_video_seconds(tmp_path / "elsewhere")


def test_iter_video_dirs_is_numeric_and_ignores_other_entries(tmp_path: Path) -> None:
    for rel in (
        "class_10/data_002",
        "class_2/data_010",
        "class_2/data_009",
        "class_2/notes",
        "misc/data_001",
    ):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / "class_2" / "data_003").write_text("a file, not a video")
    found = [(c, loc, d.relative_to(tmp_path).as_posix()) for c, loc, d in iter_video_dirs(tmp_path)]
    assert found == [(2, 9, "class_2/data_009"), (2, 10, "class_2/data_010"), (10, 2, "class_10/data_002")]


def test_scan_reports_mismatched_counts_and_missing_frames(tmp_path: Path, make_raw_video) -> None:
    make_raw_video(tmp_path, 0, 1, frames=12)
    video_dir = tmp_path / "class_0" / "data_001"
    assert scan_video_dir(video_dir, 0, 1).seconds == 1
    (video_dir / "audio" / "A_000012.dc").unlink()
    with pytest.raises(DataError, match=r"data_001: the frame folders hold different numbers.*audio/: 11"):
        scan_video_dir(video_dir, 0, 1)
    for kind, name in (("audio", "A_000013.dc"), ("MFCC_Image", "Data_13.mat"), ("video", "I_000013.bmp")):
        (video_dir / kind / name).write_bytes(b"")
    (video_dir / "MFCC_Image" / "Data_12.mat").unlink()  # counts equal again, but frame 12 lacks its .mat
    (video_dir / "video" / "I_000012.bmp").unlink()
    with pytest.raises(DataError, match=r"Data_12\.mat: frame file is missing"):
        scan_video_dir(video_dir, 0, 1)
    with pytest.raises(DataError, match=r"I_000012\.bmp: frame file is missing"):
        scan_video_dir(video_dir, 0, 1, modalities=("video",))
    with pytest.raises(DataError, match=r"A_000012\.dc: frame file is missing"):
        scan_video_dir(video_dir, 0, 1, modalities=("audio",))


V73_HEADER = b"MATLAB 7.3 MAT-file".ljust(116) + b"\0" * 8 + b"\x00\x02IM"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"MFCC = [1 2 3]\nthis is a text file, not MATLAB\n", "not a readable MATLAB file"),
        (b"\x89HDF\r\n\x1a\n" + b"\x07junk" * 200, "not a readable MATLAB v7.3 file"),
        (V73_HEADER.ljust(512, b"\0") + b"\x89HDF\r\n\x1a\n" + b"x" * 64, "not a readable MATLAB v7.3 file"),
    ],
    ids=["empty", "text", "hdf5-magic-then-junk", "v7.3-header-then-junk"],
)
def test_unreadable_mat_files_are_one_line_errors(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "Data_9.mat"
    path.write_bytes(content)
    with pytest.raises(DataError, match=rf"Data_9\.mat: .*{reason}") as err:
        read_mfcc_mat(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_truncated_mat_files_are_errors_at_every_length(tmp_path: Path, version: str) -> None:
    good = tmp_path / "good.mat"
    mfcc = np.random.default_rng(3).standard_normal((36, 48, 12)).astype(np.float32)
    write_mfcc_mat(good, mfcc) if version == "v5" else _write_mat_v73(good, mfcc)
    data = good.read_bytes()
    cut = tmp_path / "Data_1.mat"
    for length in np.linspace(1, len(data) - 1, 25).astype(int):
        cut.write_bytes(data[:length])
        with pytest.raises(DataError, match=r"Data_1\.mat: "):
            read_mfcc_mat(cut)
