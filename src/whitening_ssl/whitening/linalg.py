"""The linear algebra of whitening: covariances, their factorisations, and closed-form backward passes.

Everything works on stacks of blocks ``[..., n, p]`` (``n`` observations of ``p`` variables), batched
into one call per operation; see :mod:`whitening_ssl.whitening` for how blocks are formed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def covariance(x: Tensor, eps: float, denom_offset: int) -> Tensor:
    """``(1 - eps) X^T X / (n - denom_offset) + eps I`` for centred ``x`` ``[..., n, p]`` (n observations)."""
    cov = x.transpose(-1, -2) @ x / (x.shape[-2] - denom_offset)
    if eps:
        eye = torch.eye(x.shape[-1], dtype=cov.dtype, device=cov.device)
        cov = (1 - eps) * cov + eps * eye
    return cov


class CholeskyWhitening(torch.autograd.Function):
    """``Z = X L^-T`` with ``L L^T`` the (shrunk) covariance of the centred ``X`` ``[..., n, p]``.

    Forward: one batched Cholesky and one triangular solve. Backward in closed form, one triangular
    solve instead of autograd's path through ``cholesky`` and ``solve_triangular``: with
    ``G = dLoss/dZ``, ``B = Phi(G^T Z)`` (lower triangle, diagonal halved) and
    ``s = (1 - eps) / (n - denom_offset)``, ``dLoss/dX = (G - s Z (B + B^T)) L^-1``.
    Tested against the autograd gradient of the plain loop (``tests/unit/test_whitening.py``).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, eps: float, denom_offset: int) -> Tensor:
        chol, info = torch.linalg.cholesky_ex(covariance(x, eps, denom_offset))
        # On the CPU check now (free); on a GPU a check would sync every step: a failed factorisation
        # gives NaNs there instead, which the training loop reports at its next logging step.
        if not x.is_cuda and info.any():
            raise torch.linalg.LinAlgError(
                "whitening covariance is not positive definite (singular or rank-deficient embeddings): "
                "use eps > 0 (shrinkage), a larger sub-batch for batch whitening or fewer groups for "
                "channel whitening"
            )
        white = torch.linalg.solve_triangular(chol, x.transpose(-1, -2), upper=False).transpose(-1, -2)
        ctx.save_for_backward(white, chol)
        ctx.scale = (1 - eps) / (x.shape[-2] - denom_offset)
        return white

    @staticmethod
    def backward(ctx: Any, grad_white: Tensor) -> tuple[Tensor, None, None]:
        white, chol = ctx.saved_tensors
        phi = (grad_white.transpose(-1, -2) @ white).tril()
        phi.diagonal(dim1=-2, dim2=-1).mul_(0.5)
        inner = grad_white - (white @ (phi + phi.transpose(-1, -2))) * ctx.scale
        grad_x = torch.linalg.solve_triangular(chol.transpose(-1, -2), inner.transpose(-1, -2), upper=True)
        return grad_x.transpose(-1, -2), None, None


