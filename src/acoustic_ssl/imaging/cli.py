"""``acoustic-ssl beamform`` (recording -> acoustic images) and ``acoustic-ssl show`` (overlays on video)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from acoustic_ssl.errors import DataError

BEAMFORM_HELP = """\
Turn a multichannel recording of a microphone array into acoustic images: delay-and-sum beamforming towards a
grid of directions tiling the camera image, one image per frame. The defaults are the ACIVW sensor's (12 288
Hz, 1024-sample frames without overlap, 36x48 grid, 12 MFCC per cell, mel bands 0-6400 Hz).

INPUT is one of
  - a multichannel audio file readable by soundfile (WAV, FLAC, ...), one channel per microphone in the order
    of the geometry file, at any sample rate (never resampled); samples in [-1, 1] are scaled by --full-scale;
  - Acoular HDF5 time data (.h5): dataset `time_data` (samples x channels), attribute `sample_freq` (Hz);
  - a folder of raw DualCam frames `A_%06d.dc` (int32, 128 x 1024, or M x 1024 from `simulate --array`; a raw
    video folder with an `audio/` subfolder also works), at 12 288 Hz; with the default framing, output
    numbers follow the .dc numbers.
A trailing partial frame is dropped. The recording is streamed --batch frames at a time (bounded memory).

OUT is a folder or a stack file:
  - folder: OUT/Data_%d.mat (1-based, MATLAB v5, variable MFCC, single 36x48x12, stored sensor orientation,
    i.e. the video rotated by 180 degrees, exactly like the dataset; needs the 36x48 grid), with --full also
    OUT/full/Power_%d.npy (per-pixel power of every kept FFT bin, float32 by default; float16 overflows above
    65504, so it only suits normalised input), and OUT/imaging.json (all parameters);
  - OUT.h5 / OUT.hdf5 / OUT.npz: one stack `images` (frames x rows x cols x 12 MFCC, or x bins with
    --features power), with `frame_numbers`, `frame_times_s` (frame centres), `frequencies_hz` and the JSON
    `parameters` stored beside it in the same file.
  OUT is written under a temporary name and renamed when complete; a folder replaces an earlier result as a
  whole (no Data_%d.mat of a longer earlier result survives). OUT must not be an input, and an existing OUT
  must be an earlier result of beamform: anything else is refused unless --overwrite. The temporaries of a
  killed run are removed by the next run. A NaN or infinite sample in the recording is refused.

Frequencies: FFT bins from --fmin to --fmax (and below Nyquist) are beamformed; the 24 mel bands span
--fmin..--fmax at every sample rate, so below 12.8 kHz the top band is cut at Nyquist, and below about
10.3 kHz the top bands are empty and stay at the floor (the command says so; --fmax SR/2 spreads them
below Nyquist).
"""

SHOW_HELP = """\
Render acoustic energy over video frames: PNG per frame, optionally an animated GIF and an MP4.

Two inputs:
  - a raw video folder (video/I_%06d.bmp + MFCC_Image/Data_%d.mat, as ACIVW and the simulator write them);
    if it has ground_truth.csv (frame,source_id,class,x,y,distance_m,on_screen; frame 1-based like the file
    names, x/y pixels of the reference camera, scaled to the frame size), on-screen sources are circled;
  - acoustic images written by `acoustic-ssl beamform` (a Data_%d.mat folder or an .h5/.npz stack) with
    --video: your own video file (anything FFmpeg reads, via PyAV) or a folder of frames (PNG/JPEG/BMP,
    sorted by name, at --fps). Each image is drawn over the frame on screen at the image's centre time;
    --offset says where the recording starts on the video's clock.

