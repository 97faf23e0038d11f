"""Training configuration: TOML presets + ``--set key=value`` overrides → a validated, typed ``Config``.

A preset has the sections ``[experiment]``, ``[data]``, ``[models.<role>]``, ``[optim]``, ``[loss]`` and
``[runtime]``. Every key is checked: an unknown key or a value of the wrong type or range raises
``ConfigError`` naming the dotted key and the file (or ``--set``) it came from. Overrides use dotted keys and
TOML literals (``loss.alpha=0.3``, ``data.video_size=[112,149]``, ``runtime.bf16=true``); a value that is not
a TOML literal is taken as a string, so ``data.train_list=lists/training.txt`` needs no quotes.

Roles of ``[models.<role>]`` per experiment kind (the original ``main.py`` dispatch, spec §8.1):

* ``supervised``: ``model`` (a classifier: ``num_classes`` required; ``"auto"`` takes it from the training
  list's ``labels.json``, else its largest class index + 1).
* ``selfsup``: ``video`` (ResNet18 map) and either ``audio`` (HearNet embedding) or ``acoustic``
  (DualCamNet map).
* ``transfer``: ``video`` + ``audio``; the frozen ``acoustic`` DualCamNet comes from
  ``loss.teacher_checkpoint``.
* ``distillation``: ``model`` (HearNet classifier, the student); the DualCamNet classifier teacher comes from
  ``loss.teacher_checkpoint``.

The data modalities are derived from the models, as the original did (ResNet18 → video frames,
DualCamNet → acoustic images, HearNet → spectrograms); relative list/stats/checkpoint paths are resolved
against the current directory when the config is loaded, so the run's ``config.json`` holds absolute paths.
"""

from __future__ import annotations

import dataclasses
import inspect
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acoustic_ssl.errors import ConfigError

KINDS = ("supervised", "selfsup", "transfer", "distillation")
MODEL_INPUTS = {"resnet18": "video", "dualcamnet": "acoustic", "hearnet": "spectrogram"}
INPUT_MODALITY = {"acoustic": 0, "spectrogram": 1, "video": 2}
HEARNET_MIN_SECONDS = 2  # HearNet needs ≥ 125 STFT frames; 1 s gives 99
FRAMES_PER_SECOND = 12


@dataclass
class ExperimentConfig:
    """What is trained: ``kind`` picks the trainer; ``epochs`` full passes over the training list."""

    name: str = "run"
    kind: str = "selfsup"
    seed: int = 0
    epochs: int = 20


@dataclass
class DataConfig:
    """Loader settings (spec §3.1). ``batch_size`` is the global batch, split evenly over DDP processes."""

    train_list: str = ""
    valid_list: str = ""
    test_list: str = ""
    stats_dir: str = ""
    total_length: int = 2
    sample_length: int = 2
    number_of_crops: int = 1
    nr_frames: int = 2
    video_size: list[int] = field(default_factory=list)
    batch_size: int = 64
    valid_batch_size: int = 0
    num_workers: int = 0


@dataclass
class ModelSpec:
    """One network: a ``build_model`` name and its keyword arguments."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def input_key(self) -> str:
        """The batch key this network reads."""
        return MODEL_INPUTS[self.name]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.kwargs}


@dataclass
class OptimConfig:
    """Adam with the original's coupled L2 (``weight_decay``) on its regularised parameter set only."""

    lr: float = 1e-5
    weight_decay: float = 5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8


@dataclass
class LossConfig:
    """Triplet margin and schedule, transfer α, distillation λ/T and the teacher checkpoint.

    ``hard_from_epoch``: the number of initial epochs trained with batch-all; batch-hard afterwards
    (original: 4). ``teacher_average``: "softmax" (ECCV: mean of per-frame softmax) or "logits" (WACV:
    softmax of mean logits).
    """

    margin: float = 0.2
    hard_from_epoch: int = 4
    alpha: float = 0.5
    lambda_: float = field(default=0.5, metadata={"key": "lambda"})
    temperature: float = 1.0
    teacher_average: str = "softmax"
    teacher_checkpoint: str = ""


