"""One simulated video = one "location": where the sources are, how loud, and what noise surrounds them.

Coordinates are the camera frame of :mod:`acoustic_ssl.imaging.geometry` (origin at the camera and the array
centre, x right, y down, z forward, metres).

* Main source (id 0) of the video's class: placed by sampling a point of the image (class-dependent band of
  rows) and a depth z (class-dependent, within 1.5–15 m; the distance is up to 1.3 z near the frame
  edges), then moved by the class's motion model
  (:mod:`acoustic_ssl.simulate.objects`): static, handheld wander, back-and-forth sweep, free flight, or a
  pass across the view. Trajectories keep the source mostly on screen; about one pass in four enters or leaves
  the frame, so some frames are legitimately off screen (``on_screen = 0`` in the ground truth).
* Off-screen interferers (ids 1, 2): 0–2 sources of other classes, in front of the camera but outside the
  field of view (azimuth from hfov/2 + 8° to 80°, elevation ±20°), 4–25 m away, static or drifting slowly.
* Composition (:class:`Composition`, off by default): on-screen sounding sources of other classes
  (``extra_sources``, ids after the interferers, each ``extra_level_db`` below the class source) and silent
  visual distractors (``distractors``: objects of other classes drawn like the sources but making no sound,
  the last ids). Each keeps its class's placement and motion model; placements whose box overlaps an object
  already placed (by more than ``MAX_OVERLAP`` of the smaller box, in any frame) are redrawn, up to
  ``PLACEMENT_TRIES`` times, after which the object is left out (a large train leaves little room).
* Library objects (``--objects``, :mod:`~acoustic_ssl.simulate.library`): every object of the scene is one of
  the library's objects of its class, drawn from its own stream; its picture's size and motion model replace
  the class's, its clips the sound model.
* Location (:class:`Site`): with a pool of locations shared by all classes, the background is the pool
  entry's (drawn from the entry's own seed, so every video at that location shows the same place, as a fixed
  camera would); without one, every video has its own background of its class's kind.
* Diffuse background noise (:class:`~acoustic_ssl.simulate.propagation.DiffuseNoise`) and uncorrelated sensor
  self-noise (white, independent per microphone).

Levels. The recording level sets the main source's RMS at the array (averaged over microphones and the
clip) to ``level_dbfs`` ∈ [−38, −26] dBFS, full scale 2^23 (see :mod:`acoustic_ssl.simulate.render`).
``snr_db`` is the ratio of that power to the total noise power at the array, the noise being interferers +
diffuse + sensor noise: interferers take 20–60 % of the noise power (split evenly) when present, the diffuse
field 50–90 % of the rest, sensor noise the remainder. Gains use the mean of 1/r² over the trajectory, so the
realised SNR of a clip matches ``snr_db`` to within a fraction of a dB (the signals have unit RMS per clip).
On-screen extra sources are not noise: they add to the scene at their own level.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.fft

from acoustic_ssl.data.layout import FRAMES_PER_SECOND, NUM_CLASSES, SENSOR_SAMPLE_RATE
from acoustic_ssl.imaging.geometry import PinholeCamera
from acoustic_ssl.simulate.objects import OBJECTS, ObjectSpec
from acoustic_ssl.simulate.propagation import SPEED_OF_SOUND, Trajectory
from acoustic_ssl.simulate.sounds import synthesize

if TYPE_CHECKING:
    from acoustic_ssl.simulate.clips import SoundBank
    from acoustic_ssl.simulate.library import LibraryObject, ObjectLibrary
    from acoustic_ssl.simulate.room import Room

FULL_SCALE = 2.0**23  # int32 sample value of a full-scale sine peak: 24-bit ADC words, sign-extended
LEVEL_DBFS_RANGE = (-38.0, -26.0)
KNOT_STEP_S = 0.02
KNOT_MARGIN_S = 0.5  # trajectories start this long before t = 0 (sound emitted before the first frame)
MAX_INTERFERERS = 2
INTERFERER_COUNT_PROBS = (0.3, 0.5, 0.2)
MAX_EXTRA_SOURCES = 4
MAX_DISTRACTORS = 6
MAX_OVERLAP = 0.1  # largest share of the smaller box two on-screen objects may overlap
PLACEMENT_TRIES = 30
# Independent generator streams per video: 0 placement, 1 class sound, 2 noise, 3 visuals, 4-5 interferer
# sounds, 6 composition placement, 7 composition looks, 8.. extra-source sounds, then the room, then which
# library objects (--objects) appear. Streams are spawned by index, so adding streams leaves the others (and
# scenes without composition) unchanged.
ROOM_STREAM = 8 + MAX_EXTRA_SOURCES
OBJECT_STREAM = ROOM_STREAM + 1
RNG_STREAMS = OBJECT_STREAM + 1


@dataclass
class SceneSource:
    """A sound source of the scene: its class, path, unit-RMS signal (with ``lead`` samples before t = 0)."""

    source_id: int
    class_index: int
    trajectory: Trajectory
    signal: np.ndarray
    lead: int
    gain: float
    facing: float  # +1 faces right in the video, -1 left (sprites mirror accordingly)
    clip: str = ""  # the user clip (``--sounds``), relative to the sounds folder; "" = procedural
    clip_start_s: float = 0.0
    visible: bool = True  # drawn in the video when on screen (off-screen interferers are not)
    item: LibraryObject | None = None  # the library object (``--objects``); None = the class's sprite


@dataclass(frozen=True)
class Distractor:
    """A silent on-screen object of another class: drawn in the video, absent from the audio."""

    object_id: int
    class_index: int
    trajectory: Trajectory
    facing: float
    item: LibraryObject | None = None


@dataclass(frozen=True)
class Composition:
    """What else is on screen besides the class source (the same for every video of a dataset)."""

    distractors: int = 0
    extra_sources: int = 0
    extra_level_db: tuple[float, float] = (0.0, 6.0)  # how far below the class source, dB (uniform)
    # distractors as large on screen as the sounding object (size / depth drawn like the class source's), so
    # that "point at the largest box" is no better than "point at any box"
    matched_sizes: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.distractors <= MAX_DISTRACTORS:
            raise ValueError(f"distractors must be 0..{MAX_DISTRACTORS}, got {self.distractors}")
        if not 0 <= self.extra_sources <= MAX_EXTRA_SOURCES:
            raise ValueError(f"extra sources must be 0..{MAX_EXTRA_SOURCES}, got {self.extra_sources}")
        low, high = self.extra_level_db
        if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low <= high):
            raise ValueError(f"extra source levels must be 0 <= low <= high dB, got {self.extra_level_db}")


@dataclass(frozen=True)
class Site:
    """A location of a shared pool: its index and the seed its background is drawn from."""

    index: int
    seed: np.random.SeedSequence


@dataclass(frozen=True)
class SceneObject:
    """Anything with a place in the video: a sound source or a distractor (the ground-truth rows)."""

    object_id: int
    class_index: int
    trajectory: Trajectory
    facing: float
    sounding: bool
    visible: bool
    clip: str = ""  # the user clip it plays (``--sounds``, ``--objects``); "" = procedural or silent
    clip_start_s: float = 0.0
    item: LibraryObject | None = None


@dataclass
class Scene:
    """Everything the renderer needs for one video, drawn from the video's seed."""

    class_index: int
    seconds: int
    snr_db: float
    level_dbfs: float
    sources: list[SceneSource]
    diffuse_std: float
    sensor_std: float
    diffuse_tilt_db: float
    noise_rng: np.random.Generator
    visual_rng: np.random.Generator
    shares: dict[str, float] = field(default_factory=dict)
    room: Room | None = None  # reflections and reverberation (``--room``); None = free field
    room_rng: np.random.Generator | None = None
    uses_clips: bool = False  # made with a sound bank: the ground truth names each source's clip
    uses_objects: bool = False  # made with an object library: the ground truth names each object
    distractors: list[Distractor] = field(default_factory=list)
    looks_rng: np.random.Generator | None = None  # appearances of the extra sources and distractors
    site: Site | None = None

    @property
    def objects(self) -> list[SceneObject]:
        """Sources then distractors, in id order."""
        out = [
            SceneObject(s.source_id, s.class_index, s.trajectory, s.facing, True, s.visible, s.clip,
                        s.clip_start_s, s.item)
            for s in self.sources
        ]
        out += [SceneObject(d.object_id, d.class_index, d.trajectory, d.facing, False, True, item=d.item)
                for d in self.distractors]
        return out

    @property
    def num_samples(self) -> int:
        return self.seconds * SENSOR_SAMPLE_RATE

    @property
    def num_frames(self) -> int:
        return self.seconds * FRAMES_PER_SECOND


