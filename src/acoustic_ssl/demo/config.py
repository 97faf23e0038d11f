"""Demo presets: one TOML file says how big the simulated dataset is and how each model is trained.

A preset names, for every training run, a training preset (``config``: a packaged name such as
``selfsup_audio_video``, or a ``.toml`` path relative to the preset file or the working directory) plus
``set`` overrides in the ``train --set`` syntax, so a user who copies ``acoustic_ssl/presets/demo/tiny.toml``
and edits it changes exactly what the one-by-one commands would do. The sections are dataclasses checked by
the same machinery as training configs (``typed_config``): unknown keys are errors, so a typo cannot silently
fall back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acoustic_ssl import presets
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.typed_config import build_sections, parse_override, parse_toml

PRESETS: tuple[str, ...] = ("test", "tiny", "small", "paper")

# The four training runs of the paper's comparison, in running order (transfer needs the acoustic one).
RUNS: tuple[str, ...] = ("supervised", "selfsup_video", "selfsup_acoustic", "transfer")


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
    answers the localisation question.
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
    workers: int = 0


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
    """One ``acoustic-ssl train`` call: a training preset, the run's overrides, the checkpoint evaluated."""

    config: Path  # resolved to the preset's file when the demo preset is parsed
    overrides: tuple[str, ...] = field(default=(), metadata={"key": "set"})
    checkpoint: str = "last"


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """``[train]``: the transfer weight, overrides for every run, and one table per run (``RUNS``)."""

    alpha: float = 0.5
    overrides: tuple[str, ...] = field(default=(), metadata={"key": "set"})
    supervised: TrainRun
    selfsup_video: TrainRun
    selfsup_acoustic: TrainRun
    transfer: TrainRun


@dataclass(frozen=True, kw_only=True)
class EvaluateSettings:
    """Protocol options of ``extract`` / ``evaluate`` / ``report``."""

    batch_size: int = 16
    knn_k: tuple[int, ...] = (7, 9, 11, 13, 15)
    linear_probe: bool = False
    tsne: bool = True


SECTIONS: dict[str, type] = {
    "demo": DemoSection,
    "simulate": SimulateSettings,
    "convert": ConvertSettings,
    "lists": ListSettings,
    "train": TrainSettings,
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
        """The training runs by name, in running order."""
        return {name: getattr(self.train, name) for name in RUNS}

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
    _check(
        sim.videos_per_class >= 3,
        source,
        "simulate.videos_per_class",
        "need at least 3 videos per class (one each for train/val/test)",
    )
    _check(sim.seconds >= 2, source, "simulate.seconds", "need at least 2 seconds per video (one 2-s sample)")
    fractions = sections["lists"].fractions
    _check(
        len(fractions) == 3 and abs(sum(fractions) - 1.0) <= 1e-6 and min(fractions) > 0,
        source,
        "lists.fractions",
        f"expected three positive fractions summing to 1, got {list(fractions)}",
    )
    _check(0.0 <= train.alpha <= 1.0, source, "train.alpha", f"must lie in [0, 1], got {train.alpha}")
    for name in RUNS:
        checkpoint = getattr(train, name).checkpoint
        _check(
            checkpoint not in ("", "random") and "/" not in checkpoint,
            source,
            f"train.{name}.checkpoint",
            f"expected a checkpoint name such as last, best or epoch_N, got {checkpoint!r}",
        )
    _check_overrides(train.overrides, source, "train.set")
    for name in RUNS:
        _check_overrides(getattr(train, name).overrides, source, f"train.{name}.set")


def _check_overrides(lines: tuple[str, ...], source: Path, key: str) -> None:
    for line in lines:
        try:
            parse_override(line)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {key}: {exc}") from None


def _resolve_runs(train: TrainSettings, source: Path) -> TrainSettings:
    """Each run's ``config`` as the training preset file it names (packaged, or relative to the preset)."""
    resolved = {}
    for name in RUNS:
        run = getattr(train, name)
        try:
            path = presets.find("train", run.config, relative_to=source.parent)
        except ConfigError as exc:
            raise ConfigError(f"{source}: train.{name}.config: {exc}") from None
        resolved[name] = dataclasses.replace(run, config=path)
    return dataclasses.replace(train, **resolved)


def parse_demo_config(text: str, source: Path) -> DemoConfig:
    """Validate preset text (``source`` only names the file in errors and anchors relative paths)."""
    sections = build_sections(SECTIONS, parse_toml(text, source), str(source))
    _validate(sections, source)
    sections["train"] = _resolve_runs(sections["train"], source)
    return DemoConfig(source=source, text=text, **sections)


def load_demo_config(path: str | Path) -> DemoConfig:
    """Read and validate a preset file."""
    source = Path(path).expanduser().resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read demo config: {exc.strerror}") from exc
    return parse_demo_config(text, source)
