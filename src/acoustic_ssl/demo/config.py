"""Demo presets: one TOML file says how big the simulated dataset is and how each model is trained.

A preset names, for every training run, an ordinary training config (``config``, a path relative to the preset
file, the repository root or the working directory) plus ``set`` overrides in the ``train --set`` syntax, so a
user who copies ``configs/demo/tiny.toml`` and edits it changes exactly what the one-by-one commands would do.
Unknown keys are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acoustic_ssl.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]
PRESET_DIR = REPO_ROOT / "configs" / "demo"
PRESETS: tuple[str, ...] = ("test", "tiny", "small", "paper")

# The four training runs of the paper's comparison, in running order (transfer needs the acoustic one).
RUNS: tuple[str, ...] = ("supervised", "selfsup_video", "selfsup_acoustic", "transfer")


@dataclass(frozen=True)
class SimulateSettings:
    """Arguments of ``acoustic-ssl simulate``: the size and difficulty of the synthetic dataset.

    ``seed`` fixes the dataset and its split; ``[demo] seed``/``seeds`` vary the training only.
    """

    seed: int
    videos_per_class: int
    seconds: int
    snr_db: float
    frame_size: tuple[int, int]
    classes: tuple[int, ...]
    workers: int


@dataclass(frozen=True)
class TrainRun:
    """One ``acoustic-ssl train`` call: a base config, the preset's overrides, the checkpoint evaluated."""

    config: Path
    overrides: tuple[str, ...]
    checkpoint: str


@dataclass(frozen=True)
class EvaluateSettings:
    """Protocol options of ``extract`` / ``evaluate`` / ``report``."""

    batch_size: int
    knn_k: tuple[int, ...]
    linear_probe: bool
    tsne: bool


@dataclass(frozen=True)
class DemoConfig:
    """A validated demo preset."""

    source: Path
    text: str
    preset: str
    description: str
    expected_time: str
    seed: int
    seeds: int
    alpha: float
    simulate: SimulateSettings
    convert_workers: int
    pack: bool
    list_fractions: tuple[float, float, float]
    train_common: tuple[str, ...]
    runs: dict[str, TrainRun]
    evaluate: EvaluateSettings

    def with_seeds(self, seed: int | None, seeds: int | None) -> DemoConfig:
        """The same preset with the first seed and/or the number of seeds replaced (command-line flags)."""
        from dataclasses import replace

        if seeds is not None and seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {seeds}")
        return replace(
            self, seed=self.seed if seed is None else seed, seeds=self.seeds if seeds is None else seeds
        )

    @property
    def seed_list(self) -> list[int]:
        """The training seeds: ``seed, seed+1, ...`` (the dataset has its own ``[simulate] seed``)."""
        return [self.seed + i for i in range(self.seeds)]


