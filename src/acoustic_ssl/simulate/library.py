"""A library of real objects for the simulator (``simulate --objects DIR|CSV``): pictures with transparency
and the sounds they make, grouped into any number of classes.

An object is one image (PNG or WebP with an alpha channel; SVG when ``cairosvg`` is installed, else SVGs are
skipped with a note) and one or more sound clips. Layouts:

* a folder: the class of an image is the folder ``depth`` levels below the root (``--object-depth``, default
  1; deeper folders belong to it), its clips are the audio files beside it with the same stem, or the stem
  and ``_<digits>`` (``cat.png`` + ``cat.ogg``, ``cat_2.wav``). This is the Tux Paint stamps layout
  (Debian ``tuxpaint-stamps-default``: ``/usr/share/tuxpaint/stamps/<category>/<subcategory>/``); its
  spoken descriptions (``cat_desc.ogg``) and translations (``cat_de.ogg``) are not the object's sound.
  Images without a clip are skipped (counted in a note);
* a CSV ``image,sound,class[,size_m][,motion]`` (header optional; paths relative to the CSV): rows with the
  same image are one object with several clips. A ``sound`` naming a Hydrogen ``drumkit.xml`` or a folder of
  drum kits (Debian ``hydrogen-drumkits``: ``/usr/share/hydrogen/data/drumkits``) stands for every instrument
  of those kits that the row's class names (``DRUM_CLASSES``: kick, snare, hi-hat, tom, crash, ride, clap,
  cowbell, by instrument name), one object per instrument with its layers as clips and the row's image.

``size_m`` is the object's largest extent in metres (default ``DEFAULT_SIZE_M``), ``motion`` one of the
simulator's motion models (default ``handheld``). An object's depth range scales with its size, so it covers
about the same share of the frame whatever size it is given. Classes are numbered in sorted name order (the
records' ``labels.json``); ``min_objects`` drops the classes with fewer objects (a note names them).

``split(seed, part)`` keeps one of two object-disjoint parts of every class (``--split-by object``): a third
of each class's objects (at least one) for testing, the rest for training, drawn per class name and seed.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
from PIL import Image

from acoustic_ssl.errors import DataError
from acoustic_ssl.simulate.clips import AUDIO_SUFFIXES, SilentClipError, clip_signal, load_clip
from acoustic_ssl.simulate.objects import ObjectSpec

IMAGE_SUFFIXES = (".png", ".webp", ".svg")  # in order of preference for one stem
DEFAULT_SIZE_M = 0.5
DEFAULT_MOTION = "handheld"
# rows of the frame where each motion model places an object (fractions, 0 = top)
MOTION_ROWS = {
    "static": (0.40, 0.65),
    "handheld": (0.30, 0.70),
    "sweep": (0.55, 0.80),
    "fly": (0.15, 0.55),
    "pass": (0.45, 0.70),
}
DEPTH_PER_SIZE = (3.0, 8.0)  # depth range in object sizes: the object spans 1/3 to 1/8 of focal length
MIN_DEPTH_M = 1.0
TEST_SHARE = 1 / 3
SPLIT_STREAM = 20_000  # spawn-key prefix of the object split's seeds
DRUM_CLASSES = {
    "kick": r"kick|bass ?drum|\bbd\b",
    "snare": r"snare|\bsd\b",
    "hi-hat": r"hi-?hat|\bhh\b|\bhat\b",
    "tom": r"\btom",
    "crash": r"crash",
    "ride": r"\bride",
    "clap": r"clap",
    "cowbell": r"cowbell",
}
CSV_COLUMNS = ("image", "sound", "class", "size_m", "motion")


@dataclass(frozen=True)
class LibraryObject:
    """One object: its name (unique in the library), class, image, clips (absolute paths), size and motion."""

    name: str
    class_index: int
    image: str
    sounds: tuple[str, ...]
    size_m: float = DEFAULT_SIZE_M
    motion: str = DEFAULT_MOTION

    @property
    def spec(self) -> ObjectSpec:
        """Placement and motion as the simulator's classes have them, scaled to this object's size."""
        near, far = (max(MIN_DEPTH_M, k * self.size_m) for k in DEPTH_PER_SIZE)
        return ObjectSpec(
            size_m=self.size_m,
            distance_m=(near, max(far, 1.5 * near)),
            rows=MOTION_ROWS[self.motion],
            motion=self.motion,
            max_speed_mps=max(0.5, 3.0 * self.size_m),
            indoor=False,
        )

    def extent_m(self) -> tuple[float, float, float, float]:
        """Box (x0, y0, x1, y1) in metres around the centre: the image's alpha box at its size."""
        height, width = load_image(self.image).shape[:2]
        half_w = 0.5 * self.size_m * width / max(width, height)
        half_h = 0.5 * self.size_m * height / max(width, height)
        return -half_w, -half_h, half_w, half_h


