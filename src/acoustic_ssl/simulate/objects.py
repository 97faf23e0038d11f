"""Physical facts of the simulated objects: size, where they appear and how they move.

``OBJECT_SIZE_M[class]`` is the object's largest visible extent in metres; evaluation turns a ground-truth
point at distance ``d`` into a box of ``focal_px · size / d`` pixels. The sprites are drawn to that size,
so the box matches what the video shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from acoustic_ssl.data.layout import NUM_CLASSES


@dataclass(frozen=True)
class ObjectSpec:
    """How a class of object is placed and moved in a simulated video.

    ``motion``: "static" (fixed, e.g. a fountain), "handheld" (small smooth wander around a point), "sweep"
    (back-and-forth, a hoover), "fly" (smooth 3-D wander, a drone) or "pass" (crosses the view, vehicles).
    ``rows`` is the band of image heights (fractions of the frame, 0 = top) where the centre is placed.
    """

    size_m: float
    distance_m: tuple[float, float]
    rows: tuple[float, float]
    motion: str
    max_speed_mps: float
    indoor: bool


OBJECTS: dict[int, ObjectSpec] = {
    0: ObjectSpec(
        size_m=8.0,
        distance_m=(11.0, 15.0),
        rows=(0.40, 0.60),
        motion="pass",
        max_speed_mps=20.0,
        indoor=False,
    ),
    1: ObjectSpec(
        size_m=5.0, distance_m=(8.0, 15.0), rows=(0.45, 0.65), motion="pass", max_speed_mps=5.0, indoor=False
    ),
    2: ObjectSpec(
        size_m=0.45, distance_m=(3.0, 12.0), rows=(0.15, 0.55), motion="fly", max_speed_mps=4.0, indoor=False
    ),
    3: ObjectSpec(
        size_m=1.6,
        distance_m=(4.0, 10.0),
        rows=(0.40, 0.65),
        motion="static",
        max_speed_mps=0.0,
        indoor=False,
    ),
    4: ObjectSpec(
        size_m=0.3,
        distance_m=(1.5, 3.0),
        rows=(0.30, 0.70),
        motion="handheld",
        max_speed_mps=0.3,
        indoor=True,
    ),
    5: ObjectSpec(
        size_m=0.16,
        distance_m=(1.5, 2.5),
        rows=(0.30, 0.65),
        motion="handheld",
        max_speed_mps=0.2,
        indoor=True,
    ),
    6: ObjectSpec(
        size_m=0.28,
        distance_m=(1.5, 3.0),
        rows=(0.25, 0.65),
        motion="handheld",
        max_speed_mps=0.3,
        indoor=True,
    ),
    7: ObjectSpec(
        size_m=0.6, distance_m=(1.8, 4.0), rows=(0.60, 0.85), motion="sweep", max_speed_mps=1.0, indoor=True
    ),
    8: ObjectSpec(
        size_m=1.0, distance_m=(2.5, 7.0), rows=(0.55, 0.80), motion="pass", max_speed_mps=1.5, indoor=False
    ),
    9: ObjectSpec(
        size_m=4.5, distance_m=(8.0, 15.0), rows=(0.45, 0.70), motion="pass", max_speed_mps=12.0, indoor=False
    ),
}
assert len(OBJECTS) == NUM_CLASSES

OBJECT_SIZE_M: dict[int, float] = {index: spec.size_m for index, spec in OBJECTS.items()}
