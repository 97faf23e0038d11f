"""``acoustic-ssl beamform`` (recording -> acoustic images) and ``acoustic-ssl show`` (overlays on video)."""

from __future__ import annotations

import argparse
from pathlib import Path

from acoustic_ssl.errors import DataError

BEAMFORM_HELP = """\
Turn a 128-channel recording into acoustic images, one per 1024-sample frame, in the ACIVW format.

INPUT is either a multichannel audio file readable by soundfile (WAV, FLAC, ...), one channel per microphone
in the order of the geometry file, recorded at --sample-rate (it is not resampled; a trailing partial frame
is dropped; samples are scaled by --full-scale), or a folder of raw sensor frames `A_%06d.dc` (int32,
128 x 1024, as the DualCam writes them; a raw video folder with an `audio/` subfolder also works; output
numbers follow the .dc numbers).

Writes OUT_DIR/Data_%d.mat (1-based, MATLAB v5, variable MFCC, single 36x48x12, in the stored sensor
orientation, i.e. the video rotated by 180 degrees, exactly like the dataset) and, with --full,
OUT_DIR/full/Power_%d.npy: the 512-bin beamformed power per pixel (36x48x512, same orientation, float32 by
default; float16 halves the size but overflows above 65504, so it only suits normalised input).
"""

SHOW_HELP = """\
Render acoustic energy over the frames of a raw video folder (video/I_%06d.bmp + MFCC_Image/Data_%d.mat).

The stored MFCC image is rotated to video orientation, turned into energy (inverse MFCC: lifter, inverse
DCT, exp, sum over mel bands), normalised per frame to its min..max range, upsampled to the frame and
blended with a matplotlib colormap (opacity alpha x normalised energy). If the folder has ground_truth.csv
(frame,source_id,class,x,y,distance_m,on_screen; frame 1-based like the file names, x/y pixels of the
reference camera, scaled to the frame size), on-screen sources are marked with a white circle.
Writes OUT/overlay_%06d.png and, with --gif, OUT/overlay.gif (12 frames per second).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``beamform`` and ``show``."""
    beamform = subparsers.add_parser(
        "beamform", help="beamform a 128-channel recording into MFCC acoustic images (Data_%%d.mat)",
        description=BEAMFORM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    beamform.add_argument("input", type=Path, help="multichannel audio file, or folder of A_%%06d.dc frames")
    beamform.add_argument("out_dir", type=Path, help="output folder for Data_%%d.mat (created)")
    beamform.add_argument("--geometry", type=Path, required=True,
                          help="microphone positions: CSV mic,x,y,z, metres, camera frame (x right, y down)")
    beamform.add_argument("--camera", type=Path, default=None,
                          help="camera JSON {width, height, hfov_deg}; default 640x480, 65 deg horizontal")
    beamform.add_argument("--full", action="store_true", help="also write the 512-bin power images")
    beamform.add_argument("--full-dtype", choices=("float32", "float16"), default="float32",
                          help="dtype of the --full images (default float32)")
    beamform.add_argument("--sample-rate", type=float, default=12288.0,
                          help="sample rate of the recording in Hz (default 12288, the DualCam's)")
    beamform.add_argument("--full-scale", type=float, default=float(2**23),
                          help="audio-file samples in [-1, 1] are multiplied by this to match the integer "
                               ".dc scale (default 2^23: 24-bit words, as the simulator writes them)")
    beamform.add_argument("--speed-of-sound", type=float, default=343.0, help="m/s (default 343)")
    beamform.add_argument("--window", choices=("hann", "none"), default="hann",
                          help="analysis window of each 1024-sample frame (default hann)")
    beamform.set_defaults(func=run_beamform)

    show = subparsers.add_parser(
        "show", help="overlay acoustic energy on the video frames (PNG, optional GIF)",
        description=SHOW_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("video_dir", type=Path, help="raw video folder with video/ and MFCC_Image/")
    show.add_argument("--out", type=Path, default=None, help="output folder (default VIDEO_DIR/overlay)")
    show.add_argument("--frames", default=None,
                      help="1-based frames, e.g. '1,5,10-20' (default: every frame with image and .mat)")
    show.add_argument("--gif", action="store_true", help="also write an animated overlay.gif")
    show.add_argument("--cmap", default="inferno", help="matplotlib colormap (default inferno)")
    show.add_argument("--alpha", type=float, default=0.5, help="opacity of the energy layer (default 0.5)")
    show.add_argument("--camera", type=Path, default=None,
                      help="camera JSON whose pixels ground_truth.csv uses (default: camera.json two folders "
                           "up, as the simulator writes it, else 640x480)")
    show.set_defaults(func=run_show)


def run_beamform(args: argparse.Namespace) -> int:
    from acoustic_ssl.imaging.beamform import Beamformer
    from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera
    from acoustic_ssl.imaging.render import write_acoustic_images
    from acoustic_ssl.imaging.sources import load_frames

    geometry = ArrayGeometry.load(args.geometry, expected_mics=None)
    camera = PinholeCamera.load(args.camera) if args.camera else PinholeCamera()
    frames = load_frames(args.input, geometry.num_mics, args.sample_rate, full_scale=args.full_scale)
    beamformer = Beamformer(
        geometry, camera, sample_rate=args.sample_rate, speed_of_sound=args.speed_of_sound,
        window=None if args.window == "none" else args.window,
    )
    full_dtype = args.full_dtype if args.full else None
    count = write_acoustic_images(beamformer, frames, args.out_dir, full_dtype=full_dtype)
    print(f"wrote {count} acoustic images to {args.out_dir}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from acoustic_ssl.imaging.geometry import PinholeCamera
    from acoustic_ssl.imaging.render import render_overlays

    if not 0.0 <= args.alpha <= 1.0:
        raise DataError(f"--alpha must be within 0..1, got {args.alpha}")
    camera_file = args.camera or args.video_dir.resolve().parent.parent / "camera.json"
    camera = PinholeCamera.load(camera_file) if args.camera or camera_file.is_file() else None
    out_dir = args.out or args.video_dir / "overlay"
    written = render_overlays(args.video_dir, out_dir, frames=args.frames, gif=args.gif, cmap=args.cmap,
                              alpha=args.alpha, camera=camera)
    print(f"wrote {len(written)} overlays to {out_dir}")
    return 0
