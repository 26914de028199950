"""The papers' fast evaluation protocol on a frozen encoder: embed the labelled training and test sets once, then
k-NN and a linear classifier on those features (the online evaluation runs it during pretraining; the ``knn``
stage and the report reuse it)."""

from __future__ import annotations

import torch
from torch import Tensor

from .features import extract_train_test_features
from .knn import knn_accuracy
from .linear_fast import linear_probe


def evaluate_features(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    knn_k: int = 5,
    linear_epochs: int = 500,
    seed: int = 0,
    knn_weighting: str = "majority",
    knn_temperature: float = 0.07,
    progress: bool = False,
) -> dict[str, float]:
    """k-NN top-1 and (``linear_epochs > 0``) linear top-1/top-5, in percent, from precomputed features."""
    knn = knn_accuracy(
        train_x,
        train_y,
        test_x,
        test_y,
        k=knn_k,
        weighting=knn_weighting,
        temperature=knn_temperature,
        progress=progress,
    )
    metrics = {"knn_top1": 100.0 * knn}
    if linear_epochs > 0:
        accuracies = linear_probe(train_x, train_y, test_x, test_y, epochs=linear_epochs, seed=seed, progress=progress)
        metrics["linear_top1"] = 100.0 * accuracies[1]
        metrics["linear_top5"] = 100.0 * accuracies[5]
    return metrics


def embed_sets(
    encoder,
    train_set,
    test_set,
    device,
    batch_size: int = 512,
    num_workers: int = 0,
    feature_dtype: str = "float32",
    progress: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """``(train_x, train_y, test_x, test_y)``: both sets embedded by the frozen ``encoder``, on rank 0
    (``None`` elsewhere). ``progress``: bars over the batches."""
    dtype = getattr(torch, feature_dtype)  # a name of eval_checks.FEATURE_DTYPES
    (train_x, train_y), (test_x, test_y) = extract_train_test_features(
        encoder, train_set, test_set, batch_size, device, num_workers, dtype, progress
    )
    if train_x is None or train_y is None or test_x is None or test_y is None:  # (not the main process)
        return None
    return train_x, train_y, test_x, test_y


def evaluate_encoder(
    encoder,
    train_set,
    test_set,
    device,
    batch_size: int = 512,
    num_workers: int = 0,
    feature_dtype: str = "float32",
    progress: bool = False,
    **kwargs,
) -> dict[str, float] | None:
    """Embed both sets with the frozen ``encoder`` and evaluate; the figures on rank 0, ``None`` elsewhere.
    ``progress``: bars over the feature extraction, the k-NN search and the probe's epochs."""
    features = embed_sets(encoder, train_set, test_set, device, batch_size, num_workers, feature_dtype, progress)
    return None if features is None else evaluate_features(*features, progress=progress, **kwargs)
