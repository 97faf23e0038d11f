"""Demo presets: one TOML file says how big the simulated dataset is and how each model is trained.

A preset names, for every training run, a training preset (``config``: a packaged name such as
``selfsup_audio_video``, or a ``.toml`` path relative to the preset file or the working directory), one of
its ``variant``s and ``set`` overrides in the ``train --set`` syntax (only what differs from the variant),
and for a run taught by another the ``teacher`` run, so a user who copies
``acoustic_ssl/presets/demo/tiny.toml`` and edits it changes exactly what the one-by-one commands would do.
The sections are dataclasses checked by the same machinery as training configs (``typed_config``): unknown
keys are errors, so a typo cannot silently fall back to a default; the plan then loads every run's training
config in full (``demo.plan``), so a bad ``set`` line fails before any stage runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acoustic_ssl import presets
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.evaluation.protocol import KNN_KS, OVERLAYS_PER_MAP
from acoustic_ssl.typed_config import build_section, build_sections, parse_override, parse_toml

PRESETS: tuple[str, ...] = ("test", "tiny", "small", "paper", "tiny_short", "objects")

# The training runs the comparison knows (a preset trains any of them): the paper's four, the contrastive
# objective's pair, and the contrastive acoustic run that teaches contrastive_transfer.
RUNS: tuple[str, ...] = (
    "supervised",
    "selfsup_video",
    "selfsup_acoustic",
    "transfer",
    "contrastive",
    "contrastive_acoustic",
    "contrastive_transfer",
)
BASELINES: tuple[str, ...] = ("logmel",)


@dataclass(frozen=True, kw_only=True)
class DemoSection:
    """``[demo]``: the preset's name and description, and the training seeds (``seed``, ``seed + 1``, ...)."""

    preset: str = ""
    description: str = ""
    expected_time: str = ""
    seed: int = 0
    seeds: int = 1


@dataclass(frozen=True, kw_only=True)
class SimulateSettings:
    """Arguments of ``acoustic-ssl simulate``: the size and difficulty of the synthetic dataset.

    ``seed`` fixes the dataset and its split; ``[demo] seed``/``seeds`` vary the training only.
    ``locations``, ``distractors`` and ``extra_sources`` compose the scenes (``simulate --help``): shared
    places and silent objects on screen, so that neither the background nor "point at the only object"
    answers the localisation question; ``matched_sizes`` draws the distractors as large on screen as the
    sounding object (no size prior: "point at the largest box" then scores no better than "any box").
    ``test_videos_per_class`` > 0 simulates the test recordings apart:
    that many unseen recordings of ``test_seconds`` per class (one test clip each, so the intervals, which
    resample whole recordings, stay narrow), numbered after the training ones at the same places; the
    ``videos_per_class`` recordings of ``seconds`` then go to training and validation only.
    ``objects`` (a folder or CSV, ``simulate --objects``) replaces the ten procedural classes by a library of
    real objects: ``object_depth`` and ``min_objects`` choose its classes, ``split_by = "object"`` keeps the
    test recordings' objects apart from the training ones (the test set is simulated with
    ``--test-objects``; it needs ``test_videos_per_class``).
    """

    seed: int = 0
    videos_per_class: int
    seconds: int
    snr_db: float
    frame_size: tuple[int, ...] = (480, 640)
    classes: tuple[int, ...] = ()
    locations: int = 0
    distractors: int = 0
    extra_sources: int = 0
    matched_sizes: bool = False
    workers: int = 0
    test_videos_per_class: int = 0
    test_seconds: int = 2
    objects: str = ""
    object_depth: int = 0
    min_objects: int = 0
    split_by: str = "recording"


@dataclass(frozen=True, kw_only=True)
class ConvertSettings:
    """``[convert]``: conversion workers and whether to pack the lists into uncompressed arrays."""

    workers: int = 0
    pack: bool = True


@dataclass(frozen=True, kw_only=True)
class ListSettings:
    """``[lists]``: the training / validation / testing shares of the videos."""

    fractions: tuple[float, ...] = (0.5, 0.25, 0.25)


