"""Networks: ResNet backbones with the dataset's stem, projection heads and predictors, per-view BatchNorm."""

from .backbones import BACKBONES, STEMS, build_backbone, resolve_stem
from .heads import Predictor, ProjectionHead, SimSiamProjector
from .view_norm import ViewBatchNorm1d, ViewBatchNorm2d, per_view_batchnorm, synchronize_batchnorm, views_per_pass

__all__ = [
    "BACKBONES",
    "STEMS",
    "Predictor",
    "ProjectionHead",
    "SimSiamProjector",
    "ViewBatchNorm1d",
    "ViewBatchNorm2d",
    "build_backbone",
    "per_view_batchnorm",
    "resolve_stem",
    "synchronize_batchnorm",
    "views_per_pass",
]
