"""The kinds of whitening: one function each, registered by name in :data:`WHITENINGS`.

A kind is a function ``transform(x, eps, denom_offset, *, <its own settings>)``. For a kind that
``uses_covariance``, ``x`` is a stack of centred blocks ``[..., n, p]`` (``n`` observations of ``p``
variables, already grouped and permuted by :class:`~whitening_ssl.whitening.Whitening`) and the result
is ``x`` transformed, ``[..., n, p]``; the others get the raw blocks ``[B, m, d]`` and work per channel.
Its own settings are its keyword-only parameters: their defaults are the only defaults (they become
``method.<setting>`` keys of the configuration), and ``check`` holds their validity rules.
``full_rank``: the kind factorises the covariance, which must then be non-singular (the pre-run
check refuses sizes that make it singular); ``check_shape`` holds a kind's own rules on the block size.
A built-in kind's ``check`` and ``check_shape`` functions live in :mod:`.kind_checks`, which the pre-run
check reads with this module's source (the decorators' arguments) without importing torch.

Adding a kind is one decorated function; :func:`register_whitening` makes its name a choice of
``method.whiten`` (your own kind, in a module of yours, is used as ``method.whiten=module.function``
without registering; see ``docs/extending.md``). The tests check every registered kind.
"""

from __future__ import annotations

from torch import Tensor

from .kind_checks import ZCA_SOLVERS, WhiteningKind, check_iternorm, check_zca, whitening_kind
from .linalg import CholeskyWhitening, ZCAWhitening, covariance, iternorm_matrix, newton_schulz_inverse_sqrt, pca_matrix

#: name -> kind: the choices of ``method.whiten``
WHITENINGS: dict[str, WhiteningKind] = {}


def register_whitening(kind: WhiteningKind) -> WhiteningKind:
    if kind.name in WHITENINGS:
        raise ValueError(f"whitening kind {kind.name!r} is registered twice")
    WHITENINGS[kind.name] = kind
    return kind


# --- the kinds of the papers ----------------------------------------------------------------------------


@whitening_kind(check=check_zca)
def zca(x: Tensor, eps: float, denom_offset: int, *, solver: str = "eigh", newton_iters: int = 20) -> Tensor:
    """``W = U diag(l^-1/2) U^T`` (``S = U diag(l) U^T``): the output keeps the input's orientation.

    Args:
        solver: how ``S^-1/2`` is computed: ``eigh`` (one batched eigendecomposition, exact) or ``newton``
            (coupled Newton-Schulz iterations, matrix products only).
        newton_iters: the iterations of ``solver=newton``.
    """
    if solver == "newton":
        return x @ newton_schulz_inverse_sqrt(covariance(x, eps, denom_offset), newton_iters)
    return ZCAWhitening.apply(x, eps, denom_offset)


@whitening_kind()
def pca(x: Tensor, eps: float, denom_offset: int) -> Tensor:
    """``W = U diag(l^-1/2)``: the output rotated into the eigenbasis (unstable from step to step)."""
    return x @ pca_matrix(covariance(x, eps, denom_offset))


@whitening_kind()
def cholesky(x: Tensor, eps: float, denom_offset: int) -> Tensor:
    """``S = L L^T``, ``W = L^-T`` (W-MSE), by a triangular solve."""
    return CholeskyWhitening.apply(x, eps, denom_offset)


@whitening_kind(full_rank=False, check=check_iternorm)
def iternorm(x: Tensor, eps: float, denom_offset: int, *, iters: int = 4) -> Tensor:
    """Iterative normalisation (INTL, Weng et al., ICLR 2024; Huang et al., CVPR 2019): ``x W`` with
    ``W = P_T / sqrt(tr S)``, ``S_N = S / tr S``, ``P_0 = I``, ``P_{k+1} = 1.5 P_k - 0.5 P_k^3 S_N``.

    ``iters`` Newton iterations of ``S_N^-1/2`` that start at the identity. With few of them (INTL
    uses 4) this is NOT a converged whitening: the output's covariance is not the identity. Each
    eigenvalue ``l`` of ``S_N`` is mapped by the same polynomial, ``p_T(l)^2 l``, which lifts the small
    eigenvalues towards the large ones without inverting them: a modulation of the spectrum (the
    paper's point), which keeps the gradients bounded for singular covariances, so no full rank is
    needed. The iterations are matrix products, batched over every block and group. Many more
    iterations would whiten (about 12 for a covariance of condition 1e3), but this uncoupled form then
    drifts away in floating point (:func:`~whitening_ssl.whitening.linalg.newton_schulz_inverse_sqrt` is
    the stable, coupled one ZCA's ``solver=newton`` uses).

    Args:
        iters: the Newton iterations ``T`` (INTL: 4).
    """
    return x @ iternorm_matrix(covariance(x, eps, denom_offset), iters)


@whitening_kind(uses_covariance=False, full_rank=False)
def bn(x: Tensor, eps: float, denom_offset: int) -> Tensor:
    """Per-channel standardisation over the block, biased variance (``BatchNorm1d(affine=False)``)."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    return (x - mean) / (var + eps).sqrt()


@whitening_kind(uses_covariance=False, full_rank=False)
def none(x: Tensor, eps: float, denom_offset: int) -> Tensor:
    """The identity (the "plain" ablation)."""
    return x


for _kind in (zca, pca, cholesky, iternorm, bn, none):
    register_whitening(_kind)

__all__ = ["WHITENINGS", "ZCA_SOLVERS", "WhiteningKind", "register_whitening", "whitening_kind"]
