"""Evaluation protocols on frozen encoders: k-NN, the linear probe (the fast protocol on features,
:mod:`.linear_fast`; the standard protocol's LightningModule, :mod:`.linear_standard`) and the online evaluation."""

from .features import extract_features
from .knn import knn_accuracy, knn_predict
from .linear_fast import linear_probe, topk_accuracies, train_linear_classifier
from .linear_standard import LinearProbeModule
from .online import OnlineEvaluation, evaluate_encoder, evaluate_features
from .probe_data import ImageProbeDataModule

__all__ = [
    "ImageProbeDataModule",
    "LinearProbeModule",
    "OnlineEvaluation",
    "evaluate_encoder",
    "evaluate_features",
    "extract_features",
    "knn_accuracy",
    "knn_predict",
    "linear_probe",
    "topk_accuracies",
    "train_linear_classifier",
]
