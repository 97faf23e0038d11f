"""Procedural video frames: a textured background per location and one simple, recognisable sprite per class.

Sprites are drawn from shapes defined in metres around the sound source's centre (so a sprite's largest extent
is ``OBJECT_SIZE_M[class]``), scaled by ``focal_px / distance`` in the output frame, mirrored to face the
direction of motion, optionally tilted, over the background on a canvas supersampled 2× and box-filtered down
(smooth edges, one resize per frame).
Colours are jittered per video. Each frame gets mild sensor noise and a slight brightness flicker. Frames are
BGR uint8, the order OpenCV reads (and ``raw_writer.write_bmp`` expects).
"""

from __future__ import annotations

import colorsys
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from acoustic_ssl.simulate.objects import OBJECT_SIZE_M, OBJECTS

SUPERSAMPLE = 2
DRONE, FOUNTAIN = 2, 3  # the animated sprites: rotor blur per frame, droplets drawn at random
Shape = tuple  # ("rect" | "ellipse" | "poly" | "line", geometry..., colour key)

# Base colours (RGB) per class; jittered per video.
PALETTES: dict[int, dict[str, tuple[int, int, int]]] = {
    0: {"body": (170, 30, 30), "accent": (230, 200, 40), "dark": (40, 40, 45), "light": (190, 220, 240)},
    1: {"body": (240, 240, 235), "accent": (30, 70, 150), "dark": (60, 50, 45), "light": (150, 200, 230)},
    2: {"body": (35, 35, 40), "accent": (200, 60, 40), "dark": (20, 20, 20), "light": (170, 170, 175)},
    3: {"body": (160, 155, 145), "accent": (120, 115, 105), "dark": (90, 90, 90), "light": (200, 230, 255)},
    4: {"body": (230, 180, 20), "accent": (60, 60, 60), "dark": (30, 30, 30), "light": (190, 190, 195)},
    5: {"body": (50, 50, 60), "accent": (40, 120, 200), "dark": (20, 20, 25), "light": (200, 200, 205)},
    6: {"body": (210, 60, 140), "accent": (240, 240, 240), "dark": (40, 40, 40), "light": (220, 220, 220)},
    7: {"body": (220, 40, 40), "accent": (60, 60, 60), "dark": (25, 25, 25), "light": (180, 180, 185)},
    8: {"body": (180, 185, 190), "accent": (200, 40, 40), "dark": (30, 30, 30), "light": (220, 225, 230)},
    9: {"body": (40, 90, 170), "accent": (240, 240, 200), "dark": (25, 25, 25), "light": (160, 190, 210)},
}


def _car_like(length: float) -> list[Shape]:
    h = length / 4.5
    return [
        ("rect", -2.25 * h, -0.2 * h, 2.25 * h, 0.45 * h, "body"),
        (
            "poly",
            [(-1.2 * h, -0.2 * h), (-0.7 * h, -0.78 * h), (0.9 * h, -0.78 * h), (1.45 * h, -0.2 * h)],
            "body",
        ),
        (
            "poly",
            [(-1.0 * h, -0.25 * h), (-0.62 * h, -0.7 * h), (0.1 * h, -0.7 * h), (0.1 * h, -0.25 * h)],
            "light",
        ),
        (
            "poly",
            [(0.2 * h, -0.25 * h), (0.2 * h, -0.7 * h), (0.82 * h, -0.7 * h), (1.2 * h, -0.25 * h)],
            "light",
        ),
        ("ellipse", -1.4 * h, 0.45 * h, 0.35 * h, 0.35 * h, "dark"),
        ("ellipse", 1.4 * h, 0.45 * h, 0.35 * h, 0.35 * h, "dark"),
        ("rect", 2.05 * h, -0.1 * h, 2.25 * h, 0.1 * h, "accent"),
    ]


