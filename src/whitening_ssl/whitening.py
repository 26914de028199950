"""Whitening transforms of W-MSE (batch whitening) and CW-RGP (channel whitening).

Every function here works on a *stack of independent blocks* ``x`` of shape ``[..., m, d]``:
``m`` samples (one sub-batch of one view) by ``d`` channels. All blocks, and all channel groups
inside them, are whitened by ONE batched linear-algebra call, always in float32 or wider (half
precision inputs are promoted and autocast is switched off), so the transform is cheap on any
device and stable under AMP.

The semantics follow the paper's code (Weng et al., NeurIPS 2022, "An Investigation into
Whitening Loss for Self-supervised Learning"; Ermolov et al., ICML 2021, "Whitening for
Self-Supervised Representation Learning"):

1. random group partition (optional): permute the ``d`` channels with a fresh permutation per
   block; undone at the end so output channels are in the input's order;
2. split the channels into ``groups`` contiguous groups of ``c = d / groups``;
3. centre and take a covariance per group, by ``axis``:
   - ``"batch"``: centre each channel over the ``m`` samples; ``S = X^T X / (m - offset)``
     (``c x c``); output ``Z = X W`` has identity channel covariance;
   - ``"channel"``: centre each sample over all ``d`` channels (once, before grouping);
     ``S = X X^T / (c - offset)`` (``m x m``, a covariance between samples over the group's
     channels); output ``Z = W^T X`` has identity ``m x m`` covariance over channels;
4. shrinkage ``S <- (1 - eps) S + eps I``;
5. whitening matrix ``W`` by ``kind``: ``zca`` (``U diag(l^-1/2) U^T``), ``pca``
   (``U diag(l^-1/2)``, eigenvalues in descending order as the reference SVD gives them),
   ``cholesky`` (``S = L L^T``, ``W = L^-T``, by a triangular solve), ``bn`` (per-channel
   standardisation over the block, biased variance, ``eps`` added to the variance, as
   ``BatchNorm1d(affine=False)``), ``none`` (identity).

The reference code takes ZCA/PCA from an SVD of ``S``; for a symmetric matrix that equals an
eigendecomposition with the absolute eigenvalues, which is what is used here (cheaper, batched).
ZCA and Cholesky whitening have closed-form backward passes (:class:`ZCAWhitening`,
:class:`CholeskyWhitening`): the same gradients as autograd through the decompositions, fewer
kernels, and for ZCA no ``1 / (l_i - l_j)`` term, so the gradient stays exact when eigenvalues
coincide (where autograd through ``eigh``/SVD is undefined).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

WHITENING_AXES = ("batch", "channel")


def check_whitening_args(kind: str, axis: str, groups: int, eps: float, solver: str = "eigh") -> None:
    """Raise ``ValueError`` (one line saying what to change) for an invalid configuration."""
    if kind not in WHITENINGS:
        raise ValueError(f"unknown whitening kind {kind!r}: use one of {', '.join(WHITENINGS)}")
    if axis not in WHITENING_AXES:
        raise ValueError(f"unknown whitening axis {axis!r}: use one of {', '.join(WHITENING_AXES)}")
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f"whitening groups must be a positive integer, got {groups!r}")
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"whitening eps (shrinkage) must be in [0, 1), got {eps!r}")
    if solver not in ZCA_SOLVERS:
        raise ValueError(f"unknown whitening solver {solver!r}: use one of {', '.join(ZCA_SOLVERS)}")
    if solver != "eigh" and kind != "zca":
        raise ValueError(f"whitening solver {solver!r} applies to kind='zca' only, not {kind!r}")


def draw_channel_permutations(num_blocks: int, num_channels: int, device=None,
                              generator: Optional[torch.Generator] = None) -> Tensor:
    """One independent random permutation of ``range(num_channels)`` per block: ``[num_blocks, d]``.

    Drawn with a single ``torch.rand`` + ``argsort`` (no host sync, no Python loop), from ``generator``
    (default: the global generator of ``device``).
    """
    return torch.rand(num_blocks, num_channels, device=device, generator=generator).argsort(dim=1)


def _no_autocast(device_type: str):
    if device_type in ("cuda", "cpu", "xpu", "mps"):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def covariance(x: Tensor, eps: float = 0.0, denom_offset: int = 1) -> Tensor:
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
    Tested against the autograd gradient of the plain loop (``tests/test_whitening.py``).
    """

    @staticmethod
    def forward(ctx, x: Tensor, eps: float, denom_offset: int) -> Tensor:
        chol, info = torch.linalg.cholesky_ex(covariance(x, eps, denom_offset))
        # On the CPU check now (free); on a GPU a check would sync every step: a failed factorisation
        # gives NaNs there instead, which the training loop reports at its next logging step.
        if not x.is_cuda and info.any():
            raise torch.linalg.LinAlgError(
                "whitening covariance is not positive definite (singular or rank-deficient embeddings): "
                "use eps > 0 (shrinkage), a larger sub-batch for batch whitening or fewer groups for "
                "channel whitening")
        white = torch.linalg.solve_triangular(chol, x.transpose(-1, -2), upper=False).transpose(-1, -2)
        ctx.save_for_backward(white, chol)
        ctx.scale = (1 - eps) / (x.shape[-2] - denom_offset)
        return white

    @staticmethod
    def backward(ctx, grad_white: Tensor):
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
    def forward(ctx, x: Tensor, eps: float, denom_offset: int) -> Tensor:
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance(x, eps, denom_offset))
        roots = eigenvalues.abs().sqrt()  # |l|: the singular values the reference SVD gives
        matrix = (eigenvectors / roots.unsqueeze(-2)) @ eigenvectors.transpose(-1, -2)
        ctx.save_for_backward(x, matrix, eigenvectors, roots)
        ctx.scale = (1 - eps) / (x.shape[-2] - denom_offset)
        return x @ matrix

    @staticmethod
    def backward(ctx, grad_white: Tensor):
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
    eigenvalues spread over the stated condition number (``tests/test_whitening.py``), as max
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


