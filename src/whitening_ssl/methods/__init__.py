"""LightningModules: the pretraining methods (one thin class per family) and the linear probe.

:data:`METHODS` maps ``method.family`` (set by each preset in ``conf/method/``) to its class;
:func:`build_method` is the Hydra target that builds the pretraining module. Adding a method is one
entry here, one module (over a loss of :mod:`whitening_ssl.losses`) and one YAML preset.
"""

from typing import Any, Dict, Mapping, Optional, Type

from .base import PretrainModule
from .byol import BYOLMethod
from .embedding_loss import EmbeddingLossMethod
from .linear_probe import LinearProbeModule
from .simsiam import SimSiamMethod
from .whitening_mse import WhiteningMSEMethod

METHODS: Dict[str, Type[PretrainModule]] = {
    "whitening_mse": WhiteningMSEMethod,
    "embedding_loss": EmbeddingLossMethod,
    "byol": BYOLMethod,
    "simsiam": SimSiamMethod,
}


def get_method(family: str) -> Type[PretrainModule]:
    """The class of ``method.family``; one line listing the families otherwise."""
    if family not in METHODS:
        raise ValueError(f"method.family={family!r} is not available: use one of {', '.join(METHODS)}")
    return METHODS[family]


def build_method(backbone: Mapping[str, Any], method: Mapping[str, Any], num_views: int,
                 dataset: Optional[Mapping[str, Any]] = None, analysis: Optional[Mapping[str, Any]] = None
                 ) -> PretrainModule:
    """The pretraining module of ``method.family`` (the ``model`` node of ``conf/config.yaml``)."""
    return get_method(method["family"])(backbone, method, num_views, dataset, analysis)


__all__ = [
    "METHODS",
    "BYOLMethod",
    "EmbeddingLossMethod",
    "LinearProbeModule",
    "PretrainModule",
    "SimSiamMethod",
    "WhiteningMSEMethod",
    "build_method",
    "get_method",
]
