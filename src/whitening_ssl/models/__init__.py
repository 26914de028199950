"""Networks: ResNet backbones with the dataset's stem, timm backbones (ViTs, any timm model), projection heads
and predictors, per-view BatchNorm. The settings' pre-run checks: :mod:`.backbone_checks`, :mod:`.stems` and
:mod:`.timm_settings` (torch-free)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from .backbone_checks import check_backbone as check_backbone
    from .backbone_checks import view_sizes as view_sizes
    from .backbones import BACKBONES as BACKBONES
    from .backbones import build_backbone as build_backbone
    from .heads import ACTIVATIONS as ACTIVATIONS
    from .heads import Predictor as Predictor
    from .heads import ProjectionHead as ProjectionHead
    from .heads import SimSiamProjector as SimSiamProjector
    from .stems import LIBRARIES as LIBRARIES
    from .stems import STEMS as STEMS
    from .stems import resolve_stem as resolve_stem
    from .timm_backbones import wants_channels_last as wants_channels_last
    from .timm_settings import PATCH_SIZES as PATCH_SIZES
    from .view_norm import ViewBatchNorm1d as ViewBatchNorm1d
    from .view_norm import ViewBatchNorm2d as ViewBatchNorm2d
    from .view_norm import per_view_batchnorm as per_view_batchnorm
    from .view_norm import synchronize_batchnorm as synchronize_batchnorm
    from .view_norm import views_per_pass as views_per_pass

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