def _zca_eigh(x: Tensor, eps: float, denom_offset: int, iters: int) -> Tensor:
    return ZCAWhitening.apply(x, eps, denom_offset)


def _zca_newton(x: Tensor, eps: float, denom_offset: int, iters: int) -> Tensor:
    return x @ newton_schulz_inverse_sqrt(covariance(x, eps, denom_offset), iters)


#: ``method.solver``: how ZCA's ``S^-1/2`` is computed. ``eigh``: one batched eigendecomposition with the
#: closed-form backward (exact); ``newton``: Newton-Schulz iterations, matrix products only, for when
#: many small eigendecompositions are the bottleneck (see :func:`newton_schulz_inverse_sqrt`).
ZCA_SOLVERS = {"eigh": _zca_eigh, "newton": _zca_newton}


def _zca(x: Tensor, eps: float, denom_offset: int, solver: str, iters: int) -> Tensor:
    return ZCA_SOLVERS[solver](x, eps, denom_offset, iters)


def _pca(x: Tensor, eps: float, denom_offset: int, **_) -> Tensor:
    return x @ pca_matrix(covariance(x, eps, denom_offset))


def _standardise(x: Tensor, eps: float, denom_offset: int, **_) -> Tensor:
    """``bn``: per-channel standardisation over the block, biased variance (``BatchNorm1d(affine=False)``)."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


@dataclass(frozen=True)
class WhiteningKind:
    """One kind of whitening.

    ``whiten(x, eps, denom_offset, solver=..., iters=...)`` (``solver`` and ``iters``: ZCA's, see
    :data:`ZCA_SOLVERS`; the other kinds ignore them): for kinds with ``uses_covariance``, ``x`` is a stack of centred
    blocks ``[..., n, p]`` (n observations of p variables, already grouped and permuted) and the
    result has identity covariance; for the others ``x`` is ``[B, m, d]`` raw blocks and the
    transform works per channel.
    """

    whiten: Callable[..., Tensor]
    uses_covariance: bool


#: name -> whitening: the one dispatch (adding a kind is one entry here, plus its reference in
#: :mod:`whitening_ssl.reference` for the tests)
WHITENINGS: Dict[str, WhiteningKind] = {
    "zca": WhiteningKind(_zca, uses_covariance=True),
    "pca": WhiteningKind(_pca, uses_covariance=True),
    "cholesky": WhiteningKind(lambda x, eps, offset, **_: CholeskyWhitening.apply(x, eps, offset), uses_covariance=True),
    "bn": WhiteningKind(_standardise, uses_covariance=False),
    "none": WhiteningKind(lambda x, eps, offset, **_: x, uses_covariance=False),
}
WHITENING_KINDS = tuple(WHITENINGS)
#: the kinds that factorise a covariance, which must then have full rank
COVARIANCE_KINDS = tuple(name for name, kind in WHITENINGS.items() if kind.uses_covariance)


def whiten(
    x: Tensor,
    kind: str = "zca",
    axis: str = "batch",
    groups: int = 1,
    random_groups: bool = False,
    eps: float = 0.0,
    denom_offset: int = 1,
    permutation: Optional[Tensor] = None,
    solver: str = "eigh",
    newton_iters: int = 20,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Whiten every block of ``x`` (``[..., m, d]``) independently; returns the same shape.

    Args:
        x: embeddings, last two dims ``m`` samples x ``d`` channels; leading dims are blocks
            (e.g. ``[w_iter, num_subbatches, views, m, d]``). Any float dtype; half precision is
            promoted to float32 and the computation runs with autocast disabled.
        kind: ``zca | pca | cholesky | bn | none``.
        axis: ``batch`` (W-MSE) or ``channel`` (CW-RGP).
        groups: number of contiguous channel groups whitened separately (``d % groups == 0``).
        random_groups: draw a fresh channel permutation for every block before grouping and undo
            it afterwards (the "random group partition" of CW-RGP).
        eps: shrinkage towards the identity, ``S <- (1 - eps) S + eps I`` (variance offset for bn).
        denom_offset: covariance denominator is ``n - denom_offset`` (the paper's ``minus``).
        permutation: optional explicit channel permutations ``[num_blocks, d]`` (implies random
            groups); for tests and for reproducing a given partition.
        solver: ZCA only: ``eigh`` (exact) or ``newton`` (``newton_iters`` Newton-Schulz iterations,
            matrix products only; see :data:`ZCA_SOLVERS`).
        generator: where the random partitions are drawn from (default: the global generator).

    Returns:
        The whitened blocks, ``[..., m, d]``, in float32 (or the input's dtype if wider).
    """
    check_whitening_args(kind, axis, groups, eps, solver)
    *lead, m, d = x.shape
    if d % groups:
        raise ValueError(f"embedding size {d} is not divisible by whitening groups {groups}")
    with _no_autocast(x.device.type):
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()
        blocks = x.reshape(-1, m, d)
        num_blocks = blocks.shape[0]
        if not WHITENINGS[kind].uses_covariance:  # per channel: grouping and permutation are irrelevant
            return WHITENINGS[kind].whiten(blocks, eps, denom_offset).reshape(*lead, m, d)

        if permutation is None and random_groups:
            permutation = draw_channel_permutations(num_blocks, d, device=x.device, generator=generator)
        if permutation is not None and permutation.shape != (num_blocks, d):
            raise ValueError(f"permutation must have shape {(num_blocks, d)}, got {tuple(permutation.shape)}")

        # Centring does not depend on the channel order: per channel over the m samples (batch) or
        # per sample over all d channels, before grouping (channel). Work channels-first, [B, d, m],
        # so that permuting channels and cutting groups is one gather and a free view.
        centre_dim = 1 if axis == "batch" else 2
        channels_first = (blocks - blocks.mean(dim=centre_dim, keepdim=True)).transpose(1, 2)
        if permutation is not None:
            index = permutation.unsqueeze(-1).expand(num_blocks, d, m)
            channels_first = channels_first.gather(1, index)
        grouped = channels_first.reshape(num_blocks, groups, d // groups, m)  # [B, g, c, m]
        if axis == "batch":
            grouped = grouped.transpose(-1, -2)  # observations m, variables c

        white = WHITENINGS[kind].whiten(grouped, eps, denom_offset, solver=solver, iters=newton_iters)

        if axis == "batch":
            white = white.transpose(-1, -2)
        white = white.reshape(num_blocks, d, m)
        if permutation is not None:  # put every channel back where it came from
            white = torch.zeros_like(white).scatter(1, index, white)
        out = white.transpose(1, 2)
        return out.reshape(*lead, m, d)


class Whitening(nn.Module):
    """Batched whitening transform (W-MSE batch whitening, CW-RGP channel whitening).

    ``Whitening(kind="zca", axis="channel", groups=4, random_groups=True)`` is CW-RGP's transform;
    ``Whitening(kind="cholesky", axis="batch")`` is W-MSE's. Input ``[..., m, d]``: every leading
    index is an independent block (sub-batch x view), all whitened in one call. See :func:`whiten`
    for the math. Training-time transform only: it keeps no running statistics, as published.
    """

    def __init__(
        self,
        kind: str = "zca",
        axis: str = "batch",
        groups: int = 1,
        random_groups: bool = False,
        eps: float = 0.0,
        denom_offset: int = 1,
        solver: str = "eigh",
        newton_iters: int = 20,
    ) -> None:
        super().__init__()
        check_whitening_args(kind, axis, groups, eps, solver)
        self.solver = solver
        self.newton_iters = newton_iters
        self.kind = kind
        self.axis = axis
        self.groups = groups
        self.random_groups = random_groups
        self.eps = eps
        self.denom_offset = denom_offset

    def forward(self, x: Tensor, permutation: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        return whiten(
            x,
            kind=self.kind,
            axis=self.axis,
            groups=self.groups,
            random_groups=self.random_groups,
            eps=self.eps,
            denom_offset=self.denom_offset,
            permutation=permutation,
            solver=self.solver,
            newton_iters=self.newton_iters,
            generator=generator,
        )

    def extra_repr(self) -> str:
        return (
            f"kind={self.kind}, axis={self.axis}, groups={self.groups}, "
            f"random_groups={self.random_groups}, eps={self.eps}, denom_offset={self.denom_offset}"
            + (f", solver={self.solver}, newton_iters={self.newton_iters}" if self.solver != "eigh" else "")
        )
