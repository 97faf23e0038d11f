"""``acoustic-ssl beamform`` on a WAV file and on .dc frames, and ``acoustic-ssl show`` overlays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import soundfile
import torch
from PIL import Image

from acoustic_ssl.cli import main
from acoustic_ssl.data.raw_writer import write_dc, write_frame
from acoustic_ssl.imaging.beamform import Beamformer
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.imaging.mfcc import power_to_mfcc
from acoustic_ssl.imaging.render import energy_overlay, parse_frames

PlaneWave = Callable[..., np.ndarray]  # the conftest fixture ``plane_wave``


@pytest.fixture
def geometry_file(tmp_path: Path, geometry: ArrayGeometry) -> Path:
    path = tmp_path / "array_geometry.csv"
    geometry.save(path)
    return path


def _two_frames(geometry: ArrayGeometry, camera: PinholeCamera, plane_wave: PlaneWave) -> np.ndarray:
    return 0.2 * plane_wave(geometry, camera.pixel_rays(500.0, 120.0), n_frames=2, seed=11, noise=0.02)


def test_beamform_wav(
    tmp_path: Path,
    geometry_file: Path,
    geometry: ArrayGeometry,
    camera: PinholeCamera,
    beamformer: Beamformer,
    plane_wave: PlaneWave,
) -> None:
    frames = _two_frames(geometry, camera, plane_wave).astype(np.float32)
    samples = np.concatenate([frames.transpose(0, 2, 1).reshape(-1, 128), np.zeros((100, 128), np.float32)])
    wav = tmp_path / "recording.wav"
    soundfile.write(wav, samples, 12288, subtype="FLOAT")
    out = tmp_path / "out"
    assert main(["beamform", str(wav), str(out), "--geometry", str(geometry_file), "--full"]) == 0
    assert sorted(p.name for p in out.glob("*.mat")) == ["Data_1.mat", "Data_2.mat"]  # partial frame dropped
    expected = beamformer.images(2.0**23 * frames)  # default --full-scale: the 24-bit .dc level
    tolerance = 1e-4 * np.abs(expected).max()  # the fast path's documented precision, relative to the image
    for index in (1, 2):
        stored = scipy.io.loadmat(out / f"Data_{index}.mat")["MFCC"]
        assert stored.dtype == np.float32 and stored.shape == (36, 48, 12)
        np.testing.assert_allclose(stored, expected[index - 1], rtol=0, atol=tolerance)
        full = np.load(out / "full" / f"Power_{index}.npy")
        assert full.shape == (36, 48, 512) and full.dtype == np.float32
        np.testing.assert_allclose(power_to_mfcc(full), expected[index - 1], rtol=0, atol=tolerance)


def test_beamform_dc_frames(
    tmp_path: Path,
    geometry_file: Path,
    geometry: ArrayGeometry,
    camera: PinholeCamera,
    beamformer: Beamformer,
    plane_wave: PlaneWave,
) -> None:
    frames = np.rint(1e5 * _two_frames(geometry, camera, plane_wave)).astype(np.int32)
    video = tmp_path / "data_000"
    for index, frame in enumerate(frames, start=3):  # numbering follows the .dc files
        write_dc(video / "audio" / f"A_{index:06d}.dc", frame)
    out = tmp_path / "out"
    assert main(["beamform", str(video), str(out), "--geometry", str(geometry_file), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.glob("*.mat")) == ["Data_3.mat", "Data_4.mat"]
    expected = beamformer.images(frames)[1]
    stored = scipy.io.loadmat(out / "Data_4.mat")["MFCC"]
    np.testing.assert_allclose(stored, expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_beamform_user_errors(
    tmp_path: Path, geometry_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wav = tmp_path / "stereo.wav"
    soundfile.write(wav, np.zeros((2048, 2), np.float32), 12288)
    assert main(["beamform", str(wav), str(tmp_path / "o"), "--geometry", str(geometry_file)]) == 2
    assert "stereo.wav" in capsys.readouterr().err
    wav = tmp_path / "wrong_rate.wav"
    soundfile.write(wav, np.zeros((2048, 128), np.float32), 16000)
    args = [
        "beamform",
        str(wav),
        str(tmp_path / "o"),
        "--geometry",
        str(geometry_file),
        "--sample-rate",
        "12288",
    ]
    assert main(args) == 2
    assert "16000 Hz" in capsys.readouterr().err
    assert main(["beamform", str(wav), str(tmp_path / "o"), "--geometry", str(tmp_path / "none.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["beamform", str(wav), str(tmp_path / "o"), "--geometry", str(geometry_file),
                     "--device", "cuda"]) == 2
        error = capsys.readouterr().err.strip()
        assert error.endswith("--device=cuda: no CUDA device is available (use cpu or auto)"), error


def _blob_mfcc(stored_cell: tuple[int, int]) -> np.ndarray:
    """An MFCC image whose energy peaks at ``stored_cell``."""
    rows, cols = np.indices((36, 48))
    blob = np.exp(-((rows - stored_cell[0]) ** 2 + (cols - stored_cell[1]) ** 2) / 8.0)
    return power_to_mfcc((1.0 + 100.0 * blob)[..., None] * np.ones(512))


def test_overlay_is_in_video_orientation() -> None:
    frame = np.full((480, 640, 3), 60, np.uint8)
    overlay = energy_overlay(frame, _blob_mfcc((30, 40)), alpha=0.9).astype(float)
    change = np.abs(overlay - frame[..., ::-1]).sum(-1)
    y, x = np.unravel_index(np.argmax(change), change.shape)
    # stored (30, 40) is video cell (5, 7): pixels x 93-107, y 67-80
    assert abs(x - 7.5 * 640 / 48) < 14 and abs(y - 5.5 * 480 / 36) < 14


def test_show_writes_pngs_and_gif(tmp_path: Path) -> None:
    video = tmp_path / "class_2" / "data_000"
    PinholeCamera().save(tmp_path / "camera.json")  # ground truth in 640x480 pixels, frames at half size
    rng = np.random.default_rng(0)
    for number in (1, 2, 3):
        bgr = rng.integers(0, 200, size=(240, 320, 3), dtype=np.uint8)
        write_frame(video, number, np.zeros((128, 1024), np.int32), _blob_mfcc((10, 10 + number)), bgr)
    (video / "ground_truth.csv").write_text(
        "frame,source_id,class,x,y,distance_m,on_screen\n1,0,2,200.0,100.0,4.0,1\n2,0,2,-30.0,50.0,4.0,0\n"
    )
    out = tmp_path / "overlays"
    assert main(["show", str(video), "--out", str(out), "--gif", "--frames", "1-2"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["overlay.gif", "overlay_000001.png", "overlay_000002.png"]
    marked = np.asarray(Image.open(out / "overlay_000001.png"))
    assert marked.shape == (240, 320, 3)
    assert (marked[50, 100 - 12 : 100 - 9] == 255).all()  # ground-truth ring around (200, 100) / 2
    assert not (np.asarray(Image.open(out / "overlay_000002.png")) == 255).all(axis=-1).any()  # off screen
    with Image.open(out / "overlay.gif") as gif:
        assert gif.n_frames == 2
    assert main(["show", str(video)]) == 0  # default: every frame, into VIDEO_DIR/overlay
    assert len(list((video / "overlay").glob("*.png"))) == 3


def test_parse_frames() -> None:
    assert parse_frames("1,5,10-12") == [1, 5, 10, 11, 12]
    with pytest.raises(Exception, match="1-based"):
        parse_frames("0-3")
