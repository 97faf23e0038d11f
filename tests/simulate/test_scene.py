"""Scenes: seeded, sources where they should be, levels giving the requested SNR."""

from __future__ import annotations

import numpy as np
import pytest

from acoustic_ssl.data.layout import NUM_CLASSES
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
from acoustic_ssl.simulate.objects import OBJECT_SIZE_M, OBJECTS
from acoustic_ssl.simulate.propagation import DiffuseNoise, PointSource
from acoustic_ssl.simulate.render import FrameRenderer, frame_times
from acoustic_ssl.simulate.scene import (
    Composition,
    Scene,
    interferer_trajectory,
    main_trajectory,
    make_scene,
    object_boxes,
    overlaps,
)

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


def _scene(class_index: int, video: int, composition: Composition | None = None) -> Scene:
    return make_scene(
        class_index, 2, 10.0, CAMERA, np.random.SeedSequence(8, spawn_key=(class_index, video)),
        composition=composition,
    )


def test_no_composition_leaves_the_scene_unchanged() -> None:
    """Composition draws from streams of its own: the class source, interferers and noise stay the same."""
    plain, crowded = _scene(6, 0), _scene(6, 0, Composition(distractors=3, extra_sources=1))
    assert not plain.distractors and len(crowded.distractors) >= 1
    for a, b in zip(plain.sources, crowded.sources, strict=False):
        np.testing.assert_array_equal(a.signal, b.signal)
        np.testing.assert_array_equal(a.trajectory.positions, b.trajectory.positions)
    assert plain.diffuse_std == crowded.diffuse_std and plain.level_dbfs == crowded.level_dbfs


def test_distractors_and_extra_sources() -> None:
    composition = Composition(distractors=2, extra_sources=1, extra_level_db=(3.0, 6.0))
    times = frame_times(24)
    counts = []
    for video in range(6):
        scene = _scene(video % NUM_CLASSES, video, composition)
        objects = scene.objects
        assert [o.object_id for o in objects] == list(range(len(objects)))
        extras = [s for s in scene.sources if s.visible and s.source_id > 0]
        assert len(extras) <= 1 and len(scene.distractors) <= 2
        counts.append(len(scene.distractors))
        assert all(o.class_index != scene.class_index for o in objects[1:])
        assert [o.sounding for o in objects] == [True] * len(scene.sources) + [False] * len(scene.distractors)
        main_level = scene.sources[0].gain**2 * _mean_inverse_square(scene.sources[0].trajectory)
        for extra in extras:  # 3-6 dB below the class source at the array
            level_db = 10 * np.log10(extra.gain**2 * _mean_inverse_square(extra.trajectory) / main_level)
            assert -6.0 - 1e-9 <= level_db <= -3.0 + 1e-9
        visible = [o for o in objects if o.visible]
        boxes = [object_boxes(o.class_index, o.trajectory, o.facing, CAMERA, times)[1] for o in visible]
        for i in range(len(boxes)):
            for j in range(i):
                assert not overlaps(boxes[i], boxes[j], CAMERA)
    assert sum(counts) >= 8  # most distractors fit


def _mean_inverse_square(trajectory) -> float:
    t = np.arange(0.0, 2.0, 0.02)
    return float(np.mean(1.0 / np.sum(trajectory.at(t) ** 2, axis=-1)))


def test_overlap_rule() -> None:
    a = np.array([[0.0, 0.0, 100.0, 100.0]])
    assert overlaps(a, np.array([[50.0, 50.0, 150.0, 150.0]]), CAMERA)  # 25 % of the smaller box
    assert not overlaps(a, np.array([[95.0, 0.0, 195.0, 100.0]]), CAMERA)  # 5 %
    assert not overlaps(a, np.array([[-300.0, 0.0, -1.0, 100.0]]), CAMERA)  # off screen: nothing visible


def test_bad_composition_is_refused() -> None:
    with pytest.raises(ValueError, match="distractors"):
        Composition(distractors=-1)
    with pytest.raises(ValueError, match="levels"):
        Composition(extra_level_db=(6.0, 3.0))


