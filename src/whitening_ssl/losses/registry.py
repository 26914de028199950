"""The losses that a ``method.loss`` node names (:data:`LOSSES`), and how one is built (:func:`build_loss`)."""

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..plugins import lookup
from .contrastive import NTXentLoss
from .loss_rules import registered_target
from .predictive import BYOLLoss, SimSiamLoss
from .redundancy import BarlowTwinsLoss, VICRegLoss, ZeroICLLoss

#: ``method.loss`` name -> loss class (the ``name`` key of a loss node; ``_target_`` paths of these are the same)
LOSSES: dict[str, type[nn.Module]] = {
    "ntxent": NTXentLoss,
    "barlow_twins": BarlowTwinsLoss,
    "vicreg": VICRegLoss,
    "zero_cl": ZeroICLLoss,
    "byol": BYOLLoss,
    "simsiam": SimSiamLoss,
}


def registered_loss(target: Any) -> type[nn.Module] | None:
    """The registered loss class that the dotted path ``target`` names (its public or defining module), or ``None``."""
    name = registered_target(target)
    return LOSSES[name] if name is not None else None


def loss_defaults(cls: type[nn.Module]) -> dict[str, Any]:
    """The arguments of loss ``cls`` that have a default (the configuration's ``method/_losses/<name>`` node)."""
    parameters = inspect.signature(cls.__init__).parameters
    return {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}


def build_loss(node: Mapping[str, Any]) -> nn.Module:
    """The loss of a ``method.loss`` node: ``name`` (a key of :data:`LOSSES`, or ``module.Class`` of your own)
    or ``_target_``, with its arguments; the loss's constructor checks them (one line for a bad one).

    Checkpoints' saved settings never reach this with code of their own: see
    :mod:`whitening_ssl.checkpoints.saved_settings`.
    """
    arguments = dict(node)
    name, target = arguments.pop("name", None), arguments.pop("_target_", None)
    if target is None:
        return lookup(LOSSES, name, "method.loss.name", subclass_of=nn.Module)(**arguments)
    cls = registered_loss(target)
    if cls is not None and not any(str(key).startswith("_") for key in arguments):  # (Hydra's _args_ etc.: Hydra)
        return cls(**arguments)
    import hydra

    return hydra.utils.instantiate({"_target_": target, **arguments})
