"""Where the microphones are and where each acoustic-image pixel looks.

Coordinate frame (shared by the array, the camera and the simulator): the camera centre is the origin, axes in
*video* terms: **x to the right, y down, z forward** (into the scene), metres. The microphone array lies in
the plane z = 0, centred on the camera (the DualCam has the camera in the middle of its 50 × 50 cm board).

Default array (:meth:`ArrayGeometry.default`): 128 microphones on an aperiodic **8-arm logarithmic spiral**
(Underbrink-style), 16 microphones per arm. Radii follow equal-area annuli, ``r_n = R·sqrt((n + 0.5) / 16)``
with ``R = 0.245 m``, so the density is uniform over a disc of 49 cm diameter that fills the 50 × 50 cm
aperture; the angle along an arm is ``θ = ln(r / r_0) / tan(ν)`` with spiral angle ``ν = 60°`` plus ``2πk /
8`` for arm ``k``. Aperiodic spacing avoids the grating lobes a regular 11 × 12 grid would have above ~3.4
kHz. Users with their own array replace it with a CSV file ``mic,x,y,z`` (one row per microphone, metres, same
frame).

Camera (:class:`PinholeCamera`): 640 × 480, square pixels, principal point at the image centre, and a default
horizontal field of view of **65°** (a typical webcam; vertical ≈ 51°). Pixel coordinates are continuous: the
image spans ``[0, width] × [0, height]`` and pixel ``i`` covers ``[i, i + 1)``.

Acoustic grid: 36 × 48 cells tile the camera image. The original loader flips every stored acoustic image
up-down and left-right to align it with the video, so the *stored* image is the video view rotated by 180°:
stored cell ``(r, c)`` looks at video cell ``(rows − 1 − r, cols − 1 − c)``.
:meth:`PinholeCamera.grid_directions` and :meth:`PinholeCamera.pixel_to_cell` use that stored orientation, so
images made here match the dataset.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import NUM_MICS
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import write_text_atomic

DEFAULT_HFOV_DEG = 65.0
GRID_ROWS, GRID_COLS = 36, 48
_CSV_HEADER = ("mic", "x", "y", "z")


@dataclass(frozen=True)
class ArrayGeometry:
    """Microphone positions, float64 (M, 3) metres in the camera frame (x right, y down, z forward)."""

    positions: np.ndarray

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
            raise DataError(f"array geometry must be (mics, 3), got {positions.shape}")
        if not np.all(np.isfinite(positions)):
            raise DataError("array geometry has non-finite coordinates")
        positions.setflags(write=False)
        object.__setattr__(self, "positions", positions)

    @property
    def num_mics(self) -> int:
        return len(self.positions)

    @property
    def aperture(self) -> float:
        """Largest distance between two microphones (m): sets the angular resolution λ / D."""
        diff = self.positions[:, None, :] - self.positions[None, :, :]
        return float(np.sqrt((diff**2).sum(-1)).max())

    @classmethod
    def default(
        cls,
        arms: int = 8,
        mics_per_arm: int = 16,
        radius_m: float = 0.245,
        spiral_angle_deg: float = 60.0,
    ) -> ArrayGeometry:
        """The documented multi-arm log spiral (see module docstring); 128 mics with the defaults."""
        n = np.arange(mics_per_arm)
        radii = radius_m * np.sqrt((n + 0.5) / mics_per_arm)
        theta = np.log(radii / radii[0]) / math.tan(math.radians(spiral_angle_deg))
        angles = theta[None, :] + 2.0 * math.pi * np.arange(arms)[:, None] / arms
        x = (radii[None, :] * np.cos(angles)).ravel()
        y = (radii[None, :] * np.sin(angles)).ravel()
        return cls(np.stack([x, y, np.zeros_like(x)], axis=1))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``mic,x,y,z`` CSV (metres), atomically."""
        lines = [",".join(_CSV_HEADER)]
        lines += [f"{i},{x!r},{y!r},{z!r}" for i, (x, y, z) in enumerate(self.positions.tolist())]
        write_text_atomic(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_mics: int | None = NUM_MICS) -> ArrayGeometry:
        """Read a ``mic,x,y,z`` CSV; rows may come in any order (sorted by ``mic``, which must be 0..M-1)."""
        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle))
        except OSError as exc:
            raise DataError(f"{path}: cannot read array geometry ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: array geometry is not a text CSV file") from exc
        rows = [row for row in rows if any(cell.strip() for cell in row)]
        if not rows or tuple(cell.strip().lower() for cell in rows[0]) != _CSV_HEADER:
            raise DataError(f"{path}: array geometry must start with the header 'mic,x,y,z'")
        table: dict[int, tuple[float, float, float]] = {}
        for line_no, row in enumerate(rows[1:], start=2):
            if len(row) != 4:
                raise DataError(f"{path}: line {line_no} has {len(row)} fields, expected 4 (mic,x,y,z)")
            try:
                mic = int(row[0])
                xyz = (float(row[1]), float(row[2]), float(row[3]))
            except ValueError as exc:
                raise DataError(f"{path}: line {line_no}: {exc}") from exc
            if mic in table:
                raise DataError(f"{path}: line {line_no}: microphone {mic} listed twice")
            table[mic] = xyz
        if sorted(table) != list(range(len(table))):
            raise DataError(f"{path}: microphone indices must be 0..{len(table) - 1} without gaps")
        if expected_mics is not None and len(table) != expected_mics:
            raise DataError(f"{path}: array geometry has {len(table)} microphones, expected {expected_mics}")
        try:
            return cls(np.array([table[i] for i in range(len(table))], dtype=np.float64))
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class PinholeCamera:
    """An ideal pinhole camera at the origin looking along +z (x right, y down), square pixels."""

    width: int = 640
    height: int = 480
    hfov_deg: float = DEFAULT_HFOV_DEG

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or not 0.0 < self.hfov_deg < 180.0:
            raise DataError(f"invalid camera: {self.width}x{self.height}, hfov {self.hfov_deg} deg")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (same on both axes)."""
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan((self.height / 2.0) / self.focal_px))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PinholeCamera:
        try:
            data = json.loads(text)
            return cls(width=int(data["width"]), height=int(data["height"]), hfov_deg=float(data["hfov_deg"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"camera JSON needs width, height, hfov_deg: {exc}") from exc

    def save(self, path: str | os.PathLike[str]) -> None:
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PinholeCamera:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read camera file ({exc})") from exc
        try:
            return cls.from_json(text)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc

    def pixel_rays(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit direction vectors (..., 3) through video pixel coordinates ``(x, y)``."""
        f = self.focal_px
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        rays = np.stack([(x - self.width / 2.0) / f, (y - self.height / 2.0) / f, np.ones(x.shape)], axis=-1)
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    def grid_directions(self, rows: int = GRID_ROWS, cols: int = GRID_COLS) -> np.ndarray:
        """Unit vectors (rows, cols, 3) of the cell centres, in the STORED (180°-rotated) orientation."""
        xs = (np.arange(cols) + 0.5) * self.width / cols
        ys = (np.arange(rows) + 0.5) * self.height / rows
        video = self.pixel_rays(xs[None, :], ys[:, None])  # (rows, cols, 3), video orientation
        return np.ascontiguousarray(video[::-1, ::-1])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Video pixel coordinates (N, 2) of 3-D points (N, 3), and whether each is in front (z > 0)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        z = points[:, 2]
        in_front = z > 0
        safe_z = np.where(in_front, z, 1.0)
        pixels = np.stack(
            [self.focal_px * points[:, 0] / safe_z + self.width / 2.0,
             self.focal_px * points[:, 1] / safe_z + self.height / 2.0],
            axis=1,
        )
        pixels[~in_front] = np.nan
        return pixels, in_front

    def pixel_to_cell(
        self, x: np.ndarray | float, y: np.ndarray | float, rows: int = GRID_ROWS, cols: int = GRID_COLS
    ) -> tuple[np.ndarray, np.ndarray]:
        """STORED-grid cell (row, col) seen at video pixel ``(x, y)``; outside pixels are clipped."""
        video_col = np.clip(np.floor(np.asarray(x, float) * cols / self.width), 0, cols - 1).astype(np.int64)
        video_row = np.clip(np.floor(np.asarray(y, float) * rows / self.height), 0, rows - 1).astype(np.int64)
        return rows - 1 - video_row, cols - 1 - video_col


def stored_to_video(image: np.ndarray) -> np.ndarray:
    """Rotate a stored acoustic image (rows, cols, ...) by 180° into video orientation (the loader flips)."""
    return np.ascontiguousarray(np.asarray(image)[::-1, ::-1])

