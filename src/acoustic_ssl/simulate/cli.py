"""``acoustic-ssl simulate``: write a simulated ACIVW-style raw dataset (physics-based, deterministic)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Simulate a raw ACIVW-style dataset: for each class and video ("location") a procedural scene with a moving
sound source of that class, off-screen interferers and diffuse noise; free-field propagation (1/r spreading,
exact fractional delays, Doppler) to the 128 microphones of the default DualCam-like array; acoustic images by
delay-and-sum beamforming of those signals (MFCC per pixel, as stored by the sensor); video frames with a
sprite of the source over a per-location background.

Output: class_K/data_NNN/{audio/A_%06d.dc, MFCC_Image/Data_%d.mat, video/I_%06d.bmp, video_time.txt,
ground_truth.csv} and, at the root, array_geometry.csv, camera.json, simulation.json.
ground_truth.csv: frame,source_id,class,x,y,distance_m,on_screen (x, y in pixels of the 640x480 reference
camera; source 0 is the video's class, others are off-screen interferers).

The same --seed gives byte-identical files whatever --workers; re-running into the same folder with the same
parameters skips finished videos (resume).
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
        "4 drill, 5 razor, 6 hair dryer, 7 hoover, 8 shopping cart, 9 traffic)",
    )
    parser.add_argument(
        "--frame-size",
        type=int,
        nargs=2,
        default=(480, 640),
        metavar=("H", "W"),
        help="size of the written video frames (default: 480 640, the sensor's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="parallel processes (default: number of CPUs; each holds ~0.5 GB of beamformer)",
    )
    parser.add_argument(
        "--audio-only",
        action="store_true",
        help="write only audio and ground truth (no acoustic images, no frames): much faster",
    )
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the simulation and print where it went."""
    from acoustic_ssl.simulate.dataset import simulate_dataset

    root = simulate_dataset(
        args.out,
        videos_per_class=args.videos_per_class,
        seconds=args.seconds,
        seed=args.seed,
        snr_db=args.snr_db,
        classes=args.classes,
        frame_size=tuple(args.frame_size),
        workers=args.workers,
        write_images=not args.audio_only,
    )
    print(f"simulated dataset written to {root}")
    return 0
