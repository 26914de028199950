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
- the cosine similarities of positive and negative pairs (:mod:`whitening_ssl.analysis.cosines`).

Every computation is done in float64 (inputs are detached and promoted) on the input's device.
One batched code path (:func:`spectral_measures`) serves a single matrix and a stack of blocks, and
:func:`representation_metrics` reads all its measures back in one device-to-host copy.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .cosines import mean_negative_cosine, mean_positive_cosine

NEGATIVE_EIGENVALUE_TOLERANCE = 1e-3
"""Eigenvalues below ``-NEGATIVE_EIGENVALUE_TOLERANCE x largest`` are not rounding: the input is not the spectrum of a
covariance, and the rank functions raise."""

#: the rows of :func:`spectral_measures`, in order
SPECTRAL = ("stable_rank", "effective_rank", "effective_rank_fraction", "rank", "condition_number")
#: each measure in one line, where a report shows it
MEANINGS = {
    "stable_rank": "||Z||_F^2 / ||Z||_2^2 / d: how evenly the dimensions are used (1: all equally; 1/d: one)",
    "effective_rank": "exp of the entropy of the normalised covariance eigenvalues: dimensions in use",
    "effective_rank_fraction": "effective_rank / d",
    "rank": "eigenvalues above rank_tol x the largest",
    "condition_number": "largest / smallest covariance eigenvalue (inf: some direction has none)",
    "negative_cosine": "mean cosine similarity of different images (near 0: spread out)",
    "positive_cosine": "mean cosine similarity of two augmented views of one image (near 1: invariant)",
}
#: why the whitened output's rank and condition number look degenerate, and are not
WHITENED_NOTE = (
    "whitened output: measured per sub-batch of m rows (method.w_size) and averaged; a centred "
    "sub-batch has rank at most m - 1, so rank m - 1 (31 for sub-batches of 32) and condition_number "
    "inf are expected, with the m - 1 other eigenvalues equal (whitened)"
)
_TINY = torch.finfo(torch.float64).tiny


def _matrix(z: Tensor, name: str = "z") -> Tensor:
    if z.ndim != 2:
        raise ValueError(f"{name} must be a matrix [n, d], got shape {tuple(z.shape)}")
    return z.detach().to(torch.float64)


def _checked_eigenvalues(eigenvalues: Tensor) -> Tensor:
    """The eigenvalues as a float64 vector (rounding negatives are left to the measures, which clamp them)."""
    if eigenvalues.ndim != 1:
        raise ValueError(f"eigenvalues must be a vector, got shape {tuple(eigenvalues.shape)}")
    eigenvalues = eigenvalues.detach().to(torch.float64)
    if eigenvalues.numel() and eigenvalues.min() < -NEGATIVE_EIGENVALUE_TOLERANCE * eigenvalues.abs().max():
        raise ValueError(
            f"eigenvalues must be those of a covariance (>= 0 up to rounding), got minimum "
            f"{eigenvalues.min().item():.3g} with largest |value| {eigenvalues.abs().max().item():.3g}"
        )
    return eigenvalues


def spectrum_measures(spectra: Tensor, rank_tol: float = 1e-5) -> Tensor:
    """``[3, B]``: effective rank, numerical rank and condition number of each row of ``spectra`` ``[B, d]``
    (covariance eigenvalues, any order; the definitions are those of :func:`effective_rank`,
    :func:`numerical_rank` and :func:`condition_number`)."""
    largest, smallest = spectra.amax(dim=1), spectra.amin(dim=1)
    clamped = spectra.clamp(min=0.0)  # rounding negatives count as zero
    total = clamped.sum(dim=1)
    p = clamped / total.clamp(min=_TINY)[:, None]
    zero = torch.zeros_like(total)
    effective = torch.where(total > 0, (-torch.special.xlogy(p, p).sum(dim=1)).exp(), zero)
    rank = torch.where(largest > 0, (clamped > rank_tol * largest[:, None]).sum(dim=1).to(spectra.dtype), zero)
    condition = torch.where(smallest > 0, largest / smallest.clamp(min=_TINY), torch.full_like(smallest, math.inf))
    return torch.stack([effective, rank, condition])


def stable_ranks(z: Tensor) -> Tensor:
    """``[B]``: the normalised stable rank (:func:`normalized_stable_rank`) of each ``[m, d]`` matrix of ``z``."""
    gram = torch.linalg.eigvalsh(z.mT @ z)  # ascending
    largest = gram[:, -1]
    return torch.where(largest > 0, gram.sum(dim=1) / largest.clamp(min=_TINY) / z.shape[-1], torch.zeros_like(largest))


def spectral_measures(blocks: Tensor, rank_tol: float = 1e-5, spectra: Tensor | None = None) -> Tensor:
    """``[5, B]`` float64, rows :data:`SPECTRAL`, of each ``[m, d]`` matrix of ``blocks`` ``[B, m >= 2, d]``.

    ``spectra``: their covariance eigenvalues ``[B, d]`` when already computed (any order), else computed
    here (rows centred, denominator ``m - 1``).
    """
    if blocks.ndim != 3 or blocks.shape[1] < 2:
        raise ValueError(f"blocks must have shape [B, m >= 2, d], got shape {tuple(blocks.shape)}")
    z = blocks.detach().to(torch.float64)
    if spectra is None:
        centred = z - z.mean(dim=1, keepdim=True)
        spectra = torch.linalg.eigvalsh(centred.mT @ centred / (z.shape[1] - 1))
    effective, rank, condition = spectrum_measures(spectra.to(torch.float64), rank_tol)
    return torch.stack([stable_ranks(z), effective, effective / z.shape[-1], rank, condition])


