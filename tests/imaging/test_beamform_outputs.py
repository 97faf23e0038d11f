"""``beamform`` never destroys an input or foreign data, leaves no stale image of an earlier result, cleans
a killed run's temporaries, and refuses recordings and arrays that would make the images meaningless."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile

from acoustic_ssl.cli import main
from acoustic_ssl.imaging.geometry import ArrayGeometry

MICS = 8


@pytest.fixture
def array_file(tmp_path: Path) -> Path:
    path = tmp_path / "array.csv"
    ArrayGeometry.default(arms=2, mics_per_arm=MICS // 2, radius_m=0.2).save(path)
    return path


def recording(path: Path, frames: int, seed: int = 0) -> Path:
    """``frames`` x 1024 samples of noise on every microphone, 12 288 Hz float WAV."""
    samples = 0.1 * np.random.default_rng(seed).standard_normal((frames * 1024, MICS))
    soundfile.write(path, samples.astype(np.float32), 12288, subtype="FLOAT")
    return path


def beamform(*args: object) -> int:
    return main(["beamform", *map(str, args), "--device", "cpu"])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    (line,) = capsys.readouterr().err.strip().splitlines()  # one line, no traceback
    assert line.startswith("acoustic-ssl beamform: error: ")
    return line


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_output_that_is_an_input_is_refused_even_with_overwrite(
    tmp_path: Path, array_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = tmp_path / "rec.h5"
    with h5py.File(rec, "w") as handle:
        handle.create_dataset("time_data", data=np.ones((4096, MICS), np.float32))
        handle["time_data"].attrs["sample_freq"] = 12288.0
    before = rec.read_bytes()
    for out, extra in ((rec, []), (rec, ["--overwrite"]), (array_file, []), (tmp_path, ["--overwrite"])):
        assert beamform(rec, out, "--geometry", array_file, *extra) == 2
        line = one_error_line(capsys)
        assert f"{out}: the output " in line and "write the images elsewhere" in line
    assert rec.read_bytes() == before and array_file.is_file()


def test_foreign_outputs_need_overwrite(
    tmp_path: Path, array_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = recording(tmp_path / "rec.wav", 3)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    stack = tmp_path / "results.npz"
    np.savez(stack, mine=np.arange(3))
    saved = stack.read_bytes()
    for out, what in ((folder, "holds notes.txt"), (stack, "not an acoustic-image stack")):
        assert beamform(rec, out, "--geometry", array_file) == 2
        assert one_error_line(capsys).endswith(
            f"{out}: exists and is not a result of acoustic-ssl beamform ({what}); choose another OUT, or "
            "pass --overwrite to replace it"
        )
    assert (folder / "notes.txt").read_text() == "my notes" and stack.read_bytes() == saved
    for out in (folder, stack):
        assert beamform(rec, out, "--geometry", array_file, "--overwrite") == 0
    assert sorted(p.name for p in folder.iterdir()) == [*(f"Data_{i}.mat" for i in (1, 2, 3)), "imaging.json"]
    with np.load(stack) as replaced:
        assert replaced["images"].shape == (3, 36, 48, 12)


def test_a_rerun_replaces_a_longer_earlier_result_as_a_whole(tmp_path: Path, array_file: Path) -> None:
    out = tmp_path / "images"
    assert beamform(recording(tmp_path / "long.wav", 6), out, "--geometry", array_file, "--full") == 0
    assert len(list(out.glob("Data_*.mat"))) == 6 and len(list((out / "full").glob("*.npy"))) == 6
    assert beamform(recording(tmp_path / "short.wav", 2), out, "--geometry", array_file) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Data_1.mat", "Data_2.mat", "imaging.json"]
    assert json.loads((out / "imaging.json").read_text())["frames"] == 2
    stack = tmp_path / "images.h5"
    for frames in (6, 2):  # a stack of an earlier run is replaced without --overwrite too
        assert beamform(recording(tmp_path / "r.wav", frames), stack, "--geometry", array_file) == 0
    with h5py.File(stack, "r") as handle:
        assert handle["images"].shape[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_temporaries_of_a_killed_run_are_removed(tmp_path: Path, array_file: Path) -> None:
    rec = recording(tmp_path / "rec.wav", 2)
    staging = tmp_path / ".images.k1ll3d.tmp"  # what SIGKILL while filling the folder leaves
    (staging / "full").mkdir(parents=True)
    (staging / "Data_1.mat").write_bytes(b"half")
    other = tmp_path / ".notes.tmp"
    other.write_text("not ours")
    assert beamform(rec, tmp_path / "images", "--geometry", array_file) == 0
    assert not staging.exists() and other.exists()
    half_stack = tmp_path / ".images.h5.k1ll3d.tmp"  # ... and while writing a stack
    half_stack.write_bytes(b"\x89HDF half")
    assert beamform(rec, tmp_path / "images.h5", "--geometry", array_file) == 0
    assert not half_stack.exists() and other.exists()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_sample_is_refused_and_nothing_is_written(
    tmp_path: Path, array_file: Path, capsys: pytest.CaptureFixture[str], bad: float
) -> None:
    rec = recording(tmp_path / "rec.wav", 4)
    samples, rate = soundfile.read(rec, dtype="float32")
    samples[3000, 5] = bad
    soundfile.write(rec, samples, rate, subtype="FLOAT")
    for out in (tmp_path / "images", tmp_path / "images.npz"):
        assert beamform(rec, out, "--geometry", array_file, "--batch", "2") == 2
        assert one_error_line(capsys).endswith(
            f"{rec}: 1 value is NaN or infinite (first: sample 3000, channel 5 = {bad}) in the samples read "
            "(after --full-scale)"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["array.csv", "rec.wav"]


def test_degenerate_arrays_rates_and_scales_are_refused(
    tmp_path: Path, array_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = recording(tmp_path / "rec.wav", 2)
    twin = tmp_path / "twin.csv"
    lines = array_file.read_text().splitlines()
    lines[4] = "3," + lines[2].split(",", 1)[1]  # microphone 3 where microphone 1 is
    twin.write_text("\n".join(lines) + "\n")
    assert beamform(rec, tmp_path / "o", "--geometry", twin) == 2
    line = one_error_line(capsys)
    assert f"{twin}: microphones 1 and 3 are at the same position (" in line
    assert line.endswith("; the acoustic images would carry no direction")
    rate = tmp_path / "rate.h5"
    with h5py.File(rate, "w") as handle:
        handle.create_dataset("time_data", data=np.ones((2048, MICS), np.float32))
        handle["time_data"].attrs["sample_freq"] = -48000.0
    assert beamform(rate, tmp_path / "o", "--geometry", array_file) == 2
    expected = f"{rate}: 'sample_freq' must be a positive number of Hz, got -48000.0"
    assert one_error_line(capsys).endswith(expected)
    assert beamform(rec, tmp_path / "o", "--geometry", array_file, "--full-scale", "0") == 2
    assert one_error_line(capsys).endswith("--full-scale must be a positive number, got 0.0")
    assert not (tmp_path / "o").exists()
