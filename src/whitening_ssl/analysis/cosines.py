"""Cosine similarities of positive pairs (views of one image) and negative pairs (different images).

Weng et al. (NeurIPS 2022) track them next to the ranks: stronger whitening drives the negatives'
mean cosine to zero. The means are taken in closed form, without any ``N x N`` similarity matrix;
the samples (for histograms) are subsampled with a seeded generator. Computed in float64 on the
input's device (inputs are detached and promoted), with no Python loop over samples, views or pairs.
The ``mean_*`` functions return 0-dim tensors, so that many measures can be read back in one
device-to-host copy (:func:`~whitening_ssl.analysis.metrics.representation_metrics`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_NORMALIZE_EPS = 1e-12  # F.normalize's default: a zero vector stays zero, so its cosines are 0


def _views(views: Tensor, name: str = "views") -> Tensor:
    if views.ndim != 3 or views.shape[0] < 2:
        raise ValueError(f"{name} must have shape [V >= 2 views, N images, d], got shape {tuple(views.shape)}")
    return views.detach().to(torch.float64)


def _per_view(z: Tensor) -> Tensor:
    """``z`` ``[N, d]`` or ``[V, N, d]`` as ``[V, N, d]`` (not promoted)."""
    per_view = z.detach().unsqueeze(0) if z.ndim == 2 else z.detach()
    if per_view.ndim != 3 or per_view.shape[1] < 2:
        raise ValueError(f"z must have shape [N >= 2, d] or [V, N >= 2, d], got shape {tuple(z.shape)}")
    return per_view


def _inverse_norms(x: Tensor) -> tuple[Tensor, Tensor]:
    """``1 / max(||x||, eps)`` per row (``F.normalize``'s scaling) and the squared norms of the unit rows.

    Lets sums of unit vectors be taken as one weighted contraction, without a normalised copy of ``x``.
    """
    norms = torch.linalg.vector_norm(x, dim=-1)
    inverse_norms = 1.0 / norms.clamp(min=_NORMALIZE_EPS)
    return inverse_norms, (norms * inverse_norms).square()


def mean_positive_cosine(views: Tensor) -> Tensor:
    """:func:`positive_cosine_similarity` as a 0-dim float64 tensor on ``views``' device."""
    views = _views(views)
    num_views, num_images = views.shape[:2]
    inverse_norms, unit_square_norms = _inverse_norms(views)
    unit_sums = torch.einsum("vn,vnd->nd", inverse_norms, views)
    pair_sum = (unit_sums.square().sum() - unit_square_norms.sum()) / 2
    return pair_sum / (num_images * num_views * (num_views - 1) / 2)


def mean_negative_cosine(z: Tensor) -> Tensor:
    """:func:`negative_cosine_similarity` as a 0-dim float64 tensor on ``z``'s device."""
    per_view = _per_view(z).to(torch.float64)
    num_images = per_view.shape[1]
    inverse_norms, unit_square_norms = _inverse_norms(per_view)
    unit_sums = torch.einsum("vn,vnd->vd", inverse_norms, per_view)
    pair_sums = unit_sums.square().sum(dim=-1) - unit_square_norms.sum(dim=-1)
    return (pair_sums / (num_images * (num_images - 1))).mean()


def positive_cosine_similarity(views: Tensor) -> float:
    """Mean cosine similarity over all pairs of views of the same image, ``views`` ``[V, N, d]``.

    Averages ``cos(z_a^n, z_b^n)`` over the ``N`` images and the ``V (V - 1) / 2`` pairs ``a < b``, in closed
    form: with unit vectors ``u``, ``sum_{a<b} u_a . u_b = (||sum_a u_a||^2 - sum_a ||u_a||^2) / 2``.
    A zero vector has cosine 0 with everything (``F.normalize``'s convention).
    """
    return mean_positive_cosine(views).item()


def negative_cosine_similarity(z: Tensor) -> float:
    """Mean cosine similarity between DIFFERENT images: over all ``i != j`` of ``z`` ``[N, d]``.

    For ``[V, N, d]`` the pairs are taken within each view (``z[v, i]`` vs ``z[v, j]``) and the ``V``
    per-view means are averaged. Exact and without any ``N x N`` matrix: with unit vectors ``u``,
    ``sum_{i != j} u_i . u_j = ||sum_i u_i||^2 - sum_i ||u_i||^2``, divided by ``N (N - 1)``. It is 0 for
    mutually orthogonal (or perfectly decorrelated, centred) embeddings and 1 for a fully collapsed one.
    A zero vector has cosine 0 with everything.
    """
    return mean_negative_cosine(z).item()


def _seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def positive_cosine_samples(views: Tensor, max_samples: int = 10_000, seed: int = 0) -> Tensor:
    """Cosine similarities of positive pairs (float64 vector on ``views``' device), for a histogram.

    All ``N V (V - 1) / 2`` pairs ``(a < b)`` of views of the same image; when there are more than
    ``max_samples``, a seeded random subset of ``max_samples`` of them (without replacement).
    """
    views = _views(views)
    num_views = views.shape[0]
    unit = F.normalize(views, dim=-1)
    first, second = torch.triu_indices(num_views, num_views, offset=1, device=views.device)
    similarities = torch.einsum("and,bnd->nab", unit, unit)[:, first, second].flatten()
    if similarities.numel() <= max_samples:
        return similarities
    chosen = torch.randperm(similarities.numel(), generator=_seeded_generator(seed))[:max_samples]
    return similarities[chosen.to(views.device)]


def negative_cosine_samples(z: Tensor, max_samples: int = 10_000, seed: int = 0) -> Tensor:
    """Cosine similarities of negative pairs (different images, same view), for a histogram.

    ``z`` is ``[N, d]`` or ``[V, N, d]``. When the ``V N (N - 1) / 2`` unordered pairs ``i < j`` number at
    most ``max_samples``, all of them are returned; otherwise ``max_samples`` pairs drawn uniformly WITH
    replacement by a seeded generator (``i`` uniform, ``j = (i + k) mod N`` with ``k`` uniform in
    ``[1, N)``), so memory is ``O(max_samples d)`` whatever ``N``.
    """
    per_view = _per_view(z)
    num_views, num_images = per_view.shape[:2]
    if num_views * num_images * (num_images - 1) // 2 <= max_samples:
        unit = F.normalize(per_view.to(torch.float64), dim=-1)
        first, second = torch.triu_indices(num_images, num_images, offset=1, device=z.device)
        return (unit[:, first] * unit[:, second]).sum(dim=-1).flatten()
    generator = _seeded_generator(seed)
    view = torch.randint(num_views, (max_samples,), generator=generator)
    first = torch.randint(num_images, (max_samples,), generator=generator)
    second = (first + torch.randint(1, num_images, (max_samples,), generator=generator)) % num_images
    view, first, second = view.to(z.device), first.to(z.device), second.to(z.device)
    # only the sampled rows are promoted and normalised
    first_unit = F.normalize(per_view[view, first].to(torch.float64), dim=-1)
    second_unit = F.normalize(per_view[view, second].to(torch.float64), dim=-1)
    return (first_unit * second_unit).sum(dim=-1)
