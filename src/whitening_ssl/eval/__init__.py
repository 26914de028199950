"""Evaluation protocols on frozen encoders: k-NN, the linear probe (the fast protocol on features,
:mod:`.linear_fast`; the standard protocol's LightningModule, :mod:`.linear_standard`) and the online evaluation.
The settings' pre-run checks: :mod:`.eval_checks` (torch-free)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from .fast_protocol import evaluate_encoder as evaluate_encoder
    from .fast_protocol import evaluate_features as evaluate_features
    from .features import extract_features as extract_features
    from .knn import knn_accuracy as knn_accuracy
    from .knn import knn_predict as knn_predict
    from .linear_fast import linear_probe as linear_probe
    from .linear_fast import topk_accuracies as topk_accuracies
    from .linear_fast import train_linear_classifier as train_linear_classifier
    from .linear_standard import LinearProbeModule as LinearProbeModule
    from .online import OnlineEvaluation as OnlineEvaluation
    from .probe_data import ImageProbeDataModule as ImageProbeDataModule

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
