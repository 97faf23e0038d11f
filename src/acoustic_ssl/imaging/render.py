"""Energy overlays of acoustic images on video frames (``acoustic-ssl show``)."""

from __future__ import annotations

import contextlib
import csv
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import (
    FRAMES_PER_SECOND,
    GROUND_TRUTH_FILE,
    MFCC_DIR,
    SENSOR_SAMPLE_RATE,
    VIDEO_DIR,
)
from acoustic_ssl.data.raw import read_bmp, read_mfcc_mat
from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.geometry import PinholeCamera, stored_to_video
from acoustic_ssl.imaging.mfcc import mfcc_to_energy
from acoustic_ssl.imaging.video import frames_at
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
    videos = {
        int(m.group(1))
        for p in (video_dir / VIDEO_DIR).glob("I_*.bmp")
        if (m := re.fullmatch(r"I_(\d+)\.bmp", p.name))
    }
    images = {
        int(m.group(1))
        for p in (video_dir / MFCC_DIR).glob("Data_*.mat")
        if (m := re.fullmatch(r"Data_(\d+)\.mat", p.name))
    }
    return sorted(videos & images)


def read_ground_truth(path: Path) -> dict[int, list[tuple[float, float, str]]]:
    """On-screen sounding objects per 1-based frame: ``{frame: [(x, y, class), ...]}`` (silent distractors,
    ``sounding = 0``, are left out: the overlay marks what the acoustic image should show)."""
    marks: dict[int, list[tuple[float, float, str]]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    if str(row["on_screen"]).strip().lower() not in ("1", "true"):
                        continue
                    if str(row.get("sounding") or "1").strip() == "0":
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
    """RGB uint8 frame with the acoustic energy of a STORED MFCC image blended on top (see
    ``blend_energy``)."""
    return blend_energy(bgr[..., ::-1], mfcc_to_energy(mfcc), cmap=cmap, alpha=alpha)


def blend_energy(
    rgb: np.ndarray, energy: np.ndarray, cmap: str = "inferno", alpha: float = 0.5
) -> np.ndarray:
    """RGB uint8 frame with a STORED-orientation energy map (rows, cols) blended on top.

    The energy is rotated to video orientation and min-max normalised per frame; each pixel's opacity is
    ``alpha`` times its normalised energy, so quiet regions leave the video visible."""
    import matplotlib
    from PIL import Image

    height, width = rgb.shape[:2]
    energy = stored_to_video(energy).astype(np.float32)
    span = float(energy.max() - energy.min())
    energy = (energy - energy.min()) / span if span > 0 else np.zeros_like(energy)
    small = Image.fromarray(energy, mode="F")
    upsampled = np.asarray(small.resize((width, height), Image.Resampling.BICUBIC))
    upsampled = np.clip(upsampled, 0.0, 1.0)[..., None]
    try:
        colours = matplotlib.colormaps[cmap](upsampled[..., 0])[..., :3]
    except KeyError as exc:
        raise DataError(f"unknown matplotlib colormap {cmap!r}") from exc
    rgb = rgb.astype(np.float32) / 255.0
    blended = (1.0 - alpha * upsampled) * rgb + alpha * upsampled * colours
    return np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)


class OverlayWriter:
    """Writes ``overlay_%06d.png`` per frame and, when asked, ``overlay.gif`` and ``overlay.mp4`` at
    ``fps``."""

    def __init__(self, out_dir: Path, fps: float, gif: bool = False, mp4: bool = False) -> None:
        self.out_dir, self.fps, self.gif, self.mp4 = Path(out_dir), fps, gif, mp4
        self.written: list[Path] = []
        self._gif_frames: list = []
        self._movie = None

    def add(self, number: int, image) -> None:  # image: PIL.Image.Image
        from PIL import Image

        path = self.out_dir / f"overlay_{number:06d}.png"
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        self.written.append(path)
        if self.gif:
            size = (max(1, round(image.width * GIF_SCALE)), max(1, round(image.height * GIF_SCALE)))
            self._gif_frames.append(image.resize(size, Image.Resampling.BILINEAR))
        if self.mp4:
            self._encode(image)

    def _encode(self, image) -> None:
        import av

        if self._movie is None:
            self._movie_tmp = self.out_dir / ".overlay.mp4.tmp"
            container = av.open(str(self._movie_tmp), "w", format="mp4")
            stream = container.add_stream("mpeg4", rate=round(self.fps))
            stream.width, stream.height = image.width - image.width % 2, image.height - image.height % 2
            stream.pix_fmt, stream.bit_rate = "yuv420p", 4_000_000
            self._movie = (container, stream)
        container, stream = self._movie
        rgb = np.asarray(image.convert("RGB"))[: stream.height, : stream.width]
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            container.mux(packet)

    def close(self) -> None:
        if self._gif_frames:
            with atomic_path(self.out_dir / "overlay.gif") as tmp:
                self._gif_frames[0].save(
                    tmp,
                    format="GIF",
                    save_all=True,
                    append_images=self._gif_frames[1:],
                    duration=round(1000 / self.fps),
                    loop=0,
                )
        if self._movie is not None:
            container, stream = self._movie
            for packet in stream.encode():
                container.mux(packet)
            container.close()
            self._movie_tmp.replace(self.out_dir / "overlay.mp4")


