"""Checkpoints without pickle: tensors in ``NAME.safetensors``, everything else in ``NAME.json``.

The safetensors file holds the model weights (``model/<role>/<param>``), the Adam state
(``optim/<index>/<key>``) and the RNG states as uint8 tensors (``rng/...``). The JSON holds the resolved run
config, the model specs (``build_model`` name + kwargs per role), epoch/step/metrics, the optimizer's scalar
state and the trainer position. Both files carry the same random ``checkpoint_id``, so a torn pair (a crash
between the two atomic renames) is detected instead of silently mixing two checkpoints.
"""

from __future__ import annotations

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

from acoustic_ssl.errors import AcousticSSLError
from acoustic_ssl.io_utils import atomic_path, write_json_atomic

FORMAT = "acoustic-ssl-checkpoint/1"
SUFFIX_TENSORS, SUFFIX_JSON = ".safetensors", ".json"


class CheckpointError(AcousticSSLError):
    """A checkpoint is missing, torn or corrupt, or does not fit the models it should restore."""


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(tensors, json) for ``path``: a run dir (→ its best checkpoint), either file, or the common stem."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "best"
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


def restore_rng(tensors: dict[str, torch.Tensor], scalars: dict[str, Any]) -> None:
    """Inverse of ``capture_rng`` (CUDA states only restored when the same number of devices is visible)."""
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
) -> tuple[Path, Path]:
    """Write ``path``.safetensors then ``path``.json, each atomically; returns both paths.

    ``specs`` maps role → {"name", "kwargs"} so ``load_checkpoint`` can rebuild the networks; ``info`` (epoch,
    step, metrics, config, ...) goes to the JSON. With ``optimizer``/``rng`` the checkpoint can resume a run.
    """
    tensor_path, json_path = checkpoint_paths(path)
    checkpoint_id = uuid.uuid4().hex
    tensors = _model_tensors(models)
    meta: dict[str, Any] = {"format": FORMAT, "checkpoint_id": checkpoint_id, "models": specs, **info}
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
    if rng:
        rng_tensors, meta["rng"] = capture_rng()
        tensors.update(rng_tensors)
    with atomic_path(tensor_path) as tmp:
        save_file(tensors, str(tmp), metadata={"checkpoint_id": checkpoint_id, "format": FORMAT})
    write_json_atomic(json_path, meta)
    return tensor_path, json_path


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
        with safe_open(str(tensor_path), framework="pt") as f:
            tensor_id = (f.metadata() or {}).get("checkpoint_id")
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{tensor_path}: corrupt checkpoint tensors ({exc})") from None
    if tensor_id != info.get("checkpoint_id"):
        raise CheckpointError(
            f"{tensor_path}: does not belong to {json_path.name} (torn write?); use another checkpoint"
        )
    info["path"] = str(json_path.with_suffix(""))
    return tensors, info


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


def load_checkpoint(path: str | Path) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """(networks by role, info) of a checkpoint, networks on CPU in eval mode.

    ``path``: ``run/checkpoints/best`` (with or without suffix) or a run directory (→ its best checkpoint).
    Roles: "video", "audio", "acoustic" (the self-supervised acoustic stream, or the frozen teacher of
    transfer/distillation runs, listed in ``info["frozen_roles"]``) and "model" (supervised classifier or
    distillation student). ``info`` holds "config" (the resolved run config), "epoch" (completed epochs),
    "step", "metrics", "kind" and "models" (name + kwargs per role).
    """
    tensors, info = read_checkpoint(path)
    return build_models(tensors, info), info
