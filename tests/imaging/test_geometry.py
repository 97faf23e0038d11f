"""Array geometry files, the default spiral, and the camera / stored-grid conventions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from acoustic_ssl.errors import DataError
from acoustic_ssl.imaging.geometry import ArrayGeometry, PinholeCamera, stored_to_video


def test_default_spiral_fills_the_aperture(geometry: ArrayGeometry) -> None:
    positions = geometry.positions
    assert positions.shape == (128, 3)
    assert np.all(positions[:, 2] == 0.0)
    assert np.abs(positions[:, :2]).max() <= 0.25
    assert geometry.aperture > 0.45
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 0.005  # no two microphones on top of each other
    # aperiodic: 16 distinct radii, and (almost) no shared x coordinate, where a grid would have ~12
    assert len(np.unique(np.round(np.linalg.norm(positions[:, :2], axis=1), 9))) == 16
    assert len(np.unique(np.round(positions[:, 0], 9))) > 120


def test_geometry_csv_round_trip(tmp_path: Path, geometry: ArrayGeometry) -> None:
    path = tmp_path / "array_geometry.csv"
    geometry.save(path)
    assert path.read_text().splitlines()[0] == "mic,x,y,z"
    np.testing.assert_array_equal(ArrayGeometry.load(path).positions, geometry.positions)
    # rows in any order are accepted and sorted by mic index
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    np.testing.assert_array_equal(ArrayGeometry.load(path).positions, geometry.positions)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,c\n0,0,0\n", "header"),
        ("mic,x,y,z\n0,0.1,0.2\n", "fields"),
        ("mic,x,y,z\n0,0.1,zero,0\n", "line 2"),
        ("mic,x,y,z\n0,0,0,0\n2,0,0,0\n", "without gaps"),
        ("mic,x,y,z\n0,0,0,0\n0,1,0,0\n", "twice"),
        ("mic,x,y,z\n0,0,0,0\n1,0.1,0,0\n", "expected 128"),
        ("mic,x,y,z\n0,nan,0,0\n", "non-finite"),
    ],
)
def test_bad_geometry_file_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad_geometry.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as exc:
        ArrayGeometry.load(path, expected_mics=128 if message == "expected 128" else None)
    assert "bad_geometry.csv" in str(exc.value)


def test_missing_geometry_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv"):
        ArrayGeometry.load(tmp_path / "nowhere.csv")


def test_camera_json_round_trip(tmp_path: Path) -> None:
    camera = PinholeCamera(width=320, height=240, hfov_deg=70.0)
    assert PinholeCamera.from_json(camera.to_json()) == camera
    camera.save(tmp_path / "camera.json")
    assert PinholeCamera.load(tmp_path / "camera.json") == camera
    (tmp_path / "bad.json").write_text('{"width": 640}')
    with pytest.raises(DataError, match=r"bad\.json"):
        PinholeCamera.load(tmp_path / "bad.json")


def test_default_camera_field_of_view(camera: PinholeCamera) -> None:
    assert camera.hfov_deg == 65.0
    assert camera.focal_px == pytest.approx(320.0 / np.tan(np.radians(32.5)))
    assert 50.0 < camera.vfov_deg < 52.0


def test_project_round_trip(camera: PinholeCamera) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.uniform([0, 0], [640, 480], size=(50, 2))
    depths = rng.uniform(0.5, 20.0, size=50)
    rays = camera.pixel_rays(pixels[:, 0], pixels[:, 1])
    points = rays * (depths / rays[:, 2])[:, None]
    projected, in_front = camera.project(points)
    assert in_front.all()
    np.testing.assert_allclose(projected, pixels, atol=1e-9)
    behind, in_front = camera.project(np.array([[0.1, 0.2, -1.0]]))
    assert not in_front[0] and np.isnan(behind).all()


def test_grid_directions_are_the_stored_cells(camera: PinholeCamera) -> None:
    directions = camera.grid_directions()
    assert directions.shape == (36, 48, 3)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0)
    pixels, in_front = camera.project(directions.reshape(-1, 3) * 5.0)
    assert in_front.all()
    rows, cols = camera.pixel_to_cell(pixels[:, 0], pixels[:, 1])
    expected_rows, expected_cols = np.indices((36, 48)).reshape(2, -1)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(cols, expected_cols)
    # stored cell (r, c) looks at the centre of video cell (35 - r, 47 - c)
    r, c = 3, 10
    video_centre = ((47 - c + 0.5) * 640 / 48, (35 - r + 0.5) * 480 / 36)
    np.testing.assert_allclose(pixels[r * 48 + c], video_centre, atol=1e-9)
    # stored (0, 0) looks to the lower right of the video (x right, y down)
    assert directions[0, 0, 0] > 0 and directions[0, 0, 1] > 0


def test_pixel_to_cell_clips_and_stored_to_video_rotates(camera: PinholeCamera) -> None:
    assert camera.pixel_to_cell(-5.0, 1000.0) == (0, 47)
    assert camera.pixel_to_cell(0.0, 0.0) == (35, 47)
    image = np.arange(36 * 48).reshape(36, 48)
    video = stored_to_video(image)
    assert video[35 - 4, 47 - 9] == image[4, 9]
    np.testing.assert_array_equal(stored_to_video(video), image)


ACOULAR_XML = """<?xml version="1.0" encoding="utf-8"?>
<MicArray name="array_4">
  <pos Name="Point 1" x="0.1" y="-0.05" z="0"/>
  <pos Name="Point 2" x="-0.1" y="0.05" z="0"/>
  <pos Name="Point 3" x="0.02" y="0.2" z="0.01"/>
  <pos Name="Point 4" x="-0.2" y="-0.1" z="0"/>
