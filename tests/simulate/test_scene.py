"""Scenes: seeded, sources where they should be, levels giving the requested SNR."""

from __future__ import annotations

import numpy as np
import pytest

from acoustic_ssl.data.layout import NUM_CLASSES
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.simulate.objects import OBJECT_SIZE_M, OBJECTS
from acoustic_ssl.simulate.propagation import DiffuseNoise, PointSource
from acoustic_ssl.simulate.render import frame_times
from acoustic_ssl.simulate.scene import interferer_trajectory, main_trajectory, make_scene

CAMERA = PinholeCamera()


def test_object_table_covers_every_class() -> None:
    assert sorted(OBJECT_SIZE_M) == list(range(NUM_CLASSES))
    for spec in OBJECTS.values():
        assert 1.5 <= spec.distance_m[0] <= spec.distance_m[1] <= 15.0


def test_same_seed_same_scene() -> None:
    a = make_scene(3, 2, 20.0, CAMERA, np.random.SeedSequence(5, spawn_key=(3, 0)))
    b = make_scene(3, 2, 20.0, CAMERA, np.random.SeedSequence(5, spawn_key=(3, 0)))
    c = make_scene(3, 2, 20.0, CAMERA, np.random.SeedSequence(5, spawn_key=(3, 1)))
    np.testing.assert_array_equal(a.sources[0].signal, b.sources[0].signal)
    np.testing.assert_array_equal(a.sources[0].trajectory.positions, b.sources[0].trajectory.positions)
    assert not np.array_equal(a.sources[0].trajectory.positions, c.sources[0].trajectory.positions)


def _inside(points: np.ndarray) -> np.ndarray:
    pixels, in_front = CAMERA.project(points)
    return in_front & np.all((pixels >= 0) & (pixels < [CAMERA.width, CAMERA.height]), axis=1)


@pytest.mark.parametrize("class_index", range(NUM_CLASSES))
def test_main_source_mostly_on_screen_and_within_range(class_index: int) -> None:
    rng = np.random.default_rng(class_index)
    times = frame_times(36)
    on_screen = []
    for _ in range(20):
        trajectory, facing = main_trajectory(OBJECTS[class_index], 3, CAMERA, rng)
        points = trajectory.at(times)
        depth, distance = points[:, 2], np.linalg.norm(points, axis=1)
        assert np.all((depth > 1.4) & (depth < 15.8) & (distance < 20.0)) and facing in (-1.0, 1.0)
        on_screen.append(_inside(points).mean())
    assert np.mean(on_screen) >= 0.85


def test_interferers_are_off_screen_and_of_other_classes() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        assert not _inside(interferer_trajectory(3, CAMERA, rng).at(frame_times(36))).any()
    scenes = [make_scene(4, 1, 20.0, CAMERA, np.random.SeedSequence(3, spawn_key=(4, v))) for v in range(4)]
    interferers = [s for scene in scenes for s in scene.sources[1:]]
    assert interferers and all(s.class_index != 4 for s in interferers)
    assert [s.source_id for s in scenes[0].sources] == list(range(len(scenes[0].sources)))


@pytest.mark.parametrize("snr_db", [0.0, 20.0])
def test_realised_snr_matches_request(snr_db: float) -> None:
    """Main-source power over interferer + diffuse + sensor noise power at the array is close to snr_db."""
    mics = ArrayGeometry.default().positions[::16]  # 8 mics keep the test fast; the level is array-averaged
    ratios = []
    for video in range(3):
        scene = make_scene(9, 1, snr_db, CAMERA, np.random.SeedSequence(2, spawn_key=(9, video)))
        sources = [PointSource(s.signal, s.lead, s.trajectory, s.gain) for s in scene.sources]
        diffuse = DiffuseNoise(mics, scene.noise_rng)
        signal_power = noise_power = 0.0
        for k in range(scene.num_frames):
            signal_power += np.mean(sources[0].render(mics, k * 1024) ** 2)
            noise = (
                sum(s.render(mics, k * 1024) for s in sources[1:]) + scene.diffuse_std * diffuse.next_frame()
            )
            noise = noise + scene.sensor_std * scene.noise_rng.standard_normal(noise.shape)
            noise_power += np.mean(noise**2)
        ratios.append(10 * np.log10(signal_power / noise_power))
    assert ratios == pytest.approx([snr_db] * len(ratios), abs=0.5)
