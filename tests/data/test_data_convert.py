"""Conversion raw -> records: exact arrays, OpenCV-like bicubic, resuming, errors without partial output."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from acoustic_ssl.cli import main
from acoustic_ssl.data import convert_dataset, read_record
from acoustic_ssl.data.convert import resize_bicubic, resized_shape
from acoustic_ssl.errors import DataError


def _cubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """OpenCV INTER_CUBIC as a matrix: a = -0.75, half-pixel centres, clamped taps."""
    a = -0.75
    scale = n_in / n_out
    matrix = np.zeros((n_out, n_in))
    for d in range(n_out):
        fx = (d + 0.5) * scale - 0.5
        sx = int(np.floor(fx))
        t = fx - sx
        w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
        w1 = ((a + 2) * t - (a + 3)) * t * t + 1
        w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
        for k, w in enumerate((w0, w1, w2, 1 - w0 - w1 - w2)):
            matrix[d, min(max(sx - 1 + k, 0), n_in - 1)] += w
    return matrix


def reference_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rows, cols = _cubic_matrix(image.shape[0], size[0]), _cubic_matrix(image.shape[1], size[1])
    out = np.stack([rows @ image[..., c].astype(np.float64) @ cols.T for c in range(image.shape[2])], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("h", "w", "expected"),
    [(480, 640, (224, 298)), (240, 320, (224, 298)), (640, 480, (298, 224)), (224, 224, (224, 224))],
)
def test_resized_shape(h: int, w: int, expected: tuple[int, int]) -> None:
    assert resized_shape(h, w) == expected


def test_resize_matches_an_independent_opencv_cubic() -> None:
    rng = np.random.default_rng(0)
    for shape in ((480, 640), (120, 160)):
        image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        size = resized_shape(*shape)
        ours = resize_bicubic(image[None], size)[0]
        diff = np.abs(ours.astype(int) - reference_bicubic(image, size))
        assert diff.max() <= 1 and diff.mean() < 0.01


def test_round_trip_raw_to_records(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    written = make_raw_video(raw, 3, 7, frames=27, size=(120, 160))  # 2 s + 3 frames that are dropped
    summary = convert_dataset(raw, out, workers=1)
    assert (summary.videos, summary.written, summary.skipped) == (1, 2, 0)
    assert _files(out) == ["class_3/data_007/Data_001.tfrecord", "class_3/data_007/Data_002.tfrecord"]
    for second in range(2):
        record = read_record(out / "class_3" / "data_007" / f"Data_{second + 1:03d}.tfrecord")
        frames = slice(12 * second, 12 * second + 12)
        assert record["classes"] == 3 and record["location"] == 7
        np.testing.assert_array_equal(record["audio/image"], written["mfcc"][frames])
        np.testing.assert_array_equal(record["audio/data"], written["audio"][frames][:, 0, :])
        video = record["video/image"]
        assert video.shape == (12, 224, 298, 3) and video.dtype == np.uint8
        expected = np.stack([reference_bicubic(f, (224, 298)) for f in written["bgr"][frames]])
        diff = np.abs(video.astype(int) - expected)
        assert diff.mean() < 0.05 and diff.max() <= 1


def test_mic_and_modalities_are_honoured(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    written = make_raw_video(raw, 0, 0, frames=12)
    convert_dataset(raw, out, modalities=("audio",), workers=1, mic=5)
    record = read_record(out / "class_0" / "data_000" / "Data_001.tfrecord")
    assert set(record) == {"classes", "location", "audio/data"}
    np.testing.assert_array_equal(record["audio/data"], written["audio"][:, 5, :])
    with pytest.raises(DataError, match="mic"):
        convert_dataset(raw, tmp_path / "other", workers=1, mic=128)


def test_resumes_without_redoing_finished_records(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 1, 2, frames=36, size=(24, 32))
    convert_dataset(raw, out, modalities=("acoustic", "audio"), workers=1)
    video_dir = out / "class_1" / "data_002"
    first, second = video_dir / "Data_001.tfrecord", video_dir / "Data_002.tfrecord"
    os.utime(first, (1, 1))
    second.unlink()
    summary = convert_dataset(raw, out, modalities=("acoustic", "audio"), workers=1)
    assert (summary.written, summary.skipped) == (1, 2)
    assert first.stat().st_mtime == 1 and second.is_file()


def test_parallel_conversion_of_several_videos(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    for location in range(3):
        make_raw_video(raw, location % 2, location, frames=12, size=(24, 32))
    summary = convert_dataset(raw, out, workers=2)
    assert (summary.videos, summary.written) == (3, 3)
    assert _files(out) == [
        "class_0/data_000/Data_001.tfrecord", "class_0/data_002/Data_001.tfrecord",
        "class_1/data_001/Data_001.tfrecord",
    ]  # fmt: skip


def test_wrong_mat_shape_names_the_file_and_leaves_no_output(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 4, frames=24, size=(24, 32))
    bad = raw / "class_0" / "data_004" / "MFCC_Image" / "Data_20.mat"
    scipy.io.savemat(bad, {"MFCC": np.zeros((48, 36, 12), np.float32)})
    with pytest.raises(DataError, match=r"Data_20\.mat.*\(48, 36, 12\)"):
        convert_dataset(raw, out, workers=1)
    assert _files(out) == [] and not (out / "class_0").exists()


def test_missing_frame_file_names_the_file_and_leaves_no_output(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 0, frames=12, size=(24, 32))
    make_raw_video(raw, 0, 1, frames=24, size=(24, 32))
    (raw / "class_0" / "data_001" / "video" / "I_000015.bmp").rename(
        raw / "class_0" / "data_001" / "video" / "I_000030.bmp"
    )
    with pytest.raises(DataError, match=r"data_001/video/I_000015\.bmp: frame file is missing"):
        convert_dataset(raw, out, workers=2)
    assert not out.exists()


def test_missing_video_time_names_the_folder(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 2, 9, frames=12, size=(24, 32))
    (raw / "class_2" / "data_009" / "video_time.txt").unlink()
    with pytest.raises(DataError, match=r"class_2/data_009: missing video_time\.txt"):
        convert_dataset(raw, out, workers=1)
    assert not out.exists()


def test_mismatched_file_counts_name_the_folder(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 2, 3, frames=13, size=(24, 32))
    (raw / "class_2" / "data_003" / "MFCC_Image" / "Data_13.mat").unlink()
    with pytest.raises(DataError, match=r"class_2/data_003: the frame folders hold different numbers"):
        convert_dataset(raw, out, workers=1)
    assert not out.exists()


def test_cli_convert_reports_errors_as_one_line(tmp_path: Path, make_raw_video, capsys) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 0, frames=12, size=(24, 32))
    assert main(["convert", str(raw), str(out), "--modalities", "0", "1", "--workers", "1"]) == 0
    assert "1 records written" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "nothing"), str(out)]) == 2
    assert "nothing: not a directory" in capsys.readouterr().err


def test_cli_convert_names_an_unreadable_mat_in_one_line(tmp_path: Path, make_raw_video, capsys) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 0, frames=12, size=(24, 32))
    bad = raw / "class_0" / "data_000" / "MFCC_Image" / "Data_5.mat"
    bad.write_text("not a MATLAB file\n")
    assert main(["convert", str(raw), str(out), "--workers", "1"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    assert err.startswith(f"acoustic-ssl convert: error: {bad}: not a readable MATLAB file (")
    assert not out.exists()


def test_two_runs_write_byte_identical_records(tmp_path: Path, make_raw_video) -> None:
    """Protobuf's map order changes from process to process unless serialised deterministically, so the second
    conversion runs in a fresh interpreter."""
    raw = tmp_path / "raw"
    make_raw_video(raw, 0, 1, frames=24, size=(24, 32))
    make_raw_video(raw, 2, 0, frames=12, size=(24, 32))
    convert_dataset(raw, tmp_path / "a", workers=1)
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1", "PYTHONHASHSEED": "7"}
    command = [sys.executable, "-m", "acoustic_ssl", "convert", str(raw), str(tmp_path / "b")]
    subprocess.run([*command, "--workers", "2"], check=True, env=env, capture_output=True)
    names = _files(tmp_path / "a")
    assert names == _files(tmp_path / "b") and len(names) == 3
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path: Path, make_raw_video) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 0, frames=24, size=(24, 32))
    convert_dataset(raw, out, modalities=("audio",), workers=1)
    video_dir = out / "class_0" / "data_000"
    (video_dir / "Data_002.tfrecord").unlink()
    stale = video_dir / ".Data_002.tfrecord.k1ll3d.tmp"  # what SIGKILL during a write leaves
    stale.write_bytes(b"\x1f\x8b half a record")
    live = video_dir / ".Data_001.tfrecord.wr1t1ng.tmp"  # another convert writing right now holds its lock
    other = video_dir / ".notes.tmp"
    other.write_text("not ours")
    with open(live, "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        summary = convert_dataset(raw, out, modalities=("audio",), workers=1)
        assert live.exists()
    assert (summary.written, summary.skipped) == (1, 1)
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in video_dir.glob(".Data_*")) == [live.name]


def test_full_disk_is_one_line_naming_the_file_and_leaves_nothing(
    tmp_path: Path, make_raw_video, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 3, frames=36, size=(24, 32))
    write_bytes, calls = Path.write_bytes, []

    def disk_fills_after_one_record(self: Path, data: bytes) -> int:
        calls.append(self)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write(2) reports it: no file name
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_fills_after_one_record)
    assert main(["convert", str(raw), str(out), "--workers", "1"]) == 2
    record = out / "class_0" / "data_003" / "Data_002.tfrecord"
    assert capsys.readouterr().err.strip().splitlines() == [
        f"acoustic-ssl convert: error: {record}: cannot write (No space left on device)"
    ]
    assert len(calls) == 2 and _files(out) == []  # the record written before is removed too


def test_non_finite_acoustic_images_and_wrong_outputs_are_refused(
    tmp_path: Path, make_raw_video, capsys
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    make_raw_video(raw, 0, 0, frames=12, size=(24, 32))
    bad = raw / "class_0" / "data_000" / "MFCC_Image" / "Data_3.mat"
    image = scipy.io.loadmat(bad)["MFCC"]
    image[4, 5, 6] = np.nan
    scipy.io.savemat(bad, {"MFCC": image})
    assert main(["convert", str(raw), str(out), "--workers", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"acoustic-ssl convert: error: {bad}: variable 'MFCC': 1 value is NaN or infinite (first: row 4, "
        "column 5, coefficient 6 = nan)"
    )
    assert not out.exists()
    assert main(["convert", str(raw), str(raw), "--workers", "1", "--modalities", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"{raw}: the output is the raw tree itself; write the records to another folder")
    (out / "videos.csv").parent.mkdir()
    (out / "videos.csv").write_text("class,location,clip,label\n")
    assert main(["convert", str(raw), str(out), "--workers", "1", "--modalities", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        f"{out}: holds the records of an import-video run (videos.csv); write the records of {raw} to "
        "another folder")
