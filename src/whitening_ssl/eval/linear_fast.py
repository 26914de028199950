"""The fast linear protocol of the W-MSE and CW-RGP papers, on precomputed features.

``nn.Linear`` trained with Adam, learning rate 1e-2 decayed exponentially to 1e-6 over 500 epochs,
weight decay 5e-6, batches of 1000, cross-entropy; top-1 and top-5 on the test features, computed
with torchmetrics (micro average). The online evaluation and ``stage=linear`` both use this code,
so the same checkpoint, data and seed give the same figure in both.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchmetrics.functional.classification import multiclass_accuracy

from ..progress import track


def train_linear_classifier(
    train_x: Tensor,
    train_y: Tensor,
    num_classes: int,
    epochs: int = 500,
    lr: float = 1e-2,
    lr_end: float = 1e-6,
    weight_decay: float = 5e-6,
    batch_size: int = 1000,
    seed: int = 0,
    progress: bool = False,
) -> nn.Linear:
    """Train the linear classifier of the fast protocol; its own RNG keeps training's RNG untouched.

    ``train_x`` may be half precision (``eval.feature_dtype=float16``): each batch is converted to
    float32 as it is used, so no float32 copy of the whole matrix is made. ``progress``: a bar over the
    epochs (main process).
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = nn.Linear(train_x.shape[1], num_classes, dtype=torch.float32).to(train_x.device)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr, weight_decay=weight_decay)
    gamma = (lr_end / lr) ** (1.0 / max(epochs, 1))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    criterion = nn.CrossEntropyLoss()
    classifier.train()
    with torch.enable_grad():
        for _ in track(range(epochs), epochs, "linear probe", enabled=progress, unit="epoch"):
            order = torch.randperm(len(train_x), generator=generator).to(train_x.device)
            for inputs, targets in shuffled_batches(train_x, train_y, order, batch_size):
                optimizer.zero_grad(set_to_none=True)
                criterion(classifier(inputs.float()), targets).backward()
                optimizer.step()
            scheduler.step()
    return classifier.eval()


#: bytes of training features gathered at once in an epoch's order (:func:`shuffled_batches`)
GATHER_BYTES = 64 * 2**20


def shuffled_batches(train_x: Tensor, train_y: Tensor, order: Tensor, batch_size: int):
    """``(train_x[b], train_y[b])`` for each batch ``b`` of ``order.split(batch_size)``, the same values.

    The rows are gathered a part of about :data:`GATHER_BYTES` (whole batches) at a time and the batches
    are views of it: one copy per part instead of one small indexing op per batch, which on a CPU
    costs more than the batch's step when other processes hold the cores (the copy is threaded).
    """
    row_bytes = max(train_x[0].numel() * train_x.element_size(), 1) if len(train_x) else 1
    part_rows = max(GATHER_BYTES // (row_bytes * batch_size), 1) * batch_size
    for start in range(0, len(order), part_rows):
        part = order[start : start + part_rows]
        inputs, targets = train_x.index_select(0, part), train_y.index_select(0, part)
        for first in range(0, len(part), batch_size):
            yield inputs[first : first + batch_size], targets[first : first + batch_size]


@torch.no_grad()
def topk_accuracies(
    logits: Tensor, targets: Tensor, num_classes: int, topk: Sequence[int] = (1, 5)
) -> dict[int, float]:
    """Micro-averaged top-k accuracies (fractions); k is capped at the number of classes."""
    return {
        k: multiclass_accuracy(
            logits, targets, num_classes=num_classes, top_k=min(k, num_classes), average="micro"
        ).item()
        for k in topk
    }


def linear_probe(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    epochs: int = 500,
    seed: int = 0,
    return_classifier: bool = False,
    **kwargs,
):
    """Train on ``(train_x, train_y)`` and return ``{1: top1, 5: top5}`` on the test features.

    Training labels < 0 (STL-10's unlabeled split) are left out. ``kwargs`` go to
    :func:`train_linear_classifier` (``lr``, ``lr_end``, ``weight_decay``, ``batch_size``, ``progress``). With
    ``return_classifier`` the trained ``nn.Linear`` is returned too.
    """
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    if bool((train_y < 0).any()):  # copies the labelled rows only when there are unlabelled ones
        labelled = train_y >= 0
        train_x, train_y = train_x[labelled], train_y[labelled]
    classifier = train_linear_classifier(train_x, train_y, num_classes, epochs=epochs, seed=seed, **kwargs)
    with torch.no_grad():
        logits = torch.cat([classifier(chunk.float()) for chunk in test_x.split(65536)])
    accuracies = topk_accuracies(logits, test_y, num_classes)
    return (accuracies, classifier) if return_classifier else accuracies