@dataclass(frozen=True)
class ObjectLibrary:
    """The objects of ``source`` (a folder or CSV), their class names in index order, and notes on what was
    left out."""

    source: str
    classes: tuple[str, ...]
    objects: tuple[LibraryObject, ...]
    notes: tuple[str, ...] = ()
    part: str = ""  # "train" / "test": one side of an object split; "" = all objects

    def of_class(self, class_index: int) -> tuple[LibraryObject, ...]:
        return tuple(o for o in self.objects if o.class_index == class_index)

    def draw(self, class_index: int, rng: np.random.Generator) -> LibraryObject:
        """An object of the class, uniformly."""
        members = self.of_class(class_index)
        return members[int(rng.integers(len(members)))]

    def sound(
        self, item: LibraryObject, n_samples: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, str, float]:
        """A unit-RMS signal of ``n_samples`` at 12 288 Hz from one of the object's clips, as ``--sounds``
        cuts or loops them: (signal, clip name relative to the library's folder, start offset in seconds)."""
        path = item.sounds[int(rng.integers(len(item.sounds)))]
        signal, start_s = clip_signal(path, n_samples, rng)
        root = Path(self.source) if Path(self.source).is_dir() else Path(self.source).parent
        name = Path(path).relative_to(root).as_posix() if Path(path).is_relative_to(root) else path
        return signal, name, start_s

    def split(self, seed: int, part: str) -> ObjectLibrary:
        """The ``part`` ("train" or "test") of an object-disjoint split of every class (module docstring)."""
        kept = []
        for index, name in enumerate(self.classes):
            members = sorted(self.of_class(index), key=lambda o: o.name)
            if len(members) < 2:
                raise DataError(
                    f"{self.source}: class {name!r} has {len(members)} object; --split-by object needs at "
                    "least 2 per class (one to train on, one to test on)"
                )
            key = (SPLIT_STREAM, zlib.crc32(name.encode("utf-8")))
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
            order = rng.permutation(len(members))
            tests = max(1, round(TEST_SHARE * len(members)))
            chosen = order[:tests] if part == "test" else order[tests:]
            kept += [members[i] for i in sorted(chosen)]
        return replace(self, objects=tuple(kept), part=part)

    def describe(self) -> dict[str, Any]:
        """For ``simulation.json``: where the objects came from, and each class's objects by name."""
        return {
            "source": self.source,
            **({"part": self.part} if self.part else {}),
            "classes": {
                name: [o.name for o in self.of_class(i)] for i, name in enumerate(self.classes)
            },
        }


def open_objects(source: str | Path, *, depth: int = 1, min_objects: int = 1) -> ObjectLibrary:
    """The library of a folder or CSV (module docstring); every image and clip is read once here, so a bad
    file is reported before any video is simulated."""
    source = Path(source)
    if depth < 1:
        raise DataError(f"{source}: the class folder depth must be at least 1, got {depth}")
    if source.is_dir():
        entries, notes = _from_folder(source, depth)
    elif source.is_file():
        entries, notes = _from_csv(source), []
    else:
        raise DataError(f"{source}: no such objects folder or CSV")
    silent = []
    for entry in entries:
        load_image(entry["image"])
        for clip in list(entry["sounds"]):
            try:
                load_clip(clip)
            except SilentClipError:
                entry["sounds"].remove(clip)
                silent.append(Path(clip).name)
    if silent:
        notes.append(f"{len(silent)} silent clips left out: {', '.join(silent)}")
        entries = [entry for entry in entries if entry["sounds"]]
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["class"]] = counts.get(entry["class"], 0) + 1
    small = sorted(name for name, n in counts.items() if n < min_objects)
    if small:
        notes.append(
            f"{len(small)} classes with fewer than {min_objects} objects left out: {', '.join(small)}"
        )
    classes = tuple(sorted(name for name in counts if name not in small))
    if not classes:
        raise DataError(f"{source}: no class with at least {min_objects} object(s) that have a sound")
    index = {name: i for i, name in enumerate(classes)}
    objects = tuple(
        LibraryObject(e["name"], index[e["class"]], e["image"], tuple(e["sounds"]), e["size_m"], e["motion"])
        for e in sorted(entries, key=lambda e: (index.get(e["class"], -1), e["name"]))
        if e["class"] in index
    )
    return ObjectLibrary(str(source.resolve()), classes, objects, tuple(notes))


