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

The names below are imported when first used (:mod:`whitening_ssl.lazy`): the torch-free rules
(:mod:`.kind_checks`, :mod:`.settings_checks`) are imported without torch.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from .kind_checks import ZCA_SOLVERS as ZCA_SOLVERS
    from .kind_checks import WhiteningKind as WhiteningKind
    from .kind_checks import whitening_kind as whitening_kind
    from .kinds import WHITENINGS as WHITENINGS
    from .kinds import register_whitening as register_whitening
    from .linalg import CholeskyWhitening as CholeskyWhitening
    from .linalg import ZCAWhitening as ZCAWhitening
    from .linalg import covariance as covariance
    from .linalg import newton_schulz_inverse_sqrt as newton_schulz_inverse_sqrt
    from .linalg import pca_matrix as pca_matrix
    from .settings_checks import GENERIC_SETTINGS as GENERIC_SETTINGS
    from .settings_checks import WHITENING_AXES as WHITENING_AXES
    from .transform import Whitening as Whitening
    from .transform import draw_channel_permutations as draw_channel_permutations
    from .transform import kind_of as kind_of
    from .transform import whiten as whiten

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
