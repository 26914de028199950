"""Plain loop implementations written straight from the papers (see ``docs/math.md``).

Deliberately slow and literal (one block, one group, one view at a time; SVD as in the paper's
code), as the published code runs: the tests check the batched implementation against these and
the benchmark times both.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _cholesky_matrix(cov):
    return torch.linalg.inv(torch.linalg.cholesky(cov)).T


def _pca_matrix(cov):
    u, s, _ = torch.linalg.svd(cov)
    return u @ torch.diag(s.rsqrt())


def _zca_matrix(cov):
    u, s, _ = torch.linalg.svd(cov)
    return u @ torch.diag(s.rsqrt()) @ u.T


def _iternorm_matrix(cov, iters=4):
    """INTL's iterative normalisation, literally: trace-normalise, ``iters`` Newton steps from the identity."""
    trace = torch.trace(cov)
    normalised = cov / trace
    projection = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
    for _ in range(iters):
        projection = 1.5 * projection - 0.5 * torch.linalg.matrix_power(projection, 3) @ normalised
    return projection / trace.sqrt()


#: covariance -> whitening matrix W (output X W), as the published code computes it (``settings``: the kind's own)
REFERENCE_MATRICES = {"cholesky": _cholesky_matrix, "pca": _pca_matrix, "zca": _zca_matrix,
                      "iternorm": _iternorm_matrix}
#: the kinds that work per channel, without a covariance
REFERENCE_PER_CHANNEL = {
    "none": lambda h, eps: h.clone(),
    "bn": lambda h, eps: (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + eps),
}


def whiten_block_reference(h, kind, axis, groups, eps=0.0, denom_offset=1, permutation=None, **settings):
    """Whiten one ``[m, d]`` block, group by group, as the paper's code does (``settings``: the kind's own)."""
    m, d = h.shape
    if kind in REFERENCE_PER_CHANNEL:
        return REFERENCE_PER_CHANNEL[kind](h, eps)
    if kind not in REFERENCE_MATRICES:
        raise ValueError(f"no reference for whitening kind {kind!r}: add it to REFERENCE_MATRICES")
    order = list(range(d)) if permutation is None else [int(i) for i in permutation]
    x = h[:, order]
    x = x - x.mean(0, keepdim=True) if axis == "batch" else x - x.mean(1, keepdim=True)
    c = d // groups
    out_groups = []
    for g in range(groups):
        xg = x[:, g * c:(g + 1) * c]  # [m, c]
        data = xg if axis == "batch" else xg.T  # rows: observations, columns: variables
        n, p = data.shape
        cov = data.T @ data / (n - denom_offset)
        cov = (1 - eps) * cov + eps * torch.eye(p, dtype=cov.dtype, device=cov.device)
        white = data @ REFERENCE_MATRICES[kind](cov, **settings)
        out_groups.append(white if axis == "batch" else white.T)
    out = torch.cat(out_groups, dim=1)
    restored = torch.empty_like(out)
    restored[:, order] = out
    return restored


def whitening_mse_reference(h_views, subbatches, kind, axis, groups, norm=True, eps=0.0, permutations=None):
    """W-MSE / CW-RGP loss with a loop over iterations, sub-batches, views and view pairs.

    ``h_views``: list of V tensors ``[N, d]``; ``subbatches``: ``[w_iter, k, m]`` indices;
    ``permutations``: optional ``[w_iter, k, V, d]`` channel permutations.
    """
    num_views = len(h_views)
    w_iter = subbatches.shape[0]
    loss = 0.0
    for it in range(w_iter):
        z = [torch.empty_like(h) for h in h_views]
        for k, idx in enumerate(subbatches[it]):
            for v in range(num_views):
                perm = None if permutations is None else permutations[it, k, v]
                z[v][idx] = whiten_block_reference(h_views[v][idx], kind, axis, groups, eps, permutation=perm)
        for i in range(num_views - 1):
            for j in range(i + 1, num_views):
                if norm:
                    a, b = F.normalize(z[i]), F.normalize(z[j])
                    loss = loss + (2 - 2 * (a * b).sum(-1).mean())
                else:
                    loss = loss + F.mse_loss(z[i], z[j])
    return loss / (w_iter * num_views * (num_views - 1) / 2)


def trace_loss_reference(t, axis):
    """INTL's trace loss of one view ``t`` ``[N, d]``, literally: for the channel axis transpose, centre the
    rows' columns, variance per column with ``rows - 1``, ``sum (v - 1)^2``."""
    x = t.T if axis == "channel" else t
    x = x - x.mean(dim=0)
    variances = x.pow(2).sum(dim=0) / (x.shape[0] - 1)
    return (variances - 1).pow(2).sum()


def intl_loss_reference(views, trade_off, axis, anchor_trace=True):
    """INTL's loss with a loop over the views: ``views[0]`` is the anchor, ``1 / (V - 1) sum_{i >= 1} [(2 - 2
    mean cos(t_i, t_0)) + trade_off (TL(t_i) + TL(t_0))]`` (without ``TL(t_0)`` for the momentum variant)."""
    loss = 0.0
    for t in views[1:]:
        a, b = F.normalize(t), F.normalize(views[0])
        loss = loss + (2 - 2 * (a * b).sum(-1).mean()) + trade_off * trace_loss_reference(t, axis)
        if anchor_trace:
            loss = loss + trade_off * trace_loss_reference(views[0], axis)
    return loss / (len(views) - 1)