def preset_path(name: str) -> Path:
    """The shipped preset file for ``name`` (one of PRESETS)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown demo preset {name!r}; choose one of {', '.join(PRESETS)}")
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(
            f"{path}: demo preset file is missing (run from a source checkout: pip install -e .)"
        )
    return path


class _Table:
    """Typed access to one TOML table that remembers which keys were read, to reject unknown ones."""

    def __init__(self, data: dict[str, Any], where: str, source: Path) -> None:
        self.data, self.where, self.source, self.seen = data, where, source, set()

    def _fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: [{self.where}] {key}: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self._fail(key, "missing")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise self._fail(key, f"expected {getattr(kind, '__name__', kind)}, got {value!r}")
        return value

    def get_list(self, key: str, kind: type, default: Any = ...) -> tuple[Any, ...]:
        values = self.get(key, list, default)
        out = []
        for value in values:
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise self._fail(key, f"every item must be {kind.__name__}, got {value!r}")
            out.append(value)
        return tuple(out)

    def sub(self, key: str) -> _Table:
        return _Table(self.get(key, dict, {}), f"{self.where}.{key}" if self.where else key, self.source)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self._fail(unknown[0], "unknown key")


def _resolve(path_text: str, preset_file: Path) -> Path:
    """A training config path: absolute, or relative to the preset file, the repository root or the CWD."""
    path = Path(path_text).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [preset_file.parent / path, REPO_ROOT / path, Path.cwd() / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"{preset_file}: training config {path_text!r} not found (looked in "
        f"{', '.join(str(c.parent) for c in candidates)})"
    )


def parse_demo_config(text: str, source: Path) -> DemoConfig:
    """Validate preset text (``source`` only names the file in errors and anchors relative paths)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    root = _Table(data, "", source)
    demo = root.sub("demo")
    sim = root.sub("simulate")
    conv = root.sub("convert")
    lists = root.sub("lists")
    train = root.sub("train")
    evaluate = root.sub("evaluate")

    frame_size = sim.get_list("frame_size", int, (480, 640))
    if len(frame_size) != 2 or min(frame_size) < 16:
        raise sim._fail(
            "frame_size", f"expected [height, width] of at least 16 pixels, got {list(frame_size)}"
        )
    simulate = SimulateSettings(
        seed=sim.get("seed", int, 0),
        videos_per_class=sim.get("videos_per_class", int),
        seconds=sim.get("seconds", int),
        snr_db=sim.get("snr_db", float),
        frame_size=(frame_size[0], frame_size[1]),
        classes=sim.get_list("classes", int, ()),
        workers=sim.get("workers", int, 0),
    )
    if simulate.videos_per_class < 3:
        raise sim._fail("videos_per_class", "need at least 3 videos per class (one each for train/val/test)")
    if simulate.seconds < 2:
        raise sim._fail("seconds", "need at least 2 seconds per video (one 2-s sample)")

    fractions = lists.get_list("fractions", float, (0.5, 0.25, 0.25))
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise lists._fail(
            "fractions", f"expected three positive fractions summing to 1, got {list(fractions)}"
        )

    common = train.get_list("set", str, ())
    runs = {}
    for name in RUNS:
        table = train.sub(name)
        runs[name] = TrainRun(
            config=_resolve(table.get("config", str), source),
            overrides=table.get_list("set", str, ()),
            checkpoint=table.get("checkpoint", str, "last"),
        )
        if runs[name].checkpoint in ("", "random") or "/" in runs[name].checkpoint:
            raise table._fail(
                "checkpoint",
                f"expected a checkpoint name such as last, best or epoch_N, got {runs[name].checkpoint!r}",
            )
        table.done()
    alpha = train.get("alpha", float, 0.5)
    if not 0.0 <= alpha <= 1.0:
        raise train._fail("alpha", f"must lie in [0, 1], got {alpha}")

    settings = EvaluateSettings(
        batch_size=evaluate.get("batch_size", int, 16),
        knn_k=evaluate.get_list("knn_k", int, (7, 9, 11, 13, 15)),
        linear_probe=evaluate.get("linear_probe", bool, False),
        tsne=evaluate.get("tsne", bool, True),
    )
    config = DemoConfig(
        source=source,
        text=text,
        preset=demo.get("preset", str, source.stem),
        description=demo.get("description", str, ""),
        expected_time=demo.get("expected_time", str, ""),
        seed=demo.get("seed", int, 0),
        seeds=demo.get("seeds", int, 1),
        alpha=alpha,
        simulate=simulate,
        convert_workers=conv.get("workers", int, 0),
        pack=conv.get("pack", bool, True),
        list_fractions=(fractions[0], fractions[1], fractions[2]),
        train_common=common,
        runs=runs,
        evaluate=settings,
    )
    if config.seeds < 1:
        raise demo._fail("seeds", "must be at least 1")
    for table in (demo, sim, conv, lists, train, evaluate, root):
        table.done()
    return config


def load_demo_config(path: str | Path) -> DemoConfig:
    """Read and validate a preset file."""
    source = Path(path).expanduser().resolve()
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read demo config: {exc.strerror}") from exc
    return parse_demo_config(text, source)
