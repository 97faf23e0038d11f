"""Checkpoints without pickle: tensors in ``NAME.safetensors``, everything else in ``NAME.json``.

The safetensors file holds the model weights (``model/<role>/<param>``), the Adam state
(``optim/<index>/<key>``) and the RNG states as uint8 tensors (``rng/...``). The JSON holds the resolved run
config, the model specs (``build_model`` name + kwargs per role), epoch/step/metrics, the optimizer's scalar
state and the trainer position. Both files carry the same random ``checkpoint_id``, so a torn pair (a crash
between the two atomic renames) is detected instead of silently mixing two checkpoints, and the JSON holds the
SHA-256 of the tensor file (``tensors_sha256``), verified on every load, so damaged weights are never used.

Self-contained: a run with spectrogram statistics stores them as ``stats/spectrogram_mean`` and
``stats/spectrogram_std`` (257 float32 each), so its audio network embeds the same wherever the checkpoint
goes (``spectrogram_stats``).
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from acoustic_ssl.errors import AcousticSSLError, OutputError, warn_once
from acoustic_ssl.io_utils import atomic_path, write_json_atomic

FORMAT = "acoustic-ssl-checkpoint/1"
SUFFIX_TENSORS, SUFFIX_JSON = ".safetensors", ".json"
STATS_MEAN, STATS_STD = "stats/spectrogram_mean", "stats/spectrogram_std"
HEADS_PREFIX = "objective/"  # the objective's own modules (projections): Objective.heads


class CheckpointError(AcousticSSLError):
    """A checkpoint is missing, torn or corrupt, or does not fit the models it should restore."""


def reported_checkpoint(run_dir: str | Path) -> Path:
    """The checkpoint stem that stands for ``run_dir``: the one its objective reports (``reported``).

    The original reported self-supervised and transfer numbers from the last epoch's model (``model_19`` of
    20 epochs there = ``epoch_20`` here: ``model_{N-1}`` there is ``epoch_N`` here), supervised and
    distillation ones from the best validation checkpoint. "final" is ``epoch_<epochs>``, else ``last`` once
    it holds the end of the last epoch; a run that has not finished is an error (name a checkpoint to
    evaluate it anyway).
    """
    from acoustic_ssl.training.objectives import objective_class

    folder = Path(run_dir) / "checkpoints"
    try:
        info = json.loads((folder / f"last{SUFFIX_JSON}").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return folder / "best"  # nothing says the kind; reading `best` reports what is wrong, if anything
    kind = info.get("kind") if isinstance(info, dict) else None
    try:
        reported = objective_class(str(kind)).reported
    except ValueError as exc:
        raise CheckpointError(f"{run_dir}: {exc}; name a checkpoint ({folder}/best, ...)") from None
    if reported == "best":
        return folder / "best"
    epochs = (info.get("config") or {}).get("experiment", {}).get("epochs")
    final = folder / f"epoch_{epochs}"
    if (folder / f"epoch_{epochs}{SUFFIX_JSON}").is_file():
        return final
    position = info.get("position") or {}
    if info.get("epoch") == epochs and not position.get("batch_in_epoch"):
        return folder / "last"
    raise CheckpointError(
        f"{run_dir}: a {kind} run is reported from its last epoch ({final.name}), which it has not finished "
        f"(at epoch {info.get('epoch')} of {epochs}); resume it, or name a checkpoint ({folder}/best, ...)"
    )


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(tensors, json) of ``path``: a run dir (→ ``reported_checkpoint``), either file, or their stem."""
    path = Path(path)
    if path.is_dir():
        path = reported_checkpoint(path)
    if path.suffix in (SUFFIX_TENSORS, SUFFIX_JSON):
        path = path.with_suffix("")
    return path.with_name(path.name + SUFFIX_TENSORS), path.with_name(path.name + SUFFIX_JSON)


