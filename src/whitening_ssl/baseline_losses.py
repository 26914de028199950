"""Baseline self-supervised losses of the paper's comparison table (Weng et al., NeurIPS 2022).

Each loss is a small ``nn.Module`` independent of any training module. Every ``forward`` takes the
per-view tensors stacked as ``[V, N, d]`` (``V >= 2`` views of ``N`` samples with ``d`` channels;
a list of ``V`` tensors ``[N, d]`` is stacked for you) and returns a scalar. All view pairs come
from :func:`whitening_ssl.losses.view_pairs` and are computed in one batched call (``bmm`` over
the pair dim): no Python loop over views or pairs. Per-view quantities (self-similarities,
standardisations, covariances, whitening matrices) are computed once per view, then paired.

Half-precision inputs are promoted to float32 and the losses run with autocast disabled (as the
whitening transforms do), so they are safe under AMP.

The normalisations follow the paper's code (github.com/winci-ai/CW-RGP, ``base/methods``; its
contrastive loss is W-MSE's, github.com/htdt/self-supervised), unless a docstring says otherwise:

- :class:`NTXentLoss`: mean over unordered pairs of the two-direction average;
- :class:`BYOLLoss`: per unordered pair both directions SUMMED, mean over unordered pairs (the
  paper's code; ``sum_directions=False`` halves it: mean over ordered pairs);
- :class:`SimSiamLoss`: mean over ordered pairs (V=2: the two directions averaged);
- :class:`BarlowTwinsLoss`, :class:`VICRegLoss`, :class:`ZeroICLLoss`: the two-view loss, mean
  over unordered pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .losses import view_pairs
from .whitening import _no_autocast

__all__ = [
    "BarlowTwinsLoss",
    "BYOLLoss",
    "NTXentLoss",
    "SimSiamLoss",
    "VICRegLoss",
    "ZeroICLLoss",
    "byol_tau",
]


def _as_views(x, name: str = "embeddings") -> Tensor:
    """``[V, N, d]`` tensor (stacking a list of views), float32 or wider."""
    if isinstance(x, (list, tuple)):
        x = torch.stack(list(x))
    if x.dim() != 3:
        raise ValueError(f"{name} must be [views, batch, dim], got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 views to form pairs, got {x.shape[0]}")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x


def _as_view_pair_inputs(a, b, name_a: str, name_b: str) -> tuple[Tensor, Tensor]:
    a, b = _as_views(a, name_a), _as_views(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def _eye_mask(n: int, device) -> Tensor:
    return torch.eye(n, dtype=torch.bool, device=device)


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

    Shapes: ``forward(z)`` with ``z`` ``[V, N, d]`` -> scalar.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, z) -> Tensor:
        z = _as_views(z)
        with _no_autocast(z.device.type):
            z = F.normalize(z, dim=-1)
            # intra-view logits once per view, then paired: [V, N, N]
            self_logits = (z @ z.transpose(-1, -2) / self.temperature).masked_fill(
                _eye_mask(z.shape[1], z.device), float("-inf"))
            self0, self1 = view_pairs(self_logits)  # l00, l11: [P, N, N]
            x0, x1 = view_pairs(z)  # [P, N, d]
            cross = x0 @ x1.transpose(-1, -2) / self.temperature  # l01; l10 = l01^T
            positives = cross.diagonal(dim1=-2, dim2=-1)  # [P, N]
            lse01 = torch.logaddexp(cross.logsumexp(-1), self0.logsumexp(-1))
            lse10 = torch.logaddexp(cross.logsumexp(-2), self1.logsumexp(-1))
            return (lse01 + lse10 - 2 * positives).mean() / 2


def byol_tau(progress: float, base_tau: float = 0.99) -> float:
    """BYOL target EMA rate at ``progress`` (fraction of training done, 0..1).

    ``tau = 1 - (1 - base_tau) (cos(pi progress) + 1) / 2``: ``base_tau`` at the start, 1 at the
    end (Grill et al. NeurIPS 2020; the paper's code updates the target every step with it).
    """
    return 1.0 - (1.0 - base_tau) * (math.cos(math.pi * progress) + 1.0) / 2.0


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

    Shapes: ``forward(predictions, targets)``, both ``[V, N, d]`` -> scalar.
    """

    def __init__(self, sum_directions: bool = True) -> None:
        super().__init__()
        self.sum_directions = sum_directions

    def forward(self, predictions, targets) -> Tensor:
        predictions, targets = _as_view_pair_inputs(predictions, targets, "predictions", "targets")
        with _no_autocast(predictions.device.type):
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

    def forward(self, predictions, projections) -> Tensor:
        predictions, projections = _as_view_pair_inputs(predictions, projections, "predictions", "projections")
        with _no_autocast(predictions.device.type):
            both = torch.stack((F.normalize(predictions, dim=-1), F.normalize(projections.detach(), dim=-1)), dim=1)
            first, second = view_pairs(both, ordered=True)  # [P, 2, N, d]
            return -(first[:, 0] * second[:, 1]).sum(-1).mean()


BARLOW_SCALES = ("embedding", "batch")


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins loss (Zbontar et al., ICML 2021), as the paper's ``BARLOW_TWINS`` method.

    Each view is batch-normalised without affine parameters (batch statistics: per feature
    ``(z - mean_n z) / sqrt(var_n z + eps)``, biased variance, ``BatchNorm1d(affine=False)`` in
    training mode). For a pair: ``c = bn(z_1)^T bn(z_2) / s`` (``D x D``) with ``s = D`` (the
    embedding size, ``scale="embedding"``, the paper's code) or ``s = N`` (the batch size,
    ``scale="batch"``, the original method);
    ``loss = sum_i (c_ii - 1)^2 + lambd sum_{i != j} c_ij^2``. Total: mean over unordered pairs.

    Shapes: ``forward(z)`` with ``z`` ``[V, N, D]`` -> scalar.
    """

    def __init__(self, lambd: float = 0.008, scale: str = "embedding", eps: float = 1e-5) -> None:
        super().__init__()
        if scale not in BARLOW_SCALES:
            raise ValueError(f"unknown Barlow Twins scale {scale!r}: use one of {', '.join(BARLOW_SCALES)}")
        self.lambd = lambd
        self.scale = scale
        self.eps = eps

    def forward(self, z) -> Tensor:
        z = _as_views(z)
        with _no_autocast(z.device.type):
            _, batch, dim = z.shape
            normed = (z - z.mean(1, keepdim=True)) / torch.sqrt(z.var(1, unbiased=False, keepdim=True) + self.eps)
            first, second = view_pairs(normed)  # [P, N, D]
            c = first.transpose(-1, -2) @ second / (dim if self.scale == "embedding" else batch)  # [P, D, D]
            on_diag = (c.diagonal(dim1=-2, dim2=-1) - 1).square().sum(-1)
            off_diag = c.square().masked_fill(_eye_mask(dim, z.device), 0).sum((-2, -1))
            return (on_diag + self.lambd * off_diag).mean()


VICREG_CONVENTIONS = {
    # name: (factor on the sum of the two views' variance terms, factor on the covariance terms)
    "paper": (1.0, 1.0),  # CW-RGP's base/methods/vicreg.py: both summed over the two views
    "official": (0.5, 1.0),  # facebookresearch/vicreg main_vicreg.py: variance averaged, cov summed
    "mean": (0.5, 0.5),  # both averaged over the two views
}


class VICRegLoss(nn.Module):
    """VICReg loss (Bardes et al., ICLR 2022).

    For a pair of views ``(z_1, z_2)``, ``[N, D]`` each::

        inv   = mse(z_1, z_2)                                   (mean over N and D)
        v(z)  = mean_d relu(1 - sqrt(var_n(z_d) + eps))         (unbiased variance over the batch)
        c(z)  = sum_{i != j} Cov(z)_ij^2 / D,  Cov(z) = (z - mean)^T (z - mean) / (N - 1)
        loss  = sim_weight inv + var_weight a (v(z_1) + v(z_2)) + cov_weight b (c(z_1) + c(z_2))

    with ``(a, b)`` set by ``convention``:

    - ``"paper"`` (default): ``a = b = 1``, both regularisers SUMMED over the two views, as the
      paper's code (``base/methods/vicreg.py``) and PAPER_NOTES' formula;
    - ``"official"``: ``a = 1/2, b = 1``, as facebookresearch/vicreg (its variance term is
      ``mean(relu(1 - std_x)) / 2 + mean(relu(1 - std_y)) / 2``, its covariance term is NOT halved);
    - ``"mean"``: ``a = b = 1/2``, both averaged over the two views.

    Total: mean over unordered pairs. Shapes: ``forward(z)`` with ``z`` ``[V, N, D]`` -> scalar.
    """

    def __init__(self, sim_weight: float = 25.0, var_weight: float = 25.0, cov_weight: float = 1.0,
                 eps: float = 1e-4, convention: str = "paper") -> None:
        super().__init__()
        if convention not in VICREG_CONVENTIONS:
            raise ValueError(f"unknown VICReg convention {convention!r}: use one of {', '.join(VICREG_CONVENTIONS)}")
        self.sim_weight = sim_weight
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.eps = eps
        self.convention = convention

    def forward(self, z) -> Tensor:
        z = _as_views(z)
        with _no_autocast(z.device.type):
            _, batch, dim = z.shape
            var_factor, cov_factor = VICREG_CONVENTIONS[self.convention]
            # per-view regularisers, once per view: [V]
            variance = F.relu(1 - torch.sqrt(z.var(1) + self.eps)).mean(-1)
            centred = z - z.mean(1, keepdim=True)
            cov = centred.transpose(-1, -2) @ centred / (batch - 1)  # [V, D, D]
            covariance = cov.square().masked_fill(_eye_mask(dim, z.device), 0).sum((-2, -1)) / dim
            regs = var_factor * self.var_weight * variance + cov_factor * self.cov_weight * covariance  # [V]
            z1, z2 = view_pairs(z)  # [P, N, D]
            regs1, regs2 = view_pairs(regs)  # [P]
            per_pair = self.sim_weight * (z1 - z2).square().mean((-2, -1)) + regs1 + regs2
            return per_pair.mean()


class ZeroICLLoss(nn.Module):
    """Zero-CL's instance-wise loss ("Zero-ICL"; Zhang et al., ICLR 2022), as the paper's code.

    Per view ``x`` (``[N, d]``):

    1. standardise each sample over its ``d`` features: ``x <- (x - mean_d x) / std_d x``
       (unbiased std, as ``torch.std``);
    2. ZCA-whiten the ``[d, N]`` matrix ``x^T`` (the ``N`` samples are the variables, the ``d``
       features the observations): ``S = x x^T / (d - 1)`` (``N x N``; unit diagonal after step 1;
       the paper's code divides by ``batch_size - 1`` of the transposed ``[d, N]`` matrix, i.e.
       ``d - 1``), shrinkage ``S <- (1 - shrinkage) S + shrinkage I``,
       ``W = U diag(1 / sqrt(l + eps)) U^T`` from ``S = U diag(l) U^T`` (``torch.linalg.eigh``,
       one batched call for all views), ``W`` DETACHED (no gradient through the whitening
       matrix), ``z = W x``.

    For a pair: ``c = z_1 z_2^T / d`` (``N x N``), ``loss = sum_n (c_nn - 1)^2``. Total: mean over
    unordered pairs. Shapes: ``forward(z)`` with ``z`` ``[V, N, d]`` -> scalar.
    """

    def __init__(self, shrinkage: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        if not 0.0 <= shrinkage < 1.0:
            raise ValueError(f"Zero-ICL shrinkage must be in [0, 1), got {shrinkage}")
        self.shrinkage = shrinkage
        self.eps = eps

    def whitening_matrices(self, x: Tensor) -> Tensor:
        """Detached ZCA matrices ``[V, N, N]`` of the per-sample standardised views ``x`` ``[V, N, d]``."""
        x = x.detach()
        cov = x @ x.transpose(-1, -2) / (x.shape[-1] - 1)
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
        cov = (1 - self.shrinkage) * cov + self.shrinkage * eye
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)
        return (eigenvectors * (eigenvalues + self.eps).rsqrt().unsqueeze(-2)) @ eigenvectors.transpose(-1, -2)

    def forward(self, z) -> Tensor:
        z = _as_views(z)
        with _no_autocast(z.device.type):
            dim = z.shape[-1]
            x = (z - z.mean(-1, keepdim=True)) / z.std(-1, keepdim=True)
            white = self.whitening_matrices(x) @ x  # [V, N, d]
            first, second = view_pairs(white)
            # diagonal of c = z_1 z_2^T / d without forming the N x N matrix
            c_diag = (first * second).sum(-1) / dim  # [P, N]
            return (c_diag - 1).square().sum(-1).mean()
