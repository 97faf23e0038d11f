"""The one registry of networks by name, and the split of their parameters into L2-decayed and undecayed.

Adding a network is one file with a ``Network`` subclass plus one entry here (or ``register_model`` from
outside the package): configs, checkpoints, trainers and feature extraction find everything else — which batch
key it reads, which parameters are decayed, how its outputs pool over frames — on the class.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from acoustic_ssl.models.base import Network
from acoustic_ssl.models.dualcamnet import DualCamNet
from acoustic_ssl.models.generator import AcousticGenerator
from acoustic_ssl.models.hearnet import HearNet
from acoustic_ssl.models.resnet import ResNet18

MODELS: dict[str, type[Network]] = {
    "resnet18": ResNet18,
    "dualcamnet": DualCamNet,
    "hearnet": HearNet,
    "acoustic_generator": AcousticGenerator,
}


def register_model(name: str, cls: type[Network]) -> None:
    """Make ``cls`` buildable as ``name`` (lower case) in configs and checkpoints."""
    if not (isinstance(cls, type) and issubclass(cls, Network)):
        raise TypeError(f"{cls!r} is not a Network subclass")
    MODELS[name.lower()] = cls


def model_class(name: str) -> type[Network]:
    """The registered class of ``name`` (case-insensitive); an unknown name is a ValueError."""
    try:
        return MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def build_model(name: str, **kwargs: Any) -> Network:
    """Instantiate a registered network (``"resnet18"``, ``"dualcamnet"``, ``"hearnet"``, ...) with kwargs."""
    return model_class(name)(**kwargs)


def weight_decay_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters the original regularised with L2: gathered from every network inside ``model``.

    Works on a bare network or on any module that contains networks (a wrapper, a ``torch.compile`` result).
    """
    found: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if isinstance(module, Network):
            for param in module.weight_decay_parameters():
                found[id(param)] = param
    return list(found.values())


def decay_parameter_groups(model: nn.Module, weight_decay: float = 5e-4) -> list[dict[str, Any]]:
    """Adam parameter groups: the original's L2 set with ``weight_decay``, everything else with 0.

    ``torch.optim.Adam``'s ``weight_decay`` adds s·w to the gradient, i.e. it is the gradient of TF's
    s·Σw²/2 regulariser (coupled L2, not AdamW). Frozen parameters (``requires_grad=False``) are left out;
    empty groups are dropped.
    """
    decayed = {id(p) for p in weight_decay_parameters(model)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) in decayed], "weight_decay": weight_decay},
        {"params": [p for p in trainable if id(p) not in decayed], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]
