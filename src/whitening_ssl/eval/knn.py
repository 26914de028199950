"""k-nearest-neighbour accuracy on frozen features (PAPER_NOTES section 6).

``majority`` (the published protocol): Euclidean distance, ``k = 5``, majority vote; ties go to the
smallest label (what ``unique(return_counts=True)`` + ``argmax`` gives in the reference code).
``cosine`` (an option): neighbours by cosine similarity, each voting with ``exp(sim / temperature)``
(the weighted k-NN of InstDisc/DINO).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

KNN_WEIGHTINGS = ("majority", "cosine")


@torch.no_grad()
def knn_predict(train_x: Tensor, train_y: Tensor, test_x: Tensor, k: int = 5, num_classes: int | None = None,
                chunk_size: int = 1024, weighting: str = "majority", temperature: float = 0.07) -> Tensor:
    """Predicted labels of ``test_x`` from its ``k`` nearest training points, in chunks of test points."""
    if weighting not in KNN_WEIGHTINGS:
        raise ValueError(f"knn.weighting={weighting!r}: use one of {', '.join(KNN_WEIGHTINGS)}")
    if num_classes is None:
        num_classes = int(train_y.max()) + 1
    k = min(k, len(train_x))
    if weighting == "cosine":
        train_x, test_x = F.normalize(train_x, dim=1), F.normalize(test_x, dim=1)
    predictions = []
    for start in range(0, len(test_x), chunk_size):
        chunk = test_x[start:start + chunk_size]
        if weighting == "majority":
            neighbours = torch.cdist(chunk, train_x).topk(k, dim=1, largest=False).indices
            weights = torch.ones(neighbours.shape, device=train_x.device)
        else:
            similarity, neighbours = (chunk @ train_x.T).topk(k, dim=1)
            weights = (similarity / temperature).exp()
        votes = torch.zeros(len(neighbours), num_classes, device=train_x.device)
        votes.scatter_add_(1, train_y[neighbours], weights)
        predictions.append(votes.argmax(dim=1))  # first maximum: smallest label among ties
    return torch.cat(predictions)


def knn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, k: int = 5,
                 weighting: str = "majority", temperature: float = 0.07) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of the k-NN classifier."""
    labelled = train_y >= 0  # STL-10's unlabeled split carries label -1
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    predictions = knn_predict(train_x[labelled], train_y[labelled], test_x, k=k, num_classes=num_classes,
                              weighting=weighting, temperature=temperature)
    return (predictions == test_y).float().mean().item()