</MicArray>
"""


def test_acoular_micgeom_xml(tmp_path: Path, geometry: ArrayGeometry) -> None:
    path = tmp_path / "array_4.xml"
    path.write_text(ACOULAR_XML)
    loaded = ArrayGeometry.load(path, expected_mics=None)
    np.testing.assert_array_equal(loaded.positions[2], [0.02, 0.2, 0.01])  # document order = channel order
    assert loaded.num_mics == 4
    # round trip of the 128-mic spiral through our own XML writer, and XML <-> CSV agree exactly
    geometry.save(tmp_path / "spiral.xml")
    assert '<pos Name="Point 1" x=' in (tmp_path / "spiral.xml").read_text()
    assert ArrayGeometry.load(tmp_path / "spiral.xml") == geometry
    loaded.save(tmp_path / "array_4.csv")
    assert ArrayGeometry.load(tmp_path / "array_4.csv", expected_mics=None) == loaded


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("<MicArray><pos Name='a' x='1'", "not a valid XML"),
        ("<MicArray></MicArray>", "no <pos"),
        ("<MicArray><pos Name='Point 1' x='1' y='two' z='0'/></MicArray>", "Point 1"),
    ],
)
def test_bad_xml_geometry_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as exc:
        ArrayGeometry.load(path, expected_mics=None)
    assert "bad.xml" in str(exc.value)


def test_dropping_broken_microphones(geometry: ArrayGeometry) -> None:
    kept = geometry.without([79, 105])
    assert kept.num_mics == 126
    np.testing.assert_array_equal(kept.positions[79], geometry.positions[80])
    with pytest.raises(DataError, match=r"within 0\.\.127"):
        geometry.without([128])


def test_calibrated_camera_intrinsics(tmp_path: Path) -> None:
    camera = PinholeCamera(width=1280, height=720, fx=900.0, fy=910.0, cx=650.5, cy=340.0)
    camera.save(tmp_path / "camera.json")
    assert PinholeCamera.load(tmp_path / "camera.json") == camera
    assert camera.hfov_deg == pytest.approx(np.degrees(2 * np.arctan(640 / 900.0)))
    rng = np.random.default_rng(3)
    pixels = rng.uniform([0, 0], [1280, 720], size=(20, 2))
    rays = camera.pixel_rays(pixels[:, 0], pixels[:, 1])
    projected, _ = camera.project(rays * 3.0)
    np.testing.assert_allclose(projected, pixels, atol=1e-9)
    points = camera.back_project(pixels[:, 0], pixels[:, 1], 2.0)
    np.testing.assert_allclose(camera.project(points)[0], pixels, atol=1e-9)
    assert camera.project([[0.0, 0.0, 1.0]])[0][0].tolist() == [650.5, 340.0]  # the principal point
    # the default camera still writes the short form (simulated datasets' camera.json is unchanged)
    assert json.loads(PinholeCamera().to_json()) == {"height": 480, "hfov_deg": 65.0, "width": 640}


def test_default_spiral_radii_are_equal_area_annuli(geometry: ArrayGeometry) -> None:
    """r_n = 0.245 m · sqrt((n + 0.5) / 16) on each of the 8 arms (uniform density over the disc), and the
    angle along an arm ln(r / r_0) / tan 60° plus 45° per arm."""
    radii = np.linalg.norm(geometry.positions[:, :2], axis=1).reshape(8, 16)
    expected = 0.245 * np.sqrt((np.arange(16) + 0.5) / 16)
    np.testing.assert_allclose(radii, np.tile(expected, (8, 1)), rtol=0, atol=1e-12)
    assert (expected[0], expected[-1]) == pytest.approx((0.04331, 0.24114), abs=1e-5)
    angles = np.arctan2(geometry.positions[:, 1], geometry.positions[:, 0]).reshape(8, 16)
    along = np.log(expected / expected[0]) / np.tan(np.radians(60.0))
    turns = angles - along[None, :] - np.radians(45.0) * np.arange(8)[:, None]
    np.testing.assert_allclose(np.angle(np.exp(1j * turns)), 0.0, atol=1e-12)