@dataclass(frozen=True, kw_only=True)
class TrainRun:
    """One ``acoustic-ssl train`` call: a training preset and its variant, the run's own overrides, and the
    run whose checkpoint is its frozen teacher (``loss.teacher_checkpoint``), if its objective has one."""

    config: Path  # resolved to the preset's file when the demo preset is parsed
    variant: str = ""
    overrides: tuple[str, ...] = field(default=(), metadata={"key": "set"})
    teacher: str = ""


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """``[train]``: the transfer weight (``loss.alpha`` of every run whose objective takes it), overrides for
    every run, and the runs (``[train.<run>]`` tables, names from ``RUNS``) in running order."""

    alpha: float = 0.5
    overrides: tuple[str, ...] = field(default=(), metadata={"key": "set"})
    runs: dict[str, TrainRun] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class EvaluateSettings:
    """Protocol options of ``extract`` / ``evaluate`` / ``report``."""

    batch_size: int = 16
    knn_k: tuple[int, ...] = KNN_KS
    linear_probe: bool = False
    tsne: bool = True
    baselines: tuple[str, ...] = BASELINES  # rows of features that need no learning
    overlays: int = OVERLAYS_PER_MAP  # overlay PNGs per map and row (`evaluate --overlays`)


SECTIONS: dict[str, type] = {
    "demo": DemoSection,
    "simulate": SimulateSettings,
    "convert": ConvertSettings,
    "lists": ListSettings,
    "evaluate": EvaluateSettings,
}


@dataclass(frozen=True)
class DemoConfig:
    """A validated demo preset: its file, its text and one attribute per section."""

    source: Path
    text: str
    demo: DemoSection
    simulate: SimulateSettings
    convert: ConvertSettings
    lists: ListSettings
    train: TrainSettings
    evaluate: EvaluateSettings

    @property
    def preset(self) -> str:
        """The preset's name (``[demo] preset``, else the file's stem)."""
        return self.demo.preset or self.source.stem

    @property
    def runs(self) -> dict[str, TrainRun]:
        """The training runs by name, in running order (a teacher before the runs it teaches)."""
        return self.train.runs

    @property
    def separate_test_set(self) -> bool:
        """Whether the test recordings are simulated apart (``[simulate] test_videos_per_class``)."""
        return self.simulate.test_videos_per_class > 0

    @property
    def seed_list(self) -> list[int]:
        """The training seeds: ``seed, seed+1, ...`` (the dataset has its own ``[simulate] seed``)."""
        return [self.demo.seed + i for i in range(self.demo.seeds)]

    def with_seeds(self, seed: int | None, seeds: int | None) -> DemoConfig:
        """The same preset with the first seed and/or the number of seeds replaced (command-line flags)."""
        if seeds is not None and seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {seeds}")
        demo = dataclasses.replace(
            self.demo,
            seed=self.demo.seed if seed is None else seed,
            seeds=self.demo.seeds if seeds is None else seeds,
        )
        return dataclasses.replace(self, demo=demo)