def render_overlays(
    video_dir: Path,
    out_dir: Path,
    frames: str | None = None,
    gif: bool = False,
    cmap: str = "inferno",
    alpha: float = 0.5,
    camera: PinholeCamera | None = None,
    mp4: bool = False,
) -> list[Path]:
    """Overlays of a raw video folder (``video/I_%06d.bmp`` + ``MFCC_Image/Data_%d.mat``), with ground truth.

    Ground-truth pixels are in the reference ``camera``'s resolution and are scaled to the frame's size.
    Returns the PNG paths."""
    from PIL import Image, ImageDraw

    video_dir = Path(video_dir)
    numbers = parse_frames(frames) if frames else _available_frames(video_dir)
    if not numbers:
        raise DataError(f"{video_dir}: no frame has both video/I_%06d.bmp and MFCC_Image/Data_%d.mat")
    truth_path = video_dir / GROUND_TRUTH_FILE
    truth = read_ground_truth(truth_path) if truth_path.is_file() else {}
    reference = camera or PinholeCamera()
    writer = OverlayWriter(out_dir, FRAMES_PER_SECOND, gif=gif, mp4=mp4)
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
        writer.add(number, image)
    writer.close()
    return writer.written


def _mat_folder(images: Path) -> tuple[list[int], dict, Callable[[int], np.ndarray]]:
    """Frame numbers, parameters (``imaging.json``, if any) and a ``number -> energy map`` reader of a
    ``Data_%d.mat`` folder."""
    from acoustic_ssl.imaging.output import PARAMETERS_FILE

    numbers = sorted(
        int(m.group(1))
        for p in Path(images).glob("Data_*.mat")
        if (m := re.fullmatch(r"Data_(\d+)\.mat", p.name))
    )
    if not numbers:
        raise DataError(f"{images}: no Data_%d.mat acoustic images")
    meta_path = Path(images) / PARAMETERS_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return numbers, meta, lambda n: mfcc_to_energy(read_mfcc_mat(Path(images) / f"Data_{n}.mat"))


def render_video_overlays(
    images: Path,
    video: Path,
    out_dir: Path,
    frames: str | None = None,
    fps: float | None = None,
    offset_s: float = 0.0,
    gif: bool = False,
    mp4: bool = False,
    cmap: str = "inferno",
    alpha: float = 0.5,
) -> list[Path]:
    """Overlays of acoustic images (a ``Data_%d.mat`` folder or an ``.h5``/``.npz`` stack) on the user's own
    video file or frame folder, each image over the video frame on screen at the image's centre time
    (``offset_s`` is where the recording starts on the video's clock). Returns the PNG paths."""
    from PIL import Image

    from acoustic_ssl.imaging.output import is_stack, open_stack

    with contextlib.ExitStack() as stack:
        if is_stack(images):
            data, meta, stored_numbers = stack.enter_context(open_stack(images))
            index = {int(n): i for i, n in enumerate(stored_numbers)}
            power = meta.get("features") == "power"

            def energy_of(number: int) -> np.ndarray:
                image = np.asarray(data[index[number]])
                return image.sum(axis=-1) if power else mfcc_to_energy(image)

            available = sorted(index)
        else:
            available, meta, energy_of = _mat_folder(images)
        numbers = parse_frames(frames) if frames else available
        missing = sorted(set(numbers) - set(available))
        if missing:
            raise DataError(f"{images}: no acoustic image numbered {missing[0]}")
        rate = float(meta.get("sample_rate_hz", SENSOR_SAMPLE_RATE))
        hop, length = float(meta.get("hop", 1024)) / rate, float(meta.get("frame_length", 1024)) / rate
        first = int(meta.get("first_frame_number") or available[0])
        times = [(n - first) * hop + length / 2.0 + offset_s for n in numbers]
        writer = OverlayWriter(out_dir, 1.0 / hop, gif=gif, mp4=mp4)
        video_frames = frames_at(video, times, fps=fps if fps is not None else 1.0 / hop)
        for number, rgb in progress(
            zip(numbers, video_frames, strict=False), desc="show", total=len(numbers), unit="frame"
        ):
            writer.add(number, Image.fromarray(blend_energy(rgb, energy_of(number), cmap=cmap, alpha=alpha)))
        writer.close()
    return writer.written
