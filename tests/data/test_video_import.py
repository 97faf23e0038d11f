"""import-video: container files written with PyAV -> records; skips, windows, CSV forms, kill + resume."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.cli import main
from acoustic_ssl.data.labels import class_names, num_classes_of, read_labels
from acoustic_ssl.data.synthetic_video import class_colour, tone_hz, write_synthetic_video
from acoustic_ssl.data.tfrecord import read_record
from acoustic_ssl.data.video_import import import_videos, read_index

av = pytest.importorskip("av")

FORMATS = [  # extension, fps, (height, width), sample rate, channels
    (".mp4", 25, (96, 128), 44100, 2),
    (".webm", 30, (90, 160), 48000, 1),
    (".avi", 24, (128, 96), 22050, 2),
    (".mkv", 15, (96, 128), 16000, 1),
    (".mov", 60, (72, 128), 32000, 2),
]


def peak_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64).reshape(-1)))
    return float(np.fft.rfftfreq(samples.size, 1 / 12288)[int(np.argmax(spectrum))])


def write_bad_files(folder: Path) -> None:
    """A broken file, one without an audio track and one of 0.5 s."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    write_synthetic_video(folder / "silent.mp4", 0, audio=False, seconds=2)
    write_synthetic_video(folder / "short.mp4", 0, seconds=0.5)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    src = tmp_path_factory.mktemp("src")
    written = {}
    for c, label in enumerate(("bell", "horn")):
        for j, (ext, fps, size, rate, channels) in enumerate(FORMATS):
            path = src / label / f"{label}{j}{ext}"
            written[path.stem] = write_synthetic_video(
                path, c, classes=2, seconds=3, fps=fps, size=size, sample_rate=rate, channels=channels, seed=j
            )
    write_bad_files(src / "bell")
    out = tmp_path_factory.mktemp("records")
    summary = import_videos(src, out, workers=2)
    return src, out, summary, written


def test_every_container_imports_with_tone_colour_and_shape(imported) -> None:
    _, out, summary, written = imported
    assert (summary.clips, summary.imported, summary.seconds, summary.classes) == (13, 10, 30, 2)
    assert summary.skipped == {"undecodable": 1, "no audio": 1, "shorter than 1 s": 1}
    assert read_labels(out) == {"bell": 0, "horn": 1}
    rows = {r["clip"]: r for r in read_index(out)}
    for clip, video in written.items():
        row = rows[clip]
        assert row["status"] == "imported" and (int(row["height"]), int(row["width"])) == video.size
        folder = out / f"class_{row['class']}" / f"data_{int(row['location']):03d}"
        records = sorted(folder.glob("Data_*.tfrecord"))
        assert [p.name for p in records] == ["Data_001.tfrecord", "Data_002.tfrecord", "Data_003.tfrecord"]
        c = int(row["class"])
        for second, path in enumerate(records):
            record = read_record(path)
            assert "audio/image" not in record and (record["classes"], record["location"]) == (
                c, int(row["location"]))
            audio, frames = record["audio/data"], record["video/image"]
            assert audio.shape == (12, 1024) and audio.dtype == np.int32
            assert 0.96 < peak_hz(audio) / tone_hz(c) < 1.04  # the class tone, at the right rate
            assert 0.15 < np.abs(audio).max() / 2**23 < 0.4  # float full scale 1.0 -> 2^23
            assert frames.shape[0] == 12 and min(frames.shape[1:3]) == 224 and frames.dtype == np.uint8
            h, w = video.size
            assert frames.shape[1:3] == ((224, int(w * 224 / h)) if w >= h else (int(h * 224 / w), 224))
            # the square's colour (RGB source -> BGR record) at its centre, frame by frame
            for j in range(0, 12, 5):
                k = min(math.floor((12 * second + j) * video.fps / 12 + 1e-6), len(video.boxes) - 1)
                x0, y0, x1, y1 = video.boxes[k]
                cy, cx = int((y0 + y1) / 2 * frames.shape[1] / h), int((x0 + x1) / 2 * frames.shape[2] / w)
                bgr = frames[j, cy, cx].astype(int)
                assert np.abs(bgr[::-1] - np.array(class_colour(c, 2))).max() < 40


