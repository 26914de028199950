"""Redundancy-reduction baselines: Barlow Twins, VICReg and Zero-CL's instance-wise loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..numerics import float32_math
from ._views import Views, as_views, eye_mask
from .loss_rules import VICREG_CONVENTIONS, barlow_twins_problem, vicreg_problem, zero_cl_problem
from .pairs import view_pairs


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins loss (Zbontar et al., ICML 2021).

    Each view's embeddings ``z_v`` (``[N, D]``) are batch-normalised with that view's statistics
    (per feature, biased variance over the batch, ``eps`` added), then for a pair
    ``c = bn(z_1)^T bn(z_2) / s`` (``D x D``) and
    ``loss = sum_i (c_ii - 1)^2 + lambd sum_{i != j} c_ij^2``; total: mean over unordered pairs.

    Two settings differ between the CW-RGP paper's code and the original method:

    - ``normalization="learnable"`` (default, the paper's code): ``nn.BatchNorm1d(D)`` with its
      affine weight and bias, trained by the optimiser with the rest of the model (the parameters
      live in this module); ``"fixed"`` (the original Barlow Twins): ``BatchNorm1d(affine=False)``,
      a plain standardisation. ``num_features`` (= D) is needed for the learnable form.
    - ``scale="embedding"`` (default, the paper's code) divides ``c`` by ``D``; ``"batch"`` (the
      original) by ``N``.

    The learnable BatchNorm normalises each view with its own statistics and updates its running
    statistics once per view, as separate calls per view do (one batched call:
    :class:`~whitening_ssl.models.view_norm.ViewBatchNorm1d`).

    Args:
        lambd: weight of the off-diagonal (redundancy) term.
        scale: ``embedding`` (divide ``c`` by ``D``, the paper's code) or ``batch`` (by ``N``, the original).
        eps: added to the variance of the batch normalisation.
        normalization: ``learnable`` (a BatchNorm1d with affine weights, the paper's code) or ``fixed``.
        num_features: ``D``, for the learnable form (filled in from the embedding size).

    Shapes: ``forward(z)`` with ``z`` ``[V, N, D]`` -> scalar.
    """

    def __init__(
        self,
        lambd: float = 0.008,
        scale: str = "embedding",
        eps: float = 1e-5,
        normalization: str = "learnable",
        num_features: int | None = None,
    ) -> None:
        super().__init__()
        problem = barlow_twins_problem(scale, normalization, num_features)
        if problem:
            raise ValueError(problem)
        self.lambd = lambd
        self.scale = scale
        self.eps = eps
        self.normalization = normalization
        self.bn = None
        if normalization == "learnable" and num_features:  # (the rule above refuses learnable without it)
            from ..models.view_norm import ViewBatchNorm1d

            self.bn = ViewBatchNorm1d(num_features, eps=eps)

    def normalize(self, z: Tensor) -> Tensor:
        """Each view of ``z`` (``[V, N, D]``) batch-normalised with its own statistics."""
        if self.bn is not None:
            views, batch, dim = z.shape
            return self.bn(z.reshape(views * batch, dim), num_views=views).view(views, batch, dim)
        return (z - z.mean(1, keepdim=True)) / torch.sqrt(z.var(1, unbiased=False, keepdim=True) + self.eps)

    def forward(self, z: Views) -> Tensor:
        z = as_views(z)
        with float32_math(z.device.type):
            _, batch, dim = z.shape
            first, second = view_pairs(self.normalize(z))  # [P, N, D]
            c = first.transpose(-1, -2) @ second / (dim if self.scale == "embedding" else batch)  # [P, D, D]
            on_diag = (c.diagonal(dim1=-2, dim2=-1) - 1).square().sum(-1)
            off_diag = c.square().masked_fill(eye_mask(dim, z.device), 0).sum((-2, -1))
            return (on_diag + self.lambd * off_diag).mean()


class VICRegLoss(nn.Module):
    """VICReg loss (Bardes et al., ICLR 2022).

    For a pair of views ``(z_1, z_2)``, ``[N, D]`` each::

        inv   = mse(z_1, z_2)                                   (mean over N and D)
        v(z)  = mean_d relu(1 - sqrt(var_n(z_d) + eps))         (unbiased variance over the batch)
        c(z)  = sum_{i != j} Cov(z)_ij^2 / D,  Cov(z) = (z - mean)^T (z - mean) / (N - 1)
        loss  = sim_weight inv + var_weight a (v(z_1) + v(z_2)) + cov_weight b (c(z_1) + c(z_2))

    with ``(a, b)`` set by ``convention``:

    - ``"paper"`` (default): ``a = b = 1``, both regularisers SUMMED over the two views, as the
      paper's code (``base/methods/vicreg.py``);
    - ``"official"``: ``a = 1/2, b = 1``, as facebookresearch/vicreg (its variance term is
      ``mean(relu(1 - std_x)) / 2 + mean(relu(1 - std_y)) / 2``, its covariance term is NOT halved);
    - ``"mean"``: ``a = b = 1/2``, both averaged over the two views.

    Total: mean over unordered pairs. Shapes: ``forward(z)`` with ``z`` ``[V, N, D]`` -> scalar.

    Args:
        sim_weight: weight of the invariance (MSE) term.
        var_weight: weight of the variance term.
        cov_weight: weight of the covariance term.
        eps: added to the variance under the square root.
        convention: ``paper``, ``official`` or ``mean``: how the two views' regularisers add up (see above).
    """

    def __init__(
        self,
        sim_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
        eps: float = 1e-4,
        convention: str = "paper",
    ) -> None:
        super().__init__()
        problem = vicreg_problem(convention)
        if problem:
            raise ValueError(problem)
        self.sim_weight = sim_weight
        self.var_weight = var_weight
        self.cov_weight = cov_weight
        self.eps = eps
        self.convention = convention
        self.var_factor, self.cov_factor = VICREG_CONVENTIONS[convention]

    def forward(self, z: Views) -> Tensor:
        z = as_views(z)
        with float32_math(z.device.type):
            _, batch, dim = z.shape
            # per-view regularisers, once per view: [V]
            variance = F.relu(1 - torch.sqrt(z.var(1) + self.eps)).mean(-1)
            centred = z - z.mean(1, keepdim=True)
            cov = centred.transpose(-1, -2) @ centred / (batch - 1)  # [V, D, D]
            covariance = cov.square().masked_fill(eye_mask(dim, z.device), 0).sum((-2, -1)) / dim
            regs = self.var_factor * self.var_weight * variance + self.cov_factor * self.cov_weight * covariance  # [V]
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

    Args:
        shrinkage: shrinkage of the ``N x N`` covariance toward the identity.
        eps: added to the eigenvalues before the inverse square root.
    """

    def __init__(self, shrinkage: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        problem = zero_cl_problem(shrinkage)
        if problem:
            raise ValueError(problem)
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

    def forward(self, z: Views) -> Tensor:
        z = as_views(z)
        with float32_math(z.device.type):
            dim = z.shape[-1]
            x = (z - z.mean(-1, keepdim=True)) / z.std(-1, keepdim=True)
            white = self.whitening_matrices(x) @ x  # [V, N, d]
            first, second = view_pairs(white)
            # diagonal of c = z_1 z_2^T / d without forming the N x N matrix
            c_diag = (first * second).sum(-1) / dim  # [P, N]
            return (c_diag - 1).square().sum(-1).mean()