@pytest.mark.parametrize("class_index", [0, 2, 3, 5])
def test_box_bounds_the_drawn_sprite(class_index: int) -> None:
    """Every pixel the sprite changes lies in its ground-truth box, and the box is tight (within 3 px)."""
    scene = _scene(class_index, 1)
    renderer = FrameRenderer(scene, CAMERA, (480, 640))
    times = frame_times(scene.num_frames)
    source = scene.sources[0]
    _, boxes, inside = object_boxes(class_index, source.trajectory, source.facing, CAMERA, times)
    checked = 0
    for k in range(0, scene.num_frames, 5):
        x0, y0, x1, y1 = boxes[k]
        if not (inside[k] and x0 > 2 and y0 > 2 and x1 < 637 and y1 < 477):
            continue
        frame = renderer.frame(k, times[k])[..., ::-1].astype(float)
        changed = np.abs(frame - renderer.background).max(axis=2) > 30
        rows, cols = np.nonzero(changed)
        assert rows.size
        assert cols.min() >= x0 - 1.5 and cols.max() <= x1 + 0.5 and rows.min() >= y0 - 1.5
        assert rows.max() <= y1 + 0.5
        assert cols.min() <= x0 + 3 and cols.max() >= x1 - 4 and rows.min() <= y0 + 3 and rows.max() >= y1 - 4
        checked += 1
    assert checked


def test_overlap_is_measured_against_the_smaller_box() -> None:
    """A 40 × 10 box sharing 10 × 10 with a 100 × 100 one overlaps 25 % of the smaller (1 % of the larger)."""
    large, small = np.array([[0.0, 0.0, 100.0, 100.0]]), np.array([[90.0, 0.0, 130.0, 10.0]])
    assert overlaps(large, small, CAMERA) and overlaps(small, large, CAMERA)


def test_overlap_of_exactly_the_limit_is_allowed() -> None:
    """10 % of the smaller box exactly (1000 of 10 000 pixels) is not more than MAX_OVERLAP."""
    a = np.array([[0.0, 0.0, 100.0, 100.0]])
    assert not overlaps(a, np.array([[90.0, 0.0, 190.0, 100.0]]), CAMERA)
    assert overlaps(a, np.array([[89.0, 0.0, 189.0, 100.0]]), CAMERA)


def test_overlap_clips_x_to_the_width_and_y_to_the_height() -> None:
    """Boxes right of x = 480 on a 640 × 480 frame are visible (clipping x to the height would empty them)."""
    a = np.array([[500.0, 0.0, 600.0, 100.0]])
    assert overlaps(a, np.array([[550.0, 0.0, 650.0, 100.0]]), CAMERA)  # 5000 of the visible 9000
    assert not overlaps(a, np.array([[500.0, 470.0, 600.0, 600.0]]), CAMERA)  # 10 rows visible, none shared


def test_noise_power_is_split_as_documented() -> None:
    """Interferers take their share of the noise power in total (evenly split), the diffuse field and the
    sensor theirs: at the array, Σ gain² · mean(1/r²) over interferers = share · noise power."""
    from acoustic_ssl.simulate.scene import FULL_SCALE, _mean_inverse_square_range

    counts = []
    for video in range(8):
        scene = make_scene(2, 1, 12.0, CAMERA, np.random.SeedSequence(5, spawn_key=(2, video)))
        noise_power = (FULL_SCALE * 10 ** (scene.level_dbfs / 20)) ** 2 / 10 ** (12.0 / 10)
        interferers = [s for s in scene.sources if not s.visible]
        counts.append(len(interferers))
        powers = [s.gain**2 * _mean_inverse_square_range(s.trajectory, 1) for s in interferers]
        assert sum(powers) == pytest.approx(scene.shares["interferers"] * noise_power, rel=1e-9)
        assert powers == pytest.approx(powers[:1] * len(powers), rel=1e-9)  # evenly
        assert scene.diffuse_std**2 == pytest.approx(scene.shares["diffuse"] * noise_power, rel=1e-9)
        assert scene.sensor_std**2 == pytest.approx(scene.shares["sensor"] * noise_power, rel=1e-9)
        assert sum(scene.shares.values()) == pytest.approx(1.0)
    assert 2 in counts and 0 in counts  # both an even split and no interferer are exercised


