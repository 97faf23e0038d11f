"""``simulate --objects``: a library of pictures with alpha and their clips, any classes, object splits."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image

from acoustic_ssl.cli import main
from acoustic_ssl.errors import DataError
from acoustic_ssl.simulate.library import open_objects, read_drumkit

FS = 12288
# 3 classes x 3 objects: a pure colour and a tone of its own each (class folders sort to bells, birds, cars)
OBJECTS = {
    "cars": {"red_car": ((230, 20, 20), 440.0), "blue_car": ((20, 20, 230), 610.0),
             "lorry": ((20, 200, 20), 820.0)},
    "birds": {"robin": ((230, 230, 20), 1030.0), "crow": ((20, 220, 220), 1270.0),
              "owl": ((220, 20, 220), 1490.0)},
    "bells": {"big": ((250, 140, 0), 1730.0), "small": ((140, 0, 250), 1950.0),
              "cow": ((0, 250, 140), 2210.0)},
}
WIDTH, HEIGHT = 48, 24  # every picture is twice as wide as high, inside a transparent margin


def _picture(path: Path, colour: tuple[int, int, int]) -> None:
    rgba = np.zeros((HEIGHT + 10, WIDTH + 6, 4), np.uint8)
    rgba[4 : 4 + HEIGHT, 3 : 3 + WIDTH] = (*colour, 255)
    Image.fromarray(rgba, "RGBA").save(path)


def _tone(path: Path, hz: float, seconds: float = 0.8, rate: int = 16000) -> None:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)


def _library(root: Path) -> Path:
    for label, members in OBJECTS.items():
        (root / label).mkdir(parents=True)
        for name, (colour, hz) in members.items():
            _picture(root / label / f"{name}.png", colour)
            _tone(root / label / f"{name}.wav", hz)
    return root


def _simulate(out: Path, library: Path, *extra: str, seconds: int = 1) -> None:
    args = ["simulate", str(out), "--videos-per-class", "1", "--seconds", str(seconds), "--seed", "3",
            "--snr-db", "30", "--workers", "1", "--objects", str(library), *extra]
    assert main(args) == 0


def _rows(video: Path) -> list[dict[str, str]]:
    with open(video / "ground_truth.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _named(name: str) -> tuple[tuple[int, int, int], float]:
    label, stem = name.split("/")
    return OBJECTS[label][stem]


def test_labels_ground_truth_and_the_picture_at_its_box(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    _simulate(out, _library(tmp_path / "lib"), "--frame-size", "240", "320")
    assert json.loads((out / "labels.json").read_text()) == {"bells": 0, "birds": 1, "cars": 2}
    described = json.loads((out / "simulation.json").read_text())["objects"]["classes"]
    assert described["cars"] == ["cars/blue_car", "cars/lorry", "cars/red_car"]
    for class_index, label in enumerate(("bells", "birds", "cars")):
        video = out / f"class_{class_index}" / "data_000"
        rows = _rows(video)
        source = next(r for r in rows if r["frame"] == "1" and r["source_id"] == "0")
        assert source["class"] == str(class_index) and source["object"].startswith(f"{label}/")
        assert source["clip"] == source["object"] + ".wav"
        others = {r["object"].split("/")[0] for r in rows if r["source_id"] != "0"}
        assert label not in others  # interferers are objects of other classes
        x0, y0, x1, y1 = (float(source[k]) / 2 for k in ("x0", "y0", "x1", "y1"))  # 640x480 -> 320x240
        assert (x1 - x0) == pytest.approx(2 * (y1 - y0), rel=0.05)  # the picture's 2:1 alpha box
        frame = np.asarray(Image.open(video / "video" / "I_000001.bmp").convert("RGB"), dtype=float)
        inner = frame[round(y0 + 0.3 * (y1 - y0)) : round(y1 - 0.3 * (y1 - y0)),
                      round(x0 + 0.3 * (x1 - x0)) : round(x1 - 0.3 * (x1 - x0))]
        colour, _ = _named(source["object"])
        assert np.abs(inner.reshape(-1, 3).mean(axis=0) - colour).max() < 15  # its own colour fills the box
        ring = np.concatenate([frame[max(round(y0) - 3, 0), round(x0) : round(x1)],
                               frame[min(round(y1) + 3, 239), round(x0) : round(x1)]])
        assert np.abs(ring - colour).max(axis=1).min() > 25  # and stops at the box's edges


def test_the_objects_clip_is_what_the_microphones_hear(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    _simulate(out, _library(tmp_path / "lib"), "--audio-only", seconds=2)
    for class_index in range(3):
        video = out / f"class_{class_index}" / "data_000"
        name = next(r["object"] for r in _rows(video) if r["source_id"] == "0")
        frames = [np.fromfile(video / "audio" / f"A_{k:06d}.dc", "<i4").reshape(-1, 1024, order="F")[0]
                  for k in range(1, 25)]
        mono = np.concatenate(frames).astype(float)
        spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
        assert abs(np.argmax(spectrum) * FS / len(mono) - _named(name)[1]) < 5.0


def test_object_splits_are_disjoint_and_reach_the_records(tmp_path: Path) -> None:
    library = _library(tmp_path / "lib")
    whole = open_objects(library)
    train, test = whole.split(3, "train"), whole.split(3, "test")
    for c in range(3):
        names = {o.name for o in whole.of_class(c)}
        train_names, test_names = {o.name for o in train.of_class(c)}, {o.name for o in test.of_class(c)}
        assert len(test_names) == 1 and train_names | test_names == names and not train_names & test_names
    shown = {}
    for part, extra in (("train", ()), ("test", ("--test-objects", "--first-location", "3"))):
        out = tmp_path / part
        _simulate(out, library, "--frame-size", "48", "64", "--split-by", "object", "--videos-per-class", "3",
                  *extra)
        shown[part] = {r["object"] for video in out.glob("class_*/data_*") for r in _rows(video)}
    assert shown["test"] <= {o.name for o in test.objects}  # sources and interferers alike
    assert shown["train"] <= {o.name for o in train.objects}
    records = tmp_path / "records"
    assert main(["convert", str(tmp_path / "test"), str(records), "--workers", "1"]) == 0
    assert json.loads((records / "labels.json").read_text()) == {"bells": 0, "birds": 1, "cars": 2}


def test_a_csv_gives_sizes_motions_and_several_clips(tmp_path: Path) -> None:
    _library(tmp_path / "lib")
    table = tmp_path / "objects.csv"
    table.write_text(
        "image,sound,class,size_m,motion\n"
        "lib/cars/lorry.png,lib/cars/lorry.wav,vehicles,6,pass\n"
        "lib/cars/lorry.png,lib/cars/red_car.wav,vehicles,6,pass\n"
        "lib/birds/owl.png,lib/birds/owl.wav,animals,0.4,fly\n"
    )
    found = open_objects(table)
    assert found.classes == ("animals", "vehicles")
    lorry = found.of_class(1)[0]
    assert lorry.name == "lib/cars/lorry" and len(lorry.sounds) == 2 and lorry.spec.motion == "pass"
    assert lorry.extent_m() == pytest.approx((-3.0, -1.5, 3.0, 1.5))  # 6 m across its 2:1 alpha box
    assert found.of_class(0)[0].spec.distance_m == pytest.approx((1.2, 3.2))  # depths scale with the size


def _fails(capsys: pytest.CaptureFixture[str], library: Path, expected: str, *extra: str) -> None:
    code = main(["simulate", str(library.parent / "sim"), "--videos-per-class", "1", "--seconds", "1",
                 "--seed", "0", "--audio-only", "--objects", str(library), *extra])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in error and expected in error, error


def test_bad_objects_are_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    library = _library(tmp_path / "lib")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(library / "cars" / "lorry.png")
    _fails(capsys, library, "lorry.png: image has no alpha channel")
    (library / "cars" / "lorry.png").write_bytes(b"not a png")
    _fails(capsys, library, "lorry.png: cannot read image")
    _picture(library / "cars" / "lorry.png", (1, 2, 3))
    (library / "cars" / "lorry.wav").write_bytes(b"RIFF junk")
    _fails(capsys, library, "lorry.wav: cannot read audio clip")
    for name in ("lorry", "red_car"):  # pictures without a sound are not objects: one car is left
        (library / "cars" / f"{name}.wav").unlink()
    _fails(capsys, library, "class 'cars' has 1 object; --split-by object needs at least 2", "--split-by",
           "object")
    table = tmp_path / "sized.csv"
    table.write_text("image,sound,class,size_m\nlib/birds/owl.png,lib/birds/owl.wav,birds,-1\n")
    _fails(capsys, table, "sized.csv: line 2: size_m must be a positive number of metres")


def test_tuxpaint_layout(tmp_path: Path) -> None:
    """Categories at a chosen folder depth, image + sound of one stem; descriptions, translations ignored."""
    stamps = tmp_path / "stamps"
    for folder, stems in (("animals/birds", ("robin", "owl")), ("animals/mammals", ("cat",)),
                          ("household/tools", ("saw",))):
        (stamps / folder).mkdir(parents=True)
        for stem in stems:
            _picture(stamps / folder / f"{stem}.png", (200, 10, 10))
            _tone(stamps / folder / f"{stem}.ogg", 700.0)
            _tone(stamps / folder / f"{stem}_desc.ogg", 300.0)
            _tone(stamps / folder / f"{stem}_de.ogg", 300.0)
    _picture(stamps / "animals" / "birds" / "mute.png", (0, 0, 0))  # no sound: not an object
    (stamps / "household" / "tools" / "saw.txt").write_text("Saw")
    by_category = open_objects(stamps)
    assert by_category.classes == ("animals", "household")
    assert [o.name for o in by_category.of_class(0)] == ["animals/birds/owl", "animals/birds/robin",
                                                         "animals/mammals/cat"]
    assert [Path(s).name for s in by_category.of_class(0)[0].sounds] == ["owl.ogg"]
    assert "1 images without a sound of the same name skipped" in by_category.notes
    deeper = open_objects(stamps, depth=2, min_objects=2)
    assert deeper.classes == ("animals/birds",)
    assert any("animals/mammals, household/tools" in note for note in deeper.notes)


def test_hydrogen_drumkits(tmp_path: Path) -> None:
    """drumkit.xml instruments matched to drum classes by name; a CSV row's kit folder expands into them."""
    kits = tmp_path / "drumkits"
    for kit, names in (("Rock", ("Kick", "Snare Rock", "Closed HH")), ("Jazz", ("BassDrum", "Ride Jazz"))):
        (kits / kit).mkdir(parents=True)
        layers = "".join(
            f"<instrument><id>{i}</id><name>{name}</name><layer><filename>{i}.wav</filename></layer>"
            f"<layer><filename>{i}b.wav</filename></layer></instrument>"
            for i, name in enumerate(names)
        )
        (kits / kit / "drumkit.xml").write_text(
            '<?xml version="1.0"?><drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">'
            f"<name>{kit}</name><instrumentList>{layers}</instrumentList></drumkit_info>"
        )
        for i in range(len(names)):
            _tone(kits / kit / f"{i}.wav", 100.0 + i)
            _tone(kits / kit / f"{i}b.wav", 150.0 + i)
    name, instruments = read_drumkit(kits / "Rock" / "drumkit.xml")
    assert name == "Rock" and [i[0] for i in instruments] == ["Kick", "Snare Rock", "Closed HH"]
    assert [Path(p).name for p in instruments[0][1]] == ["0.wav", "0b.wav"]
    _picture(tmp_path / "kick.png", (10, 10, 10))
    _picture(tmp_path / "cymbal.png", (200, 200, 10))
    table = tmp_path / "drums.csv"
    table.write_text("kick.png,drumkits,kick\ncymbal.png,drumkits/Jazz/drumkit.xml,ride\n")
    library = open_objects(table)
    assert library.classes == ("kick", "ride")
    assert [o.name for o in library.of_class(0)] == ["Jazz/BassDrum", "Rock/Kick"]
    assert [o.name for o in library.of_class(1)] == ["Jazz/Ride Jazz"]
    assert len(library.of_class(1)[0].sounds) == 2
    table.write_text("kick.png,drumkits,crash\n")
    with pytest.raises(DataError, match=r"drums.csv: line 1: no instrument of .* is a 'crash'"):
        open_objects(table)
    table.write_text("kick.png,drumkits,banjo\n")
    with pytest.raises(DataError, match=r"drums.csv: line 1: a drum kit's class must be one of kick, snare"):
        open_objects(table)



def test_svg_pictures_render_when_cairosvg_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("cairosvg")
    from acoustic_ssl.simulate.library import load_image

    path = tmp_path / "bar.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40">'
                    '<rect x="10" y="5" width="30" height="10" fill="#ff0000"/></svg>')
    picture = load_image(str(path))
    assert picture.shape == (10, 30, 4) and tuple(picture[5, 15]) == (255, 0, 0, 255)
