"""The contrastive baseline: NT-Xent (SimCLR), as the CW-RGP paper's code computes it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..numerics import float32_math
from ._views import Views, as_views, eye_mask
from .loss_rules import ntxent_problem
from .pairs import view_pairs


class NTXentLoss(nn.Module):
    """NT-Xent (SimCLR, Chen et al. ICML 2020), as the paper's / W-MSE's ``contrastive_loss``.

    Embeddings are L2-normalised. For a pair of views ``(x0, x1)`` (``[N, d]``)::

        l01 = x0 x1^T / tau,   l00 = x0 x0^T / tau with the diagonal masked (-inf),
        L(x0 -> x1) = mean_n CE(row n of [l01 | l00], target n)
                    = mean_n ( logsumexp_m [l01 | l00]_nm - l01_nn ),

    i.e. for each anchor the positive is the same sample in the other view and the negatives are
    all other samples of both views (intra-view negatives included). The pair loss is
    ``(L(x0 -> x1) + L(x1 -> x0)) / 2``; the total is the mean over the ``V(V-1)/2`` unordered
    view pairs (W-MSE's ``contrastive`` method with ``num_pairs``).

    Args:
        temperature: ``tau``, the softmax temperature of the similarities.

    Shapes: ``forward(z)`` with ``z`` ``[V, N, d]`` -> scalar.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        problem = ntxent_problem(temperature)
        if problem:
            raise ValueError(problem)
        self.temperature = temperature

    def forward(self, z: Views) -> Tensor:
        z = as_views(z)
        with float32_math(z.device.type):
            z = F.normalize(z, dim=-1)
            # intra-view logits once per view, then paired: [V, N, N]
            self_logits = (z @ z.transpose(-1, -2) / self.temperature).masked_fill(
                eye_mask(z.shape[1], z.device), float("-inf")
            )
            self0, self1 = view_pairs(self_logits)  # l00, l11: [P, N, N]
            x0, x1 = view_pairs(z)  # [P, N, d]
            cross = x0 @ x1.transpose(-1, -2) / self.temperature  # l01; l10 = l01^T
            positives = cross.diagonal(dim1=-2, dim2=-1)  # [P, N]
            lse01 = torch.logaddexp(cross.logsumexp(-1), self0.logsumexp(-1))
            lse10 = torch.logaddexp(cross.logsumexp(-2), self1.logsumexp(-1))
            return (lse01 + lse10 - 2 * positives).mean() / 2
