"""A loss of your own: the spectral contrastive loss of HaoChen et al. (NeurIPS 2021).

For the embeddings of two views ``z_1, z_2`` (``[N, d]``)::

    loss = -2 mean_n z_1[n] . z_2[n] + mean_{n != m} (z_1[n] . z_2[m])^2

averaged over the view pairs. Any ``nn.Module`` whose ``forward`` takes the views' embeddings
``[V, N, d]`` and returns a scalar is a loss of the ``embedding_loss`` method family (the same
projection head, optimiser, checkpoints, evaluation and report as SimCLR or Barlow Twins). Use it
without editing the package (from the folder that holds ``examples/``), replacing SimCLR's loss::

    python run.py method=simclr method.name=spectral '~method.loss' \
        '+method.loss={name: examples.spectral_loss.SpectralContrastiveLoss, mu: 1.0}'

The constructor's arguments are the loss's settings (``method.loss.mu``); its own checks (a
``ValueError`` for a bad value) are run before anything starts.
"""

import torch
from torch import nn

from whitening_ssl.losses import view_pairs


class SpectralContrastiveLoss(nn.Module):
    """``-2 E[z_1 . z_2] + mu E_{n != m}[(z_1[n] . z_2[m])^2]`` over all view pairs (``[V, N, d]`` -> scalar)."""

    def __init__(self, mu: float = 1.0) -> None:
        super().__init__()
        if mu <= 0:
            raise ValueError(f"mu={mu} must be positive (the weight of the repulsion term)")
        self.mu = mu

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        first, second = view_pairs(z.float())  # [P, N, d] each
        similarity = first @ second.transpose(-1, -2)  # [P, N, N]
        n = similarity.shape[-1]
        attraction = similarity.diagonal(dim1=-2, dim2=-1).mean(-1)
        off_diagonal = similarity.square().sum((-2, -1)) - similarity.diagonal(dim1=-2, dim2=-1).square().sum(-1)
        return (-2 * attraction + self.mu * off_diagonal / (n * (n - 1))).mean()