# ----------------------------------------------------------------------------------------------- RNG states
def _u8(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array).view(np.uint8).copy())


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Every global RNG (torch CPU/CUDA, NumPy, Python) as uint8 tensors plus JSON scalars."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    np_state = np.random.get_state()
    tensors["rng/numpy"] = _u8(np.asarray(np_state[1], dtype=np.uint32))
    py_version, py_internal, py_gauss = random.getstate()
    tensors["rng/python"] = _u8(np.asarray(py_internal, dtype=np.uint32))
    scalars = {
        "numpy": {"pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": {"version": py_version, "gauss": py_gauss},
    }
    return tensors, scalars


def restore_rng(
    tensors: dict[str, torch.Tensor], scalars: dict[str, Any], *, source: Path | str = "checkpoint"
) -> None:
    """Inverse of ``capture_rng`` (CUDA states only restored when the same number of devices is visible)."""
    try:
        _restore_rng(tensors, scalars)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{source}: damaged RNG state ({type(exc).__name__}: {exc})") from None


def _restore_rng(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    keys = tensors["rng/numpy"].numpy().view(np.uint32)
    s = scalars["numpy"]
    np.random.set_state(("MT19937", keys, s["pos"], s["has_gauss"], s["gauss"]))
    internal = tuple(int(v) for v in tensors["rng/python"].numpy().view(np.uint32))
    random.setstate((scalars["python"]["version"], internal, scalars["python"]["gauss"]))


# ----------------------------------------------------------------------------------------- optimizer state
def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], info: dict[str, Any], *, source: Path
) -> None:
    """Load the Adam state saved by ``save_checkpoint`` into ``optimizer`` (same parameter order)."""
    saved = info.get("optimizer")
    if saved is None:
        raise CheckpointError(f"{source}: holds no optimizer state (only 'last' checkpoints can be resumed)")
    try:
        _restore_optimizer(optimizer, tensors, saved, source)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(
            f"{source}: damaged optimizer state ({type(exc).__name__}: {exc})"
        ) from None


