"""LightningModules: one per training stage."""

from .whitening_pretrain import METHOD_DEFAULTS, WhiteningPretrainModule

__all__ = ["METHOD_DEFAULTS", "WhiteningPretrainModule"]