def frame_times(num_frames: int) -> np.ndarray:
    """Instant (s) each video frame shows and the ground truth describes: the middle of its audio frame."""
    return (np.arange(num_frames) + 0.5) / FRAMES_PER_SECOND


def _wander(rng: np.random.Generator, t: np.ndarray, amplitude: float, max_hz: float) -> np.ndarray:
    """A smooth random 1-D path (sum of three sinusoids), zero-mean, amplitude about ``amplitude``."""
    out = np.zeros_like(t)
    for k in range(3):
        freq = rng.uniform(0.05, max_hz)
        out += amplitude / (k + 1) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return out / 1.4


def _back_project(camera: PinholeCamera, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
    """3-D points at depth ``z`` seen at image fractions (u, v) of the width/height."""
    return camera.back_project(u * camera.width, v * camera.height, z)


def main_trajectory(
    spec: ObjectSpec, seconds: float, camera: PinholeCamera, rng: np.random.Generator
) -> tuple[Trajectory, float]:
    """The main source's path for one video and which way it faces (+1 right, −1 left)."""
    t = np.arange(-KNOT_MARGIN_S, seconds + KNOT_MARGIN_S + KNOT_STEP_S, KNOT_STEP_S)
    z0 = rng.uniform(*spec.distance_m)
    u0 = rng.uniform(0.2, 0.8)
    v0 = rng.uniform(*spec.rows)
    facing = float(rng.choice([-1.0, 1.0]))
    ones = np.ones_like(t)
    if spec.motion == "static":
        points = _back_project(camera, u0 * ones, v0 * ones, z0 * ones)
    elif spec.motion == "handheld":
        centre = _back_project(camera, np.array(u0), np.array(v0), np.array(z0))
        wobble = np.stack([_wander(rng, t, 0.08, 0.8) for _ in range(3)], axis=-1)
        points = centre + wobble
    elif spec.motion == "sweep":
        centre = _back_project(camera, np.array(u0), np.array(v0), np.array(z0))
        period = rng.uniform(1.5, 3.0)
        amplitude = rng.uniform(0.15, 0.4)
        phase = rng.uniform(0, 2 * np.pi)
        lateral = amplitude * np.sin(2 * np.pi * t / period + phase)
        depth = 0.5 * amplitude * np.cos(2 * np.pi * t / period + phase)
        points = centre + np.stack([lateral, 0.02 * np.sin(4 * np.pi * t / period), depth], axis=-1)
    elif spec.motion == "fly":
        u = np.clip(u0 + _wander(rng, t, 0.15, 0.3), 0.08, 0.92)
        v = np.clip(v0 + _wander(rng, t, 0.1, 0.3), 0.08, 0.92)
        z = np.clip(z0 * (1.0 + _wander(rng, t, 0.15, 0.2)), 2.0, 15.0)
        points = _back_project(camera, u, v, z)
    elif spec.motion == "pass":
        # Cross the view left->right or right->left; one pass in four enters or leaves the frame.
        partial = rng.random() < 0.25
        start = rng.uniform(-0.12, 0.05) if partial else rng.uniform(0.08, 0.35)
        stop = rng.uniform(0.65, 0.92)
        lateral_m = (stop - start) * camera.width * z0 / camera.focal_px
        if lateral_m / seconds > spec.max_speed_mps:  # too fast for this class: shorten the path
            keep = spec.max_speed_mps * seconds / lateral_m
            middle = rng.uniform(start + (stop - start) * keep / 2, stop - (stop - start) * keep / 2)
            start, stop = middle - (stop - start) * keep / 2, middle + (stop - start) * keep / 2
        if rng.random() < 0.5:
            start, stop = stop, start
        facing = 1.0 if stop > start else -1.0
        u = start + (stop - start) * np.clip(t / seconds, 0.0, 1.0)
        points = _back_project(camera, u, v0 * ones, z0 * ones)
        points[:, 2] += 0.01 * z0 * np.sin(2 * np.pi * t / max(seconds, 1.0))  # not perfectly straight
    else:
        raise ValueError(f"unknown motion model {spec.motion!r}")
    return Trajectory(start_s=float(t[0]), step_s=KNOT_STEP_S, positions=points), facing


def interferer_trajectory(seconds: float, camera: PinholeCamera, rng: np.random.Generator) -> Trajectory:
    """An off-screen path: in front, outside the horizontal field of view, static or drifting slowly."""
    t = np.arange(-KNOT_MARGIN_S, seconds + KNOT_MARGIN_S + KNOT_STEP_S, KNOT_STEP_S)
    azimuth = math.radians(rng.uniform(camera.hfov_deg / 2 + 8.0, 80.0)) * rng.choice([-1.0, 1.0])
    elevation = math.radians(rng.uniform(-20.0, 20.0))
    distance = rng.uniform(4.0, 25.0)
    start = distance * np.array(
        [
            math.sin(azimuth) * math.cos(elevation),
            -math.sin(elevation),
            math.cos(azimuth) * math.cos(elevation),
        ]
    )
    drift = rng.uniform(0.0, 1.0) * np.array([math.copysign(1.0, azimuth), 0.0, rng.uniform(-0.3, 0.3)])
    return Trajectory(start_s=float(t[0]), step_s=KNOT_STEP_S, positions=start + t[:, None] * drift)


def _mean_inverse_square_range(trajectory: Trajectory, seconds: float) -> float:
    t = np.arange(0.0, seconds, KNOT_STEP_S)
    return float(np.mean(1.0 / np.sum(trajectory.at(t) ** 2, axis=-1)))


def _signal_for(
    class_index: int,
    trajectory: Trajectory,
    seconds: int,
    rng: np.random.Generator,
    sounds: SoundBank | None,
    library: ObjectLibrary | None = None,
    item: LibraryObject | None = None,
):
    """Unit-RMS source signal long enough for the farthest point of the path: (signal, lead, clip, clip
    start), from one of the library object's clips, else a clip of ``sounds`` when it has one for the class,
    else from the procedural model."""
    farthest = float(np.max(np.linalg.norm(trajectory.positions, axis=-1)))
    lead = math.ceil((farthest + 1.0) / SPEED_OF_SOUND * SENSOR_SAMPLE_RATE) + 64
    # a few samples more, to a length whose FFT is fast: the sound models and the upsampling transform the
    # whole signal, ~10x slower at a length with a large prime factor
    length = scipy.fft.next_fast_len(lead + seconds * SENSOR_SAMPLE_RATE + 64, real=True)
    if library is not None and item is not None:
        signal, clip, start = library.sound(item, length, rng)
        return signal, lead, clip, start
    if sounds is not None and class_index in sounds.clips:
        signal, clip, start = sounds.signal(class_index, length, rng)
        return signal, lead, clip, start
    return synthesize(class_index, length, rng), lead, "", 0.0


def object_boxes(
    class_index: int,
    trajectory: Trajectory,
    facing: float,
    camera: PinholeCamera,
    times: np.ndarray,
    item: LibraryObject | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where an object is in the reference camera at ``times``: centre pixels [T, 2], its sprite's (or library
    picture's alpha) box (x0, y0, x1, y1) [T, 4] (unclipped; NaN behind the camera) and whether the centre is
    on screen [T]."""
    from acoustic_ssl.simulate.sprites import parts_extent, sprite_parts, sprite_tilt

    points = trajectory.at(times)
    pixels, in_front = camera.project(points)
    if item is None:
        tilts = sprite_tilt(class_index, trajectory.velocity(times)[:, 0])
        extents = {t: parts_extent(sprite_parts(class_index, facing=facing, tilt_rad=t)) for t in set(tilts)}
    else:  # pictures are drawn upright
        tilts = np.zeros(len(times))
        extents = {0.0: item.extent_m()}
    scale = camera.focal_px / np.where(in_front, points[:, 2], np.nan)
    offsets = np.array([extents[t] for t in tilts])
    boxes = np.concatenate([pixels, pixels], axis=1) + offsets * scale[:, None]
    inside = (
        in_front
        & (pixels[:, 0] >= 0)
        & (pixels[:, 0] < camera.width)
        & (pixels[:, 1] >= 0)
        & (pixels[:, 1] < camera.height)
    )
    return pixels, boxes, inside


def _visible_area(boxes: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    """Boxes [..., 4] clipped to the frame (NaN boxes → empty)."""
    clipped = np.nan_to_num(boxes, nan=-1.0)
    clipped[..., 0::2] = np.clip(clipped[..., 0::2], 0.0, camera.width)
    clipped[..., 1::2] = np.clip(clipped[..., 1::2], 0.0, camera.height)
    return clipped


def overlaps(a: np.ndarray, b: np.ndarray, camera: PinholeCamera, limit: float = MAX_OVERLAP) -> bool:
    """Whether two objects' visible boxes [T, 4] overlap by more than ``limit`` of the smaller one, any T."""
    a, b = _visible_area(a, camera), _visible_area(b, camera)
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    shared = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    smaller = np.minimum(area_a, area_b)
    return bool(np.any(shared > limit * np.maximum(smaller, 1e-9)))


@functools.cache
def box_size_m(class_index: int) -> float:
    """The square root of the area of a class's sprite box in metres (facing right, upright): how large it
    looks at a given depth, whatever its shape (a train is long and low, a fountain square)."""
    from acoustic_ssl.simulate.sprites import parts_extent, sprite_parts

    x0, y0, x1, y1 = parts_extent(sprite_parts(class_index, facing=1.0, tilt_rad=0.0))
    return math.sqrt((x1 - x0) * (y1 - y0))


def _spec(class_index: int, item: LibraryObject | None) -> ObjectSpec:
    return OBJECTS[class_index] if item is None else item.spec


def _look_size_m(class_index: int, item: LibraryObject | None) -> float:
    if item is None:
        return box_size_m(class_index)
    x0, y0, x1, y1 = item.extent_m()
    return math.sqrt((x1 - x0) * (y1 - y0))


def matched_depths(
    class_index: int, like: int, item: LibraryObject | None = None, like_item: LibraryObject | None = None
) -> ObjectSpec:
    """The spec of ``class_index`` (or of library object ``item``) with the depth range that gives it the
    on-screen sizes of class ``like`` (or ``like_item``): depths scaled by box_size(class) / box_size(like),
    so its box area over depth² is distributed as ``like``'s (a pinhole image is focal · size / depth). A
    train stands far off, a razor near the lens."""
    spec, reference = _spec(class_index, item), _spec(like, like_item)
    ratio = _look_size_m(class_index, item) / _look_size_m(like, like_item)
    low, high = reference.distance_m
    return dataclasses.replace(spec, distance_m=(low * ratio, high * ratio))


def _place_objects(
    count: int,
    classes: list[int],
    seconds: int,
    camera: PinholeCamera,
    rng: np.random.Generator,
    placed: list[np.ndarray],
    size_like: tuple[int, LibraryObject | None] | None = None,
    library: ObjectLibrary | None = None,
) -> list[tuple[int, Trajectory, float, LibraryObject | None]]:
    """Up to ``count`` (class, path, facing, library object) of the given classes, each overlapping no box in
    ``placed``; with a ``library`` each is one of its objects of that class.

    ``size_like``: a class (and library object) whose on-screen sizes the objects take (``matched_depths``).
    Each object's class and depth are then drawn once and only its place is redrawn when it overlaps:
    redrawing the depth too would favour far, small draws (they fit more often) and bring the size prior back.
    """
    times = frame_times(seconds * FRAMES_PER_SECOND)
    out = []
    for _ in range(count if classes else 0):
        fixed: tuple[int, ObjectSpec, LibraryObject | None] | None = None
        if size_like is not None:
            other = int(rng.choice(classes))
            item = library.draw(other, rng) if library is not None else None
            spec = matched_depths(other, size_like[0], item, size_like[1])
            depth = float(rng.uniform(*spec.distance_m))
            fixed = other, dataclasses.replace(spec, distance_m=(depth, depth)), item
        for _ in range(PLACEMENT_TRIES):
            if fixed is None:
                other = int(rng.choice(classes))
                item = library.draw(other, rng) if library is not None else None
                spec = _spec(other, item)
            else:
                other, spec, item = fixed
            path, facing = main_trajectory(spec, seconds, camera, rng)
            boxes = object_boxes(other, path, facing, camera, times, item)[1]
            if not any(overlaps(boxes, previous, camera) for previous in placed):
                placed.append(boxes)
                out.append((other, path, facing, item))
                break
    return out


def make_scene(
    class_index: int,
    seconds: int,
    snr_db: float,
    camera: PinholeCamera,
    seed: np.random.SeedSequence,
    *,
    sounds: SoundBank | None = None,
    room: Room | None = None,
    composition: Composition | None = None,
    site: Site | None = None,
    library: ObjectLibrary | None = None,
) -> Scene:
    """Draw one video's scene from its seed (independent streams: placement, sounds, noise, visuals, room).

    ``sounds``: user clips replace the procedural sounds of their classes; ``room``: every path is kept inside
    it (pulled towards the camera along the line of sight) and the renderer adds its reflections;
    ``composition`` adds on-screen sources and distractors; ``site`` is the video's place in a shared pool of
    locations (None: a background of its own); ``library``: the classes are the library's, every object (the
    class source, interferers, extra sources, distractors) one of its objects of its class, picture and
    clips.
    """
    num_classes = NUM_CLASSES if library is None else len(library.classes)
    if not 0 <= class_index < num_classes:
        raise ValueError(f"class index must be 0..{num_classes - 1}, got {class_index}")
    composition = composition or Composition()
    streams = [np.random.default_rng(child) for child in seed.spawn(RNG_STREAMS)]
    placement, main_sound, noise_rng, visual_rng = streams[0], streams[1], streams[2], streams[3]
    interferer_sounds = streams[4 : 4 + MAX_INTERFERERS]
    composition_rng, looks_rng, extra_sounds = streams[6], streams[7], streams[8:ROOM_STREAM]

    level_dbfs = placement.uniform(*LEVEL_DBFS_RANGE)
    level = FULL_SCALE * 10.0 ** (level_dbfs / 20.0)
    noise_power = level**2 / 10.0 ** (snr_db / 10.0)

    object_rng = streams[OBJECT_STREAM]
    item = library.draw(class_index, object_rng) if library is not None else None
    trajectory, facing = main_trajectory(_spec(class_index, item), seconds, camera, placement)
    if room is not None:
        trajectory = room.contain(trajectory)
    signal, lead, clip, clip_start = _signal_for(
        class_index, trajectory, seconds, main_sound, sounds, library, item
    )
    gain = level / math.sqrt(_mean_inverse_square_range(trajectory, seconds))
    sources = [
        SceneSource(0, class_index, trajectory, signal, lead, gain, facing, clip, clip_start, item=item)
    ]

    others = [c for c in range(num_classes) if c != class_index]
    count = int(placement.choice(len(INTERFERER_COUNT_PROBS), p=INTERFERER_COUNT_PROBS)) if others else 0
    interferer_share = placement.uniform(0.2, 0.6) if count else 0.0
    for k in range(count):
        other_class = int(placement.choice(others))
        other_item = library.draw(other_class, object_rng) if library is not None else None
        path = interferer_trajectory(seconds, camera, placement)
        if room is not None:
            path = room.contain(path)
        other_signal, other_lead, other_clip, other_start = _signal_for(
            other_class, path, seconds, interferer_sounds[k], sounds, library, other_item
        )
        power = interferer_share * noise_power / count
        other_gain = math.sqrt(power / _mean_inverse_square_range(path, seconds))
        other_facing = float(placement.choice([-1.0, 1.0]))
        sources.append(
            SceneSource(
                k + 1, other_class, path, other_signal, other_lead, other_gain, other_facing, other_clip,
                other_start, visible=False, item=other_item,
            )
        )

    distractors: list[Distractor] = []
    if composition.extra_sources or composition.distractors:
        times = frame_times(seconds * FRAMES_PER_SECOND)
        placed = [object_boxes(class_index, trajectory, facing, camera, times, item)[1]]
        extras = _place_objects(
            composition.extra_sources, others, seconds, camera, composition_rng, placed, library=library
        )
        for k, (other_class, path, other_facing, other_item) in enumerate(extras):
            below_db = composition_rng.uniform(*composition.extra_level_db)
            if room is not None:
                path = room.contain(path)
            other_signal, other_lead, other_clip, other_start = _signal_for(
                other_class, path, seconds, extra_sounds[k], sounds, library, other_item
            )
            other_level = level * 10.0 ** (-below_db / 20.0)
            other_gain = other_level / math.sqrt(_mean_inverse_square_range(path, seconds))
            sources.append(
                SceneSource(
                    len(sources), other_class, path, other_signal, other_lead, other_gain, other_facing,
                    other_clip, other_start, item=other_item,
                )
            )
        size_like = (class_index, item) if composition.matched_sizes else None
        silent = _place_objects(
            composition.distractors, others, seconds, camera, composition_rng, placed, size_like, library
        )
        distractors = [
            Distractor(len(sources) + k, other_class, path, other_facing, other_item)
            for k, (other_class, path, other_facing, other_item) in enumerate(silent)
        ]

    diffuse_share = (1.0 - interferer_share) * placement.uniform(0.5, 0.9)
    sensor_share = 1.0 - interferer_share - diffuse_share
    return Scene(
        class_index=class_index,
        seconds=seconds,
        snr_db=snr_db,
        level_dbfs=level_dbfs,
        sources=sources,
        diffuse_std=math.sqrt(diffuse_share * noise_power),
        sensor_std=math.sqrt(sensor_share * noise_power),
        diffuse_tilt_db=placement.uniform(-4.5, -1.5),
        noise_rng=noise_rng,
        visual_rng=visual_rng,
        shares={"interferers": interferer_share, "diffuse": diffuse_share, "sensor": sensor_share},
        room=room,
        room_rng=streams[ROOM_STREAM] if room is not None else None,
        uses_clips=sounds is not None or library is not None,
        uses_objects=library is not None,
        distractors=distractors,
        looks_rng=looks_rng,
        site=site,
    )