def _restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], saved: dict[str, Any], source: Path
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, index, key = name.split("/", 2)
            state.setdefault(int(index), {})[key] = value
    for index, entries in saved["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in saved["param_groups"]]
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, entries in state.items():
        for key, value in entries.items():
            if (
                isinstance(value, torch.Tensor)
                and value.dim()
                and (index >= len(params) or value.shape != params[index].shape)
            ):
                raise CheckpointError(
                    f"{source}: optimizer state {index}/{key} has shape {tuple(value.shape)}, which does not "
                    "match this run's parameters (different models or parameter order)"
                )
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(
            f"{source}: optimizer state does not match this run's parameters ({exc})"
        ) from None


# ----------------------------------------------------------------------------------------- trainer position
_POSITION_COUNTERS = ("epoch", "batch_in_epoch", "step", "samples")


def read_position(info: dict[str, Any], source: Path) -> dict[str, Any]:
    """The trainer position of a resumable checkpoint, checked field by field (a hand-edited or damaged
    ``last.json`` gets a message, not a KeyError deep in the trainer)."""
    position = info.get("position")
    if not isinstance(position, dict):
        raise CheckpointError(f"{source}: holds no trainer position ('position'); cannot resume from it")

    def fail(field: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{source}: position.{field} {problem}; cannot resume from it")

    checked: dict[str, Any] = {}
    for field in _POSITION_COUNTERS:
        value = position.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise fail(field, f"must be a non-negative integer, got {value!r}")
        checked[field] = value
    sums = position.get("sums", {})
    if not isinstance(sums, dict) or not all(_is_number(v) for v in sums.values()):
        raise fail("sums", f"must map metric names to numbers, got {sums!r}")
    checked["sums"] = {str(k): float(v) for k, v in sums.items()}
    best = position.get("best")
    if best is not None and not (
        isinstance(best, dict) and all(_is_number(best.get(k)) for k in ("epoch", "accuracy", "loss"))
    ):
        raise fail("best", f"must be null or {{epoch, accuracy, loss}}, got {best!r}")
    checked["best"] = best
    unknown = sorted(set(position) - set(checked))
    if unknown:
        raise fail(unknown[0], "is not a field of the trainer position")
    return checked


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -------------------------------------------------------------------------------------------- save / load
def _model_tensors(models: dict[str, nn.Module]) -> dict[str, torch.Tensor]:
    return {
        f"model/{role}/{name}": value.detach().cpu().contiguous()
        for role, model in models.items()
        for name, value in model.state_dict().items()
    }


def save_checkpoint(
    path: str | Path,
    *,
    models: dict[str, nn.Module],
    specs: dict[str, dict[str, Any]],
    info: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    rng: bool = False,
    spectrogram_stats: tuple[np.ndarray, np.ndarray] | None = None,
    heads: nn.Module | None = None,
) -> tuple[Path, Path]:
    """Write ``path``.safetensors then ``path``.json, each atomically; returns both paths.

    ``specs`` maps role → {"name", "kwargs"} so ``load_checkpoint`` can rebuild the networks; ``info`` (epoch,
    step, metrics, config, ...) goes to the JSON. With ``optimizer``/``rng`` the checkpoint can resume a run.
    ``spectrogram_stats``: the (mean, std) the audio input was z-scored with, stored with the weights;
    ``heads``: the objective's own modules (``Objective.heads``), stored as ``objective/<name>``.
    """
    tensor_path, json_path = checkpoint_paths(path)
    checkpoint_id = uuid.uuid4().hex
    tensors = _model_tensors(models)
    if heads is not None:
        state = heads.state_dict()
        tensors.update({HEADS_PREFIX + k: v.detach().cpu().contiguous() for k, v in state.items()})
    meta: dict[str, Any] = {"format": FORMAT, "checkpoint_id": checkpoint_id, "models": specs, **info}
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
    if rng:
        rng_tensors, meta["rng"] = capture_rng()
        tensors.update(rng_tensors)
    if spectrogram_stats is not None:
        for key, values in zip((STATS_MEAN, STATS_STD), spectrogram_stats, strict=True):
            tensors[key] = torch.as_tensor(np.asarray(values, dtype=np.float32)).contiguous()
    with atomic_path(tensor_path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata={"checkpoint_id": checkpoint_id, "format": FORMAT})
        except SafetensorError as exc:  # its I/O errors (a full disk) come as SafetensorError
            raise OutputError(f"{tensor_path}: cannot write checkpoint tensors ({exc})") from None
        meta["tensors_sha256"] = file_sha256(tmp)
    write_json_atomic(json_path, meta)
    return tensor_path, json_path


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All tensors and the JSON info of a checkpoint, checked for presence, format and pairing."""
    tensor_path, json_path = checkpoint_paths(path)
    for p in (json_path, tensor_path):
        if not p.is_file():
            raise CheckpointError(f"{p}: checkpoint file not found")
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{json_path}: corrupt checkpoint metadata ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise CheckpointError(f"{json_path}: not an acoustic-ssl checkpoint (format {FORMAT!r} expected)")
    try:
        digest = file_sha256(tensor_path)
        with safe_open(str(tensor_path), framework="pt") as f:
            tensor_id = (f.metadata() or {}).get("checkpoint_id")
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{tensor_path}: corrupt checkpoint tensors ({exc})") from None
    if tensor_id != info.get("checkpoint_id"):
        raise CheckpointError(
            f"{tensor_path}: does not belong to {json_path.name} (torn write?); use another checkpoint"
        )
    expected = info.get("tensors_sha256")
    if expected is None:
        warn_once(f"{json_path}: written before checkpoints carried a content hash; tensors not verified")
    elif digest != expected:
        raise CheckpointError(
            f"{tensor_path}: damaged (its SHA-256 differs from the one recorded in {json_path.name}); "
            "use another checkpoint"
        )
    info["path"] = str(json_path.with_suffix(""))
    return tensors, info


def load_heads(heads: nn.Module, tensors: dict[str, torch.Tensor], source: str | Path) -> None:
    """Load an objective's own modules from its ``objective/<name>`` tensors (strict: same modules)."""
    state = {k[len(HEADS_PREFIX) :]: v for k, v in tensors.items() if k.startswith(HEADS_PREFIX)}
    try:
        heads.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: the objective's heads do not fit its settings ({exc})") from None


def build_models(tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> dict[str, nn.Module]:
    """Rebuild every role's network from its spec and load its weights (strict)."""
    from acoustic_ssl.models import build_model

    source = info.get("path", "<checkpoint>")
    models: dict[str, nn.Module] = {}
    for role, spec in info["models"].items():
        try:
            model = build_model(spec["name"], **spec.get("kwargs", {}))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: cannot rebuild models.{role} ({exc})") from None
        prefix = f"model/{role}/"
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{source}: weights of models.{role} do not fit {spec['name']} ({exc})"
            ) from None
        models[role] = model.eval()
    return models


def spectrogram_stats(
    tensors: dict[str, torch.Tensor], info: dict[str, Any], stats_dir: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The (mean, std) to z-score the spectrograms fed to a checkpoint's audio network, or None for a run
    trained on plain spectrograms.

    ``stats_dir`` overrides; else the statistics stored in the checkpoint; else (a checkpoint written before
    they were stored) its run config's ``data.stats_dir``, which must still exist.
    """
    from acoustic_ssl.data.stats import check_stats, load_stats

    source = info.get("path", "<checkpoint>")
    if stats_dir is not None:
        return load_stats(stats_dir)
    if STATS_MEAN in tensors and STATS_STD in tensors:
        mean, std = tensors[STATS_MEAN].numpy(), tensors[STATS_STD].numpy()
        return check_stats(mean, std, f"{source}{SUFFIX_TENSORS}")
    config = info.get("config")
    data = config.get("data") if isinstance(config, dict) else None
    legacy = data.get("stats_dir") if isinstance(data, dict) else None
    if not legacy:
        return None
    if not Path(legacy).is_dir():
        raise CheckpointError(
            f"{source}: written before checkpoints stored their spectrogram statistics, and the statistics "
            f"it was trained with ({legacy}) are gone; give them explicitly (--stats-dir, or stats_dir= in "
            "the HEAR load_model)"
        )
    return load_stats(legacy)


def initialize_from(
    net: nn.Module, path: str | Path, *, role: str, source_role: str = "", with_head: bool = False
) -> str:
    """Load the weights of a checkpoint's network into ``net`` before training; returns the source role.

    The source is ``source_role``, else the checkpoint's network in ``role``, else its only network reading
    the same modality (e.g. the ``audio`` HearNet of a self-supervised run for a supervised ``model``).
    Every parameter and buffer of ``net`` must be there with the same shape, except the classifier head
    (``head_prefixes``), which keeps its fresh initialisation unless ``with_head``: fine-tuning with a new
    head, as the original's supervised restore did. The source's extra entries (its head) are ignored.
    """
    tensors, info = read_checkpoint(path)
    specs: dict[str, Any] = info["models"]
    modality = net.modality  # type: ignore[attr-defined]
    if not source_role:
        from acoustic_ssl.models import MODELS

        same = [r for r, s in specs.items() if s["name"] in MODELS and MODELS[s["name"]].modality is modality]
        source_role = role if role in same else (same[0] if len(same) == 1 else "")
        if not source_role:
            found = ", ".join(f"{r} ({specs[r]['name']})" for r in specs)
            raise CheckpointError(
                f"{path}: no single network reading {modality} to initialise models.{role} from (it holds "
                f"{found}); set models.{role}.init_role"
            )
    elif source_role not in specs:
        raise CheckpointError(f"{path}: has no models.{source_role} (roles: {', '.join(specs)})")
    prefix = f"model/{source_role}/"
    source = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    heads = tuple(getattr(net, "head_prefixes", ()))
    wanted = {k: v for k, v in net.state_dict().items() if with_head or not k.startswith(heads)}
    where = f"{path}: models.{source_role} ({specs[source_role]['name']})"
    for name, value in wanted.items():
        if name not in source:
            raise CheckpointError(f"{where} has no {name}, which models.{role} needs")
        if tuple(source[name].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{where}: {name} has shape {list(source[name].shape)}, models.{role} needs "
                f"{list(value.shape)} (a network of other settings: width, classes, ...)"
            )
    net.load_state_dict({name: source[name] for name in wanted}, strict=False)
    return source_role


def load_checkpoint(path: str | Path) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """(networks by role, info) of a checkpoint, networks on CPU in eval mode.

    ``path``: ``run/checkpoints/best`` (with or without suffix) or a run directory (→ the checkpoint the
    original reported for its kind, ``reported_checkpoint``).
    Roles: "video", "audio", "acoustic" (the self-supervised acoustic stream, or the frozen teacher of
    transfer/distillation runs, listed in ``info["frozen_roles"]``) and "model" (supervised classifier or
    distillation student). ``info`` holds "config" (the resolved run config), "epoch" (completed epochs),
    "step", "metrics", "kind" and "models" (name + kwargs per role).
    """
    tensors, info = read_checkpoint(path)
    return build_models(tensors, info), info
