"""``acoustic-ssl simulate``: write a simulated ACIVW-style raw dataset (physics-based, deterministic)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DESCRIPTION = """\
Simulate a raw ACIVW-style dataset: for each class and video ("location") a procedural scene with a moving
sound source of that class, off-screen interferers and diffuse noise; free-field propagation (1/r spreading,
exact fractional delays, Doppler) to the 128 microphones of the default DualCam-like array; acoustic images by
delay-and-sum beamforming of those signals (MFCC per pixel, as stored by the sensor); video frames with a
sprite of the source over a per-location background.

Output: class_K/data_NNN/{audio/A_%06d.dc, MFCC_Image/Data_%d.mat, video/I_%06d.bmp, video_time.txt,
ground_truth.csv} and, at the root, array_geometry.csv, camera.json, simulation.json.
ground_truth.csv: frame,source_id,class,x,y,distance_m,on_screen,sounding,x0,y0,x1,y1, one row per object
per frame (x, y: centre, x0..y1: the drawn sprite's box clipped to the frame, all in pixels of the 640x480
reference camera; id 0 is the video's class source, then the off-screen interferers, the --extra-sources
and the --distractors, which have sounding = 0).

Scenes that pose the localisation question: --locations P records every video at one of P places shared by
all classes (the background then identifies neither the class nor the video), --distractors D puts D silent
objects of other classes on screen, --extra-sources E adds E sounding on-screen objects of other classes.

The same --seed gives byte-identical files whatever --workers (on one kind of --device); re-running into
the same folder with the same parameters skips finished videos (resume, also after SIGKILL). Other parameters
in that folder, or a folder that holds anything but a simulation (no simulation.json), are refused.

