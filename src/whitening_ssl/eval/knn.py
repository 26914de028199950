"""k-nearest-neighbour accuracy on frozen features (PAPER_NOTES section 6).

As in the W-MSE / CW-RGP evaluation: Euclidean distance, ``k = 5``, majority vote; ties go to the
smallest label (what ``unique(return_counts=True)`` + ``argmax`` gives in the reference code).
"""

from __future__ import annotations

import torch
from torch import Tensor


@torch.no_grad()
def knn_predict(train_x: Tensor, train_y: Tensor, test_x: Tensor, k: int = 5, num_classes: int | None = None,
                chunk_size: int = 1024) -> Tensor:
    """Majority-vote labels of the ``k`` Euclidean nearest training points, in chunks of test points."""
    if num_classes is None:
        num_classes = int(train_y.max()) + 1
    k = min(k, len(train_x))
    predictions = []
    for start in range(0, len(test_x), chunk_size):
        distances = torch.cdist(test_x[start:start + chunk_size], train_x)
        neighbours = distances.topk(k, dim=1, largest=False).indices
        votes = torch.zeros(len(neighbours), num_classes, device=train_x.device)
        votes.scatter_add_(1, train_y[neighbours], torch.ones_like(neighbours, dtype=votes.dtype))
        predictions.append(votes.argmax(dim=1))  # first maximum: smallest label among ties
    return torch.cat(predictions)


def knn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, k: int = 5) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of the k-NN classifier."""
    labelled = train_y >= 0  # STL-10's unlabeled split carries label -1
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    predictions = knn_predict(train_x[labelled], train_y[labelled], test_x, k=k, num_classes=num_classes)
    return (predictions == test_y).float().mean().item()
