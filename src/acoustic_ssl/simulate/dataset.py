"""Simulate a whole ACIVW-style dataset: many videos, in parallel, deterministic for a seed, resumable.

Every video ``(class K, location L)`` draws everything from its own ``numpy.random.SeedSequence(seed,
spawn_key=(K, L))``, so results do not depend on the number of workers or on which videos were simulated
before; each video job runs single-threaded for the same reason (and so parallel workers do not fight for
cores). A video folder with ``ground_truth.csv`` (written last) is complete and skipped when the command is
run again with the same parameters; ``simulation.json`` records those parameters, and a different set in an
existing folder is refused rather than mixed.

Locations: with ``locations = P > 0`` the backgrounds come from a pool of P places shared by all classes;
each class spreads its videos evenly over the pool (video ``l`` of class ``K`` gets entry ``l mod P`` of a
random permutation drawn per class and per round of P videos), so a place identifies neither the class nor
the video, and several videos of different classes are recorded at the same place, as a fixed camera would.
``simulation.json`` lists each video's place (``video_locations``). ``P = 0`` gives every video a background
of its own, of its class's kind (the original simulator's scenes).

Root files: ``array_geometry.csv`` (:meth:`ArrayGeometry.save`), ``camera.json`` (the 640 × 480 reference
camera, the frame of the ground-truth pixels) and ``simulation.json``.

:class:`Extras` holds what a user brings: their own array and camera (``simulate --array --camera``; the
``.dc`` frames then hold that array's microphones and the images are beamformed for it), recorded sounds
(``--sounds``, :mod:`~acoustic_ssl.simulate.clips`), rooms (``--room``, :mod:`~acoustic_ssl.simulate.room`)
and a library of real objects (``--objects``, :mod:`~acoustic_ssl.simulate.library`): its classes replace
ACIVW's ten, and their names are written to ``labels.json`` (as ``import-video`` writes it; ``convert``
copies it to the records).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from acoustic_ssl import __version__
from acoustic_ssl.data.labels import LABELS_FILE, write_labels
from acoustic_ssl.data.layout import (
    AUDIO_DIR,
    GROUND_TRUTH_FILE,
    MFCC_DIR,
    NUM_CLASSES,
    SENSOR_SAMPLE_RATE,
    VIDEO_DIR,
    video_dir_name,
)
from acoustic_ssl.errors import ConfigError, DataError
from acoustic_ssl.io_utils import progress, remove_stale_temporaries, write_json_atomic

if TYPE_CHECKING:
    from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
    from acoustic_ssl.simulate.clips import SoundBank
    from acoustic_ssl.simulate.library import ObjectLibrary
    from acoustic_ssl.simulate.room import Room

# 2: interpolated emission times, float32 noise phases, torch sensor noise (speed); scene composition
# 3: microphone signals as a centre signal and crossfaded residual-delay FIRs (within -60 dB of 2); diffuse
#    noise in one-frame blocks with short crossfades, camera noise from torch, source signals a few samples
#    longer (fast FFT lengths): same statistics, other draws; all for speed
SIMULATOR_VERSION = 3
SITE_STREAM = 10_000  # spawn-key prefix of the location pool's seeds (video seeds use (class, location))
GEOMETRY_FILE, CAMERA_FILE, SIMULATION_FILE = "array_geometry.csv", "camera.json", "simulation.json"


@dataclass(frozen=True)
class SceneComposition:
    """What the videos show besides their class source, and where they are recorded (see the module doc).

    ``locations``: size of the shared pool of places (0: one place per video, of its class's kind);
    ``distractors``: silent objects of other classes on screen; ``extra_sources``: sounding on-screen
    objects of other classes, each ``extra_level_db`` (uniform range) below the class source;
    ``matched_sizes``: distractors as large on screen as the class source would be (no size prior).
    """

    locations: int = 0
    distractors: int = 0
    extra_sources: int = 0
    extra_level_db: tuple[float, float] = (0.0, 6.0)
    matched_sizes: bool = False

    def validate(self) -> None:
        from acoustic_ssl.simulate.scene import Composition

        if self.locations < 0:
            raise ConfigError(f"locations must be >= 0 (0: one per video), got {self.locations}")
        try:
            Composition(self.distractors, self.extra_sources, tuple(self.extra_level_db))
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc

    def describe(self) -> dict[str, Any]:
        from acoustic_ssl.simulate import scene

        return {
            "locations": self.locations,
            "distractors": self.distractors,
            "extra_sources": self.extra_sources,
            "extra_source_level_db": [float(v) for v in self.extra_level_db],
            **({"matched_sizes": True} if self.matched_sizes else {}),  # absent: earlier datasets unchanged
            "max_overlap": scene.MAX_OVERLAP,
            "placement_tries": scene.PLACEMENT_TRIES,
        }

    def site(self, seed: int, class_index: int, location: int) -> int | None:
        return video_site(seed, class_index, location, self.locations) if self.locations else None

    def video_locations(self, seed: int, classes: Sequence[int], locations: Sequence[int]) -> dict[str, int]:
        """Place of every video, ``class_K/data_NNN`` → pool index (empty without a pool)."""
        if not self.locations:
            return {}
        return {
            video_dir_name(c, v).as_posix(): int(self.site(seed, c, v))  # type: ignore[arg-type]
            for c in classes
            for v in locations
        }


@dataclass(frozen=True)
class VideoJob:
    """One video to simulate (picklable, sent to worker processes)."""

    video_dir: str
    class_index: int
    location: int
    seconds: int
    seed: int
    snr_db: float
    frame_size: tuple[int, int]
    write_images: bool
    extras: Extras | None = None
    site: int | None = None
    distractors: int = 0
    extra_sources: int = 0
    extra_level_db: tuple[float, float] = (0.0, 6.0)
    matched_sizes: bool = False
    device: str = "cpu"  # where the acoustic images are beamformed (a torch device)


@dataclass(frozen=True)
class Extras:
    """What the user brings (all optional): array, camera, recorded sounds, rooms per class, objects."""

    geometry: ArrayGeometry | None = None  # None: ArrayGeometry.default()
    camera: PinholeCamera | None = None  # None: the 640 x 480 reference camera
    sounds: SoundBank | None = None
    rooms: dict[int, Room] = field(default_factory=dict)  # classes simulated in a room; others in free field
    objects: ObjectLibrary | None = None  # its classes, pictures and clips instead of ACIVW's

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES if self.objects is None else len(self.objects.classes)


_WORKER_STATE: dict[str, Any] = {}


def _state(write_images: bool, extras: Extras | None = None, device: str = "cpu") -> dict[str, Any]:
    """Geometry, camera and (lazily, it holds ~230 MB of steering vectors) the beamformer of this process,
    on ``device``."""
    from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera

    geometry = (extras.geometry if extras else None) or ArrayGeometry.default()
    camera = (extras.camera if extras else None) or PinholeCamera()
    if (_WORKER_STATE.get("geometry"), _WORKER_STATE.get("camera"), _WORKER_STATE.get("device")) != (
        geometry,
        camera,
        device,
    ):
        _WORKER_STATE.clear()
        _WORKER_STATE.update(geometry=geometry, camera=camera, device=device)
    if write_images and "beamformer" not in _WORKER_STATE:
        from acoustic_ssl.imaging.beamform import Beamformer
        from acoustic_ssl.imaging.setup import ImagingSetup

        setup = ImagingSetup(_WORKER_STATE["geometry"], _WORKER_STATE["camera"])
        _WORKER_STATE["beamformer"] = Beamformer(setup, device=device)
    return _WORKER_STATE


def video_seed(seed: int, class_index: int, location: int) -> np.random.SeedSequence:
    """The seed of one video, independent of every other video's."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(class_index, location))


def site_seed(seed: int, site: int) -> np.random.SeedSequence:
    """The seed of one place of the shared pool (its background)."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(SITE_STREAM, site))


def video_site(seed: int, class_index: int, location: int, pool: int) -> int:
    """The place (0..pool-1) of video ``location`` of a class: every class covers the pool evenly."""
    rounds = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SITE_STREAM + 1, class_index,
                                                                          location // pool)))
    return int(rounds.permutation(pool)[location % pool])


def simulate_video(job: VideoJob) -> str:
    """Simulate and write one video, single-threaded (:func:`_single_threaded`)."""
    from acoustic_ssl.simulate.render import render_video
    from acoustic_ssl.simulate.scene import Composition, Site, make_scene

    video_dir = Path(job.video_dir)
    for folder in (video_dir, *(video_dir / name for name in (AUDIO_DIR, MFCC_DIR, VIDEO_DIR))):
        if folder.is_dir():  # a run killed while writing this video leaves temporaries; its files are redone
            remove_stale_temporaries(folder, "*")

    def simulate() -> None:
        state = _state(job.write_images, job.extras, job.device)
        extras = job.extras or Extras()
        scene = make_scene(
            job.class_index,
            job.seconds,
            job.snr_db,
            state["camera"],
            video_seed(job.seed, job.class_index, job.location),
            sounds=extras.sounds,
            room=extras.rooms.get(job.class_index),
            composition=Composition(
                job.distractors, job.extra_sources, job.extra_level_db, job.matched_sizes
            ),
            site=None if job.site is None else Site(job.site, site_seed(job.seed, job.site)),
            library=extras.objects,
        )
        render_video(
            Path(job.video_dir),
            scene,
            state["geometry"],
            state["camera"],
            state.get("beamformer") if job.write_images else None,
            job.frame_size,
        )

    _single_threaded(simulate)
    return job.video_dir


def _parameters(
    videos_per_class: int,
    seconds: int,
    seed: int,
    snr_db: float,
    classes: list[int],
    frame_size: tuple[int, int],
    write_images: bool,
    extras: Extras,
    composition: SceneComposition,
    first_location: int,
) -> dict[str, Any]:
    from acoustic_ssl.imaging.geometry import PinholeCamera
    from acoustic_ssl.simulate import propagation, scene

    camera = extras.camera or PinholeCamera()
    array = "ArrayGeometry.default() (see array_geometry.csv)"
    if extras.geometry is not None:
        array = f"user array of {extras.geometry.num_mics} microphones (see array_geometry.csv)"
    locations = range(first_location, first_location + videos_per_class)
    return {
        "simulator_version": SIMULATOR_VERSION,
        "package_version": __version__,
        "seed": seed,
        "videos_per_class": videos_per_class,
        **({"first_location": first_location} if first_location else {}),
        "seconds": seconds,
        "snr_db": snr_db,
        "classes": classes,
        "frame_size": list(frame_size),
        "write_images": write_images,
        "sample_rate_hz": SENSOR_SAMPLE_RATE,
        "full_scale": scene.FULL_SCALE,
        "level_dbfs_range": list(scene.LEVEL_DBFS_RANGE),
        "max_interferers": scene.MAX_INTERFERERS,
        "speed_of_sound_mps": propagation.SPEED_OF_SOUND,
        "oversample": propagation.OVERSAMPLE,
        "residual_step": propagation.RESIDUAL_STEP,
        "fir_taps": propagation.FIR_TAPS,
        "diffuse_directions": propagation.DIFFUSE_DIRECTIONS,
        "diffuse_overlap": propagation.DIFFUSE_OVERLAP,
        "camera": json.loads(camera.to_json()),
        "array": array,
        "ground_truth_pixels": f"{camera.width}x{camera.height} camera of camera.json; scale by frame_size "
        "for the bmp files",
        "per_video_seed": "numpy SeedSequence(seed, spawn_key=(class, location))",
        "sounds": extras.sounds.describe() if extras.sounds else (
            "the objects' clips" if extras.objects else "procedural (simulate/sounds.py)"
        ),
        "rooms": {str(c): room.to_dict() for c, room in sorted(extras.rooms.items())} or "free field",
        **({"objects": extras.objects.describe()} if extras.objects else {}),
        "composition": composition.describe(),
        "video_locations": composition.video_locations(seed, classes, locations),
    }


def _validate(
    videos_per_class: int,
    first_location: int,
    seconds: int,
    snr_db: float,
    classes: Sequence[int] | None,
    frame_size: Sequence[int],
    workers: int | None,
    num_classes: int = NUM_CLASSES,
) -> list[int]:
    if videos_per_class < 1:
        raise ConfigError(f"videos_per_class must be at least 1, got {videos_per_class}")
    if first_location < 0:
        raise ConfigError(f"first_location must be >= 0, got {first_location}")
    if first_location + videos_per_class > 1000:
        raise ConfigError(
            f"first_location + videos_per_class must be at most 1000 (folder names data_NNN), got "
            f"{first_location + videos_per_class}"
        )
    if seconds < 1:
        raise ConfigError(f"seconds must be at least 1, got {seconds}")
    if not np.isfinite(snr_db):
        raise ConfigError(f"snr_db must be finite, got {snr_db}")
    chosen = sorted(set(range(num_classes) if classes is None else (int(c) for c in classes)))
    if not chosen or any(not 0 <= c < num_classes for c in chosen):
        raise ConfigError(f"classes must be a non-empty subset of 0..{num_classes - 1}, got {classes}")
    if len(frame_size) != 2 or min(frame_size) < 16:
        raise ConfigError(
            f"frame_size must be (height, width) of at least 16 pixels, got {tuple(frame_size)}"
        )
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    return chosen


def _check_not_foreign(root: Path) -> None:
    """Refuse an output folder that holds anything but a simulation: videos are written as
    ``class_K/data_NNN`` and finished ones are skipped by their ``ground_truth.csv``, so a real dataset (or
    any folder) would get simulated files among its own. ``simulation.json`` marks a simulation (compared
    with the parameters next); before it, only the root files written just ahead of it may be there."""
    if not root.is_dir() or (root / SIMULATION_FILE).exists():
        return
    ours = {GEOMETRY_FILE, CAMERA_FILE, LABELS_FILE}
    foreign = sorted(p.name for p in root.iterdir() if p.name not in ours and not p.name.endswith(".tmp"))
    if foreign:
        raise DataError(
            f"{root}: holds {foreign[0]} but no {SIMULATION_FILE}, so not a simulation of this command; "
            "simulate into an empty or new folder"
        )


def simulate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    videos_per_class: int,
    seconds: int,
    seed: int,
    snr_db: float = 20.0,
    classes: Sequence[int] | None = None,
    frame_size: tuple[int, int] | None = None,
    workers: int | None = None,
    write_images: bool = True,
    extras: Extras | None = None,
    composition: SceneComposition | None = None,
    device: str = "cpu",
    first_location: int = 0,
) -> Path:
    """Write a simulated raw ACIVW dataset to ``out_dir`` and return it.

    ``write_images=False`` writes only audio, ``video_time.txt`` and ground truth (no beamforming, no frames):
    a fast audio-only dataset. ``workers`` defaults to the number of CPUs; 1 runs in this process.
    ``frame_size`` (height, width) defaults to the camera's size (480 x 640 for the reference camera).
    ``composition`` sets shared locations, distractors and extra on-screen sources (default: none).
    ``first_location``: the videos are ``data_<first_location>`` onwards, the same scenes (per-video seeds
    and places) as those numbers of a larger simulation with the same seed: e.g. a test set of short
    recordings beside the long ones of another folder, at the same places, with no video id in common.
    ``device`` (a torch device, e.g. ``"cuda"``) is where every worker beamforms the acoustic images; the
    images of a GPU equal the CPU's within float32 rounding (1e-4 of each image), not bit for bit.
    """
    extras = extras or Extras()
    if frame_size is None:
        frame_size = (extras.camera.height, extras.camera.width) if extras.camera else (480, 640)
    chosen = _validate(
        videos_per_class, first_location, seconds, snr_db, classes, frame_size, workers, extras.num_classes
    )
    composition = composition or SceneComposition()
    composition.validate()
    root = Path(out_dir)
    frame_size = (int(frame_size[0]), int(frame_size[1]))
    # as JSON gives them back (tuples become lists), so that a rerun compares equal to simulation.json
    parameters = json.loads(json.dumps(_parameters(
        videos_per_class, seconds, seed, float(snr_db), chosen, frame_size, write_images, extras, composition,
        first_location,
    )))
    simulation_path = root / SIMULATION_FILE
    _check_not_foreign(root)
    if simulation_path.exists():
        try:
            previous = json.loads(simulation_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{simulation_path}: unreadable ({exc}); use an empty output folder") from exc
        if previous != parameters:
            changed = sorted(k for k in parameters if previous.get(k) != parameters[k])
            raise DataError(
                f"{simulation_path}: {root} holds a dataset simulated with other parameters "
                f"({', '.join(changed)}); use another output folder"
            )
    root.mkdir(parents=True, exist_ok=True)
    for name in (GEOMETRY_FILE, CAMERA_FILE, LABELS_FILE, SIMULATION_FILE):
        remove_stale_temporaries(root, name)
    state = _state(write_images=False, extras=extras)
    state["geometry"].save(root / GEOMETRY_FILE)
    state["camera"].save(root / CAMERA_FILE)
    if extras.objects is not None:
        write_labels(root, {name: i for i, name in enumerate(extras.objects.classes)})
    write_json_atomic(simulation_path, parameters)

    jobs = [
        VideoJob(
            str(root / video_dir_name(c, location)),
            c,
            location,
            seconds,
            seed,
            float(snr_db),
            frame_size,
            write_images,
            extras if extras != Extras() else None,
            composition.site(seed, c, location),
            composition.distractors,
            composition.extra_sources,
            tuple(composition.extra_level_db),
            composition.matched_sizes,
            str(device),
        )
        for c in chosen
        for location in range(first_location, first_location + videos_per_class)
        if not (root / video_dir_name(c, location) / GROUND_TRUTH_FILE).exists()
    ]
    workers = min(workers or os.cpu_count() or 1, max(len(jobs), 1))
    if workers == 1:
        for job in progress(jobs, desc="simulate", total=len(jobs), unit="video"):
            simulate_video(job)
    else:
        # fork (no __main__ guard needed in user scripts); each job pins torch to one thread before any work,
        # so no OpenMP parallel region is entered in a forked child. CUDA cannot be used in a forked child:
        # GPU workers are spawned.
        methods = multiprocessing.get_all_start_methods()
        fork = "fork" in methods and not str(device).startswith("cuda")
        context = multiprocessing.get_context("fork" if fork else "spawn")
        if fork:  # imported once here rather than in every worker
            import acoustic_ssl.simulate.render  # noqa: F401
        shared = fork and write_images and "beamformer" not in _WORKER_STATE
        if shared:  # forked workers inherit it: one steering precompute, its memory shared copy-on-write
            _single_threaded(lambda: _state(True, extras if extras != Extras() else None, str(device)))
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(simulate_video, job) for job in jobs]
                for future in progress(as_completed(futures), desc="simulate", total=len(jobs), unit="video"):
                    future.result()
        finally:
            if shared:  # ~230 MB that this process does not need
                _WORKER_STATE.pop("beamformer", None)
    return root


def _single_threaded(work: Callable[[], Any]) -> Any:
    """``work()`` with one torch thread and one BLAS thread: the bytes written do not depend on the thread
    count, and parallel workers (or other jobs on a busy machine) do not fight for the cores."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            return work()
    finally:
        torch.set_num_threads(threads)
