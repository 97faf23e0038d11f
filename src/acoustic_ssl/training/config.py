"""Training configuration: presets + ``--set key=value`` overrides → a validated, typed ``Config``.

A config has the sections ``[experiment]``, ``[data]``, ``[models.<role>]``, ``[optim]``, ``[loss]`` and
``[runtime]``; the dataclass defaults below are the original's hyperparameters, and a preset (packaged:
``acoustic_ssl/presets/train/``) holds only what differs, plus named ``[variants]`` (``--set`` lists applied
on top). Every key is checked (``typed_config``): an unknown key or a value of the wrong type or range raises
``ConfigError`` naming the dotted key and the file (or ``--set``) it came from. Overrides use dotted keys and
TOML literals (``loss.alpha=0.3``, ``data.video_size=[112,149]``, ``runtime.bf16=true``); a value that is not
a TOML literal is taken as a string, so ``data.train_list=lists/training.txt`` needs no quotes.

Roles of ``[models.<role>]`` per experiment kind (the original ``main.py`` dispatch, spec §8.1) are declared
by the objectives (``training.objectives``): ``supervised``: ``model`` (a classifier; ``num_classes = "auto"``
takes the class count from the training list's ``labels.json``, else its largest class index + 1);
``selfsup``: ``video`` and ``audio`` or ``acoustic``; ``transfer``: ``video`` + ``audio``, the frozen
``acoustic`` network from ``loss.teacher_checkpoint``; ``distillation``: ``model`` (an audio classifier), the
acoustic classifier teacher from ``loss.teacher_checkpoint``. A role named after a modality needs a network
reading it; each
network class says what it reads, which also gives the data modalities. Relative list/stats/checkpoint paths
are resolved against the current directory when the config is loaded, so ``config.json`` holds absolute paths.

Example:

>>> from acoustic_ssl.training import load_config
>>> cfg = load_config("selfsup_audio_video", ["runtime.device=cpu"], variant="tiny")
>>> cfg.experiment.kind, cfg.models["video"].kwargs["width"], [str(m) for m in cfg.modalities]
('selfsup', 16, ['audio', 'video'])
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acoustic_ssl import presets
from acoustic_ssl.data.layout import FRAMES_PER_SECOND, Modality
from acoustic_ssl.device import DEVICE_CHOICES, valid_device
from acoustic_ssl.errors import ConfigError
from acoustic_ssl.models.registry import MODELS
from acoustic_ssl.training.devices import PREPROCESS_CHOICES
from acoustic_ssl.training.objectives import OBJECTIVES, Objective, hyperparameter_key, objective_class
from acoustic_ssl.typed_config import (
    apply_overrides,
    as_toml_table,
    build_sections,
    check_value,
    parse_override,
    read_toml,
)

__all__ = [
    "Config",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "parse_override",
    "read_toml",
    "stored_config",
]

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
    cache_mb: int = 0  # finished samples kept in memory per dataset (ACIVWDataset cache_bytes); 0: none
    preprocess_on: str = "auto"  # loader | device | auto (device on a GPU): training.devices


# Keys of a [models.<role>] table that are not arguments of the network: where its weights start from.
INIT_KEYS = ("init_from", "init_role", "init_head")


@dataclass
class ModelSpec:
    """One network: a ``build_model`` name, its keyword arguments, optionally the checkpoint it starts from.

    ``init_from``: a checkpoint whose network of the same modality (role ``init_role`` if given) initialises
    this one before training, as the original's ``--init_checkpoint`` / ``--visual_init_checkpoint`` /
    ``--acoustic_init_checkpoint``; its classifier head stays freshly initialised unless ``init_head``
    (``training.checkpoint.initialize_from``).
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: str = ""
    init_role: str = ""
    init_head: bool = False

    @property
    def modality(self) -> Modality:
        """What this network reads (declared by its class)."""
        return MODELS[self.name].modality

    def to_dict(self) -> dict[str, Any]:
        init = {"init_from": self.init_from, "init_role": self.init_role, "init_head": self.init_head}
        return {"name": self.name, **self.kwargs, **(init if self.init_from else {})}


@dataclass
class OptimConfig:
    """Adam with the original's coupled L2 (``weight_decay``) on its regularised parameter set only."""

    lr: float = 1e-5
    weight_decay: float = 5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8