def _shapes(class_index: int, frame: int, rng: np.random.Generator) -> list[Shape]:
    """Shapes (metres, y down, facing right) of a class; ``frame`` animates rotors, jets and droplets."""
    if class_index == 0:  # train: long carriage with a window row, a stripe, a nose and wheels
        shapes: list[Shape] = [
            ("rect", -4.0, -1.6, 3.3, 1.1, "body"),
            ("poly", [(3.3, -1.6), (3.7, -1.4), (4.0, 0.2), (4.0, 1.1), (3.3, 1.1)], "body"),
            ("rect", -4.0, 0.3, 4.0, 0.55, "accent"),
            ("rect", -4.0, -1.75, 3.3, -1.6, "dark"),
        ]
        shapes += [("rect", x, -1.2, x + 0.8, -0.4, "light") for x in np.arange(-3.6, 2.6, 1.2)]
        shapes += [("ellipse", x, 1.2, 0.35, 0.35, "dark") for x in (-3.2, -2.4, 2.0, 2.8)]
        return shapes
    if class_index == 1:  # boat: hull, cabin with windows, mast, bow wave
        return [
            ("ellipse", 0.0, 0.85, 2.6, 0.25, "light"),
            ("poly", [(-2.5, 0.0), (2.5, -0.2), (2.0, 0.8), (-2.2, 0.8)], "body"),
            ("rect", -2.5, 0.35, 2.35, 0.5, "accent"),
            ("rect", -1.2, -1.0, 0.8, 0.0, "body"),
            ("rect", -0.9, -0.8, -0.3, -0.4, "light"),
            ("rect", 0.0, -0.8, 0.6, -0.4, "light"),
            ("line", [(-0.2, -1.0), (-0.2, -2.0)], 0.06, "dark"),
        ]
    if class_index == 2:  # drone: body, arms, four blurred rotors (their width flickers with the blades)
        blur = 0.05 + 0.015 * math.sin(frame * 2.1)
        shapes = [
            ("line", [(-0.2, -0.03), (0.2, -0.03)], 0.025, "dark"),
            ("rect", -0.07, -0.06, 0.07, 0.03, "body"),
            ("ellipse", 0.0, -0.015, 0.025, 0.02, "accent"),
            ("line", [(-0.05, 0.03), (-0.08, 0.1)], 0.012, "dark"),
            ("line", [(0.05, 0.03), (0.08, 0.1)], 0.012, "dark"),
        ]
        shapes += [
            ("ellipse", x, -0.06, 0.06 + blur * 0.3, 0.012, "light") for x in (-0.19, -0.11, 0.11, 0.19)
        ]
        return shapes
    if class_index == 3:  # fountain: basin, pedestal, bowl, water jets and droplets (new each frame)
        shapes = [
            ("poly", [(-0.8, 0.35), (0.8, 0.35), (0.7, 0.75), (-0.7, 0.75)], "body"),
            ("ellipse", 0.0, 0.35, 0.8, 0.08, "light"),
            ("rect", -0.08, -0.3, 0.08, 0.35, "accent"),
            ("poly", [(-0.4, -0.35), (0.4, -0.35), (0.2, -0.2), (-0.2, -0.2)], "body"),
        ]
        for angle in np.linspace(-0.8, 0.8, 5):
            top = (0.1 * angle, -0.8)
            shapes.append(("line", [(0.0, -0.35), top, (0.55 * angle, 0.3)], 0.03, "light"))
        for _ in range(25):
            x, y = rng.uniform(-0.7, 0.7), rng.uniform(-0.8, 0.3)
            shapes.append(("ellipse", x, y, 0.015, 0.015, "light"))
        return shapes
    if class_index == 4:  # drill: body, handle, chuck, bit
        return [
            ("rect", -0.15, -0.05, 0.05, 0.03, "body"),
            ("poly", [(-0.06, 0.03), (0.0, 0.03), (-0.02, 0.14), (-0.08, 0.14)], "dark"),
            ("rect", -0.09, 0.12, 0.01, 0.15, "body"),
            ("rect", 0.05, -0.03, 0.09, 0.01, "accent"),
            ("line", [(0.09, -0.01), (0.15, -0.01)], 0.008, "light"),
        ]
    if class_index == 5:  # razor: upright body with a foil head and a button
        return [
            ("rect", -0.025, -0.05, 0.025, 0.08, "body"),
            ("rect", -0.035, -0.08, 0.035, -0.05, "light"),
            ("ellipse", 0.0, 0.0, 0.01, 0.01, "accent"),
            ("rect", -0.02, 0.075, 0.02, 0.08, "dark"),
        ]
    if class_index == 6:  # hair dryer: barrel, nozzle, rear grille, handle
        return [
            ("rect", -0.12, -0.045, 0.08, 0.045, "body"),
            ("rect", 0.08, -0.03, 0.14, 0.03, "dark"),
            ("ellipse", -0.12, 0.0, 0.025, 0.045, "accent"),
            ("poly", [(-0.06, 0.04), (-0.02, 0.04), (-0.01, 0.14), (-0.05, 0.14)], "body"),
        ]
    if class_index == 7:  # hoover: canister, hose, wand, floor head
        return [
            ("ellipse", -0.17, 0.02, 0.13, 0.12, "body"),
            ("ellipse", -0.22, 0.1, 0.04, 0.04, "dark"),
            ("line", [(-0.06, 0.0), (0.05, -0.12), (0.12, -0.1)], 0.025, "accent"),
            ("line", [(0.12, -0.1), (0.24, 0.12)], 0.018, "light"),
            ("rect", 0.16, 0.12, 0.3, 0.16, "dark"),
        ]
    if class_index == 8:  # shopping cart: wire basket, handle, frame, wheels
        shapes = [("poly", [(-0.45, -0.4), (0.5, -0.4), (0.35, 0.1), (-0.4, 0.1)], "light")]
        shapes += [("line", [(x, -0.4), (x * 0.8, 0.1)], 0.015, "body") for x in np.linspace(-0.4, 0.45, 7)]
        shapes += [
            ("line", [(-0.45, -0.4), (-0.55, -0.45)], 0.03, "accent"),
            ("line", [(-0.4, 0.1), (-0.35, 0.4), (0.35, 0.4), (0.35, 0.1)], 0.02, "body"),
        ]
        shapes += [("ellipse", x, 0.45, 0.05, 0.05, "dark") for x in (-0.35, 0.35)]
        return shapes
    if class_index == 9:  # traffic: a car
        return _car_like(OBJECT_SIZE_M[9])
    raise ValueError(f"class index must be 0..9, got {class_index}")


