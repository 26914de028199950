"""LightningModules: the pretraining methods (one thin class per family) and the linear probe.

:data:`METHODS` maps ``method.family`` (set by each preset in ``conf/method/``) to its class;
:func:`build_method` is the Hydra target that builds the pretraining module. Adding a method is one
entry here, one module (over a loss of :mod:`whitening_ssl.losses`) and one YAML preset.
"""

from typing import Any, Dict, Mapping, Optional, Type

from .base import PretrainModule
from .byol import BYOLMethod
from .embedding_loss import EmbeddingLossMethod
from .intl import INTLMethod
from .lejepa import LeJEPAMethod
from .linear_probe import LinearProbeModule
from .resa import ReSAMethod
from .simsiam import SimSiamMethod
from .whitening_mse import WhiteningMSEMethod

METHODS: Dict[str, Type[PretrainModule]] = {
    "whitening_mse": WhiteningMSEMethod,
    "embedding_loss": EmbeddingLossMethod,
    "byol": BYOLMethod,
    "simsiam": SimSiamMethod,
    "intl": INTLMethod,
    "resa": ReSAMethod,
    "lejepa": LeJEPAMethod,
}


def register_config_defaults() -> None:
    """Each method family's settings with their defaults, made from the code (one source of truth), as the
    configuration node ``method/_defaults/<family>`` that its presets in ``conf/method/`` compose."""
    from hydra.core.config_store import ConfigStore

    from ..losses import LOSSES, loss_defaults

    store = ConfigStore.instance()
    for name, loss_class in LOSSES.items():  # a loss's arguments and defaults: method/_losses/<name>
        store.store(group="method/_losses", name=name, node={"name": name, **loss_defaults(loss_class)},
                    package="method.loss")
    store.store(group="method/_shared", name="extras", node=PretrainModule.extras_settings(), package="method")
    for family, method_class in METHODS.items():
        defaults = getattr(method_class, "default_settings", None)
        if defaults is not None:
            store.store(group="method/_defaults", name=family, node=defaults(), package="method")


register_config_defaults()


def get_method(family: str) -> Type[PretrainModule]:
    """The class of ``method.family``: a registered family, or ``module.Class`` of your own (a
    :class:`PretrainModule` subclass); one line listing the families otherwise."""
    from ..plugins import lookup

    return lookup(METHODS, family, "method.family", subclass_of=PretrainModule)


def build_method(backbone: Mapping[str, Any], method: Mapping[str, Any], num_views: int,
                 dataset: Optional[Mapping[str, Any]] = None, analysis: Optional[Mapping[str, Any]] = None
                 ) -> PretrainModule:
    """The pretraining module of ``method.family`` (the ``model`` node of ``conf/config.yaml``)."""
    return get_method(method["family"])(backbone, method, num_views, dataset, analysis)


__all__ = [
    "METHODS",
    "BYOLMethod",
    "EmbeddingLossMethod",
    "INTLMethod",
    "LeJEPAMethod",
    "LinearProbeModule",
    "PretrainModule",
    "ReSAMethod",
    "SimSiamMethod",
    "WhiteningMSEMethod",
    "build_method",
    "get_method",
]
