"""import-video on bad inputs and outputs: names that are not UTF-8, truncated Matroska, nothing importable,
bad CSV windows and duplicates, foreign record trees, and two imports into one output at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from acoustic_ssl.cli import main
from acoustic_ssl.data.synthetic_video import write_synthetic_video
from acoustic_ssl.data.tfrecord import read_record
from acoustic_ssl.data.video_import import read_index
from acoustic_ssl.io_utils import folder_lock

pytest.importorskip("av")


def import_video(*args: object) -> int:
    return main(["import-video", *map(str, args), "--workers", "1"])


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The last stderr line, which must be the one error line (no traceback before it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("acoustic-ssl import-video: error: ")
    return last


def test_a_name_that_is_not_utf8_is_skipped_and_the_rest_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_synthetic_video(src / "bell" / "good.mp4", 0, seconds=1)
    odd = Path(os.fsdecode(os.fsencode(src / "bell") + b"/caf\xe9.mp4"))  # Latin-1 name
    write_synthetic_video(odd, 0, seconds=1)
    assert import_video(src, out) == 0
    captured = capsys.readouterr()
    assert f"skip {src}/bell/caf\\xe9.mp4: the file or folder name is not valid UTF-8" in captured.err
    assert captured.out.startswith("2 clips: 1 imported (1 s of records written), 0 already present, "
                                   "1 skipped (file name not UTF-8 1)")
    assert [(r["clip"], r["status"]) for r in read_index(out)] == [("good", "imported")]
    only_odd = tmp_path / "odd"
    write_synthetic_video(Path(os.fsdecode(os.fsencode(only_odd) + b"/bell/\xff.mp4")), 0, seconds=1)
    assert import_video(only_odd, tmp_path / "out2") == 2
    assert error_line(capsys).endswith(f"{only_odd}: nothing to import: every file name is not valid UTF-8; "
                                       "rename them")
    assert not (tmp_path / "out2").exists()


def test_a_truncated_matroska_file_is_skipped_like_a_truncated_mp4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    whole, cut = src / "bell" / "whole.mkv", src / "bell" / "cut.mkv"
    write_synthetic_video(whole, 0, seconds=4)
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert import_video(src, out) == 0
    captured = capsys.readouterr()
    (skip,) = [line for line in captured.err.splitlines() if line.startswith("skip ")]
    assert skip.startswith(f"skip {cut}: truncated: the audio ends at ") and skip.endswith(
        " s but the file declares 4.00 s")
    assert "1 imported (4 s of records written), 0 already present, 1 skipped (truncated 1)" in captured.out
    status = {r["clip"]: r["status"] for r in read_index(out)}
    assert status == {"whole": "imported", "cut": "skipped"}


def test_nothing_importable_fails_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "bell").mkdir(parents=True)
    (src / "bell" / "broken.mp4").write_bytes(b"\x00" * 4000)
    write_synthetic_video(src / "bell" / "silent.mp4", 0, audio=False, seconds=1)
    assert import_video(src, out) == 2
    assert error_line(capsys).endswith(
        f"{src}: none of the 2 clips could be imported (2 skipped (no audio 1, undecodable 1); "
        f"{out / 'videos.csv'} lists why)"
    )
    assert not list(out.glob("class_*"))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("file,label,start\nv0.mp4,bell,0\nv1.mp4,bell,-5\n",
         "3: start must be a number of seconds >= 0, got '-5'"),
        ("file,label,start\nv0.mp4,bell,nan\n", "2: start must be a number of seconds >= 0, got 'nan'"),
        ("file,label,seconds\nv0.mp4,bell,0\n", "2: seconds must be a number > 0, got '0'"),
        ("v0,-1,bell,train\n", "1: start must be a number of seconds >= 0, got '-1'"),  # VGGSound's form
        (
            "file,label\nv0.mp4,bell\nv1.mp4,bell\nv0.mp4,bell\n",
            "4: clip 'v0' is already listed on line 2 (the same file); clip ids must be unique because "
            "annotations refer to them",
        ),
    ],
)
def test_bad_csv_rows_are_refused_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str
) -> None:
    src = tmp_path / "src"
    for i in range(2):
        write_synthetic_video(src / f"v{i}.mp4", 0, seconds=1)
    table = tmp_path / "clips.csv"
    table.write_text(rows)
    assert import_video(src, tmp_path / "out", "--csv", table) == 2
    assert error_line(capsys).endswith(f"{table}:{message}")
    assert not (tmp_path / "out").exists()


def test_a_foreign_record_tree_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_synthetic_video(src / "bell" / "v0.mp4", 0, seconds=1)
    foreign = out / "class_0" / "data_000" / "Data_001.tfrecord"  # e.g. what `convert` wrote
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"another video's record")
    assert import_video(src, out) == 2
    assert error_line(capsys).endswith(
        f"{out}: holds records that import-video did not write (class_0/data_000; there is no videos.csv); "
        "import into a new folder"
    )
    assert [p.relative_to(out).as_posix() for p in sorted(out.rglob("*"))] == [
        "class_0", "class_0/data_000", "class_0/data_000/Data_001.tfrecord"]
    # an index that does not list a folder: the same
    good = tmp_path / "good"
    assert import_video(src, good) == 0
    (good / "class_0" / "data_007").mkdir()
    assert import_video(src, good) == 2
    assert "(class_0/data_007; not listed in videos.csv)" in error_line(capsys)
    assert import_video(src, src) == 2
    itself = f"{src}: the output is SRC itself; write the records to another folder"
    assert error_line(capsys).endswith(itself)


def test_an_output_in_use_is_refused_naming_its_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_synthetic_video(src / "bell" / "v0.mp4", 0, seconds=1)
    with folder_lock(out, "import-video"):
        assert import_video(src, out) == 2
    assert error_line(capsys).endswith(
        f"{out}: in use by acoustic-ssl import-video (pid {os.getpid()} on {socket.gethostname()}); wait for "
        "it to finish or choose another output"
    )
    assert import_video(src, out) == 0  # the lock went with its holder


def test_two_imports_into_one_output_never_lose_a_clip(tmp_path: Path) -> None:
    """Two processes started together, several times: each either imports everything, finds it present, or
    stops at once naming the other; the output always ends with every clip whole and indexed."""
    src = tmp_path / "src"
    for i in range(4):
        label = ("bell", "horn")[i % 2]
        write_synthetic_video(src / label / f"v{i}.mp4", i % 2, classes=2, seconds=1, seed=i)
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1"}
    for trial in range(4):
        out = tmp_path / f"out{trial}"
        command = [sys.executable, "-m", "acoustic_ssl", "import-video", str(src), str(out), "--workers", "1"]
        procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        results = [(proc.wait(timeout=300), proc.stdout.read(), proc.stderr.read()) for proc in procs]
        for proc in procs:
            proc.stdout.close()
            proc.stderr.close()
        for code, stdout, stderr in results:
            if code == 2:
                assert stderr.strip().startswith(f"acoustic-ssl import-video: error: {out}: in use by "
                                                 "acoustic-ssl import-video (pid "), stderr
            else:
                assert code == 0 and "4 clips: " in stdout, stderr
        assert any(code == 0 for code, _, _ in results)
        assert sorted((r["clip"], r["status"]) for r in read_index(out)) == [
            (f"v{i}", "imported") for i in range(4)]
        folders = sorted(out.glob("class_*/data_*"))
        assert len(folders) == 4 and all(read_record(f / "Data_001.tfrecord") for f in folders)
        assert not list(out.rglob("*.partial")) and not list(out.rglob("*.tmp"))


def test_a_sound_with_nan_samples_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np
    import soundfile
    from PIL import Image

    src = tmp_path / "pairs"
    (src / "frames").mkdir(parents=True)
    (src / "audio").mkdir()
    for name in ("good", "bad"):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(src / "frames" / f"{name}.png")
        wave = 0.1 * np.sin(np.arange(16000) / 10.0)
        if name == "bad":
            wave[5000] = np.nan
        soundfile.write(src / "audio" / f"{name}.wav", wave.astype(np.float32), 16000, subtype="FLOAT")
    assert import_video(src, tmp_path / "out") == 0
    captured = capsys.readouterr()
    assert (f"skip {src / 'frames' / 'bad.png'}: the audio holds NaN or infinite samples: 1 value is NaN or "
            "infinite (first: sample 5000 = nan)") in captured.err
    assert "1 skipped (non-finite audio 1)" in captured.out