def _svg_renderer() -> Any:
    try:
        import cairosvg  # optional: renders SVG objects when installed
    except (ImportError, OSError):
        return None
    return cairosvg


def _from_folder(root: Path, depth: int) -> tuple[list[dict[str, Any]], list[str]]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    audio: dict[Path, list[Path]] = {}  # folder -> its audio files
    for path in files:
        if path.suffix.lower() in AUDIO_SUFFIXES:
            audio.setdefault(path.parent, []).append(path)
    images: dict[Path, Path] = {}  # stem path -> preferred image
    for path in files:
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            stem = path.with_suffix("")
            current = images.get(stem)
            if current is None or IMAGE_SUFFIXES.index(suffix) < IMAGE_SUFFIXES.index(current.suffix.lower()):
                images[stem] = path
    entries, silent, shallow, svgs = [], 0, 0, 0
    for stem, image in sorted(images.items()):
        parts = image.relative_to(root).parts
        if len(parts) <= depth:
            shallow += 1
            continue
        own = re.compile(re.escape(stem.name) + r"(_\d+)?")
        sounds = [str(p.resolve()) for p in audio.get(image.parent, []) if own.fullmatch(p.stem)]
        if not sounds:
            silent += 1
            continue
        if image.suffix.lower() == ".svg" and _svg_renderer() is None:
            svgs += 1
            continue
        entries.append({
            "name": stem.relative_to(root).as_posix(), "class": "/".join(parts[:depth]),
            "image": str(image.resolve()), "sounds": sounds, "size_m": DEFAULT_SIZE_M,
            "motion": DEFAULT_MOTION,
        })
    notes = []
    if silent:
        notes.append(f"{silent} images without a sound of the same name skipped")
    if shallow:
        notes.append(f"{shallow} images above the class folders (depth {depth}) skipped")
    if svgs:
        notes.append(f"{svgs} SVG objects skipped (pip install cairosvg renders them)")
    return entries, notes


def _from_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read objects CSV ({exc})") from exc
    first = 1
    if rows and rows[0] and rows[0][0].strip().lower() == "image":
        rows, first = rows[1:], 2
    objects: dict[str, dict[str, Any]] = {}
    for line_no, row in enumerate(rows, start=first):
        where = f"{path}: line {line_no}"
        cells = [c.strip() for c in row] + [""] * (len(CSV_COLUMNS) - len(row))
        if len(row) < 3 or len(row) > len(CSV_COLUMNS) or not all(cells[:3]):
            raise DataError(f"{where}: expected {','.join(CSV_COLUMNS[:3])}[,size_m][,motion]")
        image_cell, sound_cell, label, size_cell, motion = cells[: len(CSV_COLUMNS)]
        image = (path.parent / image_cell).resolve()
        size_m = _size(size_cell, where) if size_cell else DEFAULT_SIZE_M
        motion = motion or DEFAULT_MOTION
        if motion not in MOTION_ROWS:
            raise DataError(f"{where}: motion {motion!r} is not one of {', '.join(MOTION_ROWS)}")
        sound = (path.parent / sound_cell).resolve()
        if sound.name == "drumkit.xml" or sound.is_dir():
            if label.lower() not in DRUM_CLASSES:
                raise DataError(
                    f"{where}: a drum kit's class must be one of {', '.join(DRUM_CLASSES)}, got {label!r}"
                )
            found = drum_objects(sound, label)
            if not found:
                raise DataError(
                    f"{where}: no instrument of {sound} is a {label!r} ({', '.join(DRUM_CLASSES)})"
                )
        else:
            if not sound.is_file():
                raise DataError(f"{where}: audio clip {sound} not found")
            found = [(Path(image_cell).with_suffix("").as_posix(), [str(sound)])]
        for name, sounds in found:
            looks = {"class": label, "image": str(image), "size_m": size_m, "motion": motion}
            entry = objects.setdefault(name, {"name": name, "sounds": [], **looks})
            if any(entry[key] != value for key, value in looks.items()):
                raise DataError(
                    f"{where}: object {name!r} is given another class, image, size or motion above"
                )
            entry["sounds"] += [s for s in sounds if s not in entry["sounds"]]
    if not objects:
        raise DataError(f"{path}: no objects (rows image,sound,class[,size_m][,motion])")
    return list(objects.values())