def preset_path(name: str) -> Path:
    """The packaged preset file for ``name`` (one of PRESETS)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown demo preset {name!r}; choose one of {', '.join(PRESETS)}")
    return presets.find("demo", name)


def _check(condition: bool, source: Path, key: str, problem: str) -> None:
    if not condition:
        raise ConfigError(f"{source}: {key}: {problem}")


def _validate(sections: dict[str, Any], source: Path) -> None:
    sim, train = sections["simulate"], sections["train"]
    _check(sections["demo"].seeds >= 1, source, "demo.seeds", "must be at least 1")
    _check(
        len(sim.frame_size) == 2 and min(sim.frame_size) >= 16,
        source,
        "simulate.frame_size",
        f"expected [height, width] of at least 16 pixels, got {list(sim.frame_size)}",
    )
    separate = sim.test_videos_per_class > 0
    least = 2 if separate else 3
    _check(
        sim.videos_per_class >= least,
        source,
        "simulate.videos_per_class",
        f"need at least {least} videos per class (one each for "
        + ("training and validation" if separate else "training / validation / testing") + ")",
    )
    _check(sim.seconds >= 2, source, "simulate.seconds", "need at least 2 seconds per video (one 2-s sample)")
    _check(sim.test_videos_per_class >= 0, source, "simulate.test_videos_per_class", "must be >= 0")
    _check(sim.test_seconds >= 2, source, "simulate.test_seconds", "need at least 2 seconds (one 2-s sample)")
    _check(sim.split_by in ("recording", "object"), source, "simulate.split_by",
           f"expected 'recording' or 'object', got {sim.split_by!r}")
    _check(bool(sim.objects) or (sim.split_by, sim.object_depth, sim.min_objects) == ("recording", 0, 0),
           source, "simulate.objects", "object_depth, min_objects and split_by = 'object' need objects")
    _check(sim.split_by != "object" or separate, source, "simulate.split_by",
           "'object' needs a test set simulated apart (test_videos_per_class > 0)")
    fractions = sections["lists"].fractions
    shares = "training and validation shares and no test share" if separate else "three positive shares"
    _check(
        len(fractions) == 3
        and abs(sum(fractions) - 1.0) <= 1e-6
        and min(fractions[:2]) > 0
        and (fractions[2] == 0 if separate else fractions[2] > 0),
        source,
        "lists.fractions",
        f"expected {shares} summing to 1"
        + (" (the test recordings are simulated apart)" if separate else "")
        + f", got {list(fractions)}",
    )
    _check(0.0 <= train.alpha <= 1.0, source, "train.alpha", f"must lie in [0, 1], got {train.alpha}")
    _check_overrides(train.overrides, source, "train.set")
    for name, run in train.runs.items():
        _check_overrides(run.overrides, source, f"train.{name}.set")
        earlier = [r for r in train.runs if RUNS.index(r) < RUNS.index(name)]
        _check(
            not run.teacher or run.teacher in earlier,
            source,
            f"train.{name}.teacher",
            f"must name a run trained before it, got {run.teacher!r} (earlier runs: {', '.join(earlier)})",
        )
    unknown = sorted(set(sections["evaluate"].baselines) - set(BASELINES))
    _check(not unknown, source, "evaluate.baselines", f"unknown {unknown} (known: {', '.join(BASELINES)})")


def _check_overrides(lines: tuple[str, ...], source: Path, key: str) -> None:
    for line in lines:
        try:
            parse_override(line)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None


def _build_train(table: Any, source: Path) -> TrainSettings:
    """``[train]``: ``alpha``, ``set`` and one ``[train.<run>]`` table per run, ordered teachers first."""
    where = str(source)
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [train] must be a table, got {table!r}")
    common = {key: table[key] for key in ("alpha", "set") if key in table}
    settings = build_section(TrainSettings, common, "train", where)
    runs: dict[str, TrainRun] = {}
    for name, entry in table.items():
        if name in common:
            continue
        if name not in RUNS:
            raise ConfigError(
                f"{source}: unknown key 'train.{name}' (alpha, set, or a run: {', '.join(RUNS)})"
            )
        run = build_section(TrainRun, entry, f"train.{name}", where)
        try:
            path = presets.find("train", run.config, relative_to=source.parent)
        except ConfigError as exc:
            raise ConfigError(f"{source}: train.{name}.config: {exc}") from None
        runs[name] = dataclasses.replace(run, config=path)
    ordered = [name for name in RUNS if name in runs]  # every teacher run precedes the runs it teaches
    return dataclasses.replace(settings, runs={name: runs[name] for name in ordered})


def parse_demo_config(text: str, source: Path) -> DemoConfig:
    """Validate preset text (``source`` only names the file in errors and anchors relative paths)."""
    raw = parse_toml(text, source)
    train = _build_train(raw.pop("train", {}), source)
    sections = build_sections(SECTIONS, raw, str(source))
    sections["train"] = train
    _validate(sections, source)
    return DemoConfig(source=source, text=text, **sections)


def load_demo_config(path: str | Path) -> DemoConfig:
    """Read and validate a preset file."""
    source = Path(path).expanduser().resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read demo config: {exc.strerror}") from exc
    return parse_demo_config(text, source)
