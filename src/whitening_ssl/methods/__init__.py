"""LightningModules: one per training stage."""

from .linear_probe import LinearProbeModule
from .whitening_pretrain import METHOD_DEFAULTS, WhiteningPretrainModule

__all__ = ["METHOD_DEFAULTS", "LinearProbeModule", "WhiteningPretrainModule"]
