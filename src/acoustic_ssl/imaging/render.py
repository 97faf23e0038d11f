"""Energy overlays of acoustic images on video frames (``acoustic-ssl show``)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import FRAMES_PER_SECOND, GROUND_TRUTH_FILE, MFCC_DIR, VIDEO_DIR
from acoustic_ssl.data.raw import read_bmp, read_mfcc_mat
from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.geometry import PinholeCamera, stored_to_video
from acoustic_ssl.imaging.mfcc import mfcc_to_energy
from acoustic_ssl.io_utils import atomic_path, progress

GIF_SCALE = 0.5  # GIF frames are downscaled so a long video stays a reasonable file (and fits in memory)


def parse_frames(spec: str) -> list[int]:
    """``'1,5,10-12'`` -> ``[1, 5, 10, 11, 12]`` (1-based frame numbers)."""
    frames: list[int] = []
    for part in spec.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not match:
            raise DataError(f"--frames: cannot parse {part!r}; use e.g. '1,5,10-20'")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1 or last < first:
            raise DataError(f"--frames: bad range {part.strip()!r} (frames are 1-based)")
        frames.extend(range(first, last + 1))
    return frames


def _available_frames(video_dir: Path) -> list[int]:
    videos = {int(m.group(1)) for p in (video_dir / VIDEO_DIR).glob("I_*.bmp")
              if (m := re.fullmatch(r"I_(\d+)\.bmp", p.name))}
    images = {int(m.group(1)) for p in (video_dir / MFCC_DIR).glob("Data_*.mat")
              if (m := re.fullmatch(r"Data_(\d+)\.mat", p.name))}
    return sorted(videos & images)


def read_ground_truth(path: Path) -> dict[int, list[tuple[float, float, str]]]:
    """On-screen source positions per 1-based frame: ``{frame: [(x, y, class), ...]}``."""
    marks: dict[int, list[tuple[float, float, str]]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    if str(row["on_screen"]).strip().lower() not in ("1", "true"):
                        continue
                    marks.setdefault(int(row["frame"]), []).append(
                        (float(row["x"]), float(row["y"]), str(row["class"]))
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise DataError(f"{path}: line {line_no}: bad ground-truth row ({exc!r})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ground truth ({exc.strerror})") from exc
    return marks


def energy_overlay(
    bgr: np.ndarray, mfcc: np.ndarray, cmap: str = "inferno", alpha: float = 0.5
) -> np.ndarray:
    """RGB uint8 frame with the acoustic energy of a STORED MFCC image blended on top.

    The energy is min-max normalised per frame; each pixel's opacity is ``alpha`` times its normalised energy,
    so quiet regions leave the video visible."""
    import matplotlib
    from PIL import Image

    height, width = bgr.shape[:2]
    energy = stored_to_video(mfcc_to_energy(mfcc)).astype(np.float32)
    span = float(energy.max() - energy.min())
    energy = (energy - energy.min()) / span if span > 0 else np.zeros_like(energy)
    small = Image.fromarray(energy, mode="F")
    upsampled = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC))
    upsampled = np.clip(upsampled, 0.0, 1.0)[..., None]
    try:
        colours = matplotlib.colormaps[cmap](upsampled[..., 0])[..., :3]
    except KeyError as exc:
        raise DataError(f"unknown matplotlib colormap {cmap!r}") from exc
    rgb = bgr[..., ::-1].astype(np.float32) / 255.0
    blended = (1.0 - alpha * upsampled) * rgb + alpha * upsampled * colours
    return np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)


def render_overlays(
    video_dir: Path,
    out_dir: Path,
    frames: str | None = None,
    gif: bool = False,
    cmap: str = "inferno",
    alpha: float = 0.5,
    camera: PinholeCamera | None = None,
) -> list[Path]:
    """Write ``overlay_%06d.png`` per frame (and ``overlay.gif``); returns the PNG paths.

    Ground-truth pixels are in the reference ``camera``'s resolution and are scaled to the frame's size."""
    from PIL import Image, ImageDraw

    video_dir = Path(video_dir)
    numbers = parse_frames(frames) if frames else _available_frames(video_dir)
    if not numbers:
        raise DataError(f"{video_dir}: no frame has both video/I_%06d.bmp and MFCC_Image/Data_%d.mat")
    truth_path = video_dir / GROUND_TRUTH_FILE
    truth = read_ground_truth(truth_path) if truth_path.is_file() else {}
    reference = camera or PinholeCamera()
    written: list[Path] = []
    gif_frames: list[Image.Image] = []
    for number in progress(numbers, desc="show", unit="frame"):
        bgr = read_bmp(video_dir / VIDEO_DIR / f"I_{number:06d}.bmp")
        mfcc = read_mfcc_mat(video_dir / MFCC_DIR / f"Data_{number}.mat")
        image = Image.fromarray(energy_overlay(bgr, mfcc, cmap=cmap, alpha=alpha))
        draw = ImageDraw.Draw(image)
        scale_x, scale_y = image.width / reference.width, image.height / reference.height
        for x, y, label in truth.get(number, []):
            x, y = x * scale_x, y * scale_y
            draw.ellipse((x - 12, y - 12, x + 12, y + 12), outline=(255, 255, 255), width=3)
            draw.text((x + 15, y - 6), label, fill=(255, 255, 255))
        path = Path(out_dir) / f"overlay_{number:06d}.png"
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        written.append(path)
        if gif:
            size = (max(1, round(image.width * GIF_SCALE)), max(1, round(image.height * GIF_SCALE)))
            gif_frames.append(image.resize(size, Image.Resampling.BILINEAR))
    if gif_frames:
        with atomic_path(Path(out_dir) / "overlay.gif") as tmp:
            gif_frames[0].save(tmp, format="GIF", save_all=True, append_images=gif_frames[1:],
                               duration=round(1000 / FRAMES_PER_SECOND), loop=0)
    return written