@pytest.mark.parametrize("class_index", [c for c, spec in OBJECTS.items() if spec.motion == "pass"])
def test_a_passing_object_faces_the_way_it_moves(class_index: int) -> None:
    rng = np.random.default_rng(class_index)
    directions = set()
    for _ in range(12):
        trajectory, facing = main_trajectory(OBJECTS[class_index], 2, CAMERA, rng)
        x = CAMERA.project(trajectory.at(np.array([0.0, 2.0])))[0][:, 0]
        assert np.sign(x[1] - x[0]) == facing
        directions.add(facing)
    assert directions == {-1.0, 1.0}


def test_matched_depths_give_a_distractor_the_apparent_sizes_of_the_sounding_class() -> None:
    """sqrt(sprite box area) / depth of the distractor's range equals the sounding class's, at both ends (a
    train far off, a razor near the lens); the box area is measured here from the sprite's parts."""
    from acoustic_ssl.simulate.scene import matched_depths
    from acoustic_ssl.simulate.sprites import parts_extent, sprite_parts

    def side(class_index: int) -> float:
        x0, y0, x1, y1 = parts_extent(sprite_parts(class_index, facing=1.0, tilt_rad=0.0))
        return float(np.sqrt((x1 - x0) * (y1 - y0)))

    assert side(0) / OBJECTS[0].size_m < side(3) / OBJECTS[3].size_m  # a train is long and low
    for other, like in ((0, 5), (5, 0), (2, 9)):
        spec, reference = matched_depths(other, like), OBJECTS[like]
        assert spec.size_m == OBJECTS[other].size_m and spec.motion == OBJECTS[other].motion
        for depth, reference_depth in zip(spec.distance_m, reference.distance_m, strict=True):
            assert side(other) / depth == pytest.approx(side(like) / reference_depth, rel=1e-12)


def _sounding_is_largest(class_index: int, size_like: int | None, rng: np.random.Generator) -> bool | None:
    """Place the class source and 2 distractors as a scene does; whether the source's box (first frame) is
    the largest of the three (None: a distractor did not fit or an object starts off screen)."""
    from acoustic_ssl.simulate.scene import _place_objects

    times = frame_times(1)
    path, facing = main_trajectory(OBJECTS[class_index], 1, CAMERA, rng)
    placed = [object_boxes(class_index, path, facing, CAMERA, frame_times(12))[1]]
    others = [c for c in range(NUM_CLASSES) if c != class_index]
    like = None if size_like is None else (size_like, None)
    objects = [(class_index, path, facing, None), *_place_objects(2, others, 1, CAMERA, rng, placed, like)]
    areas = []
    for cls, trajectory, side, _ in objects:
        _, boxes, inside = object_boxes(cls, trajectory, side, CAMERA, times)
        x0, y0, x1, y1 = boxes[0]
        areas.append((x1 - x0) * (y1 - y0) if inside[0] else np.nan)
    if len(areas) < 3 or np.isnan(areas).any():
        return None
    return int(np.argmax(areas)) == 0


def test_matched_sizes_remove_most_of_the_size_prior() -> None:
    """With 2 distractors as large on screen as the sounding object would be, it is the largest of the 3
    boxes about a third of the time over the classes; with their own classes' sizes, over half the time. (The
    rest of the bias: a large distractor that cannot be placed without overlapping is left out.)"""
    rng = np.random.default_rng(4)
    outcomes: dict[bool, list[bool]] = {False: [], True: []}
    for matched in (False, True):
        for class_index in range(NUM_CLASSES):
            for _ in range(20):
                found = _sounding_is_largest(class_index, class_index if matched else None, rng)
                if found is not None:
                    outcomes[matched].append(found)
    assert len(outcomes[True]) >= 120
    assert np.mean(outcomes[True]) == pytest.approx(1 / 3, abs=0.1)
    assert np.mean(outcomes[False]) > np.mean(outcomes[True]) + 0.05
