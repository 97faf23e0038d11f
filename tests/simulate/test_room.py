"""Rooms: the decay of a simulated recording has the requested RT60; the reverberant energy agrees with a
full-order image-source computation (pyroomacoustics); paths stay inside; free field is unchanged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyroomacoustics as pra
import pytest
import soundfile

from acoustic_ssl.cli import main
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.simulate.propagation import Trajectory
from acoustic_ssl.simulate.room import Reverberation, Room, estimate_rt60

FS = 12288


def _recorded(video: Path, frames: int) -> np.ndarray:
    """(mics, samples) float of a simulated video's .dc frames."""
    chunks = [
        np.fromfile(video / "audio" / f"A_{k:06d}.dc", "<i4").reshape(-1, 1024, order="F")
        for k in range(1, frames + 1)
    ]
    return np.concatenate(chunks, axis=1).astype(np.float64)


def _decay_after_burst(samples: np.ndarray) -> np.ndarray:
    """The recording from the moment the level first falls 3 dB below the burst's plateau."""
    energy = (samples**2).mean(axis=0)
    window = 256
    envelope = energy[: len(energy) // window * window].reshape(-1, window).mean(axis=1)
    plateau = np.median(envelope[2:20])
    stop = next(i for i in range(5, len(envelope)) if envelope[i] < plateau * 10 ** (-0.3))
    return samples[:, stop * window : stop * window + int(1.5 * FS)]


@pytest.fixture(scope="module")
def burst_sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sounds folder whose fountain clip is 0.8 s of noise then silence (interrupted-noise measurement)."""
    root = tmp_path_factory.mktemp("sounds")
    (root / "fountain").mkdir()
    rate = 44100
    clip = np.zeros(int(4.2 * rate))
    clip[: int(0.8 * rate)] = np.random.default_rng(0).standard_normal(int(0.8 * rate))
    soundfile.write(root / "fountain" / "burst.wav", clip.astype(np.float32), rate)
    return root


@pytest.mark.parametrize("rt60", [0.3, 0.6])
def test_simulated_decay_has_the_requested_rt60(tmp_path: Path, burst_sounds: Path, rt60: float) -> None:
    out = tmp_path / "sim"
    args = [
        "simulate",
        str(out),
        "--videos-per-class",
        "1",
        "--seconds",
        "4",
        "--seed",
        "1",
        "--classes",
        "3",
        "--snr-db",
        "60",
        "--workers",
        "1",
        "--audio-only",
        "--sounds",
        str(burst_sounds),
        "--room",
        "all",
        "--room-size",
        "5",
        "6",
        "3",
        "--rt60",
        str(rt60),
    ]
    assert main(args) == 0
    decay = _decay_after_burst(_recorded(out / "class_3" / "data_000", 48))
    assert estimate_rt60(decay) == pytest.approx(rt60, rel=0.2)
    free = tmp_path / "free"
    assert main(["simulate", str(free), *args[2:17]]) == 0  # the same scene in free field
    free_decay = _decay_after_burst(_recorded(free / "class_3" / "data_000", 48))
    level = 10 * np.log10((free_decay[:, 600:900] ** 2).mean() / (decay[:, 600:900] ** 2).mean())
    assert level < -30  # 50-75 ms after the stop the free field is silent, the room still rings


def test_reverberant_energy_matches_a_full_order_image_source_model() -> None:
    """Direct-to-reverberant ratio at the array centre vs pyroomacoustics' ISM of order 80 (one
    microphone)."""
    room, source = Room((5.0, 6.0, 3.0), 0.6), np.array([0.5, 0.2, 4.0])
    absorption, order = pra.inverse_sabine(room.rt60_s, list(room.size_m))
    reference = pra.ShoeBox(list(room.size_m), fs=FS, materials=pra.Material(absorption), max_order=order)
    reference.add_source(list(room.to_room(source)))
    reference.add_microphone_array(room.to_room(np.zeros(3))[:, None])
    reference.compute_rir()
    rir = reference.rir[0][0]
    distance = float(np.linalg.norm(source))
    arrival = pra.constants.get("frac_delay_length") // 2 + round(distance / 343.0 * FS)
    reference_ratio = (rir[arrival + 6 :] ** 2).sum() / (rir[arrival - 5 : arrival + 6] ** 2).sum()
    impulse = np.zeros(3 * FS)
    impulse[2000] = 1.0
    path = Trajectory(-1.0, 0.5, np.tile(source, (10, 1)))
    reverberation = Reverberation(
        room, np.zeros((1, 3)), [(impulse, 2000, path, 1.0)], 24, np.random.default_rng(0)
    )
    response = np.concatenate([reverberation.next_frame() for _ in range(24)], axis=1)[0]
    ratio = (response**2).sum() / distance**-2  # the simulator's direct path is 1/r
    assert 10 * np.log10(ratio / reference_ratio) == pytest.approx(0.0, abs=1.5)
    assert estimate_rt60(response[int(0.05 * FS) :]) == pytest.approx(estimate_rt60(rir[arrival:]), rel=0.2)


def test_paths_are_kept_inside_the_room_along_the_line_of_sight() -> None:
    camera, room = PinholeCamera(), Room((4.0, 5.0, 3.0), 0.5)
    far = np.array([[3.0, -0.5, 12.0], [0.2, 0.1, 2.0]])  # outside (too deep), inside
    inside = room.contain(Trajectory(0.0, 1.0, far)).positions
    np.testing.assert_allclose(inside[1], far[1])
    assert room.to_room(inside[0])[1] <= 5.0 - 0.25 + 1e-9  # depth within the far wall's margin
    np.testing.assert_allclose(camera.project(inside)[0], camera.project(far)[0], atol=1e-9)  # same pixel


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too: a leftover temporary would show) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_killed_room_simulation_resumes_to_identical_bytes(tmp_path: Path) -> None:
    """Rooms are stored in simulation.json as JSON lists; the run's own parameters must compare equal to
    them, or no room simulation could ever be resumed or rerun."""
    args = ["--videos-per-class", "3", "--seconds", "1", "--seed", "3", "--classes", "5", "--workers", "1",
            "--frame-size", "48", "64", "--room", "indoor", "--rt60", "0.3"]
    out, fresh = tmp_path / "killed", tmp_path / "fresh"
    env = {**os.environ, "ACOUSTIC_SSL_NO_PROGRESS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "acoustic_ssl", "simulate", str(out), *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = out / "class_5" / "data_001"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (second / "audio").is_dir():
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "class_5" / "data_000" / "ground_truth.csv").is_file(), "killed after the first video"
    assert not (out / "class_5" / "data_002" / "ground_truth.csv").exists(), "killed before the last"
    (second / "audio" / ".A_000002.dc.k1ll3d.tmp").write_bytes(b"half a frame")  # as a kill mid-write leaves
    assert main(["simulate", str(out), *args]) == 0
    assert main(["simulate", str(fresh), *args]) == 0
    resumed = _files(out)
    assert resumed == _files(fresh) and len(resumed) == 3 + 3 * (3 * 12 + 2)
    assert main(["simulate", str(out), *args]) == 0  # the identical command on a finished simulation
    assert _files(out) == resumed


def test_user_array_and_camera(tmp_path: Path) -> None:
    geometry = ArrayGeometry.default(arms=4, mics_per_arm=6, radius_m=0.2)
    geometry.save(tmp_path / "array.xml")
    camera = PinholeCamera(width=320, height=240, fx=260.0, fy=262.0, cx=165.0, cy=118.0)
    camera.save(tmp_path / "camera.json")
    out = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                str(out),
                "--videos-per-class",
                "1",
                "--seconds",
                "1",
                "--seed",
                "2",
                "--classes",
                "4",
                "--workers",
                "1",
                "--array",
                str(tmp_path / "array.xml"),
                "--camera",
                str(tmp_path / "camera.json"),
            ]
        )
        == 0
    )
    video = out / "class_4" / "data_000"
    assert (video / "audio" / "A_000001.dc").stat().st_size == 24 * 1024 * 4  # 24 microphones
    assert ArrayGeometry.load(out / "array_geometry.csv", expected_mics=None) == geometry
    assert PinholeCamera.load(out / "camera.json") == camera
    from PIL import Image

    assert Image.open(video / "video" / "I_000001.bmp").size == (320, 240)  # frames at the camera's size
    # the stored images are the beamforming of the stored audio for that array (re-imaging reproduces them)
    images = tmp_path / "again"
    assert (
        main(
            [
                "beamform",
                str(video),
                str(images),
                "--geometry",
                str(out / "array_geometry.csv"),
                "--camera",
                str(out / "camera.json"),
            ]
        )
        == 0
    )
    from acoustic_ssl.data.raw import read_mfcc_mat

    stored, again = read_mfcc_mat(video / "MFCC_Image" / "Data_5.mat"), read_mfcc_mat(images / "Data_5.mat")
    np.testing.assert_allclose(again, stored, rtol=0, atol=1e-4 * np.abs(stored).max())
    # and it converts into training records like the DualCam's (the mono track is microphone 0)
    assert main(["convert", str(out), str(tmp_path / "records"), "--workers", "1"]) == 0
    assert (tmp_path / "records" / "class_4" / "data_000" / "Data_001.tfrecord").stat().st_size > 0


def test_camera_frame_to_room_coordinates_by_hand() -> None:
    """Camera at (2, 0.3, 1.4) in a 4 × 5 × 3 room: a point 0.5 m right, 0.4 m *up* (y = -0.4) and 2 m ahead
    is at (2.5, 2.3, 1.8); a point 3 m above the camera is pulled along its line of sight to the ceiling's
    margin (height 2.75 m: scale 1.35 / 3)."""
    room = Room((4.0, 5.0, 3.0), 0.5)
    assert room.camera_m == (2.0, 0.3, 1.4)
    np.testing.assert_allclose(room.to_room(np.array([0.5, -0.4, 2.0])), [2.5, 2.3, 1.8], atol=1e-12)
    high = np.array([[0.0, -3.0, 2.0]])
    inside = room.contain(Trajectory(0.0, 1.0, high)).positions
    np.testing.assert_allclose(inside, high * 1.35 / 3.0, atol=1e-12)
    np.testing.assert_allclose(room.to_room(inside[0]), [2.0, 0.3 + 0.9, 2.75], atol=1e-12)