The stored image is rotated to video orientation, turned into energy (MFCC: inverse lifter and DCT, exp, sum
over mel bands; power stacks: sum over bins), normalised per frame to its min..max range, upsampled to the
frame and blended with a matplotlib colormap (opacity alpha x normalised energy).
Writes OUT/overlay_%06d.png and, with --gif / --mp4, OUT/overlay.gif / OUT/overlay.mp4 at the image rate.
"""


def _grid(text: str) -> tuple[int, int]:
    """``ROWSxCOLS`` -> (rows, cols)."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROWSxCOLS such as 36x48, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"grid must be at least 1x1, got {text!r}")
    return rows, cols


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``beamform`` and ``show``."""
    beamform = subparsers.add_parser(
        "beamform",
        help="beamform a microphone-array recording into acoustic images (Data_%%d.mat, .h5, .npz)",
        description=BEAMFORM_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    beamform.add_argument(
        "input", type=Path, help="multichannel audio file, HDF5 time data, or A_%%06d.dc folder"
    )
    beamform.add_argument("out", type=Path, help="output folder for Data_%%d.mat, or an .h5/.npz stack file")
    array = beamform.add_argument_group("array and camera")
    array.add_argument(
        "--geometry",
        type=Path,
        required=True,
        help="microphone positions: CSV mic,x,y,z or Acoular MicGeom XML, metres, camera frame "
        "(x right, y down, z forward)",
    )
    array.add_argument(
        "--drop-mics",
        type=int,
        nargs="+",
        default=[],
        metavar="M",
        help="0-based microphones to leave out (broken ones; the DualCam's were 79 and 105)",
    )
    array.add_argument(
        "--camera",
        type=Path,
        default=None,
        help="camera JSON {width, height, hfov_deg} or {width, height, fx, fy, cx, cy} (pixels); "
        "default 640x480, 65 deg horizontal",
    )
    array.add_argument("--speed-of-sound", type=float, default=343.0, help="m/s (default 343)")
    imaging = beamform.add_argument_group("imaging (defaults: the ACIVW sensor's)")
    imaging.add_argument(
        "--sample-rate",
        type=float,
        default=None,
        help="Hz; default the recording's (12288 for .dc frames); a different value is refused",
    )
    imaging.add_argument("--frame-length", type=int, default=1024, help="samples per image (default 1024)")
    imaging.add_argument(
        "--hop", type=int, default=None, help="samples between images (default: frame length)"
    )
    imaging.add_argument(
        "--n-fft", type=int, default=None, help="FFT size >= frame length (default: frame length)"
    )
    grid = imaging.add_mutually_exclusive_group()
    grid.add_argument(
        "--grid", type=_grid, default=None, metavar="ROWSxCOLS", help="grid of directions (36x48)"
    )
    grid.add_argument(
        "--stride",
        type=float,
        default=None,
        metavar="PX",
        help="grid cells of about PX camera pixels instead of --grid",
    )
    imaging.add_argument("--fmin", type=float, default=0.0, help="lowest frequency in Hz (default 0)")
    imaging.add_argument("--fmax", type=float, default=6400.0, help="highest frequency in Hz (default 6400)")
    imaging.add_argument(
        "--window",
        choices=("hann", "none"),
        default="hann",
        help="analysis window of each frame (default hann)",
    )
    output = beamform.add_argument_group("output")
    output.add_argument(
        "--features",
        choices=("mfcc", "power"),
        default="mfcc",
        help="stack files: 12 MFCC per cell (default) or the power of every kept bin",
    )
    output.add_argument(
        "--full", action="store_true", help="folder output: also write the per-bin power images"
    )
    output.add_argument(
        "--full-dtype",
        choices=("float32", "float16"),
        default="float32",
        help="dtype of the --full images (default float32)",
    )
    output.add_argument(
        "--full-scale",
        type=float,
        default=None,
        help="multiplies the samples of audio files (default 2^23: 24-bit words, the .dc scale "
        "the simulator writes) and HDF5 files (default 1)",
    )
    output.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing OUT that is not an earlier result of beamform (a folder as a whole); "
        "an input is never replaced",
    )
    output.add_argument(
        "--batch",
        type=int,
        default=None,
        help="frames beamformed together (memory; default 48 on the CPU, 256 on a GPU)",
    )
    output.add_argument(
        "--device",
        default="auto",
        help="where to beamform: auto (a CUDA GPU if one is visible, else the CPU), cpu, cuda or cuda:N; "
        "the steering (226 MB for the default setup) is cached there",
    )
    beamform.set_defaults(func=run_beamform)

    show = subparsers.add_parser(
        "show",
        help="overlay acoustic energy on video frames, the simulator's or your own video (PNG, GIF, MP4)",
        description=SHOW_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument(
        "images",
        type=Path,
        help="raw video folder, or acoustic images (Data_%%d.mat folder, .h5/.npz) with --video",
    )
    show.add_argument("--video", type=Path, default=None, help="your video file or folder of frames")
    show.add_argument(
        "--fps",
        type=float,
        default=None,
        help="frame rate of a --video frame folder (default: one frame per acoustic image)",
    )
    show.add_argument(
        "--offset",
        type=float,
        default=0.0,
        help="seconds on the video's clock at which the recording starts (default 0)",
    )
    show.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default IMAGES/overlay, or IMAGES_overlay next to a stack file)",
    )
    show.add_argument(
        "--frames", default=None, help="1-based frames, e.g. '1,5,10-20' (default: every frame with an image)"
    )
    show.add_argument("--gif", action="store_true", help="also write an animated overlay.gif")
    show.add_argument("--mp4", action="store_true", help="also write overlay.mp4 (MPEG-4 via PyAV)")
    show.add_argument("--cmap", default="inferno", help="matplotlib colormap (default inferno)")
    show.add_argument("--alpha", type=float, default=0.5, help="opacity of the energy layer (default 0.5)")
    show.add_argument(
        "--camera",
        type=Path,
        default=None,
        help="raw folders: camera JSON whose pixels ground_truth.csv uses (default: camera.json "
        "two folders up, as the simulator writes it, else 640x480)",
    )
    show.set_defaults(func=run_show)


def run_beamform(args: argparse.Namespace) -> int:
    from acoustic_ssl.device import pick_device
    from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera, grid_for_stride
    from acoustic_ssl.imaging.output import beamform_recording, is_stack
    from acoustic_ssl.imaging.setup import ImagingSetup
    from acoustic_ssl.imaging.sources import open_recording

    device = pick_device(args.device, setting="--device")
    if args.batch is not None and args.batch < 1:
        raise DataError(f"--batch must be at least 1, got {args.batch}")
    if args.features == "power" and not is_stack(args.out):
        raise DataError("--features power needs an .h5 or .npz output (a folder takes --full)")
    if args.full_scale is not None and not (math.isfinite(args.full_scale) and args.full_scale > 0):
        raise DataError(f"--full-scale must be a positive number, got {args.full_scale}")
    geometry = ArrayGeometry.load(args.geometry, expected_mics=None)
    camera = PinholeCamera.load(args.camera) if args.camera else PinholeCamera()
    recording = open_recording(args.input, scale=args.full_scale)
    rows, cols = grid_for_stride(camera, args.stride) if args.stride else (args.grid or (36, 48))
    setup = ImagingSetup(
        geometry,
        camera,
        rows=rows,
        cols=cols,
        sample_rate=args.sample_rate or recording.sample_rate or 12288.0,
        frame_length=args.frame_length,
        hop=args.hop,
        n_fft=args.n_fft,
        f_min_hz=args.fmin,
        f_max_hz=args.fmax,
        speed_of_sound=args.speed_of_sound,
        window=None if args.window == "none" else args.window,
        drop_mics=tuple(args.drop_mics),
    )
    print(
        f"{recording.kind} {args.input}: {recording.num_channels} channels, {setup.sample_rate:g} Hz; "
        f"{setup.num_active_mics} microphones beamformed, {rows}x{cols} grid on {device}; {setup.band_note}"
    )
    full_dtype = args.full_dtype if args.full else None
    count = beamform_recording(
        recording,
        setup,
        args.out,
        features=args.features,
        full_dtype=full_dtype,
        frame_batch=args.batch,
        device=device,
        overwrite=args.overwrite,
        inputs=[path for path in (args.geometry, args.camera) if path is not None],
    )
    print(f"wrote {count} acoustic images to {args.out}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from acoustic_ssl.imaging.geometry import PinholeCamera
    from acoustic_ssl.imaging.render import render_overlays, render_video_overlays

    if not 0.0 <= args.alpha <= 1.0:
        raise DataError(f"--alpha must be within 0..1, got {args.alpha}")
    images = args.images
    if args.video is not None:
        out_dir = args.out or (
            images / "overlay" if images.is_dir() else images.with_name(images.stem + "_overlay")
        )
        written = render_video_overlays(
            images,
            args.video,
            out_dir,
            frames=args.frames,
            fps=args.fps,
            offset_s=args.offset,
            gif=args.gif,
            mp4=args.mp4,
            cmap=args.cmap,
            alpha=args.alpha,
        )
    else:
        if not images.is_dir():
            raise DataError(f"{images}: not a raw video folder; acoustic images need --video YOUR_VIDEO")
        camera_file = args.camera or images.resolve().parent.parent / "camera.json"
        camera = PinholeCamera.load(camera_file) if args.camera or camera_file.is_file() else None
        out_dir = args.out or images / "overlay"
        written = render_overlays(
            images,
            out_dir,
            frames=args.frames,
            gif=args.gif,
            cmap=args.cmap,
            alpha=args.alpha,
            camera=camera,
            mp4=args.mp4,
        )
    print(f"wrote {len(written)} overlays to {out_dir}")
    return 0