@dataclass
class RuntimeConfig:
    """Where and how to run. ``run_dir`` empty → ``<out_dir>/<experiment.name>-<UTC timestamp>``."""

    out_dir: str = "runs"
    run_dir: str = ""
    device: str = "auto"
    bf16: bool = False
    channels_last: bool = False
    log_every: int = 10
    save_every: int = 1
    deterministic: bool = False


@dataclass
class Config:
    """A whole, validated training configuration (``to_dict`` gives the resolved ``config.json``)."""

    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for section in ("experiment", "data", "optim", "loss", "runtime"):
            obj = getattr(self, section)
            out[section] = {_key(f): getattr(obj, f.name) for f in dataclasses.fields(obj)}
        out["models"] = {role: spec.to_dict() for role, spec in self.models.items()}
        return out

    @property
    def teacher_role(self) -> str | None:
        """The frozen network loaded from ``loss.teacher_checkpoint`` (transfer / distillation), else None."""
        return "acoustic" if self.experiment.kind in ("transfer", "distillation") else None

    @property
    def input_keys(self) -> list[str]:
        """Batch keys the networks read (trainable and teacher), in modality order."""
        keys = {spec.input_key for spec in self.models.values()}
        if self.teacher_role:
            keys.add("acoustic")
        return sorted(keys, key=INPUT_MODALITY.__getitem__)

    @property
    def modalities(self) -> tuple[int, ...]:
        """Dataset modalities (0 acoustic, 1 audio, 2 video) derived from the models like the original."""
        return tuple(INPUT_MODALITY[k] for k in self.input_keys)


SECTIONS: dict[str, type] = {
    "experiment": ExperimentConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "loss": LossConfig,
    "runtime": RuntimeConfig,
}


