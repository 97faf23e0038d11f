"""Where the microphones are and where each acoustic-image pixel looks.

Coordinate frame (shared by the array, the camera and the simulator): the camera centre is the origin, axes in
*video* terms: **x to the right, y down, z forward** (into the scene), metres. The microphone array lies in
the plane z = 0, centred on the camera (the DualCam has the camera in the middle of its 50 × 50 cm board).

Default array (:meth:`ArrayGeometry.default`): 128 microphones on an aperiodic **8-arm logarithmic spiral**
(Underbrink-style), 16 microphones per arm. Radii follow equal-area annuli, ``r_n = R·sqrt((n + 0.5) / 16)``
with ``R = 0.245 m``, so the density is uniform over a disc of 49 cm diameter that fills the 50 × 50 cm
aperture; the angle along an arm is ``θ = ln(r / r_0) / tan(ν)`` with spiral angle ``ν = 60°`` plus ``2πk /
8`` for arm ``k``. Aperiodic spacing avoids the grating lobes a regular 11 × 12 grid would have above ~3.4
kHz. Users with their own array load it from a CSV file ``mic,x,y,z`` (one row per microphone, metres, same
frame) or from Acoular's ``MicGeom`` XML (``<pos Name="Point 1" x=… y=… z=…/>``, taken in the same frame),
with any number of microphones.

Camera (:class:`PinholeCamera`): 640 × 480, square pixels, principal point at the image centre, and a default
horizontal field of view of **65°** (a typical webcam; vertical ≈ 51°). A calibrated camera gives its
intrinsics instead (focal lengths ``fx``, ``fy`` and principal point ``cx``, ``cy`` in pixels, as OpenCV's
camera matrix; lens distortion is not modelled: undistort the video first). Pixel coordinates are continuous:
the image spans ``[0, width] × [0, height]`` and pixel ``i`` covers ``[i, i + 1)``.

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
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acoustic_ssl.data.layout import NUM_MICS
from acoustic_ssl.errors import DataError
from acoustic_ssl.io_utils import write_text_atomic

DEFAULT_HFOV_DEG = 65.0
GRID_ROWS, GRID_COLS = 36, 48
_CSV_HEADER = ("mic", "x", "y", "z")


@dataclass(frozen=True, eq=False)
class ArrayGeometry:
    """Microphone positions of an array, in the camera frame.

    Parameters
    ----------
    positions : array_like, shape (M, 3)
        Metres, x right, y down, z forward (the camera looks along +z); row ``m`` is recording channel ``m``.

    Examples
    --------
    >>> geometry = ArrayGeometry.default()
    >>> geometry.num_mics, round(geometry.aperture, 3)
    (128, 0.482)
    >>> geometry.without([79, 105]).num_mics
    126
    """

    positions: np.ndarray

    def __post_init__(self) -> None:
        positions = np.asarray(self.positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != 3 or len(positions) == 0:
            raise DataError(f"array geometry must be (mics, 3), got {positions.shape}")
        if not np.all(np.isfinite(positions)):
            raise DataError("array geometry has non-finite coordinates")
        positions.setflags(write=False)
        object.__setattr__(self, "positions", positions)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArrayGeometry) and np.array_equal(self.positions, other.positions)

    def __hash__(self) -> int:
        return hash(self.positions.tobytes())

    @property
    def num_mics(self) -> int:
        return len(self.positions)

    @property
    def aperture(self) -> float:
        """Largest distance between two microphones (m): sets the angular resolution λ / D."""
        diff = self.positions[:, None, :] - self.positions[None, :, :]
        return float(np.sqrt((diff**2).sum(-1)).max())

    def without(self, mics: Iterable[int]) -> ArrayGeometry:
        """The array without microphones ``mics`` (0-based indices, e.g. broken ones); order kept."""
        return self.select(kept_mics(self.num_mics, mics))

    def select(self, mics: Iterable[int]) -> ArrayGeometry:
        """The sub-array of microphones ``mics`` (0-based indices), in that order."""
        return ArrayGeometry(self.positions[np.asarray(list(mics), dtype=np.int64)])

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
        """Write the geometry atomically: Acoular ``MicGeom`` XML for a ``.xml`` path, else ``mic,x,y,z``
        CSV."""
        if Path(path).suffix.lower() == ".xml":
            lines = ['<?xml version="1.0" encoding="utf-8"?>', f'<MicArray name="{Path(path).stem}">']
            lines += [f'  <pos Name="Point {i + 1}" x="{x!r}" y="{y!r}" z="{z!r}"/>'
                      for i, (x, y, z) in enumerate(self.positions.tolist())]
            write_text_atomic(path, "\n".join([*lines, "</MicArray>"]) + "\n")
            return
        lines = [",".join(_CSV_HEADER)]
        lines += [f"{i},{x!r},{y!r},{z!r}" for i, (x, y, z) in enumerate(self.positions.tolist())]
        write_text_atomic(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str], expected_mics: int | None = NUM_MICS) -> ArrayGeometry:
        """Read a geometry file: Acoular ``MicGeom`` XML (``.xml``) or a ``mic,x,y,z`` CSV (anything else).

        CSV rows may come in any order (sorted by ``mic``, which must be 0..M-1); XML ``pos`` elements are
        taken in document order (channel 0 first), as Acoular does."""
        path = Path(path)
        positions = _read_micgeom_xml(path) if path.suffix.lower() == ".xml" else _read_geometry_csv(path)
        if expected_mics is not None and len(positions) != expected_mics:
            raise DataError(
                f"{path}: array geometry has {len(positions)} microphones, expected {expected_mics}"
            )
        try:
            geometry = cls(np.array(positions, dtype=np.float64))
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc
        problem = _degenerate(geometry.positions)
        if problem is not None:
            raise DataError(f"{path}: {problem}; the acoustic images would carry no direction")
        return geometry


def kept_mics(num_mics: int, dropped: Iterable[int]) -> np.ndarray:
    """Indices 0..num_mics-1 without ``dropped`` (checked: in range, and at least one microphone left)."""
    dropped = sorted({int(m) for m in dropped})
    if any(not 0 <= m < num_mics for m in dropped):
        raise DataError(f"microphones to drop must be within 0..{num_mics - 1}, got {dropped}")
    kept = np.setdiff1d(np.arange(num_mics), dropped)
    if len(kept) == 0:
        raise DataError("every microphone was dropped")
    return kept


def _degenerate(positions: np.ndarray) -> str | None:
    """What makes an array unable to tell directions apart (fewer than two distinct positions, two
    microphones at one point: a typo in the file), or None."""
    if len(positions) < 2:
        return "an array needs at least 2 microphones"
    rounded = np.round(positions, 6)  # micrometres
    _, first, counts = np.unique(rounded, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        shared = rounded[first[np.argmax(counts > 1)]]
        mics = np.flatnonzero((rounded == shared).all(axis=1))
        return f"microphones {mics[0]} and {mics[1]} are at the same position {tuple(shared.tolist())}"
    return None


def _read_geometry_csv(path: Path) -> list[tuple[float, float, float]]:
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
    return [table[i] for i in range(len(table))]


def _read_micgeom_xml(path: Path) -> list[tuple[float, float, float]]:
    try:
        root = ElementTree.parse(path).getroot()
    except OSError as exc:
        raise DataError(f"{path}: cannot read array geometry ({exc.strerror})") from exc
    except ElementTree.ParseError as exc:
        raise DataError(f"{path}: not a valid XML file ({exc})") from exc
    elements = list(root.iter("pos"))
    if not elements:
        raise DataError(f"{path}: no <pos Name=... x=... y=... z=.../> elements (Acoular MicGeom format)")
    positions = []
    for element in elements:
        try:
            positions.append(tuple(float(element.attrib[axis]) for axis in ("x", "y", "z")))
        except (KeyError, ValueError) as exc:
            name = element.attrib.get("Name", f"#{len(positions) + 1}")
            raise DataError(f"{path}: <pos Name={name!r}> needs numeric x, y and z ({exc})") from exc
    return positions


@dataclass(frozen=True)
class PinholeCamera:
    """An ideal pinhole camera at the origin looking along +z (x right, y down); pixels in the video frame.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    hfov_deg : float
        Horizontal field of view in degrees; sets ``fx = (width / 2) / tan(hfov / 2)`` unless ``fx`` is given
        (then it is recomputed from ``fx``).
    fx, fy : float, optional
        Focal lengths in pixels (OpenCV's camera matrix); ``fy`` defaults to ``fx`` (square pixels).
    cx, cy : float, optional
        Principal point in pixels; defaults to the image centre.

    Examples
    --------
    >>> camera = PinholeCamera()
    >>> round(camera.focal_px, 1), round(camera.vfov_deg, 1)
    (502.3, 51.1)
    >>> [float(v) for v in camera.project([[0.0, 0.0, 2.0]])[0][0]]
    [320.0, 240.0]
    >>> calibrated = PinholeCamera(width=1280, height=720, fx=900.0, fy=905.0, cx=650.0, cy=350.0)
    >>> [round(float(v), 3) for v in calibrated.pixel_rays(650.0, 350.0)]
    [0.0, 0.0, 1.0]
    """

    width: int = 640
    height: int = 480
    hfov_deg: float = DEFAULT_HFOV_DEG
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None

    def __post_init__(self) -> None:
        intrinsics = [v for v in (self.fx, self.fy, self.cx, self.cy) if v is not None]
        if self.width <= 0 or self.height <= 0 or not all(math.isfinite(float(v)) for v in intrinsics):
            raise DataError(f"invalid camera: {self.width}x{self.height}, intrinsics {intrinsics}")
        if (self.fx is not None and self.fx <= 0) or (self.fy is not None and self.fy <= 0):
            raise DataError(f"invalid camera: focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if self.fx is not None:
            object.__setattr__(self, "hfov_deg", math.degrees(2.0 * math.atan(self.width / 2.0 / self.fx)))
        if not 0.0 < self.hfov_deg < 180.0:
            raise DataError(f"invalid camera: {self.width}x{self.height}, hfov {self.hfov_deg} deg")

    @property
    def focal_px(self) -> float:
        """Horizontal focal length ``fx`` in pixels."""
        if self.fx is not None:
            return float(self.fx)
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def focal_y_px(self) -> float:
        """Vertical focal length ``fy`` in pixels (``fx`` unless given)."""
        return float(self.fy) if self.fy is not None else self.focal_px

    @property
    def principal_point(self) -> tuple[float, float]:
        """``(cx, cy)`` in pixels (the image centre unless given)."""
        return (self.width / 2.0 if self.cx is None else float(self.cx),
                self.height / 2.0 if self.cy is None else float(self.cy))

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2.0 * math.atan((self.height / 2.0) / self.focal_y_px))

    def to_json(self) -> str:
        """``{width, height, hfov_deg}``, or ``{width, height, fx, fy, cx, cy}`` for a calibrated camera."""
        if all(v is None for v in (self.fx, self.fy, self.cx, self.cy)):
            data: dict[str, float] = {"width": self.width, "height": self.height, "hfov_deg": self.hfov_deg}
        else:
            cx, cy = self.principal_point
            data = {"width": self.width, "height": self.height, "fx": self.focal_px, "fy": self.focal_y_px,
                    "cx": cx, "cy": cy}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> PinholeCamera:
        try:
            data = json.loads(text)
            size = {"width": int(data["width"]), "height": int(data["height"])}
            if "fx" in data:
                optional = {k: float(data[k]) for k in ("fy", "cx", "cy") if data.get(k) is not None}
                return cls(**size, fx=float(data["fx"]), **optional)
            return cls(**size, hfov_deg=float(data["hfov_deg"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"camera JSON needs width, height and hfov_deg (or fx[, fy, cx, cy] in pixels): {exc!r}"
            ) from exc

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
        (cx, cy), fx, fy = self.principal_point, self.focal_px, self.focal_y_px
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        rays = np.stack([(x - cx) / fx, (y - cy) / fy, np.ones(x.shape)], axis=-1)
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    def back_project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """3-D points (..., 3) at depth ``z`` (m) seen at video pixels ``(x, y)``."""
        (cx, cy), fx, fy = self.principal_point, self.focal_px, self.focal_y_px
        x, y, z = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float), np.asarray(z, float))
        return np.stack([(x - cx) * z / fx, (y - cy) * z / fy, z], axis=-1)

    def grid_directions(self, rows: int = GRID_ROWS, cols: int = GRID_COLS) -> np.ndarray:
        """Unit vectors (rows, cols, 3) of the cell centres, in the STORED (180°-rotated) orientation."""
        xs = (np.arange(cols) + 0.5) * self.width / cols
        ys = (np.arange(rows) + 0.5) * self.height / rows
        video = self.pixel_rays(xs[None, :], ys[:, None])  # (rows, cols, 3), video orientation
        return np.ascontiguousarray(video[::-1, ::-1])

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Video pixel coordinates (N, 2) of 3-D points (N, 3), and whether each is in front (z > 0)."""
        (cx, cy), fx, fy = self.principal_point, self.focal_px, self.focal_y_px
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        z = points[:, 2]
        in_front = z > 0
        safe_z = np.where(in_front, z, 1.0)
        pixels = np.stack([fx * points[:, 0] / safe_z + cx, fy * points[:, 1] / safe_z + cy], axis=1)
        pixels[~in_front] = np.nan
        return pixels, in_front

    def pixel_to_cell(
        self, x: np.ndarray | float, y: np.ndarray | float, rows: int = GRID_ROWS, cols: int = GRID_COLS
    ) -> tuple[np.ndarray, np.ndarray]:
        """STORED-grid cell (row, col) seen at video pixel ``(x, y)``; outside pixels are clipped."""
        video_col = np.clip(np.floor(np.asarray(x, float) * cols / self.width), 0, cols - 1).astype(np.int64)
        video_row = np.clip(np.floor(np.asarray(y, float) * rows / self.height), 0, rows - 1).astype(np.int64)
        return rows - 1 - video_row, cols - 1 - video_col


def grid_for_stride(camera: PinholeCamera, stride_px: float) -> tuple[int, int]:
    """Rows and columns of a grid whose cells are about ``stride_px`` video pixels wide and tall."""
    if not stride_px > 0:
        raise DataError(f"grid stride must be a positive number of pixels, got {stride_px}")
    return max(1, round(camera.height / stride_px)), max(1, round(camera.width / stride_px))


def stored_to_video(image: np.ndarray) -> np.ndarray:
    """Rotate a stored acoustic image (rows, cols, ...) by 180° into video orientation (the loader flips)."""
    return np.ascontiguousarray(np.asarray(image)[::-1, ::-1])
