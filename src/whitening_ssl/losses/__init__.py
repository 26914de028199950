"""The losses, one module per family, each a small ``nn.Module`` independent of any training module.

- :mod:`.pairs`: :func:`view_pairs`, the one place views are paired, and :func:`view_pair_mse`;
- :mod:`.whitening_mse`: :class:`WhiteningMSELoss` (W-MSE, CW-RGP and their ablations) and the
  ImageNet recipe's :func:`covariance_penalty`;
- :mod:`.contrastive`: :class:`NTXentLoss` (SimCLR);
- :mod:`.predictive`: :class:`BYOLLoss`, :class:`SimSiamLoss`;
- :mod:`.redundancy`: :class:`BarlowTwinsLoss`, :class:`VICRegLoss`, :class:`ZeroICLLoss` (Zero-CL);
- :mod:`.intl`: :class:`INTLLoss` and the trace loss of INTL (its method normalises the views first);
- :mod:`.resa`: :class:`ReSALoss` and :func:`sinkhorn_assignment` (ReSA);
- :mod:`.sigreg`: :func:`epps_pulley`, :class:`SIGReg`, :class:`LeJEPALoss` (LeJEPA).

Every ``forward`` takes the per-view tensors stacked as ``[V, N, d]`` (``V >= 2`` views of ``N``
samples; a list of ``V`` tensors ``[N, d]`` is stacked for you) and returns a scalar. All view pairs
come from :func:`view_pairs` and are computed in one batched call (no Python loop over views or
pairs); per-view quantities (self-similarities, standardisations, covariances, whitening matrices)
are computed once per view, then paired. Half-precision inputs are promoted to float32 and the
losses run with autocast disabled, so they are safe under AMP.

The normalisations of the baselines follow the CW-RGP paper's code (its contrastive loss is
W-MSE's), unless a docstring says otherwise:

- :class:`NTXentLoss`: mean over unordered pairs of the two-direction average;
- :class:`BYOLLoss`: per unordered pair both directions SUMMED, mean over unordered pairs
  (``sum_directions=False`` halves it: mean over ordered pairs);
- :class:`SimSiamLoss`: mean over ordered pairs (V=2: the two directions averaged);
- :class:`BarlowTwinsLoss`, :class:`VICRegLoss`, :class:`ZeroICLLoss`: the two-view loss, mean over
  unordered pairs.

:data:`LOSSES` names the losses that a ``method.loss`` node builds (``{name: ntxent, temperature: 0.5}``;
``name`` may also be ``module.Class`` of your own, and ``_target_`` works as in Hydra); :func:`build_loss`
builds one. A loss's defaults are its constructor's: the presets compose ``method/_losses/<name>``,
written from the signature (:func:`loss_defaults`) to ``conf/method/_losses/<name>.yaml`` by
:mod:`whitening_ssl.cli.write_defaults`. The losses that a method family builds itself (whitening MSE, INTL)
are not in :data:`LOSSES`.
"""

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..plugins import lookup
from .contrastive import NTXentLoss
from .intl import INTLLoss, intl_trade_off, trace_loss
from .pairs import view_pair_mse, view_pairs
from .predictive import BYOLLoss, SimSiamLoss
from .redundancy import (
    BARLOW_NORMALIZATIONS,
    BARLOW_SCALES,
    VICREG_CONVENTIONS,
    BarlowTwinsLoss,
    VICRegLoss,
    ZeroICLLoss,
)
from .resa import ReSALoss, sinkhorn_assignment
from .sigreg import LeJEPALoss, SIGReg, epps_pulley
from .whitening_mse import WhiteningMSELoss, covariance_penalty

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
    for cls in LOSSES.values():
        if target in (f"{__name__}.{cls.__name__}", f"{cls.__module__}.{cls.__name__}"):
            return cls
    return None


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


__all__ = [
    "BARLOW_NORMALIZATIONS",
    "BARLOW_SCALES",
    "LOSSES",
    "VICREG_CONVENTIONS",
    "BYOLLoss",
    "BarlowTwinsLoss",
    "INTLLoss",
    "LeJEPALoss",
    "NTXentLoss",
    "ReSALoss",
    "SIGReg",
    "SimSiamLoss",
    "VICRegLoss",
    "WhiteningMSELoss",
    "ZeroICLLoss",
    "build_loss",
    "covariance_penalty",
    "epps_pulley",
    "intl_trade_off",
    "loss_defaults",
    "registered_loss",
    "sinkhorn_assignment",
    "trace_loss",
    "view_pair_mse",
    "view_pairs",
]