class ZCAWhitening(torch.autograd.Function):
    """``Z = X W`` with ``W = S^-1/2 = U diag(l^-1/2) U^T``, ``S`` the (shrunk) covariance of ``X``.

    Forward: one batched ``eigh``. Backward in closed form (Daleckii-Krein): with ``s = sqrt(l)``,
    ``dLoss/dS = U (K o (U^T sym(X^T G) U)) U^T`` where ``K_ij = -1 / (s_i s_j (s_i + s_j))``. This
    is the same gradient as autograd through an SVD/eigh where that is defined, but it has no
    ``1 / (l_i - l_j)`` term, so it stays finite when eigenvalues (nearly) coincide.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, eps: float, denom_offset: int) -> Tensor:
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance(x, eps, denom_offset))
        roots = eigenvalues.abs().sqrt()  # |l|: the singular values the reference SVD gives
        matrix = (eigenvectors / roots.unsqueeze(-2)) @ eigenvectors.transpose(-1, -2)
        ctx.save_for_backward(x, matrix, eigenvectors, roots)
        ctx.scale = (1 - eps) / (x.shape[-2] - denom_offset)
        return x @ matrix

    @staticmethod
    def backward(ctx: Any, grad_white: Tensor) -> tuple[Tensor, None, None]:
        x, matrix, eigenvectors, roots = ctx.saved_tensors
        grad_matrix = x.transpose(-1, -2) @ grad_white
        grad_matrix = grad_matrix + grad_matrix.transpose(-1, -2)  # 2 sym(): W is symmetric
        rotated = eigenvectors.transpose(-1, -2) @ grad_matrix @ eigenvectors
        kernel = -1.0 / (roots.unsqueeze(-1) * roots.unsqueeze(-2) * (roots.unsqueeze(-1) + roots.unsqueeze(-2)))
        grad_cov = eigenvectors @ (0.5 * kernel * rotated) @ eigenvectors.transpose(-1, -2)
        grad_x = grad_white @ matrix + (x @ grad_cov) * (2 * ctx.scale)
        return grad_x, None, None


def pca_matrix(cov: Tensor) -> Tensor:
    """PCA whitening matrix ``U diag(|l|^-1/2)`` of a stack of covariances, eigenvalues in descending
    order as the reference SVD gives them (so ``X W`` is white, rotated into the eigenbasis)."""
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    return eigenvectors.flip(-1) * eigenvalues.flip(-1).abs().rsqrt().unsqueeze(-2)


def newton_schulz_inverse_sqrt(cov: Tensor, iters: int) -> Tensor:
    """``S^-1/2`` of a stack of SPD matrices by the coupled Newton-Schulz iteration, matrix products only.

    With ``S`` scaled by its Frobenius norm (so its eigenvalues lie in (0, 1]): ``Y_0 = S / ||S||_F``,
    ``Z_0 = I``, ``T_k = (3 I - Z_k Y_k) / 2``, ``Y_{k+1} = Y_k T_k``, ``Z_{k+1} = T_k Z_k``; ``Z_k``
    converges quadratically to ``(S / ||S||_F)^-1/2`` (Higham, "Functions of Matrices", 2008, the
    coupled form, which stays stable after convergence where the uncoupled ``P <- (3P - P^3 S) / 2``
    of iterative normalisation, Huang et al. CVPR 2019, drifts away), and ``W = Z_T / sqrt(||S||_F)``.
    Gradients come from autograd through the products.

    Accuracy in float32 (as in training), measured on 32 x 32 covariances of 96 samples with
    eigenvalues spread over the stated condition number (``tests/unit/test_whitening.py``), as max
    ``|Cov(X W) - I|`` / the max gradient difference to the exact eigendecomposition relative to the
    largest gradient entry: condition 10, 10 iterations: 2.6e-6 / 8.4e-7; condition 1e3, 20
    iterations (the default): 3.7e-5 / 3.5e-5; condition 1e4, 20 iterations: 1.2e-4 / 2.1e-4. Too few
    iterations leave the small eigen-directions under-whitened (condition 1e3, 5 iterations: > 0.1),
    the "progressive whitening" of iterative normalisation.
    """
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov)
    scale = torch.linalg.matrix_norm(cov, keepdim=True)  # Frobenius norm, >= the largest eigenvalue
    y, z = cov / scale, eye
    for _ in range(iters):  # a loop over iterations: every block and group is in each batched product
        t = 0.5 * (3.0 * eye - z @ y)
        y, z = y @ t, t @ z
    return z / scale.sqrt()


def iternorm_matrix(cov: Tensor, iters: int) -> Tensor:
    """Iterative normalisation's ``W = P_T / sqrt(tr S)`` of a stack of covariances: ``S_N = S / tr S``,
    ``P_0 = I``, ``P_{k+1} = 1.5 P_k - 0.5 P_k^3 S_N`` (see the ``iternorm`` kind)."""
    trace = cov.diagonal(dim1=-2, dim2=-1).sum(-1)[..., None, None]
    normalised = cov / trace
    projection = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov)
    for _ in range(iters):  # over iterations: every block and group is in each batched product
        projection = 1.5 * projection - 0.5 * (projection @ projection @ projection) @ normalised
    return projection / trace.sqrt()


def zca_matrix(cov: Tensor) -> Tensor:
    """ZCA whitening matrix ``U diag(|l|^-1/2) U^T`` of a stack of covariances."""
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    return (eigenvectors * eigenvalues.abs().rsqrt().unsqueeze(-2)) @ eigenvectors.transpose(-1, -2)
