"""ReSA (Weng et al., ICML 2025, "Clustering Properties of Self-Supervised Learning"): a Sinkhorn
self-assignment of the encoder's own features as the target of a cross-entropy over the embeddings."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..numerics import float32_math
from .loss_rules import check_resa_settings

#: ``sum_all(tensor)`` in place over the processes (``torch.distributed.all_reduce``); ``None``: one process
AllReduce = Callable[[Tensor], object] | None


@torch.no_grad()
def sinkhorn_assignment(
    online: Tensor, target: Tensor, eps: float = 0.05, iters: int = 3, all_reduce: AllReduce = None, world_size: int = 1
) -> Tensor:
    """ReSA's self-assignment ``A [n, M]`` of ``n`` online samples to the ``M`` samples of the (global) batch.

    ``online [n, f]`` and ``target [M, f]`` are the L2-normalised backbone features of the weak view
    (online, this process's part; momentum encoder, every process's, ``M = n x world_size``).
    ``S = online target^T``; ``Q = exp(S / eps)^T`` (``[M, n]``), ``Q /= sum Q``; ``iters`` times: each
    row divided by its sum and by ``M``, then each column by its sum and by ``B = n x world_size``; last
    ``Q *= B``, so ``A = Q^T`` has rows summing to 1 (the authors' Sinkhorn-Knopp, no gradient). Under
    DDP the total and the row sums are summed over the processes (``all_reduce``), so each process's
    ``A`` is its rows of the one-process assignment of the global batch.
    """
    with float32_math(online.device.type):
        dtype = torch.promote_types(online.dtype, torch.float32)
        q = torch.exp(online.to(dtype) @ target.to(dtype).T / eps).T
        total = q.sum()
        if all_reduce is not None:
            all_reduce(total)
        q = q / total
        rows, columns = q.shape[0], q.shape[1] * world_size
        for _ in range(iters):  # the iterations are sequential by nature
            row_sums = q.sum(dim=1, keepdim=True)
            if all_reduce is not None:
                all_reduce(row_sums)
            q = q / row_sums / rows
            q = q / q.sum(dim=0, keepdim=True) / columns
        return (q * columns).T


class ReSALoss(nn.Module):
    """ReSA's cross-entropy over view pairs (Weng et al., ICML 2025; winci-ai/resa ``method/resa.py``).

    ``L = (1 / |P|) sum_{(q, v) in P} -mean_i sum_j A_ij log softmax_j(z^q_i . zbar^v_j / temperature)``
    with ``P = {(q, v): q over the V online views, v over the momentum views, q != v}`` (the authors'
    momentum views: 0, the weak view, and 1). ``z`` (online, predictor output where there is one) and
    ``zbar`` (momentum projector, every process's) are L2-normalised here; ``A`` (:func:`sinkhorn_assignment`)
    is the same for every pair and carries no gradient.

    The authors' January-2025 code (the ``figure`` branch) used a square assignment and a symmetric
    (row- and column-wise) cross-entropy with a gathered-with-gradient batch; this is their current code
    (one-way, rectangular, momentum batch gathered without gradient).

    Shapes: ``forward(online [V, n, d], targets [T, M, d], assignment [n, M])`` -> scalar.
    """

    def __init__(self, temperature: float = 0.4) -> None:
        super().__init__()
        problems = check_resa_settings(temperature, 1.0, 1)
        if problems:
            raise ValueError(problems[0])
        self.temperature = float(temperature)

    def forward(self, online: Tensor, targets: Tensor, assignment: Tensor) -> Tensor:
        with float32_math(online.device.type):
            dtype = torch.promote_types(online.dtype, torch.float32)
            z = F.normalize(online.to(dtype), dim=-1)
            zbar = F.normalize(targets.to(dtype).detach(), dim=-1)
            logits = torch.einsum("qnd,vmd->qvnm", z, zbar) / self.temperature  # every pair in one call
            cross_entropy = -(assignment.detach().to(dtype) * logits.log_softmax(dim=-1)).sum(-1).mean(-1)  # [V, T]
            pairs = (
                torch.arange(z.shape[0], device=z.device)[:, None] != torch.arange(zbar.shape[0], device=z.device)[None]
            )
            return cross_entropy[pairs].mean()