@dataclass
class LossConfig:
    """``[loss]``: the hyperparameters of the run's objective and, for an objective with a frozen teacher,
    ``teacher_checkpoint`` (the checkpoint holding it).

    The keys an objective takes are its keyword-only constructor arguments (``Objective.hyperparameters``:
    the triplet's ``margin`` and ``hard_from_epoch``, transfer's ``alpha``, distillation's ``lambda``,
    ``temperature`` and ``teacher_average``, ...), typed by their annotations, defaulting to their defaults
    and checked by the objective's ``constraints``; a key the objective does not take is an error. Read them
    as attributes (``cfg.loss.alpha``) or as the table ``hyperparameters``.
    """

    hyperparameters: dict[str, Any] = field(default_factory=dict)
    teacher_checkpoint: str = ""

    def __getattr__(self, name: str) -> Any:
        values, key = self.__dict__.get("hyperparameters", {}), hyperparameter_key(name)  # lambda_ → lambda
        if key in values:
            return values[key]
        raise AttributeError(f"loss has no '{name}' (this objective takes: {', '.join(values) or 'none'})")

    def to_table(self) -> dict[str, Any]:
        """The ``[loss]`` table of ``config.json``."""
        teacher = {"teacher_checkpoint": self.teacher_checkpoint} if self.teacher_checkpoint else {}
        return {**self.hyperparameters, **teacher}


@dataclass
class RuntimeConfig:
    """Where and how to run. ``run_dir`` empty → ``<out_dir>/<experiment.name>-<UTC timestamp>``.

    Float32 unless asked (the original's precision): ``bf16`` autocasts the networks to bfloat16 on GPUs,
    ``tf32`` lets CUDA matrix products and convolutions round their inputs to TF32. Both are faster and
    change the numbers (the presets' ``fast`` variants turn them on).
    """

    out_dir: str = "runs"
    run_dir: str = ""
    device: str = "auto"
    bf16: bool = False
    tf32: bool = False
    channels_last: bool = False
    log_every: int = 10
    save_every: int = 1
    deterministic: bool = False
    # epochs whose checkpoint becomes `best` whatever its score, the best-so-far restarting from it: the
    # original supervised trainer did so at [2, 10, 20] (spec §7 item 19); empty = the true best
    best_reset_epochs: list[int] = field(default_factory=list)


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
        out: dict[str, Any] = {section: as_toml_table(getattr(self, section)) for section in SECTIONS}
        out["models"] = {role: spec.to_dict() for role, spec in self.models.items()}
        out["loss"] = self.loss.to_table()
        return out

    @property
    def objective(self) -> type[Objective]:
        """The objective class of ``experiment.kind``."""
        return objective_class(self.experiment.kind)

    @property
    def teacher_role(self) -> str | None:
        """The frozen network loaded from ``loss.teacher_checkpoint`` (transfer / distillation), else None."""
        return self.objective.teacher_role

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """What the data loader reads: the networks' inputs (trainable and teacher; a teacher role is named
        after its modality) and the objective's ``target_modalities``."""
        read = {*(spec.modality for spec in self.models.values()), *self.objective.target_modalities}
        if self.teacher_role:
            read.add(Modality(self.teacher_role))
        return tuple(m for m in Modality if m in read)


SECTIONS: dict[str, type] = {
    "experiment": ExperimentConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "runtime": RuntimeConfig,
}


def _build_models(table: Any, source: str) -> dict[str, ModelSpec]:
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
        init = {key: kwargs.pop(key) for key in INIT_KEYS if key in kwargs}
        for key, tp in (("init_from", str), ("init_role", str), ("init_head", bool)):
            if key in init:
                init[key] = check_value(init[key], tp, f"models.{role}.{key}", source)
        params = inspect.signature(MODELS[name]).parameters
        for arg in kwargs:
            if arg not in params:
                known = ", ".join([*params, *INIT_KEYS])
                raise ConfigError(f"{where}.{arg}: unknown argument of {name} (known: {known})")
        specs[role] = ModelSpec(name=name, kwargs=kwargs, **init)
    return specs


