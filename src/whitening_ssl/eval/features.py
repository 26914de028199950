"""Frozen-encoder feature extraction for the evaluation protocols."""

from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader


@torch.no_grad()
def extract_features(encoder: nn.Module, loader: DataLoader, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Features and labels of every item of ``loader``, with ``encoder`` in eval mode (restored after)."""
    was_training = encoder.training
    encoder.eval()
    features, labels = [], []
    try:
        for images, targets in loader:
            features.append(encoder(images.to(device, non_blocking=True)).float())
            labels.append(torch.as_tensor(targets).to(device))
    finally:
        encoder.train(was_training)
    return torch.cat(features), torch.cat(labels).long()
