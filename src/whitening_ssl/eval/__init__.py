"""Evaluation protocols on frozen encoders (k-NN, fast linear probe) and online evaluation."""

from .features import extract_features
from .knn import knn_accuracy, knn_predict
from .linear import linear_probe, topk_accuracies, train_linear_classifier
from .online import OnlineEvaluation, evaluate_encoder, evaluate_features
from .probe_data import ImageProbeDataModule

__all__ = [
    "ImageProbeDataModule",
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