def _key(f: dataclasses.Field[Any]) -> str:
    return f.metadata.get("key", f.name)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _check_value(value: Any, tp: Any, where: str) -> Any:
    """Coerce/validate one TOML value against a dataclass field type; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list of {_type_name(item_type)}, got {value!r}")
        return [_check_value(v, item_type, where) for v in value]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config field type {tp!r}")  # programming error, not a user error


def _build_section(cls: type, table: Any, section: str, source: str) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [{section}] must be a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    by_key = {_key(f): f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in by_key:
            raise ConfigError(f"{source}: unknown key '{section}.{key}' (known: {', '.join(sorted(by_key))})")
        f = by_key[key]
        values[f.name] = _check_value(value, hints[f.name], f"{source}: {section}.{key}")
    return cls(**values)


def _build_models(table: Any, source: str) -> dict[str, ModelSpec]:
    from acoustic_ssl.models import MODELS  # light import: torch is already needed to train

    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [models] must hold one table per role, got {table!r}")
    specs = {}
    for role, entry in table.items():
        where = f"{source}: models.{role}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table with 'name' and the model's arguments")
        kwargs = dict(entry)
        name = kwargs.pop("name", None)
        if not isinstance(name, str) or name.lower() not in MODELS:
            raise ConfigError(f"{where}.name: expected one of {', '.join(MODELS)}, got {name!r}")
        name = name.lower()
        params = inspect.signature(MODELS[name]).parameters
        for arg in kwargs:
            if arg not in params:
                raise ConfigError(
                    f"{where}.{arg}: unknown argument of {name} (known: {', '.join(params) or 'none'})"
                )
        specs[role] = ModelSpec(name=name, kwargs=kwargs)
    return specs


def _require(condition: bool, source: str, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{source}: {key}: {message}")


def _validate_models(cfg: Config, source: str) -> None:
    kind = cfg.experiment.kind
    roles = set(cfg.models)
    expected: dict[str, set[str]] = {
        "supervised": {"model"},
        "transfer": {"video", "audio"},
        "distillation": {"model"},
    }
    if kind == "selfsup":
        stream = "acoustic" if "acoustic" in roles else "audio"
        expected["selfsup"] = {"video", stream}
    want = expected[kind]
    if roles != want:
        extra = sorted(roles - want)
        missing = sorted(want - roles)
        detail = "; ".join(
            part
            for part in (
                f"unexpected models.{', models.'.join(extra)}" if extra else "",
                f"missing models.{', models.'.join(missing)}" if missing else "",
            )
            if part
        )
        note = " (the acoustic teacher comes from loss.teacher_checkpoint)" if cfg.teacher_role else ""
        raise ConfigError(f"{source}: models: kind '{kind}' needs roles {sorted(want)}: {detail}{note}")
    required_names = {"video": "resnet18", "audio": "hearnet", "acoustic": "dualcamnet"}
    if kind == "distillation":
        required_names["model"] = "hearnet"
    for role, spec in cfg.models.items():
        if role in required_names:
            _require(
                spec.name == required_names[role],
                source,
                f"models.{role}.name",
                f"kind '{kind}' needs {required_names[role]} here, got {spec.name}",
            )
        classifier = role == "model"
        has_classes = spec.kwargs.get("num_classes") is not None
        if classifier:
            n = spec.kwargs.get("num_classes")
            _require(
                n == "auto" or (isinstance(n, int) and not isinstance(n, bool) and n >= 2),
                source,
                f"models.{role}.num_classes",
                f"a classifier needs an integer ≥ 2 or \"auto\" (from the training data), got {n!r}",
            )
        else:
            _require(
                not has_classes,
                source,
                f"models.{role}.num_classes",
                "embedding streams must not set num_classes",
            )


def _validate(cfg: Config, source: str) -> None:
    e, d, o, loss, r = cfg.experiment, cfg.data, cfg.optim, cfg.loss, cfg.runtime
    _require(
        e.kind in KINDS, source, "experiment.kind", f"expected one of {', '.join(KINDS)}, got {e.kind!r}"
    )
    _require(
        bool(e.name) and "/" not in e.name, source, "experiment.name", "must be a non-empty name without '/'"
    )
    _require(e.epochs >= 1, source, "experiment.epochs", f"must be ≥ 1, got {e.epochs}")
    _require(e.seed >= 0, source, "experiment.seed", f"must be ≥ 0, got {e.seed}")
    for key in ("train_list", "valid_list"):
        _require(bool(getattr(d, key)), source, f"data.{key}", f"is required (--set data.{key}=FILE)")
    for key in ("total_length", "sample_length", "number_of_crops", "nr_frames", "batch_size"):
        _require(getattr(d, key) >= 1, source, f"data.{key}", f"must be ≥ 1, got {getattr(d, key)}")
    _require(d.valid_batch_size >= 0, source, "data.valid_batch_size", "must be ≥ 0 (0 = data.batch_size)")
    _require(d.num_workers >= 0, source, "data.num_workers", "must be ≥ 0")
    _require(
        d.total_length % d.sample_length == 0,
        source,
        "data.total_length",
        f"must be a multiple of data.sample_length ({d.total_length} vs {d.sample_length})",
    )
    _require(
        d.nr_frames <= FRAMES_PER_SECOND * d.sample_length,
        source,
        "data.nr_frames",
        f"at most {FRAMES_PER_SECOND}·sample_length = {FRAMES_PER_SECOND * d.sample_length}",
    )
    _require(
        len(d.video_size) in (0, 2) and all(v >= 1 for v in d.video_size),
        source,
        "data.video_size",
        f"expected [] (native 224×298) or [height, width], got {d.video_size}",
    )
    _require(o.lr > 0, source, "optim.lr", f"must be > 0, got {o.lr}")
    _require(o.weight_decay >= 0, source, "optim.weight_decay", "must be ≥ 0")
    _require(
        len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas),
        source,
        "optim.betas",
        f"expected two numbers in [0, 1), got {o.betas}",
    )
    _require(o.eps > 0, source, "optim.eps", "must be > 0")
    _require(loss.margin >= 0, source, "loss.margin", "must be ≥ 0")
    _require(loss.hard_from_epoch >= 0, source, "loss.hard_from_epoch", "must be ≥ 0")
    _require(0 <= loss.alpha <= 1, source, "loss.alpha", f"must be in [0, 1], got {loss.alpha}")
    _require(0 <= loss.lambda_ <= 1, source, "loss.lambda", f"must be in [0, 1], got {loss.lambda_}")
    _require(loss.temperature > 0, source, "loss.temperature", "must be > 0")
    _require(
        loss.teacher_average in ("softmax", "logits"),
        source,
        "loss.teacher_average",
        f"expected 'softmax' or 'logits', got {loss.teacher_average!r}",
    )
    if cfg.teacher_role:
        _require(
            bool(loss.teacher_checkpoint),
            source,
            "loss.teacher_checkpoint",
            f"kind '{e.kind}' needs a checkpoint with the DualCamNet teacher",
        )
    device_ok = r.device in ("auto", "cpu", "cuda") or (
        r.device.startswith("cuda:") and r.device[5:].isdigit()
    )
    _require(device_ok, source, "runtime.device", f"expected auto, cpu, cuda or cuda:N, got {r.device!r}")
    _require(r.log_every >= 1, source, "runtime.log_every", "must be ≥ 1")
    _require(r.save_every >= 0, source, "runtime.save_every", "must be ≥ 0 (0 = no epoch_N checkpoints)")
    _validate_models(cfg, source)
    if any(spec.name == "hearnet" for spec in cfg.models.values()):
        _require(
            d.sample_length >= HEARNET_MIN_SECONDS,
            source,
            "data.sample_length",
            f"HearNet needs samples of ≥ {HEARNET_MIN_SECONDS} s (≥ 125 spectrogram frames)",
        )


def _resolve_paths(cfg: Config, base: Path) -> None:
    """Make list/stats/teacher/output paths absolute so the run's config.json is self-contained."""

    def absolute(value: str) -> str:
        return str((base / value).resolve()) if value else value

    for key in ("train_list", "valid_list", "test_list", "stats_dir"):
        setattr(cfg.data, key, absolute(getattr(cfg.data, key)))
    cfg.loss.teacher_checkpoint = absolute(cfg.loss.teacher_checkpoint)
    cfg.runtime.out_dir = absolute(cfg.runtime.out_dir)
    cfg.runtime.run_dir = absolute(cfg.runtime.run_dir)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=1"`` → (["a", "b"], 1). The value is a TOML literal, else a plain string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE with a dotted key, e.g. loss.alpha=0.3")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Set each dotted key of ``overrides`` in the nested dict ``raw`` (in place; also returned)."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: '{part}' is a value, not a section")
            node = child
        node[path[-1]] = value
    return raw


def config_from_dict(raw: dict[str, Any], *, source: str = "<config>", base: Path | None = None) -> Config:
    """Build and validate a ``Config`` from nested dicts (a parsed TOML file or a run's config.json)."""
    unknown = sorted(set(raw) - set(SECTIONS) - {"models"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown section '{unknown[0]}' (known: {', '.join([*SECTIONS, 'models'])})"
        )
    sections = {name: _build_section(cls, raw.get(name, {}), name, source) for name, cls in SECTIONS.items()}
    cfg = Config(models=_build_models(raw.get("models", {}), source), **sections)
    _validate(cfg, source)
    _resolve_paths(cfg, base if base is not None else Path.cwd())
    return cfg


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML (or a run's ``config.json``) file; a missing or malformed file is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    if path.suffix == ".json":
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a TOML preset (or a run's config.json), apply ``--set`` overrides and validate.

    Errors name the dotted key and the file (suffixed "+ --set" when overrides were given).
    """
    raw = read_toml(path)
    source = f"{path} + --set" if overrides else str(path)
    return config_from_dict(apply_overrides(raw, list(overrides)), source=source)
