"""Collapse diagnostics for embeddings and whitened outputs (pure functions, any device).

Weng et al. (NeurIPS 2022, "An Investigation into Whitening Loss for Self-supervised Learning")
explain why whitening losses avoid collapse by measuring the representations a model produces:
batch whitening by itself only forces the whitened output to have full rank; PCA whitening
collapses where ZCA and Cholesky whitening do not; and stronger whitening raises the normalised
stable rank of the whitened output while the cosine similarity of negatives goes to zero. These
functions compute those measurements on a user's own features:

- spectrum of the centred covariance, and from it the effective rank (Roy & Vetterli, 2007), the
  numerical rank and the condition number;
- normalised stable rank ``||Z||_F^2 / (||Z||_2^2 d)`` of the matrix as given;
- mean cosine similarity of positive pairs (views of the same image) and of negative pairs
  (different images), in closed form, without any ``N x N`` similarity matrix;
- similarity *samples* for histograms, subsampled with a seeded generator.

Every computation is done in float64 (inputs are detached and promoted) on the input's device;
there are no Python loops over samples, views or pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

NEGATIVE_EIGENVALUE_TOLERANCE = 1e-3
"""Eigenvalues below ``-NEGATIVE_EIGENVALUE_TOLERANCE x largest`` are not rounding: the input is not the spectrum of a
covariance, and the rank functions raise."""

_NORMALIZE_EPS = 1e-12  # F.normalize's default: a zero vector stays zero, so its cosines are 0


def _float64(x: Tensor) -> Tensor:
    return x.detach().to(torch.float64)


def _matrix(z: Tensor, name: str = "z") -> Tensor:
    if z.ndim != 2:
        raise ValueError(f"{name} must be a matrix [n, d], got shape {tuple(z.shape)}")
    return _float64(z)


def _views(views: Tensor, name: str = "views") -> Tensor:
    if views.ndim != 3 or views.shape[0] < 2:
        raise ValueError(f"{name} must have shape [V >= 2 views, N images, d], got shape {tuple(views.shape)}")
    return _float64(views)


def _checked_eigenvalues(eigenvalues: Tensor) -> Tensor:
    """The eigenvalues as a float64 vector with rounding negatives set to zero."""
    if eigenvalues.ndim != 1:
        raise ValueError(f"eigenvalues must be a vector, got shape {tuple(eigenvalues.shape)}")
    eigenvalues = _float64(eigenvalues)
    if eigenvalues.numel() == 0:
        return eigenvalues
    largest = eigenvalues.abs().max()
    if eigenvalues.min() < -NEGATIVE_EIGENVALUE_TOLERANCE * largest:
        raise ValueError(f"eigenvalues must be those of a covariance (>= 0 up to rounding), got minimum "
                         f"{eigenvalues.min().item():.3g} with largest |value| {largest.item():.3g}")
    return eigenvalues.clamp(min=0.0)


def _inverse_norms(x: Tensor) -> tuple[Tensor, Tensor]:
    """``1 / max(||x||, eps)`` per row (``F.normalize``'s scaling) and the squared norms of the unit rows.

    Lets sums of unit vectors be taken as one weighted contraction, without a normalised copy of ``x``.
    """
    norms = torch.linalg.vector_norm(x, dim=-1)
    inverse_norms = 1.0 / norms.clamp(min=_NORMALIZE_EPS)
    return inverse_norms, (norms * inverse_norms).square()


def normalized_stable_rank(z: Tensor) -> float:
    """Normalised stable rank ``||Z||_F^2 / ||Z||_2^2 / d`` of ``z`` ``[n, d]``, taken as given (NOT centred).

    ``||Z||_F^2 = sum_i s_i^2`` and ``||Z||_2^2 = s_1^2`` (``s`` the singular values), so the stable rank
    ``sum_i s_i^2 / s_1^2`` lies in ``[1, min(n, d)]`` and the normalised value in ``[1/d, 1]``: ``1/d`` when
    ``Z`` has rank one, ``1`` when all ``d`` singular values are equal (orthogonal columns of equal norm,
    e.g. a perfectly whitened output). This is the measure Weng et al. (NeurIPS 2022) track for the
    whitened output. Computed from the ``d x d`` Gram matrix ``Z^T Z`` (trace over largest eigenvalue).
    Returns ``0.0`` for the all-zero matrix (rank zero).
    """
    z = _matrix(z)
    gram_eigenvalues = torch.linalg.eigvalsh(z.T @ z)
    largest = gram_eigenvalues[-1]
    if largest <= 0:
        return 0.0
    return (gram_eigenvalues.sum() / largest / z.shape[1]).item()


def covariance_spectrum(z: Tensor) -> Tensor:
    """Eigenvalues (float64, descending) of the covariance of ``z`` ``[n, d]``: rows centred, denominator ``n - 1``."""
    z = _matrix(z)
    if z.shape[0] < 2:
        raise ValueError(f"covariance_spectrum needs at least 2 samples (rows), got {z.shape[0]}")
    centred = z - z.mean(dim=0, keepdim=True)
    covariance = centred.T @ centred / (z.shape[0] - 1)
    return torch.linalg.eigvalsh(covariance).flip(0)


def effective_rank(eigenvalues: Tensor) -> float:
    """Effective rank ``exp(H(p))`` with ``p = eigenvalues / sum(eigenvalues)`` (Roy & Vetterli, EUSIPCO 2007).

    ``H(p) = -sum_i p_i log p_i`` is the Shannon entropy (natural log), so the value lies in ``[1, k]`` for
    ``k`` non-zero eigenvalues: ``k`` exactly when they are equal. Zero eigenvalues contribute nothing
    (``0 log 0 = 0``) and tiny negative ones (rounding) count as zero. Returns ``0.0`` when all are zero.
    """
    eigenvalues = _checked_eigenvalues(eigenvalues)
    total = eigenvalues.sum()
    if total <= 0:
        return 0.0
    p = eigenvalues / total
    entropy = -torch.special.xlogy(p, p).sum()
    return entropy.exp().item()


def numerical_rank(eigenvalues: Tensor, tol: float = 1e-5) -> int:
    """Number of eigenvalues greater than ``tol`` times the largest one.

    ``tol`` is relative: an eigenvalue counts when it is more than a fraction ``tol`` of the largest (so the
    direction's standard deviation is more than ``sqrt(tol)`` of the largest one). Returns 0 when all
    eigenvalues are ``<= 0``.
    """
    eigenvalues = _checked_eigenvalues(eigenvalues)
    if eigenvalues.numel() == 0 or eigenvalues.max() <= 0:
        return 0
    return int((eigenvalues > tol * eigenvalues.max()).sum().item())


def condition_number(eigenvalues: Tensor) -> float:
    """Largest over smallest eigenvalue; ``inf`` when the smallest is ``<= 0`` (a rank-deficient covariance)."""
    if eigenvalues.ndim != 1 or eigenvalues.numel() == 0:
        raise ValueError(f"eigenvalues must be a non-empty vector, got shape {tuple(eigenvalues.shape)}")
    eigenvalues = _float64(eigenvalues)
    smallest = eigenvalues.min()
    if smallest <= 0:
        return math.inf
    return (eigenvalues.max() / smallest).item()


def positive_cosine_similarity(views: Tensor) -> float:
    """Mean cosine similarity over all pairs of views of the same image, ``views`` ``[V, N, d]``.

    Averages ``cos(z_a^n, z_b^n)`` over the ``N`` images and the ``V (V - 1) / 2`` pairs ``a < b``, in closed
    form: with unit vectors ``u``, ``sum_{a<b} u_a . u_b = (||sum_a u_a||^2 - sum_a ||u_a||^2) / 2``.
    A zero vector has cosine 0 with everything (``F.normalize``'s convention).
    """
    views = _views(views)
    num_views, num_images = views.shape[:2]
    inverse_norms, unit_square_norms = _inverse_norms(views)
    unit_sums = torch.einsum("vn,vnd->nd", inverse_norms, views)
    pair_sum = (unit_sums.square().sum() - unit_square_norms.sum()) / 2
    return (pair_sum / (num_images * num_views * (num_views - 1) / 2)).item()


def negative_cosine_similarity(z: Tensor) -> float:
    """Mean cosine similarity between DIFFERENT images: over all ``i != j`` of ``z`` ``[N, d]``.

    For ``[V, N, d]`` the pairs are taken within each view (``z[v, i]`` vs ``z[v, j]``) and the ``V``
    per-view means are averaged. Exact and without any ``N x N`` matrix: with unit vectors ``u``,
    ``sum_{i != j} u_i . u_j = ||sum_i u_i||^2 - sum_i ||u_i||^2``, divided by ``N (N - 1)``. It is 0 for
    mutually orthogonal (or perfectly decorrelated, centred) embeddings and 1 for a fully collapsed one.
    A zero vector has cosine 0 with everything.
    """
    per_view = _float64(z).unsqueeze(0) if z.ndim == 2 else _float64(z)
    if per_view.ndim != 3 or per_view.shape[1] < 2:
        raise ValueError(f"z must have shape [N >= 2, d] or [V, N >= 2, d], got shape {tuple(z.shape)}")
    num_images = per_view.shape[1]
    inverse_norms, unit_square_norms = _inverse_norms(per_view)
    unit_sums = torch.einsum("vn,vnd->vd", inverse_norms, per_view)
    pair_sums = unit_sums.square().sum(dim=-1) - unit_square_norms.sum(dim=-1)
    return (pair_sums / (num_images * (num_images - 1))).mean().item()


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
    per_view = z.detach().unsqueeze(0) if z.ndim == 2 else z.detach()
    if per_view.ndim != 3 or per_view.shape[1] < 2:
        raise ValueError(f"z must have shape [N >= 2, d] or [V, N >= 2, d], got shape {tuple(z.shape)}")
    num_views, num_images = per_view.shape[:2]
    if num_views * num_images * (num_images - 1) // 2 <= max_samples:
        unit = F.normalize(_float64(per_view), dim=-1)
        first, second = torch.triu_indices(num_images, num_images, offset=1, device=z.device)
        return (unit[:, first] * unit[:, second]).sum(dim=-1).flatten()
    generator = _seeded_generator(seed)
    view = torch.randint(num_views, (max_samples,), generator=generator)
    first = torch.randint(num_images, (max_samples,), generator=generator)
    second = (first + torch.randint(1, num_images, (max_samples,), generator=generator)) % num_images
    view, first, second = view.to(z.device), first.to(z.device), second.to(z.device)
    # only the sampled rows are promoted and normalised
    first_unit = F.normalize(_float64(per_view[view, first]), dim=-1)
    second_unit = F.normalize(_float64(per_view[view, second]), dim=-1)
    return (first_unit * second_unit).sum(dim=-1)


def mean_block_spectral_metrics(blocks: Tensor, rank_tol: float = 1e-5) -> dict[str, float]:
    """The spectral measures of :func:`representation_metrics` for each ``[m, d]`` matrix of ``blocks``
    ``[B, m, d]``, averaged over the ``B`` blocks, with one batched eigendecomposition per measure.

    For a whitened output made block by block (each sub-batch whitened on its own): ``stable_rank``,
    ``effective_rank``, ``effective_rank_fraction``, ``rank`` and ``condition_number`` (``inf`` when one
    block's covariance is singular). Equal, block by block, to the single-matrix functions above.
    """
    if blocks.ndim != 3 or blocks.shape[1] < 2:
        raise ValueError(f"blocks must have shape [B, m >= 2, d], got shape {tuple(blocks.shape)}")
    z = _float64(blocks)
    dim = z.shape[-1]
    centred = z - z.mean(dim=1, keepdim=True)
    spectra = torch.linalg.eigvalsh(centred.mT @ centred / (z.shape[1] - 1))  # ascending, [B, d]
    largest = spectra[:, -1:]
    clamped = spectra.clamp(min=0.0)  # rounding negatives count as zero, as in effective_rank
    total = clamped.sum(dim=1, keepdim=True)
    p = clamped / total.clamp(min=torch.finfo(torch.float64).tiny)
    effective = torch.where(total[:, 0] > 0, (-torch.special.xlogy(p, p).sum(dim=1)).exp(), torch.zeros_like(total[:, 0]))
    rank = torch.where(largest[:, 0] > 0, (clamped > rank_tol * largest).sum(dim=1).to(torch.float64),
                       torch.zeros_like(total[:, 0]))
    smallest = spectra[:, 0]
    condition = torch.where(smallest > 0, largest[:, 0] / smallest.clamp(min=torch.finfo(torch.float64).tiny),
                            torch.full_like(smallest, math.inf))
    gram = torch.linalg.eigvalsh(z.mT @ z)
    gram_largest = gram[:, -1]
    stable = torch.where(gram_largest > 0, gram.sum(dim=1) / gram_largest.clamp(min=torch.finfo(torch.float64).tiny)
                         / dim, torch.zeros_like(gram_largest))
    means = torch.stack([stable, effective, effective / dim, rank, condition]).mean(dim=1).tolist()
    return dict(zip(("stable_rank", "effective_rank", "effective_rank_fraction", "rank", "condition_number"), means))


def representation_metrics(z: Tensor, prefix: str, rank_tol: float = 1e-5) -> dict[str, float]:
    """All diagnostics of one representation as ``{f"{prefix}/<name>": value}``, ready for a logger.

    ``z`` is ``[N, d]`` (one view) or ``[V, N, d]`` (``V`` views of the same ``N`` images). The spectral
    measures use all ``V N`` rows together; ``negative_cosine`` pairs different images within a view, and
    ``positive_cosine`` (only for ``[V >= 2, N, d]``) pairs views of the same image. Keys:
    ``stable_rank`` (normalised, in ``[1/d, 1]``), ``effective_rank``, ``effective_rank_fraction``
    (effective rank / ``d``, in ``[0, 1]``: low values warn of dimensional collapse), ``rank`` (numerical
    rank with relative tolerance ``rank_tol``), ``condition_number``, ``negative_cosine``, ``positive_cosine``.
    """
    if z.ndim not in (2, 3):
        raise ValueError(f"z must have shape [N, d] or [V, N, d], got shape {tuple(z.shape)}")
    rows = z.reshape(-1, z.shape[-1])
    dim = rows.shape[1]
    spectrum = covariance_spectrum(rows)
    effective = effective_rank(spectrum)
    metrics = {
        "stable_rank": normalized_stable_rank(rows),
        "effective_rank": effective,
        "effective_rank_fraction": effective / dim,
        "rank": float(numerical_rank(spectrum, tol=rank_tol)),
        "condition_number": condition_number(spectrum),
        "negative_cosine": negative_cosine_similarity(z),
    }
    if z.ndim == 3 and z.shape[0] >= 2:
        metrics["positive_cosine"] = positive_cosine_similarity(z)
    return {f"{prefix}/{name}": value for name, value in metrics.items()}
