"""Build models by name and split their parameters into the original's L2-decayed and undecayed sets."""

from __future__ import annotations

from typing import Any

from torch import nn

from acoustic_ssl.models.dualcamnet import DualCamNet
from acoustic_ssl.models.hearnet import HearNet
from acoustic_ssl.models.resnet import ResNet18

MODELS: dict[str, type[nn.Module]] = {"resnet18": ResNet18, "dualcamnet": DualCamNet, "hearnet": HearNet}


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate ``"resnet18"``, ``"dualcamnet"`` or ``"hearnet"`` (case-insensitive) with keyword args."""
    try:
        cls = MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    return cls(**kwargs)


def weight_decay_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters the original regularised with L2: gathered from every known network inside ``model``.

    Works on a bare network or on any module that contains networks (a wrapper, a ``torch.compile`` result).
    """
    found: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if isinstance(module, (ResNet18, DualCamNet, HearNet)):
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
