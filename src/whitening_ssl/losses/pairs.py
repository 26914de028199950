"""View pairs: THE one place where views are paired, for every loss.

``view_pairs`` selects all (unordered or ordered) pairs of views along a new leading pair dimension
with ``index_select``, so a loss computes every pair in one batched call, never a Python loop over
views; ``view_pair_mse`` is the pair term of W-MSE and CW-RGP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._views import Device


def _view_pair_indices(
    num_views: int, ordered: bool = False, device: Device = None, to_first: bool = False
) -> tuple[Tensor, Tensor]:
    """Index tensors ``(first, second)`` of the view pairs; see :func:`view_pairs` for the order."""
    if num_views < 2:
        raise ValueError(f"need at least 2 views to form pairs, got {num_views}")
    if to_first:
        return torch.arange(1, num_views, device=device), torch.zeros(num_views - 1, dtype=torch.long, device=device)
    if not ordered:
        first, second = torch.triu_indices(num_views, num_views, offset=1, device=device)
        return first, second
    # all i != j, row-major: (0, 1), (0, 2), ..., (1, 0), (1, 2), ...; no host sync (no nonzero)
    first = torch.arange(num_views, device=device).repeat_interleave(num_views - 1)
    others = torch.arange(num_views - 1, device=device).repeat(num_views)
    second = others + (others >= first).long()
    return first, second


def view_pairs(z: Tensor, view_dim: int = 0, ordered: bool = False, to_first: bool = False) -> tuple[Tensor, Tensor]:
    """All view pairs of ``z``, batched along a new leading pair dim: THE one place views are paired.

    ``view_dim`` of ``z`` (``V >= 2`` entries) indexes views. Returns ``(first, second)``, each
    ``[P, *rest]`` where ``rest`` is ``z``'s shape without ``view_dim``, such that pair ``p`` is
    ``(z_i, z_j)`` with, in this order:

    - ``ordered=False``: the ``P = V(V-1)/2`` unordered pairs ``i < j``, as ``torch.triu_indices``
      lists them ((0,1), (0,2), ..., (1,2), ...); for symmetric losses;
    - ``ordered=True``: the ``P = V(V-1)`` ordered pairs ``i != j``, row-major ((0,1), (0,2), ...,
      (1,0), (1,2), ...); for asymmetric losses (BYOL, SimSiam) where each direction is a term;
    - ``to_first=True``: the ``P = V - 1`` pairs of every other view with view 0, ((1,0), (2,0), ...);
      for losses anchored at the first view (INTL: the first crop is the target of the others).

    Selected with ``index_select`` (backward: ``index_add``), no Python loop over views. To pair
    several tensors with the same indices, stack them along another dim first.
    """
    z = z.movedim(view_dim, 0)
    first, second = _view_pair_indices(z.shape[0], ordered=ordered, device=z.device, to_first=to_first)
    return z.index_select(0, first), z.index_select(0, second)


def view_pair_mse(z: Tensor, normalize: bool = True, view_dim: int = 0) -> Tensor:
    """Mean over view pairs ``i < j`` of the per-pair loss, pairs batched (no Python loop).

    With ``normalize``: per pair ``mean_n || z_i/|z_i| - z_j/|z_j| ||^2`` (= ``2 - 2 cos``), as
    W-MSE's ``norm_mse_loss``; without: ``F.mse_loss(z_i, z_j)`` (mean over samples and channels).
    All other dims of ``z`` (besides ``view_dim`` and the last, channel dim) index samples.
    Pairs come from :func:`view_pairs`; with ``normalize`` each term is computed as the reference
    does, ``2 - 2 z_i . z_j`` on unit vectors.
    """
    if normalize:
        first, second = view_pairs(F.normalize(z, dim=-1), view_dim=view_dim)
        return (2 - 2 * (first * second).sum(-1)).mean()
    first, second = view_pairs(z, view_dim=view_dim)
    return (first - second).square().flatten(1).mean(1).mean()