Your own array, camera, sounds and rooms:
  --array FILE --camera FILE   simulate your array (CSV mic,x,y,z or Acoular MicGeom XML; .dc frames then hold
                               its M microphones) and camera (JSON, see `acoustic-ssl beamform --help`);
                               frames default to the camera's size and ground-truth pixels are in its pixels.
  --sounds DIR|CSV             recorded clips instead of the procedural sounds: DIR/<class name or
                               index>/*.wav, or an ESC-50 / UrbanSound8K-style metadata CSV mapped to classes
                               by a small table (--sound-map label,class replaces it); resampled to 12288 Hz,
                               cut or looped, levels as the procedural ones; ground_truth.csv gains
                               clip,clip_start_s.
  --room indoor|all            early reflections (pyroomacoustics image sources, order 6) and a diffuse
                               reverberant tail: `indoor` puts the drill, razor, hair dryer and hoover videos
                               in their own default rooms (workshop 5x6x3 m RT60 0.6 s, bathroom 2.6x3.2x2.5 m
                               0.4 s, bedroom 3.2x3.6x2.5 m 0.45 s, living room 5x6x2.7 m 0.5 s), `all` every
                               class in one room (--room-size, default 8 10 3.5 m; --rt60, default 0.5 s).
                               Paths are kept inside the room; the ground truth keeps its meaning.
  --objects DIR|CSV            real objects instead of the ten procedural classes: pictures with transparency
                               (PNG, WebP; SVG with cairosvg installed) and their sounds, any classes. DIR:
                               the class is the folder --object-depth levels down (default 1), each image's
                               sounds are the audio files beside it with its stem (cat.png + cat.ogg,
                               cat_2.wav): the Tux Paint stamps layout (/usr/share/tuxpaint/stamps). CSV:
                               image,sound,class[,size_m][,motion] (a sound naming a Hydrogen drumkit.xml or a
                               folder of kits: every instrument of the row's drum class). Classes are numbered
                               in name order (--classes picks among them) and written to labels.json; each
                               recording draws one object of its class (interferers, extra sources and
                               distractors: objects of other classes), scaled to its size (default 0.5 m),
                               moved by its motion model (default handheld), its clip resampled and looped
                               or cut; ground_truth.csv gains clip,clip_start_s,object (x0..y1: the drawn
                               picture's alpha box). --min-objects N leaves out smaller classes;
                               --split-by object keeps a third of each class's objects (at least one) for
                               the recordings simulated with --test-objects and the rest for the others.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` subcommand."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate a raw ACIVW-style dataset (audio, acoustic images, video, ground truth)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "out", help="output folder (created; may hold an unfinished run with the same parameters)"
    )
    parser.add_argument("--videos-per-class", type=int, required=True, metavar="N", help="videos per class")
    parser.add_argument(
        "--first-location",
        type=int,
        default=0,
        metavar="L",
        help="number of the first video (data_L, ...; default 0): the same scenes as those videos of a "
        "larger simulation with this seed, e.g. short test recordings beside the long ones of another folder",
    )
    parser.add_argument(
        "--seconds", type=int, required=True, metavar="S", help="length of every video in seconds"
    )
    parser.add_argument(
        "--seed", type=int, required=True, metavar="K", help="master seed (determines everything)"
    )
    parser.add_argument(
        "--snr-db",
        type=float,
        default=20.0,
        metavar="DB",
        help="main source power over noise + interferer power at the array (default: 20)",
    )
    parser.add_argument(
        "--classes",
        type=int,
        nargs="+",
        metavar="C",
        help="class indices to simulate (default: all 10; 0 train, 1 boat, 2 drone, 3 fountain, "
        "4 drill, 5 razor, 6 hair dryer, 7 hoover, 8 shopping cart, 9 traffic; with --objects its classes, "
        "numbered in name order)",
    )
    parser.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="size of the written video frames (default: the camera's, 480 640 for the sensor's)",
    )
    own = parser.add_argument_group("your own array, camera, sounds and rooms")
    own.add_argument("--array", type=Path, default=None, help="array geometry (CSV or Acoular MicGeom XML)")
    own.add_argument(
        "--camera", type=Path, default=None, help="camera JSON (width, height, hfov_deg or fx...)"
    )
    own.add_argument("--sounds", type=Path, default=None, help="folder of class folders, or metadata CSV")
    own.add_argument("--sound-map", type=Path, default=None, help="CSV label,class mapping metadata labels")
    own.add_argument(
        "--room",
        choices=("none", "indoor", "all"),
        default="none",
        help="simulate rooms (default none: free field)",
    )
    own.add_argument(
        "--room-size",
        type=float,
        nargs=3,
        default=None,
        metavar=("W", "D", "H"),
        help="room width (across the view), depth (along it) and height in metres",
    )
    own.add_argument("--rt60", type=float, default=None, help="reverberation time in seconds")
    own.add_argument("--objects", type=Path, default=None, help="folder of class folders, or objects CSV")
    own.add_argument(
        "--object-depth", type=int, default=None, metavar="N",
        help="with an --objects folder: the class is the folder N levels below it (default 1)",
    )
    own.add_argument(
        "--min-objects", type=int, default=None, metavar="N",
        help="leave out the --objects classes with fewer than N objects (default 1)",
    )
    own.add_argument(
        "--split-by", choices=("recording", "object"), default="recording",
        help="object: training and test recordings show disjoint objects of each class (default recording: "
        "any object in any recording)",
    )
    own.add_argument(
        "--test-objects", action="store_true",
        help="with --split-by object: draw from the test objects (e.g. for the test set's recordings)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="parallel processes (default: number of CPUs; each holds ~0.5 GB of beamformer, on the GPU "
        "with --device cuda)",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="where the acoustic images are beamformed: auto (a CUDA GPU if one is visible, else the CPU), "
        "cpu, cuda or cuda:N; a GPU's images equal the CPU's within float32 rounding, not bit for bit",
    )
    scenes = parser.add_argument_group("scene composition (recorded in simulation.json)")
    scenes.add_argument(
        "--locations",
        type=int,
        default=0,
        metavar="P",
        help="pool of P places shared by all classes, each class's videos spread evenly over it "
        "(default: 0, every video its own place of its class's kind)",
    )
    scenes.add_argument(
        "--distractors",
        type=int,
        default=0,
        metavar="D",
        help="silent on-screen objects of other classes per video (0-6, default: 0; fewer when they do "
        "not fit without overlapping)",
    )
    scenes.add_argument(
        "--matched-sizes",
        action="store_true",
        help="draw each distractor at the depth that gives it the on-screen size the sounding object would "
        "have, so that pointing at the largest box is no better than at any box (default: its own class's)",
    )
    scenes.add_argument(
        "--extra-sources",
        type=int,
        default=0,
        metavar="E",
        help="sounding on-screen objects of other classes per video besides the class source "
        "(0-4, default: 0)",
    )
    scenes.add_argument(
        "--extra-level-db",
        type=float,
        nargs=2,
        default=(0.0, 6.0),
        metavar=("LOW", "HIGH"),
        help="how far below the class source each extra source is, uniform in [LOW, HIGH] dB (default: 0 6)",
    )
    parser.add_argument(
        "--audio-only",
        action="store_true",
        help="write only audio and ground truth (no acoustic images, no frames): much faster",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the simulation and print where it went."""
    from acoustic_ssl.device import pick_device
    from acoustic_ssl.simulate.dataset import SceneComposition, simulate_dataset

    device = pick_device(args.device, setting="--device")
    extras = _extras(args)
    if extras.sounds is not None:
        missing = [c for c in (args.classes or range(10)) if c not in extras.sounds.clips]
        counts = ", ".join(
            f"class {c}: {n}" for c, n in sorted((c, len(v)) for c, v in extras.sounds.clips.items())
        )
        print(f"sounds: {counts} clips" + (f"; procedural for classes {missing}" if missing else ""))
    if extras.objects is not None:
        library = extras.objects
        for note in library.notes:
            print(f"objects: {note}")
        counts = ", ".join(f"{name}: {len(library.of_class(c))}" for c, name in enumerate(library.classes))
        part = f" ({library.part} part)" if library.part else ""
        print(f"objects{part}: {len(library.classes)} classes, {len(library.objects)} objects ({counts})")
    root = simulate_dataset(
        args.out,
        videos_per_class=args.videos_per_class,
        first_location=args.first_location,
        seconds=args.seconds,
        seed=args.seed,
        snr_db=args.snr_db,
        classes=args.classes,
        frame_size=tuple(args.frame_size) if args.frame_size else None,
        workers=args.workers,
        write_images=not args.audio_only,
        extras=extras,
        composition=SceneComposition(
            locations=args.locations,
            distractors=args.distractors,
            matched_sizes=args.matched_sizes,
            extra_sources=args.extra_sources,
            extra_level_db=tuple(args.extra_level_db),
        ),
        device=str(device),
    )
    print(f"simulated dataset written to {root}")
    return 0


def _extras(args: argparse.Namespace) -> Any:
    """The user's array, camera, sounds and rooms from the flags (checked here, before any work)."""
    from acoustic_ssl.errors import ConfigError
    from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
    from acoustic_ssl.simulate.dataset import Extras

    geometry = ArrayGeometry.load(args.array, expected_mics=None) if args.array else None
    camera = PinholeCamera.load(args.camera) if args.camera else None
    sounds = None
    if args.sounds is not None:
        from acoustic_ssl.simulate.clips import open_sounds

        sounds = open_sounds(args.sounds, args.sound_map)
    elif args.sound_map is not None:
        raise ConfigError("--sound-map needs --sounds")
    objects = _objects(args)
    rooms = {}
    if args.room != "none":
        from acoustic_ssl.simulate.objects import OBJECTS
        from acoustic_ssl.simulate.room import INDOOR_ROOMS, Room

        if objects is not None and args.room == "indoor":
            raise ConfigError("--room indoor picks ACIVW's indoor classes; with --objects use --room all")
        every = range(10) if objects is None else range(len(objects.classes))
        classes = every if args.room == "all" else [c for c, spec in OBJECTS.items() if spec.indoor]
        for c in classes:
            default = INDOOR_ROOMS[c] if args.room == "indoor" else Room((8.0, 10.0, 3.5), 0.5)
            size = tuple(args.room_size) if args.room_size else default.size_m
            rooms[c] = Room(size, args.rt60 if args.rt60 is not None else default.rt60_s)
    elif args.room_size is not None or args.rt60 is not None:
        raise ConfigError("--room-size and --rt60 need --room indoor or --room all")
    return Extras(geometry=geometry, camera=camera, sounds=sounds, rooms=rooms, objects=objects)


def _objects(args: argparse.Namespace) -> Any:
    """The --objects library (the chosen part of it with --split-by object), or None."""
    from acoustic_ssl.errors import ConfigError

    if args.objects is None:
        if args.object_depth is not None or args.min_objects is not None or args.split_by == "object":
            raise ConfigError("--object-depth, --min-objects and --split-by object need --objects")
        if args.test_objects:
            raise ConfigError("--test-objects needs --objects and --split-by object")
        return None
    if args.sounds is not None:
        raise ConfigError("--objects brings its own sounds; leave out --sounds")
    if args.test_objects and args.split_by != "object":
        raise ConfigError("--test-objects needs --split-by object")
    if args.min_objects is not None and args.min_objects < 1:
        raise ConfigError(f"--min-objects must be at least 1, got {args.min_objects}")
    from acoustic_ssl.simulate.library import open_objects

    library = open_objects(args.objects, depth=args.object_depth or 1, min_objects=args.min_objects or 1)
    if args.split_by == "object":
        library = library.split(args.seed, "test" if args.test_objects else "train")
    return library
