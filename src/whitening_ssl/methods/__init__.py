"""LightningModules: pretraining methods (one thin class per family) and the linear probe."""

from .base import BASE_DEFAULTS, PretrainModule
from .baselines import BYOLModule, EmbeddingLossModule, SimSiamModule
from .linear_probe import LinearProbeModule
from .whitening_pretrain import METHOD_DEFAULTS, WhiteningPretrainModule

__all__ = [
    "BASE_DEFAULTS",
    "BYOLModule",
    "EmbeddingLossModule",
    "LinearProbeModule",
    "METHOD_DEFAULTS",
    "PretrainModule",
    "SimSiamModule",
    "WhiteningPretrainModule",
]