def _require(condition: bool, source: str, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{source}: {key}: {message}")


def _validate_models(cfg: Config, source: str) -> None:
    kind, objective = cfg.experiment.kind, cfg.objective
    roles = set(cfg.models)
    if roles not in objective.role_sets:
        want = max(objective.role_sets, key=lambda allowed: len(allowed & roles))
        extra, missing = sorted(roles - want), sorted(want - roles)
        detail = "; ".join(
            part
            for part in (
                f"unexpected models.{', models.'.join(extra)}" if extra else "",
                f"missing models.{', models.'.join(missing)}" if missing else "",
            )
            if part
        )
        teacher = cfg.teacher_role
        note = f" (the {teacher} teacher comes from loss.teacher_checkpoint)" if teacher else ""
        raise ConfigError(f"{source}: models: kind '{kind}' needs roles {sorted(want)}: {detail}{note}")
    for role, spec in cfg.models.items():
        needed = objective.role_networks.get(role)
        if needed is not None and not issubclass(MODELS[spec.name], needed):
            fits = ", ".join(name for name, cls in MODELS.items() if issubclass(cls, needed)) or "none"
            raise ConfigError(
                f"{source}: models.{role}.name: kind '{kind}' needs a {needed.__name__} here ({fits}), "
                f"got {spec.name}"
            )
        reads = Modality(role) if role in set(Modality) else objective.model_modality
        _require(
            reads is None or spec.modality is reads,
            source,
            f"models.{role}.name",
            f"kind '{kind}' needs a network reading {reads} here, got {spec.name} (reads {spec.modality})",
        )
        n = spec.kwargs.get("num_classes")
        if role == "model":
            _require(
                n == "auto" or (isinstance(n, int) and not isinstance(n, bool) and n >= 2),
                source,
                f"models.{role}.num_classes",
                f"a classifier needs an integer ≥ 2 or \"auto\" (from the training data), got {n!r}",
            )
        else:
            message = "embedding streams must not set num_classes"
            _require(n is None, source, f"models.{role}.num_classes", message)


def _validate(cfg: Config, source: str) -> None:
    e, d, o, loss, r = cfg.experiment, cfg.data, cfg.optim, cfg.loss, cfg.runtime
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
    _require(d.cache_mb >= 0, source, "data.cache_mb", "must be ≥ 0 (0 = no cache)")
    _require(
        d.preprocess_on in PREPROCESS_CHOICES,
        source,
        "data.preprocess_on",
        f"expected {', '.join(PREPROCESS_CHOICES)}, got {d.preprocess_on!r}",
    )
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
    if cfg.teacher_role:
        _require(
            bool(loss.teacher_checkpoint),
            source,
            "loss.teacher_checkpoint",
            f"kind '{e.kind}' needs a checkpoint with the DualCamNet teacher",
        )
    _require(valid_device(r.device), source, "runtime.device", f"expected {DEVICE_CHOICES}, got {r.device!r}")
    _require(r.log_every >= 1, source, "runtime.log_every", "must be ≥ 1")
    _require(r.save_every >= 0, source, "runtime.save_every", "must be ≥ 0 (0 = no epoch_N checkpoints)")
    _require(
        all(n >= 1 for n in r.best_reset_epochs), source, "runtime.best_reset_epochs", "epochs count from 1"
    )
    _validate_models(cfg, source)
    readers = [f"models.{role} ({s.name})" for role, s in cfg.models.items() if s.modality is Modality.AUDIO]
    _require(
        bool(d.stats_dir) or not readers,
        source,
        "data.stats_dir",
        f"is required: {', '.join(readers)} reads spectrograms, which the original always z-scored with the "
        "training list's per-bin statistics (`acoustic-ssl stats TRAIN_LIST STATS_DIR`, then "
        "--set data.stats_dir=STATS_DIR)",
    )
    for role, spec in cfg.models.items():
        _require(
            bool(spec.init_from) or not (spec.init_role or spec.init_head),
            source,
            f"models.{role}.init_from",
            "init_role / init_head need the checkpoint to initialise from",
        )
    for spec in cfg.models.values():
        cls = MODELS[spec.name]
        _require(
            d.sample_length >= cls.min_seconds,
            source,
            "data.sample_length",
            f"{cls.__name__} needs samples of ≥ {cls.min_seconds} s",
        )


def _resolve_paths(cfg: Config, base: Path) -> None:
    """Make list/stats/teacher/output paths absolute so the run's config.json is self-contained."""

    def absolute(value: str) -> str:
        return str((base / value).resolve()) if value else value

    for key in ("train_list", "valid_list", "test_list", "stats_dir"):
        setattr(cfg.data, key, absolute(getattr(cfg.data, key)))
    cfg.loss.teacher_checkpoint = absolute(cfg.loss.teacher_checkpoint)
    for spec in cfg.models.values():
        spec.init_from = absolute(spec.init_from)
    cfg.runtime.out_dir = absolute(cfg.runtime.out_dir)
    cfg.runtime.run_dir = absolute(cfg.runtime.run_dir)


def _build_loss(table: Any, kind: str, source: str) -> LossConfig:
    """``[loss]`` for the objective of ``kind``: its keys only, typed, checked, defaults filled in."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [loss] must be a table, got {table!r}")
    cls = objective_class(kind)
    taken = cls.hyperparameters()
    known = [*taken, *(["teacher_checkpoint"] if cls.teacher_role else [])]
    values = {key: default for key, (_, _, default) in taken.items()}
    teacher = ""
    for key, value in table.items():
        if key not in known:
            takes = ", ".join(known) or "no [loss] keys"
            raise ConfigError(f"{source}: unknown key 'loss.{key}': kind '{kind}' takes {takes}")
        if key == "teacher_checkpoint":
            teacher = check_value(value, str, "loss.teacher_checkpoint", source)
        else:
            values[key] = check_value(value, taken[key][1], f"loss.{key}", source)
    for key, problem in cls.check_hyperparameters(values):
        raise ConfigError(f"{source}: loss.{key}: {problem}, got {values[key]!r}")
    return LossConfig(values, teacher)


def stored_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A run's own config.json (validated when the run started) without the ``[loss]`` keys its objective
    does not take: runs written before objectives declared their keys stored every kind's."""
    kind = raw.get("experiment", {}).get("kind") if isinstance(raw.get("experiment"), dict) else None
    loss = raw.get("loss")
    if kind not in OBJECTIVES or not isinstance(loss, dict):
        return raw  # config_from_dict says what is wrong
    cls = OBJECTIVES[kind]
    known = {*cls.hyperparameters(), *(["teacher_checkpoint"] if cls.teacher_role else [])}
    return {**raw, "loss": {k: v for k, v in loss.items() if k in known}}


def config_from_dict(raw: dict[str, Any], *, source: str = "<config>", base: Path | None = None) -> Config:
    """Build and validate a ``Config`` from nested dicts (a parsed TOML file or a run's config.json)."""
    sections = build_sections(SECTIONS, raw, source, extra=["models", "loss"])
    kind = sections["experiment"].kind
    known = ", ".join(OBJECTIVES)
    _require(kind in OBJECTIVES, source, "experiment.kind", f"expected one of {known}, got {kind!r}")
    loss = _build_loss(raw.get("loss", {}), kind, source)
    cfg = Config(models=_build_models(raw.get("models", {}), source), loss=loss, **sections)
    _validate(cfg, source)
    _resolve_paths(cfg, base if base is not None else Path.cwd())
    return cfg


def _variant(raw: dict[str, Any], variant: str | None, source: str) -> list[str]:
    """The ``--set`` list of ``[variants] <variant>`` (removed from ``raw``), or none."""
    variants = check_value(raw.pop("variants", {}), dict, "variants", source)
    for name, entries in variants.items():
        check_value(entries, list[str], f"variants.{name}", source)
    if variant is None:
        return []
    if variant not in variants:
        known = ", ".join(sorted(variants)) or "none"
        raise ConfigError(f"{source}: no variant '{variant}' (variants: {known})")
    return list(variants[variant])


def load_config(
    path: str | Path, overrides: Sequence[str] = (), *, variant: str | None = None
) -> Config:
    """Load a preset (a packaged name such as ``"transfer"``, a TOML file or a run's config.json), apply the
    ``--set`` lines of ``variant`` and then ``overrides``, and validate.

    Errors name the dotted key and the file (suffixed with the variant and "+ --set" when those were given).
    """
    file = presets.find("train", path)
    raw = read_toml(file)
    source = str(file)
    sets = _variant(raw, variant, source)
    if variant:
        source += f" [variant {variant}]"
    if overrides:
        source += " + --set"
    return config_from_dict(apply_overrides(raw, [*sets, *overrides]), source=source)
