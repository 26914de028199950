"""The method families by name (:data:`METHODS`, ``method.family``) and the Hydra target that builds one."""

from collections.abc import Mapping
from typing import Any

from .base import PretrainModule
from .byol import BYOLMethod
from .embedding_loss import EmbeddingLossMethod
from .intl import INTLMethod
from .lejepa import LeJEPAMethod
from .resa import ReSAMethod
from .simsiam import SimSiamMethod
from .whitening_mse import WhiteningMSEMethod

METHODS: dict[str, type[PretrainModule]] = {
    "whitening_mse": WhiteningMSEMethod,
    "embedding_loss": EmbeddingLossMethod,
    "byol": BYOLMethod,
    "simsiam": SimSiamMethod,
    "intl": INTLMethod,
    "resa": ReSAMethod,
    "lejepa": LeJEPAMethod,
}


def get_method(family: str) -> type[PretrainModule]:
    """The class of ``method.family``: a registered family, or ``module.Class`` of your own (a
    :class:`PretrainModule` subclass); one line listing the families otherwise."""
    from ..plugins import lookup

    return lookup(METHODS, family, "method.family", subclass_of=PretrainModule)


def build_method(
    backbone: Mapping[str, Any],
    method: Mapping[str, Any],
    num_views: int,
    dataset: Mapping[str, Any] | None = None,
    analysis: Mapping[str, Any] | None = None,
) -> PretrainModule:
    """The pretraining module of ``method.family`` (the ``model`` node of ``conf/config.yaml``)."""
    return get_method(method["family"])(backbone, method, num_views, dataset, analysis)
