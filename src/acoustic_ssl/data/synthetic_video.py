"""Small audio-visual video files with known content and ground truth, written with PyAV.

For tests, benchmarks and a first look at ``import-video`` without a dataset: a coloured square (the sound
source) moves over a smooth random background next to a silent circle of another colour; the soundtrack is
a tone whose pitch encodes the class (``tone_hz``: by default half an octave per class) with two harmonics,
a slow tremolo and a little noise. The square's box in every source frame is returned, so localisation can be
scored against it.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["CODECS", "SyntheticVideo", "class_colour", "tone_hz", "write_synthetic_video"]

# container extension -> (video codec, audio codec) available in PyAV's wheels
CODECS = {
    ".mp4": ("libx264", "aac"),
    ".mkv": ("libx264", "flac"),
    ".webm": ("libvpx", "libopus"),
    ".avi": ("mpeg4", "libmp3lame"),
    ".mov": ("mpeg4", "aac"),
}
BASE_HZ = 220.0


def tone_hz(class_index: int, semitones: float = 6.0) -> float:
    """Fundamental of a class: 220 Hz · 2^(class · semitones / 12) (default: half an octave per class)."""
    return BASE_HZ * 2.0 ** (class_index * semitones / 12.0)


def class_colour(class_index: int, classes: int) -> tuple[int, int, int]:
    """A saturated RGB colour per class (hues spread around the circle)."""
    r, g, b = colorsys.hsv_to_rgb((class_index / max(classes, 1)) % 1.0, 0.9, 1.0)
    return round(255 * r), round(255 * g), round(255 * b)


@dataclass(frozen=True)
class SyntheticVideo:
    """What was written: the path, frame rate, frame size and the sounding square's box per source frame."""

    path: Path
    fps: int
    size: tuple[int, int]  # height, width
    boxes: np.ndarray  # [frames, 4] x0, y0, x1, y1 in source pixels


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random RGB texture (bilinear upsampling of a coarse grid), mid-grey on average."""
    coarse = rng.uniform(40, 200, (4, 5, 3))
    ys = np.linspace(0, coarse.shape[0] - 1, height)
    xs = np.linspace(0, coarse.shape[1] - 1, width)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, coarse.shape[0] - 1), np.minimum(x0 + 1, coarse.shape[1] - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - wx) + coarse[y0][:, x1] * wx
    bottom = coarse[y1][:, x0] * (1 - wx) + coarse[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _bounce(start: float, speed: float, span: float, t: np.ndarray) -> np.ndarray:
    """Position bouncing between 0 and ``span``."""
    p = np.mod(start + speed * t, 2 * span)
    return np.where(p > span, 2 * span - p, p)


def write_synthetic_video(
    path: str | os.PathLike[str],
    class_index: int,
    *,
    classes: int = 3,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (96, 128),
    sample_rate: int = 44100,
    channels: int = 2,
    audio: bool = True,
    object_size: float = 1 / 3,
    semitones: float = 6.0,
    seed: int = 0,
) -> SyntheticVideo:
    """Write a clip of class ``class_index`` (codecs chosen by the extension, see ``CODECS``).

    ``object_size``: the square's side as a fraction of the frame height (the circle is at most a third);
    ``semitones``: pitch step between classes (each clip is detuned by up to ±3 %, about half a semitone).
    """
    import av

    path = Path(path)
    if path.suffix.lower() not in CODECS:
        raise ValueError(f"{path}: extension must be one of {', '.join(CODECS)}")
    vcodec, acodec = CODECS[path.suffix.lower()]
    if acodec == "libopus":
        sample_rate = 48000  # Opus runs at 48 kHz
    rng = np.random.default_rng([seed, class_index])
    height, width = size
    n_frames = round(seconds * fps)
    t = np.arange(n_frames) / fps
    side = max(8, round(height * object_size)) // 2 * 2
    x = _bounce(rng.uniform(0, width - side), rng.uniform(0.3, 0.6) * width, width - side, t)
    y = _bounce(rng.uniform(0, height - side), rng.uniform(0.1, 0.3) * height, height - side, t)
    x, y = np.round(x).astype(int), np.round(y).astype(int)
    boxes = np.stack([x, y, x + side, y + side], axis=1)
    other = (class_index + 1 + int(rng.integers(max(classes - 1, 1)))) % max(classes, 2)
    radius = min(side, height // 3) / 2
    cx = _bounce(rng.uniform(0, width - 2 * radius), rng.uniform(0.2, 0.5) * width, width - 2 * radius, t)
    cy = _bounce(rng.uniform(0, height - 2 * radius), rng.uniform(0.1, 0.3) * height, height - 2 * radius, t)
    cx, cy = cx + radius, cy + radius
    background = _background(rng, height, width)
    colour = np.array(class_colour(class_index, classes), dtype=np.float64)
    distractor = np.array(class_colour(other, max(classes, 2)), dtype=np.float64)
    rows, cols = np.mgrid[0:height, 0:width]

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream(vcodec, rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.options = {"threads": "1"}
        if vcodec == "mpeg4":
            video.bit_rate = 2_000_000  # the default is blocky on small frames
        sound = None
        if audio:
            sound = container.add_stream(acodec, rate=sample_rate)
            sound.layout = "stereo" if channels == 2 else "mono"
        for i in range(n_frames):
            image = background.copy()
            image[(rows - cy[i]) ** 2 + (cols - cx[i]) ** 2 <= radius**2] = distractor
            image[y[i] : y[i] + side, x[i] : x[i] + side] = colour
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            n = round(seconds * sample_rate)
            ts = np.arange(n) / sample_rate
            f0 = tone_hz(class_index, semitones) * rng.uniform(0.97, 1.03)
            wave = sum(a * np.sin(2 * np.pi * k * f0 * ts) for k, a in ((1, 1.0), (2, 0.4), (3, 0.2)))
            wave = wave * (0.75 + 0.25 * np.sin(2 * np.pi * rng.uniform(1, 3) * ts))
            wave = 0.2 * wave + 0.01 * rng.standard_normal(n)
            block = sound.codec_context.frame_size or 1024
            for k in range(0, n, block):
                chunk = np.repeat(wave[None, k : k + block], channels, axis=0).astype(np.float32)
                piece = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                                   layout=sound.layout.name)
                piece.sample_rate, piece.pts = sample_rate, k
                container.mux(sound.encode(piece))
            container.mux(sound.encode(None))
    return SyntheticVideo(path, fps, (height, width), boxes)