def normalized_stable_rank(z: Tensor) -> float:
    """Normalised stable rank ``||Z||_F^2 / ||Z||_2^2 / d`` of ``z`` ``[n, d]``, taken as given (NOT centred).

    ``||Z||_F^2 = sum_i s_i^2`` and ``||Z||_2^2 = s_1^2`` (``s`` the singular values), so the stable rank
    ``sum_i s_i^2 / s_1^2`` lies in ``[1, min(n, d)]`` and the normalised value in ``[1/d, 1]``: ``1/d`` when
    ``Z`` has rank one, ``1`` when all ``d`` singular values are equal (orthogonal columns of equal norm,
    e.g. a perfectly whitened output). This is the measure Weng et al. (NeurIPS 2022) track for the
    whitened output. Computed from the ``d x d`` Gram matrix ``Z^T Z`` (trace over largest eigenvalue).
    Returns ``0.0`` for the all-zero matrix (rank zero).
    """
    return stable_ranks(_matrix(z).unsqueeze(0))[0].item()


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
    return spectrum_measures(eigenvalues.unsqueeze(0))[0, 0].item() if eigenvalues.numel() else 0.0


def numerical_rank(eigenvalues: Tensor, tol: float = 1e-5) -> int:
    """Number of eigenvalues greater than ``tol`` times the largest one.

    ``tol`` is relative: an eigenvalue counts when it is more than a fraction ``tol`` of the largest (so the
    direction's standard deviation is more than ``sqrt(tol)`` of the largest one). Returns 0 when all
    eigenvalues are ``<= 0``.
    """
    eigenvalues = _checked_eigenvalues(eigenvalues)
    return int(spectrum_measures(eigenvalues.unsqueeze(0), tol)[1, 0].item()) if eigenvalues.numel() else 0


def condition_number(eigenvalues: Tensor) -> float:
    """Largest over smallest eigenvalue; ``inf`` when the smallest is ``<= 0`` (a rank-deficient covariance)."""
    if eigenvalues.ndim != 1 or eigenvalues.numel() == 0:
        raise ValueError(f"eigenvalues must be a non-empty vector, got shape {tuple(eigenvalues.shape)}")
    return spectrum_measures(eigenvalues.detach().to(torch.float64).unsqueeze(0))[2, 0].item()


def mean_block_spectral_metrics(blocks: Tensor, rank_tol: float = 1e-5) -> dict[str, float]:
    """The spectral measures of :func:`representation_metrics` for each ``[m, d]`` matrix of ``blocks``
    ``[B, m, d]``, averaged over the ``B`` blocks, with one batched eigendecomposition per measure.

    For a whitened output made block by block (each sub-batch whitened on its own): ``stable_rank``,
    ``effective_rank``, ``effective_rank_fraction``, ``rank`` and ``condition_number`` (``inf`` when one
    block's covariance is singular). Equal, block by block, to the single-matrix functions above.
    """
    return dict(zip(SPECTRAL, spectral_measures(blocks, rank_tol).mean(dim=1).tolist()))


def representation_tensors(
    z: Tensor, rank_tol: float = 1e-5, spectrum: Tensor | None = None
) -> tuple[tuple[str, ...], Tensor]:
    """The names and values (a float64 vector, not read back) of :func:`representation_metrics`."""
    if z.ndim not in (2, 3):
        raise ValueError(f"z must have shape [N, d] or [V, N, d], got shape {tuple(z.shape)}")
    rows = _matrix(z.reshape(-1, z.shape[-1]))
    spectrum = covariance_spectrum(rows) if spectrum is None else spectrum
    values = [
        spectral_measures(rows.unsqueeze(0), rank_tol, spectrum.reshape(1, -1))[:, 0],
        mean_negative_cosine(z).reshape(1),
    ]
    names: tuple[str, ...] = (*SPECTRAL, "negative_cosine")
    if z.ndim == 3 and z.shape[0] >= 2:
        values.append(mean_positive_cosine(z).reshape(1))
        names += ("positive_cosine",)
    return names, torch.cat(values)


def representation_metrics(
    z: Tensor, prefix: str, rank_tol: float = 1e-5, spectrum: Tensor | None = None
) -> dict[str, float]:
    """All diagnostics of one representation as ``{f"{prefix}/<name>": value}``, ready for a logger.

    ``z`` is ``[N, d]`` (one view) or ``[V, N, d]`` (``V`` views of the same ``N`` images). The spectral
    measures use all ``V N`` rows together; ``negative_cosine`` pairs different images within a view, and
    ``positive_cosine`` (only for ``[V >= 2, N, d]``) pairs views of the same image. Keys:
    ``stable_rank`` (normalised, in ``[1/d, 1]``), ``effective_rank``, ``effective_rank_fraction``
    (effective rank / ``d``, in ``[0, 1]``: low values warn of dimensional collapse), ``rank`` (numerical
    rank with relative tolerance ``rank_tol``), ``condition_number``, ``negative_cosine``, ``positive_cosine``.
    ``spectrum``: the covariance eigenvalues of the ``V N`` rows (:func:`covariance_spectrum`) when already
    computed, so they are not computed twice.
    """
    names, values = representation_tensors(z, rank_tol, spectrum)
    return {f"{prefix}/{name}": value for name, value in zip(names, values.tolist())}