def _jitter(colour: tuple[int, int, int], rng: np.random.Generator) -> tuple[int, int, int]:
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in colour))
    h = (h + rng.uniform(-0.05, 0.05)) % 1.0
    s = float(np.clip(s * rng.uniform(0.8, 1.2), 0, 1))
    v = float(np.clip(v * rng.uniform(0.8, 1.15), 0, 1))
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[return-value]


@dataclass
class Appearance:
    """Per-video look of a sprite: its jittered palette."""

    colours: dict[str, tuple[int, int, int]]

    @classmethod
    def random(cls, class_index: int, rng: np.random.Generator) -> Appearance:
        return cls({key: _jitter(value, rng) for key, value in PALETTES[class_index].items()})


# ("poly" | "line", points (n, 2) in metres, line width in metres, colour key)
Part = tuple[str, np.ndarray, float, str]


def sprite_parts(
    class_index: int,
    *,
    facing: float = 1.0,
    tilt_rad: float = 0.0,
    frame_index: int = 0,
    rng: np.random.Generator | None = None,
) -> list[Part]:
    """The class's shapes as polygons and polylines in metres around the object's centre (y down), mirrored
    to face ``facing`` and tilted by ``tilt_rad``: what :func:`draw_sprite` draws and :func:`sprite_box`
    bounds.

    Every frame draws every sprite, so parts are cached (read-only arrays) unless they come from ``rng`` (the
    fountain's droplets); only the drone's rotor blur depends on ``frame_index``."""
    if class_index == FOUNTAIN and rng is not None:
        return _parts(class_index, facing, tilt_rad, frame_index, rng)
    frame_index = frame_index if class_index == DRONE else 0
    return _cached_parts(class_index, float(facing), float(tilt_rad), frame_index)


@functools.lru_cache(maxsize=4096)
def _cached_parts(class_index: int, facing: float, tilt_rad: float, frame_index: int) -> list[Part]:
    parts = _parts(class_index, facing, tilt_rad, frame_index, np.random.default_rng(0))
    for part in parts:
        part[1].setflags(write=False)
    return parts


def _parts(
    class_index: int, facing: float, tilt_rad: float, frame_index: int, rng: np.random.Generator
) -> list[Part]:
    cos_t, sin_t = math.cos(tilt_rad), math.sin(tilt_rad)
    rotation = np.array([[cos_t * facing, -sin_t], [sin_t * facing, cos_t]])
    parts: list[Part] = []
    for shape in _shapes(class_index, frame_index, rng):
        kind, colour = shape[0], shape[-1]
        width = 0.0
        if kind == "rect":
            x0, y0, x1, y1 = shape[1:5]
            points = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        elif kind == "ellipse":
            ex, ey, rx, ry = shape[1:5]
            points = np.array([ex, ey]) + np.array([rx, ry]) * _UNIT_CIRCLE
        elif kind == "poly":
            points = shape[1]
        else:  # line
            points, width = shape[1], float(shape[2])
        parts.append(("line" if kind == "line" else "poly", np.asarray(points) @ rotation.T, width, colour))
    return parts


