"""One batch's three representations and their measures: backbone features, embedding, whitened output.

The whitened output is whitened block by block (sub-batches of ``w_size``, as the loss does), so
its spectral measures (stable rank, effective rank, rank, condition number) are the average over
blocks; cosines pair rows across all blocks (positives: the same image's views, which the loss
places in the same position of the same sub-batch). :func:`measure` reads every number back from
the device in one copy (one host synchronisation per measured batch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .cosines import mean_negative_cosine, mean_positive_cosine, negative_cosine_samples, positive_cosine_samples
from .metrics import SPECTRAL, covariance_spectrum, representation_tensors, spectral_measures

#: the three representations, in the order the plots show them
REPRESENTATIONS = ("backbone", "embedding", "whitened")


@dataclass
class Representations:
    """One batch's representations. ``views``: ``[V, N, dim]`` (V >= 2 gives positives) or ``[N, dim]``;
    ``whitened_blocks``: ``[B, V, m, d]`` (each ``[m, d]`` block whitened on its own) or ``None``."""

    backbone: Tensor
    embedding: Tensor | None = None
    whitened_blocks: Tensor | None = None

    def whitened_views(self) -> Tensor | None:
        """The whitened rows as ``[V, B m, d]`` (view-aligned: row i of every view is one image)."""
        if self.whitened_blocks is None:
            return None
        blocks, views, m, d = self.whitened_blocks.shape
        return self.whitened_blocks.permute(1, 0, 2, 3).reshape(views, blocks * m, d)

    def present(self) -> dict[str, Tensor]:
        """``{representation: [V, N, dim] or [N, dim]}`` of those present (whitened: view-aligned rows)."""
        found = {"backbone": self.backbone, "embedding": self.embedding, "whitened": self.whitened_views()}
        return {name: z for name, z in found.items() if z is not None}


def _whitened_tensors(reps: Representations, rank_tol: float) -> tuple[tuple[str, ...], Tensor]:
    """Spectral measures per ``[m, d]`` block, averaged; cosines over all rows (view-aligned)."""
    blocks, views = reps.whitened_blocks, reps.whitened_views()
    assert blocks is not None and views is not None  # called only where the whitened blocks are present
    m, d = blocks.shape[-2:]
    names: tuple[str, ...] = (*SPECTRAL, "negative_cosine")
    values = [spectral_measures(blocks.float().reshape(-1, m, d), rank_tol).mean(dim=1)]
    rows = views.float()
    values.append(mean_negative_cosine(rows).reshape(1))
    if rows.shape[0] > 1:
        names += ("positive_cosine",)
        values.append(mean_positive_cosine(rows).reshape(1))
    return names, torch.cat(values)


@torch.no_grad()
def measure(
    reps: Representations, prefix: str = "analysis", rank_tol: float = 1e-5, spectra: dict[str, Tensor] | None = None
) -> dict[str, float]:
    """Every measure of every representation present, as ``{f"{prefix}/{representation}/{name}": value}``.

    ``spectra``: the covariance eigenvalues of the backbone and embedding rows (:func:`spectra`) when
    already computed, so that no eigendecomposition is done twice.
    """
    spectra = spectra or {}
    parts = [("backbone", representation_tensors(reps.backbone.float(), rank_tol, spectra.get("backbone")))]
    if reps.embedding is not None:
        parts.append(("embedding", representation_tensors(reps.embedding.float(), rank_tol, spectra.get("embedding"))))
    if reps.whitened_blocks is not None:
        parts.append(("whitened", _whitened_tensors(reps, rank_tol)))
    values = torch.cat([part for _, (_, part) in parts]).tolist()  # the one read-back
    keys = [f"{prefix}/{representation}/{name}" for representation, (names, _) in parts for name in names]
    return dict(zip(keys, values))


@torch.no_grad()
def spectra(reps: Representations) -> dict[str, Tensor]:
    """Covariance eigenvalues (descending) of each representation (views stacked; whitened: all blocks' rows)."""
    return {name: covariance_spectrum(z.reshape(-1, z.shape[-1])) for name, z in reps.present().items()}


@torch.no_grad()
def cosine_samples(reps: Representations, max_samples: int = 10_000, seed: int = 0):
    """``{representation: (positive samples or None, negative samples)}`` for the histograms."""
    out = {}
    for name, z in reps.present().items():
        positive = positive_cosine_samples(z, max_samples, seed) if z.ndim == 3 and z.shape[0] >= 2 else None
        out[name] = (positive, negative_cosine_samples(z, max_samples, seed))
    return out


def representations_of_batch(features: Tensor, embeddings: Tensor, whitened: Tensor | None) -> Representations:
    """A training step's representations (``features`` ``[V N, f]``, ``embeddings`` ``[V, N, d]``, the
    loss's whitened blocks ``[k, V, m, d]``: :attr:`~whitening_ssl.methods.outputs.LossOutput.whitened`),
    detached, without another forward pass."""
    num_views, batch = embeddings.shape[:2]
    return Representations(
        features.detach().view(num_views, batch, -1),
        embeddings.detach(),
        whitened.detach() if whitened is not None else None,
    )
