"""Plain loop implementations written straight from the papers (see ``docs/math.md``).

Deliberately slow and literal (one block, one group, one view at a time; SVD as in the paper's
code), as the published code runs: the tests check the batched implementation against these and
the benchmark times both.
"""

from __future__ import annotations

import math

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
REFERENCE_MATRICES = {
    "cholesky": _cholesky_matrix,
    "pca": _pca_matrix,
    "zca": _zca_matrix,
    "iternorm": _iternorm_matrix,
}
#: the kinds that work per channel, without a covariance
REFERENCE_PER_CHANNEL = {
    "none": lambda h, eps: h.clone(),
    "bn": lambda h, eps: (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + eps),
}


def whiten_block_reference(h, kind, axis, groups, eps=0.0, denom_offset=1, permutation=None, **settings):
    """Whiten one ``[m, d]`` block, group by group, as the paper's code does (``settings``: the kind's own)."""
    _m, d = h.shape
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
        xg = x[:, g * c : (g + 1) * c]  # [m, c]
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
    loss: torch.Tensor | float = 0.0
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


def sinkhorn_reference(online, target, eps=0.05, iters=3):
    """ReSA's Sinkhorn-Knopp, element by element: ``Q[k][b] = exp(online_b . target_k / eps)``, normalised to
    sum 1, then ``iters`` times rows to ``1 / K`` and columns to ``1 / B``; returns ``B Q^T`` ``[B, K]``."""
    rows, columns = target.shape[0], online.shape[0]
    q = [[torch.exp(torch.dot(online[b], target[k]) / eps) for b in range(columns)] for k in range(rows)]
    total = sum(sum(row) for row in q)
    q = [[value / total for value in row] for row in q]
    for _ in range(iters):
        q = [[value / sum(row) / rows for value in row] for row in q]
        sums = [sum(q[k][b] for k in range(rows)) for b in range(columns)]
        q = [[q[k][b] / sums[b] / columns for b in range(columns)] for k in range(rows)]
    return torch.stack([torch.stack([q[k][b] * columns for k in range(rows)]) for b in range(columns)])


def resa_loss_reference(online, targets, assignment, temperature=0.4):
    """ReSA's cross-entropy with a loop over the view pairs ``(q, v)``, ``q != v``, and the samples."""
    total, pairs = 0.0, 0
    for q in range(online.shape[0]):
        for v in range(targets.shape[0]):
            if q == v:
                continue
            z, zbar = F.normalize(online[q], dim=-1), F.normalize(targets[v], dim=-1)
            loss = 0.0
            for i in range(z.shape[0]):
                log_p = torch.log_softmax(zbar @ z[i] / temperature, dim=0)
                loss = loss - (assignment[i] * log_p).sum()
            total, pairs = total + loss / z.shape[0], pairs + 1
    return total / pairs


def epps_pulley_reference(x, knots=17, t_max=3.0):
    """The Epps-Pulley statistic of each column of ``x [N, M]``, a loop over the slices and the knots: ``N
    sum_k w_k e^{-t_k^2/2} |phi_N(t_k) - e^{-t_k^2/2}|^2`` with the trapezoid weights of [-t_max, t_max]."""
    n, slices = x.shape
    step = t_max / (knots - 1)
    out = []
    for m in range(slices):
        value = 0.0
        for k in range(knots):
            t = k * step
            weight = step if k in (0, knots - 1) else 2 * step
            gaussian = math.exp(-t * t / 2)
            real, imaginary = torch.cos(t * x[:, m]).mean(), torch.sin(t * x[:, m]).mean()
            value = value + weight * gaussian * ((real - gaussian) ** 2 + imaginary**2)
        out.append(n * value)
    return torch.stack(out)


def lejepa_loss_reference(z, directions, lam, global_views, knots=17, t_max=3.0):
    """LeJEPA's loss with a loop over the views: ``lam mean_v mean_m EP(Z_v a_m) + (1 - lam) sum_v ||Z_v -
    mu||^2 / (V N K)``, ``mu`` the mean of the first ``global_views`` views."""
    views, n, k = z.shape
    centre = sum(z[v] for v in range(global_views)) / global_views
    invariance = sum(((z[v] - centre) ** 2).sum() for v in range(views)) / (views * n * k)
    regulariser = sum(epps_pulley_reference(z[v] @ directions, knots, t_max).mean() for v in range(views)) / views
    return lam * regulariser + (1 - lam) * invariance
