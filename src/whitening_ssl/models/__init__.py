"""Networks: ResNet backbones with the dataset's stem, timm backbones (ViTs, any timm model), projection heads
and predictors, per-view BatchNorm."""

from .backbone_checks import check_backbone, view_sizes
from .backbones import BACKBONES, LIBRARIES, STEMS, build_backbone, resolve_stem
from .heads import ACTIVATIONS, Predictor, ProjectionHead, SimSiamProjector
from .timm_backbones import PATCH_SIZES, wants_channels_last
from .view_norm import ViewBatchNorm1d, ViewBatchNorm2d, per_view_batchnorm, synchronize_batchnorm, views_per_pass

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "LIBRARIES",
    "PATCH_SIZES",
    "STEMS",
    "Predictor",
    "ProjectionHead",
    "SimSiamProjector",
    "ViewBatchNorm1d",
    "ViewBatchNorm2d",
    "build_backbone",
    "check_backbone",
    "per_view_batchnorm",
    "resolve_stem",
    "synchronize_batchnorm",
    "view_sizes",
    "views_per_pass",
    "wants_channels_last",
]