def test_bad_files_are_skipped_with_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "src"
    write_bad_files(src / "bell")
    write_synthetic_video(src / "bell" / "good.mkv", 0, seconds=2)
    assert main(["import-video", str(src), str(tmp_path / "out"), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    skips = [line for line in captured.err.splitlines() if line.startswith("skip ")]
    assert sorted(Path(line.split(":")[0][5:]).name for line in skips) == [
        "broken.mp4", "short.mp4", "silent.mp4"]
    assert any("no audio track" in line for line in skips)
    assert any("shorter than 1 s (0.5" in line for line in skips)  # 0.5 s + the AAC encoder's padding
    assert "Traceback" not in captured.err
    assert captured.out.strip().startswith("4 clips: 1 imported (2 s of records written), 0 already present, "
                                           "3 skipped (no audio 1, shorter than 1 s 1, undecodable 1)")
    status = {r["clip"]: r["status"] for r in read_index(tmp_path / "out")}
    assert status == {"good": "imported", "broken": "skipped", "silent": "skipped", "short": "skipped"}
    assert sorted(p.name for p in (tmp_path / "out" / "class_0").iterdir()) == ["data_001"]  # ids sorted


def write_stereo_video(
    path: Path, fps: int, seconds: float, wave: np.ndarray, rate: int, *, audio_codec: str, grey_step: int,
    lossless_video: bool = False,
) -> None:
    """64×48 H.264 frames where frame k has grey level ``grey_step``·k (its index readable after decoding),
    and the stereo float ``wave`` [2, n] at ``rate`` Hz encoded by ``audio_codec``."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        if lossless_video:
            video.options = {"crf": "0"}
        sound = container.add_stream(audio_codec, rate=rate)
        sound.layout = "stereo"
        for k in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), grey_step * k, np.uint8), format="rgb24")
            frame.pts = k
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        block = sound.codec_context.frame_size or 1024
        for s in range(0, wave.shape[1], block):
            piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, s : s + block]), format="fltp",
                                               layout="stereo")
            piece.sample_rate, piece.pts = rate, s
            container.mux(sound.encode(piece))
        container.mux(sound.encode(None))


def write_counter_video(path: Path, fps: int, seconds: float) -> None:
    """Frame k has grey level 3·k (frame index readable after decoding); 440 Hz stereo audio."""
    n = round(seconds * 44100)
    wave = (0.25 * np.sin(2 * np.pi * 440 * np.arange(n) / 44100)).astype(np.float32)
    write_stereo_video(path, fps, seconds, np.repeat(wave[None], 2, axis=0), 44100, audio_codec="aac",
                       grey_step=3, lossless_video=True)


def test_sample_and_hold_timing_and_window(tmp_path: Path) -> None:
    src = tmp_path / "src" / "count"
    src.mkdir(parents=True)
    write_counter_video(src / "c.mp4", fps=25, seconds=3)
    out = tmp_path / "out"
    summary = import_videos(tmp_path / "src", out, start=1.0, seconds=2, workers=1)
    assert (summary.imported, summary.seconds) == (1, 2)
    for second in range(2):
        frames = read_record(out / "class_0" / "data_000" / f"Data_{second + 1:03d}.tfrecord")["video/image"]
        levels = frames[:, 100, 100, 0].astype(int)
        # output frame i shows the source frame on screen at 1 s + i/12: k = floor(25 · (1 + i/12))
        expected = [3 * math.floor(25 * (1.0 + (12 * second + j) / 12) + 1e-9) for j in range(12)]
        assert np.abs(levels - np.array(expected)).max() <= 1  # one frame off would be 3
    audio = read_record(out / "class_0" / "data_000" / "Data_001.tfrecord")["audio/data"]
    assert abs(peak_hz(audio) - 440) < 2
    # a clip a few ms short of its last second keeps it (padded); "10 s" clips are often 9.98 s
    write_counter_video(src / "d.mp4", fps=25, seconds=2.96)
    assert import_videos(tmp_path / "src", out, workers=1).seconds == 3  # d.mp4: 3 s; c.mp4 already present


def test_csv_forms_vggsound_windows_and_lists(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i, c in enumerate((0, 1, 0, 1)):
        write_synthetic_video(src / "cut" / f"yt{i}_{10 * i:06d}.mp4", c, classes=2, seconds=2, seed=i)
    # a full-length video: class-0 tone for 3 s, then class-1 tone (the CSV cuts from 3 s)
    write_synthetic_video(src / "full" / "ytlong.mp4", 1, classes=2, seconds=6, seed=9)
    labels, splits = ("bell", "horn"), ("train", "test")
    rows = [f"yt{i},{10 * i},{labels[c]},{splits[i // 2]}" for i, c in enumerate((0, 1, 0, 1))]
    rows += ["ytlong,3,horn,train", "gone,0,bell,test"]
    (tmp_path / "vggsound.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    summary = import_videos(src, out, csv_path=tmp_path / "vggsound.csv", workers=1)
    assert (summary.clips, summary.imported, summary.not_found) == (5, 5, 1)
    index = {r["clip"]: r for r in read_index(out)}
    assert set(index) == {"yt0_000000", "yt1_000010", "yt2_000020", "yt3_000030", "ytlong_000003"}
    assert (index["ytlong_000003"]["start"], index["ytlong_000003"]["seconds"]) == ("3", "10")
    assert (index["yt1_000010"]["start"], index["yt1_000010"]["split"]) == ("0", "training")
    long_row = index["ytlong_000003"]
    long_dir = out / f"class_{long_row['class']}" / f"data_{int(long_row['location']):03d}"
    assert len(list(long_dir.glob("Data_*.tfrecord"))) == 3  # 6 s file cut from 3 s

    assert main(["lists", str(out), str(tmp_path / "lists"), "--splits-from-import"]) == 0
    testing = (tmp_path / "lists" / "testing.txt").read_text().split()
    assert {Path(p).parent.name for p in testing} == {
        f"data_{int(index[c]['location']):03d}" for c in ("yt2_000020", "yt3_000030")}
    assert num_classes_of(tmp_path / "lists" / "training.txt") == 2
    assert class_names(tmp_path / "lists" / "testing.txt", 2) == ["bell", "horn"]

    # a plain file,label CSV with a header and per-row windows; labels keep their indices on a second import
    plain = "file,label,start,seconds\nfull/ytlong.mp4,zebra,1,2\nyt0_000000,bell,,\n"
    (tmp_path / "plain.csv").write_text(plain)
    out2 = tmp_path / "out2"
    import_videos(src, out2, csv_path=tmp_path / "plain.csv", workers=1)
    assert read_labels(out2) == {"bell": 0, "zebra": 1}
    assert {r["clip"]: (r["start"], r["seconds"]) for r in read_index(out2)} == {
        "ytlong": ("1", "2"), "yt0_000000": ("0", "")}
    (tmp_path / "more.csv").write_text("file,label\nyt1_000010,aardvark\n")
    import_videos(src, out2, csv_path=tmp_path / "more.csv", workers=1)
    assert read_labels(out2) == {"bell": 0, "zebra": 1, "aardvark": 2}


def test_bad_csv_and_layout_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "loose.mp4").write_bytes(b"")
    assert main(["import-video", str(tmp_path), str(tmp_path / "out")]) == 2
    assert "videos must sit in label folders" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("a.mp4,bell,somewhere\n")
    command = ["import-video", str(tmp_path), str(tmp_path / "out"), "--csv", str(tmp_path / "bad.csv")]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "bad.csv:1: unknown split 'somewhere'" in err and "Traceback" not in err


def _tree(root: Path) -> dict[str, tuple]:
    """Decoded records by path (protobuf map order, hence the bytes, may differ between processes)."""
    return {
        str(p.relative_to(root)): (r["classes"], r["location"], r["audio/data"].tobytes(),
                                   r["video/image"].tobytes())
        for p in sorted(root.rglob("Data_*.tfrecord"))
        for r in [read_record(p)]
    }


def test_killed_import_resumes_to_the_same_records(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(6):
        label = ("bell", "horn")[i % 2]
        write_synthetic_video(src / label / f"v{i}.mp4", i % 2, classes=2, seconds=3, seed=i)
    out = tmp_path / "out"
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1"}
    command = [sys.executable, "-m", "acoustic_ssl", "import-video", str(src), str(out), "--workers", "1"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not list(out.glob("class_*/data_*")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(out.glob("class_*/data_*"))
    assert 1 <= len(done) < 6, "the import must be killed part way"
    for folder in done:  # only whole clips are visible: all 3 seconds, every record readable
        assert len([read_record(p) for p in folder.glob("Data_*.tfrecord")]) == 3
    assert main(["lists", str(out), str(tmp_path / "lists")]) == 0  # a killed import is usable as it is

    assert main(["import-video", str(src), str(out), "--workers", "2"]) == 0
    assert not list(out.rglob("*.partial")) and not list(out.rglob("*.tmp"))
    fresh = tmp_path / "fresh"
    assert main(["import-video", str(src), str(fresh), "--workers", "1"]) == 0
    assert _tree(out) == _tree(fresh) and len(_tree(out)) == 18
    assert [(r["status"], r["width"]) for r in read_index(out)] == [("imported", "128")] * 6


def test_image_and_sound_pairs_import_as_still_videos(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import soundfile
    from PIL import Image

    src = tmp_path / "flickr_test"
    (src / "frames").mkdir(parents=True)
    (src / "audio").mkdir()
    rgb = np.zeros((256, 256, 3), np.uint8)
    rgb[:, :128] = (250, 10, 10)  # red left half
    Image.fromarray(rgb).save(src / "frames" / "101.png")
    Image.fromarray(rgb[:, ::-1].copy()).save(src / "frames" / "102.jpg", quality=95)
    Image.fromarray(rgb).save(src / "frames" / "103.jpg")  # no sound: reported, not imported
    t = np.arange(int(2.5 * 16000)) / 16000
    soundfile.write(src / "audio" / "101.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 660 * t)] * 2, axis=1)
    soundfile.write(src / "audio" / "102.flac", stereo, 16000)
    out = tmp_path / "out"
    assert main(["import-video", str(src), str(out), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "1 frames have no sound file in audio/ (103.jpg)" in captured.err
    assert "2 clips: 2 imported (4 s of records written)" in captured.out
    assert "1 entries without a video or sound file" in captured.out
    rows = {r["clip"]: r for r in read_index(out)}
    assert rows["102"]["audio"].endswith("102.flac") and rows["101"]["label"] == "flickr_test"
    facts = (rows["101"]["width"], rows["101"]["sample_rate"], rows["102"]["channels"])
    assert facts == ("256", "16000", "2")
    for clip, hz, red_column in (("101", 440, 50), ("102", 660, 180)):
        folder = out / "class_0" / f"data_{int(rows[clip]['location']):03d}"
        record = read_record(folder / "Data_002.tfrecord")
        frames = record["video/image"]
        assert frames.shape == (12, 224, 224, 3) and (frames == frames[0]).all()  # the still, every frame
        assert frames[0, 100, red_column, 2] > 200 and frames[0, 100, 224 - red_column, 2] < 60  # BGR: red
        assert abs(peak_hz(record["audio/data"]) - hz) < 2


CHIRP_RATE = 16000
CHIRP_START = 1.3  # seconds into the file: between its only keyframe (0 s) and the next second


def chirp_left(t: np.ndarray) -> np.ndarray:
    """Left channel: a chirp from 300 Hz rising 240 Hz per second (the sample at any time is identifiable)."""
    return 0.4 * np.sin(2 * np.pi * (300 * t + 120 * t**2))


def tone_right(t: np.ndarray) -> np.ndarray:
    """Right channel: a steady 2.5 kHz tone (different from the left, so a channel mix-up shows)."""
    return 0.2 * np.sin(2 * np.pi * 2500 * t)


def write_chirp_video(path: Path, seconds: float = 5.0, fps: int = 25) -> None:
    """Counter frames (one keyframe, at 0 s: libx264's GOP is longer than the clip) and stereo audio."""
    audio_codec = {".mkv": "flac", ".mp4": "aac"}[path.suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * CHIRP_RATE)) / CHIRP_RATE
    wave = np.stack([chirp_left(t), tone_right(t)]).astype(np.float32)
    write_stereo_video(path, fps, seconds, wave, CHIRP_RATE, audio_codec=audio_codec, grey_step=2)


@pytest.fixture(scope="module")
def chirp_import(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The chirp clip as FLAC in MKV (lossless) and AAC in MP4, imported from 1.3 s for 3 s: the mono
    samples of the three records of each (float, full scale 1)."""
    src = tmp_path_factory.mktemp("chirp_src")
    for ext in (".mkv", ".mp4"):
        write_chirp_video(src / "chirp" / f"c{ext[1:]}{ext}")
    out = tmp_path_factory.mktemp("chirp_records")
    summary = import_videos(src, out, start=CHIRP_START, seconds=3, workers=1)
    assert (summary.imported, summary.seconds) == (2, 6)
    audio = {}
    for row in read_index(out):
        folder = out / f"class_{row['class']}" / f"data_{int(row['location']):03d}"
        records = [read_record(folder / f"Data_{s:03d}.tfrecord") for s in (1, 2, 3)]
        samples = np.concatenate([r["audio/data"].reshape(-1) for r in records])
        audio[Path(row["source"]).suffix] = samples / 2**23
    return audio


def test_import_from_a_start_after_the_keyframe_keeps_the_audio_at_start(
    chirp_import: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """--start 1.3 s: PyAV seeks back to the keyframe at 0 s, so the first decoded audio frame begins about
    1.3 s early and its leading samples must be dropped. Every record holds the chirp of its own second: the
    sample n of the import is the source at 1.3 s + n / 12 288 Hz, sample by sample (MKV/FLAC and MP4/AAC)."""
    write_chirp_video(tmp_path / "probe.mkv")
    with av.open(str(tmp_path / "probe.mkv")) as container:  # the premise: the seek lands well before 1.3 s
        container.seek(int(CHIRP_START * 1_000_000), backward=True, any_frame=False)
        first = next(container.decode(audio=0))
        assert first.time < CHIRP_START - 1.0
    t = CHIRP_START + np.arange(3 * 12288) / 12288
    expected = (chirp_left(t) + tone_right(t)) / 2
    for ext, tolerance in ((".mkv", 2e-4), (".mp4", 5e-3)):  # FLAC: 16-bit words; AAC: lossy
        imported = chirp_import[ext]
        assert imported.shape == expected.shape
        # the resampler's first ~50 output samples see the zeros before the cut; from there on, the source
        np.testing.assert_allclose(imported[64:], expected[64:], rtol=0, atol=tolerance, err_msg=ext)


def test_stereo_channels_are_averaged_to_mono(chirp_import: dict[str, np.ndarray]) -> None:
    """Left chirp and right 2.5 kHz tone: the mono track is half of each (least squares on the two)."""
    t = CHIRP_START + np.arange(3 * 12288) / 12288
    basis = np.stack([chirp_left(t), tone_right(t)], axis=1)[64:]
    for ext in (".mkv", ".mp4"):
        weights, *_ = np.linalg.lstsq(basis, chirp_import[ext][64:], rcond=None)
        np.testing.assert_allclose(weights, [0.5, 0.5], atol=0.02, err_msg=ext)


def test_import_lists_carve_validation_as_its_share_of_train_plus_validation(tmp_path: Path) -> None:
    """VGGSound names train and test only: 20 training clips of one class lose round(20 · 0.15 / 0.85) =
    round(3.53) = 4 to validation (not round(20 · 0.15) = 3); whole clips, cut to 2-s multiples."""
    from acoustic_ssl.data.video_import import INDEX_COLUMNS, make_import_lists

    rows = []
    for location in range(22):
        folder = tmp_path / "class_0" / f"data_{location:03d}"
        folder.mkdir(parents=True)
        for second in range(1, 4 + (location == 0)):  # 3 s (2 listed), clip 0: 4 s
            (folder / f"Data_{second:03d}.tfrecord").write_bytes(b"")
        split = "testing" if location >= 20 else "training"
        rows.append({"class": 0, "location": location, "clip": f"v{location}", "label": "bell",
                     "split": split, "status": "imported"})
    lines = [",".join(INDEX_COLUMNS)] + [",".join(str(r.get(k, "")) for k in INDEX_COLUMNS) for r in rows]
    (tmp_path / "videos.csv").write_text("\n".join(lines) + "\n")
    splits = make_import_lists(tmp_path, tmp_path / "lists")
    videos = {name: sorted({p.parent.name for p in paths}) for name, paths in splits.items()}
    assert (len(videos["training"]), len(videos["validation"])) == (16, 4)
    assert videos["testing"] == ["data_020", "data_021"]
    assert set(videos["training"]) | set(videos["validation"]) == {f"data_{i:03d}" for i in range(20)}
    assert sum(len(p) for p in splits.values()) == 22 * 2 + 2  # clip 0 keeps 4 s, the others 2 of 3
    assert splits == make_import_lists(tmp_path, tmp_path / "again")  # seeded