_ELLIPSE_ANGLES = np.linspace(0, 2 * np.pi, 24, endpoint=False)
_UNIT_CIRCLE = np.array([(math.cos(a), math.sin(a)) for a in _ELLIPSE_ANGLES])  # (24, 2) ellipse outline


def parts_extent(parts: list[Part]) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) in metres of sprite parts, line widths included."""
    lows = np.min([p[1].min(axis=0) - p[2] / 2 for p in parts], axis=0)
    highs = np.max([p[1].max(axis=0) + p[2] / 2 for p in parts], axis=0)
    return float(lows[0]), float(lows[1]), float(highs[0]), float(highs[1])


def sprite_box(
    class_index: int, centre_xy: tuple[float, float], px_per_m: float, *, facing: float = 1.0,
    tilt_rad: float = 0.0,
) -> tuple[float, float, float, float]:
    """Pixel box (x0, y0, x1, y1) of the sprite drawn at ``centre_xy`` with ``px_per_m`` (ground truth)."""
    x0, y0, x1, y1 = parts_extent(sprite_parts(class_index, facing=facing, tilt_rad=tilt_rad))
    cx, cy = centre_xy
    return cx + x0 * px_per_m, cy + y0 * px_per_m, cx + x1 * px_per_m, cy + y1 * px_per_m


def sprite_tilt(class_index: int, velocity_x: np.ndarray) -> np.ndarray:
    """Tilt (rad) of the sprite per lateral velocity (m/s): flying objects bank into their motion."""
    velocity_x = np.asarray(velocity_x, dtype=np.float64)
    if OBJECTS[class_index].motion != "fly":
        return np.zeros_like(velocity_x)
    return np.clip(0.08 * velocity_x, -0.35, 0.35)


def draw_sprite(
    canvas: Image.Image,
    class_index: int,
    centre_xy: tuple[float, float],
    px_per_m: float,
    appearance: Appearance,
    *,
    facing: float = 1.0,
    tilt_rad: float = 0.0,
    frame_index: int = 0,
    rng: np.random.Generator | None = None,
) -> None:
    """Draw the class sprite centred at frame pixel ``centre_xy`` onto ``canvas``, the RGB frame supersampled
    ``SUPERSAMPLE`` times (modified in place; the frame is the canvas reduced by a box filter, which smooths
    the sprites' edges). A sprite less than half a pixel wide or entirely outside the frame is skipped."""
    extent_px = OBJECT_SIZE_M[class_index] * px_per_m
    half = math.ceil(0.75 * extent_px) + 3
    cx, cy = centre_xy
    left, top = math.floor(cx) - half, math.floor(cy) - half
    width, height = canvas.width // SUPERSAMPLE, canvas.height // SUPERSAMPLE
    if left > width or top > height or left + 2 * half < 0 or top + 2 * half < 0:
        return
    if extent_px < 0.5:
        return
    scale = px_per_m * SUPERSAMPLE
    offset = np.array([cx * SUPERSAMPLE, cy * SUPERSAMPLE])
    parts = sprite_parts(class_index, facing=facing, tilt_rad=tilt_rad, frame_index=frame_index, rng=rng)
    draw = ImageDraw.Draw(canvas)
    for kind, points, line_width, colour_key in parts:
        colour = appearance.colours[colour_key]
        xy = [tuple(p) for p in (offset + scale * points).tolist()]
        if kind == "poly":
            draw.polygon(xy, fill=colour)
        else:
            draw.line(xy, fill=colour, width=max(round(line_width * scale), 1), joint="curve")


def _smooth_field(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """A smooth random texture in [-1, 1] (bilinear upsampling of a coarse random grid)."""
    coarse = rng.uniform(-1.0, 1.0, (cells + 1, cells + 1)).astype(np.float32)
    image = Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


GROUNDS = {1: (40, 90, 130), 0: (120, 110, 100), 9: (80, 80, 85), 8: (110, 110, 115)}  # water, rails, road
GRASS = (70, 130, 60)
FLOORS = ((150, 110, 70), (120, 120, 125), (170, 150, 120))
SHARED_INDOOR_SHARE = 0.4


def make_background(
    class_index: int | None, height: int, width: int, rng: np.random.Generator
) -> np.ndarray:
    """A location's background, RGB float32 (H, W, 3): sky/ground or wall/floor, texture and clutter.

    ``class_index`` gives the class's own kind of place (water under boats, rails under trains, a room for the
    indoor classes); ``None`` draws a place of any kind (indoor or outdoor, any ground), for locations shared
    by every class.
    """
    if class_index is None:
        indoor = bool(rng.random() < SHARED_INDOOR_SHARE)
        ground = (*GROUNDS.values(), GRASS)[rng.integers(len(GROUNDS) + 1)]
        rails = not indoor and bool(rng.random() < 0.25)
    else:
        indoor = OBJECTS[class_index].indoor
        ground = GROUNDS.get(class_index, GRASS)
        rails = class_index == 0
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    if indoor:
        split = rng.uniform(0.55, 0.75)
        upper_top = np.array(_jitter((215, 205, 185), rng), np.float32)
        upper_bottom = upper_top * rng.uniform(0.8, 0.95)
        lower_top = np.array(_jitter(FLOORS[rng.integers(3)], rng), np.float32)
        lower_bottom = lower_top * rng.uniform(0.7, 0.9)
    else:
        split = rng.uniform(0.35, 0.55)
        overcast = rng.random() < 0.3
        upper_top = np.array(_jitter((150, 150, 155) if overcast else (70, 130, 210), rng), np.float32)
        upper_bottom = np.array(_jitter((200, 200, 205) if overcast else (180, 210, 240), rng), np.float32)
        lower_top = np.array(_jitter(ground, rng), np.float32)
        lower_bottom = lower_top * rng.uniform(0.6, 0.85)
    upper_t = np.clip(rows / split, 0, 1)
    lower_t = np.clip((rows - split) / (1 - split), 0, 1)
    image = np.where(
        rows < split,
        upper_top + (upper_bottom - upper_top) * upper_t,
        lower_top + (lower_bottom - lower_top) * lower_t,
    )
    image = np.broadcast_to(image, (height, width, 3)).copy()
    image += 12.0 * _smooth_field(rng, height, width, 6)[..., None]
    image += 5.0 * _smooth_field(rng, height, width, 40)[..., None]

    canvas = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(canvas)
    horizon = int(split * height)
    if indoor:  # a window or door, a skirting board
        x0 = int(rng.uniform(0.05, 0.7) * width)
        draw.rectangle(
            [x0, int(0.15 * height), x0 + int(0.2 * width), int((split - 0.1) * height)],
            fill=_jitter((180, 200, 220), rng),
            outline=(90, 80, 70),
            width=max(width // 160, 1),
        )
        draw.rectangle(
            [0, horizon - max(height // 60, 1), width, horizon], fill=_jitter((240, 240, 235), rng)
        )
    else:  # hills or buildings on the horizon, and for trains the rails
        for _ in range(rng.integers(2, 6)):
            x0 = int(rng.uniform(-0.1, 0.9) * width)
            w = int(rng.uniform(0.05, 0.25) * width)
            h = int(rng.uniform(0.05, 0.25) * height)
            colour = _jitter((110, 110, 120) if rng.random() < 0.5 else (60, 100, 60), rng)
            if rng.random() < 0.5:
                draw.rectangle([x0, horizon - h, x0 + w, horizon], fill=colour)
            else:
                draw.polygon([(x0, horizon), (x0 + w // 2, horizon - h), (x0 + w, horizon)], fill=colour)
        if rails:
            for offset in (0.12, 0.16):
                y = int((split + offset) * height)
                draw.line([(0, y), (width, y)], fill=(60, 55, 50), width=max(height // 120, 1))
    return np.asarray(canvas, dtype=np.float32)


def finish_frame(
    rgb: np.ndarray, rng: np.random.Generator, noise: torch.Generator, noise_std: float = 2.0
) -> np.ndarray:
    """Add sensor noise (from the torch generator ``noise``: its normals cost half of NumPy's) and a slight
    flicker (from ``rng``) to an RGB frame; return BGR uint8."""
    flicker = 1.0 + rng.uniform(-0.02, 0.02)
    noisy = torch.randn(rgb.shape, generator=noise).numpy()
    noisy *= noise_std
    noisy += rgb * np.float32(flicker) + np.float32(0.5)
    return np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)[..., ::-1]
