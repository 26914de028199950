"""The predictive baselines: BYOL and SimSiam (an online prediction against a detached target)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..numerics import float32_math
from ._views import Views, as_view_pair_inputs
from .pairs import view_pairs


class BYOLLoss(nn.Module):
    """BYOL loss (Grill et al., NeurIPS 2020), all view pairs, as the paper's ``BYOL`` method.

    ``D(p, t) = mean_n (2 - 2 cos(p_n, t_n)) = mean_n || p_n/|p_n| - t_n/|t_n| ||^2`` between an
    online prediction ``p`` and a target projection ``t``; targets are detached here (they come
    from the EMA network; no gradient flows into them). Normalisation:

    - ``sum_directions=True`` (default, the paper's code):
      ``sum_{i<j} [D(p_i, t_j) + D(p_j, t_i)] / (V(V-1)/2)`` = 2 x mean over ordered pairs;
      V=2: ``D(p_1, t_2) + D(p_2, t_1)``, BYOL's symmetrised loss;
    - ``sum_directions=False``: mean over the ``V(V-1)`` ordered pairs ``i != j`` of
      ``D(p_i, t_j)`` (half the above).

    Args:
        sum_directions: sum the two directions of each pair (the paper's code) or average them.

    Shapes: ``forward(predictions, targets)``, both ``[V, N, d]`` -> scalar.
    """

    def __init__(self, sum_directions: bool = True) -> None:
        super().__init__()
        self.sum_directions = sum_directions

    def forward(self, predictions: Views, targets: Views) -> Tensor:
        predictions, targets = as_view_pair_inputs(predictions, targets, "predictions", "targets")
        with float32_math(predictions.device.type):
            both = torch.stack((F.normalize(predictions, dim=-1), F.normalize(targets.detach(), dim=-1)), dim=1)
            first, second = view_pairs(both, ordered=True)  # [P, 2, N, d]
            cosine = (first[:, 0] * second[:, 1]).sum(-1)  # cos(p_i, t_j): [P, N]
            loss = (2 - 2 * cosine).mean()
            return 2 * loss if self.sum_directions else loss


class SimSiamLoss(nn.Module):
    """SimSiam loss (Chen & He, CVPR 2021), as the paper's ``SIMSIAM`` method.

    ``D(p, z) = -mean_n cos(p_n, stopgrad(z_n))``; total: mean over the ``V(V-1)`` ordered pairs
    ``i != j`` of ``D(p_i, z_j)`` (V=2: ``(D(p_1, z_2) + D(p_2, z_1)) / 2``). Projections are
    detached here; gradients reach them only through the predictions.

    Shapes: ``forward(predictions, projections)``, both ``[V, N, d]`` -> scalar.
    """

    def forward(self, predictions: Views, projections: Views) -> Tensor:
        predictions, projections = as_view_pair_inputs(predictions, projections, "predictions", "projections")
        with float32_math(predictions.device.type):
            both = torch.stack((F.normalize(predictions, dim=-1), F.normalize(projections.detach(), dim=-1)), dim=1)
            first, second = view_pairs(both, ordered=True)  # [P, 2, N, d]
            return -(first[:, 0] * second[:, 1]).sum(-1).mean()