def _size(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"{where}: size_m must be a positive number of metres, got {text!r}")
    return value


def drum_objects(source: Path, label: str) -> list[tuple[str, list[str]]]:
    """(``kit/instrument``, clips) of the instruments of a ``drumkit.xml``, or of every kit below a folder,
    whose name matches the drum class ``label`` (a key of ``DRUM_CLASSES``)."""
    pattern = DRUM_CLASSES[label.lower()]
    kits = [source] if source.is_file() else sorted(source.rglob("drumkit.xml"))
    found = []
    for kit_file in kits:
        kit, instruments = read_drumkit(kit_file)
        found += [(f"{kit}/{name}", clips) for name, clips in instruments if re.search(pattern, name.lower())]
    return found


def read_drumkit(path: Path) -> tuple[str, list[tuple[str, list[str]]]]:
    """A Hydrogen ``drumkit.xml``: the kit's name and its instruments (name, layer clips that exist)."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise DataError(f"{path}: cannot read drum kit ({exc})") from exc

    def local(element: ElementTree.Element) -> str:
        return element.tag.rsplit("}", 1)[-1]

    def child_text(element: ElementTree.Element, tag: str) -> str:
        return next(((c.text or "").strip() for c in element if local(c) == tag), "")

    instruments = []
    for element in root.iter():
        if local(element) != "instrument":
            continue
        files = [(path.parent / (e.text or "").strip()) for e in element.iter() if local(e) == "filename"]
        clips = sorted({str(f.resolve()) for f in files if f.is_file()})
        name = child_text(element, "name")
        if name and clips:
            instruments.append((name, clips))
    return child_text(root, "name") or path.parent.name, instruments


@functools.lru_cache(maxsize=512)
def load_image(path: str) -> np.ndarray:
    """RGBA uint8 cropped to the alpha box (read-only, cached per process): what is drawn and what the ground
    truth boxes."""
    try:
        if path.lower().endswith(".svg"):
            renderer = _svg_renderer()
            if renderer is None:
                raise DataError(f"{path}: SVG pictures need cairosvg (pip install cairosvg), or a PNG")
            image = Image.open(io.BytesIO(renderer.svg2png(url=path)))
        else:
            image = Image.open(path)
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot read image ({exc})") from exc
    if "A" not in image.getbands() and "transparency" not in image.info:
        raise DataError(f"{path}: image has no alpha channel; objects are cut out of their pictures by it")
    rgba = np.asarray(image.convert("RGBA"))
    alpha = rgba[..., 3]
    if alpha.min() == 255 or alpha.max() == 0:
        raise DataError(f"{path}: image is {'fully opaque' if alpha.min() == 255 else 'fully transparent'}; "
                        "objects need a cut-out (alpha) outline")
    ys, xs = np.nonzero(alpha)
    crop = np.ascontiguousarray(rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    crop.setflags(write=False)
    return crop


def draw_object(
    canvas: Image.Image, item: LibraryObject, centre_xy: tuple[float, float], px_per_m: float, facing: float,
    supersample: int,
) -> None:
    """Paste the object's picture, ``size_m · px_per_m`` frame pixels across its largest side, centred at
    ``centre_xy`` (frame pixels) onto the supersampled RGB ``canvas``; mirrored when it faces left."""
    rgba = load_image(item.image)
    height, width = rgba.shape[:2]
    scale = item.size_m * px_per_m * supersample / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    left = round(centre_xy[0] * supersample - size[0] / 2)
    top = round(centre_xy[1] * supersample - size[1] / 2)
    if left >= canvas.width or top >= canvas.height or left + size[0] <= 0 or top + size[1] <= 0:
        return
    sprite = _picture(item.image, facing < 0).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    canvas.paste(sprite, (left, top), sprite)


@functools.lru_cache(maxsize=512)
def _picture(path: str, mirrored: bool) -> Image.Image:
    image = Image.fromarray(load_image(path), mode="RGBA")
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else image

