"""Whitening transforms of W-MSE (batch whitening) and CW-RGP (channel whitening), and their kinds.

Every transform works on a *stack of independent blocks* ``x`` of shape ``[..., m, d]``: ``m``
samples (one sub-batch of one view) by ``d`` channels. All blocks, and all channel groups inside
them, are whitened by ONE batched linear-algebra call, always in float32 or wider (half precision
inputs are promoted and autocast is switched off), so the transform is cheap on any device and
stable under AMP.

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
5. whitening matrix ``W`` by ``kind`` (:mod:`whitening_ssl.whitening.kinds`): ``zca``
   (``U diag(l^-1/2) U^T``), ``pca`` (``U diag(l^-1/2)``, eigenvalues in descending order as the
   reference SVD gives them), ``cholesky`` (``S = L L^T``, ``W = L^-T``, by a triangular solve),
   ``bn`` (per-channel standardisation over the block, biased variance, ``eps`` added to the
   variance, as ``BatchNorm1d(affine=False)``), ``none`` (identity).

The reference code takes ZCA/PCA from an SVD of ``S``; for a symmetric matrix that equals an
eigendecomposition with the absolute eigenvalues, which is what is used here (cheaper, batched).
ZCA and Cholesky whitening have closed-form backward passes (:mod:`whitening_ssl.whitening.linalg`):
the same gradients as autograd through the decompositions, fewer kernels, and for ZCA no
``1 / (l_i - l_j)`` term, so the gradient stays exact when eigenvalues coincide.
"""

from .kinds import WHITENINGS, ZCA_SOLVERS, WhiteningKind, register_whitening, whitening_kind
from .linalg import CholeskyWhitening, ZCAWhitening, covariance, newton_schulz_inverse_sqrt, pca_matrix
from .transform import GENERIC_SETTINGS, WHITENING_AXES, Whitening, draw_channel_permutations, kind_of, whiten

__all__ = [
    "GENERIC_SETTINGS",
    "WHITENINGS",
    "WHITENING_AXES",
    "ZCA_SOLVERS",
    "CholeskyWhitening",
    "Whitening",
    "WhiteningKind",
    "ZCAWhitening",
    "covariance",
    "draw_channel_permutations",
    "kind_of",
    "newton_schulz_inverse_sqrt",
    "pca_matrix",
    "register_whitening",
    "whiten",
    "whitening_kind",
]
