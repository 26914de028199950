"""The paper's measurements on a model: backbone features, embedding (head output), whitened output.

Weng et al. (NeurIPS 2022) explain why whitening losses avoid collapse by measuring these three
representations: batch whitening only forces the embedding to full rank; PCA whitening collapses
where ZCA and Cholesky do not; stronger whitening raises the normalised stable rank of the whitened
output and drives the cosine similarity of negatives to zero, which is why the whitened output is a
poor representation. :func:`measure` turns the representations of one batch into those numbers
(:mod:`whitening_ssl.analysis.metrics`), :func:`representations_of_batch` reads them from a
training step without an extra forward pass, and :func:`analyze_encoder` computes them on
evaluation images (features of test images, and two augmented views of some of them for the
positives), with the spectra and cosine samples the plots need.

The whitened output is whitened block by block (sub-batches of ``w_size``, as the loss does), so
its spectral measures (stable rank, effective rank, rank, condition number) are the average over
blocks; cosines pair rows across all blocks (positives: the same image's views, which the loss
places in the same position of the same sub-batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..progress import track

from .metrics import (
    covariance_spectrum,
    mean_block_spectral_metrics,
    negative_cosine_samples,
    negative_cosine_similarity,
    positive_cosine_samples,
    positive_cosine_similarity,
    representation_metrics,
)

#: the three representations, in the order the plots show them
REPRESENTATIONS = ("backbone", "embedding", "whitened")
#: the per-block measures averaged over the whitened blocks
SPECTRAL = ("stable_rank", "effective_rank", "effective_rank_fraction", "rank", "condition_number")


@dataclass
class Representations:
    """One batch's representations. ``views``: ``[V, N, dim]`` (V >= 2 gives positives) or ``[N, dim]``;
    ``whitened_blocks``: ``[B, V, m, d]`` (each ``[m, d]`` block whitened on its own) or ``None``."""

    backbone: Tensor
    embedding: Optional[Tensor] = None
    whitened_blocks: Optional[Tensor] = None

    def whitened_views(self) -> Optional[Tensor]:
        """The whitened rows as ``[V, B m, d]`` (view-aligned: row i of every view is one image)."""
        if self.whitened_blocks is None:
            return None
        blocks, views, m, d = self.whitened_blocks.shape
        return self.whitened_blocks.permute(1, 0, 2, 3).reshape(views, blocks * m, d)


def _whitened_metrics(reps: Representations, prefix: str, rank_tol: float) -> Dict[str, float]:
    """Spectral measures per ``[m, d]`` block, averaged; cosines over all rows (view-aligned)."""
    m, d = reps.whitened_blocks.shape[-2:]
    per_block = mean_block_spectral_metrics(reps.whitened_blocks.float().reshape(-1, m, d), rank_tol)
    metrics = {f"{prefix}/{name}": per_block[name] for name in SPECTRAL}
    rows = reps.whitened_views().float()
    metrics[f"{prefix}/negative_cosine"] = negative_cosine_similarity(rows)
    if rows.shape[0] > 1:
        metrics[f"{prefix}/positive_cosine"] = positive_cosine_similarity(rows)
    return metrics


@torch.no_grad()
def measure(reps: Representations, prefix: str = "analysis", rank_tol: float = 1e-5) -> Dict[str, float]:
    """Every measure of every representation present, as ``{f"{prefix}/{representation}/{name}": value}``."""
    metrics = representation_metrics(reps.backbone.float(), f"{prefix}/backbone", rank_tol)
    if reps.embedding is not None:
        metrics.update(representation_metrics(reps.embedding.float(), f"{prefix}/embedding", rank_tol))
    if reps.whitened_blocks is not None:
        metrics.update(_whitened_metrics(reps, f"{prefix}/whitened", rank_tol))
    return metrics


@torch.no_grad()
def spectra(reps: Representations) -> Dict[str, Tensor]:
    """Covariance eigenvalues (descending) of each representation (views stacked)."""
    out = {"backbone": covariance_spectrum(reps.backbone.reshape(-1, reps.backbone.shape[-1]))}
    if reps.embedding is not None:
        out["embedding"] = covariance_spectrum(reps.embedding.reshape(-1, reps.embedding.shape[-1]))
    whitened = reps.whitened_views()
    if whitened is not None:
        out["whitened"] = covariance_spectrum(whitened.reshape(-1, whitened.shape[-1]))
    return out


@torch.no_grad()
def cosine_samples(reps: Representations, max_samples: int = 10_000, seed: int = 0):
    """``{representation: (positive samples or None, negative samples)}`` for the histograms."""
    out = {}
    for name, z in (("backbone", reps.backbone), ("embedding", reps.embedding), ("whitened", reps.whitened_views())):
        if z is None:
            continue
        positive = positive_cosine_samples(z, max_samples, seed) if z.ndim == 3 and z.shape[0] >= 2 else None
        out[name] = (positive, negative_cosine_samples(z, max_samples, seed))
    return out


@torch.no_grad()
def representations_of_views(module, views: Tensor) -> Representations:
    """The representations of ``views`` (``[V, N, 3, H, W]`` images) through ``module`` in eval mode:
    backbone features, head output (a pretraining module's :meth:`encode`) and, for whitening methods, the output
    of the method's whitening on sub-batches of its ``w_size`` (the loss's own draws)."""
    num_views, batch = views.shape[:2]
    if hasattr(module, "encode"):  # a pretraining module: its own one pass over the views (layout included)
        features, embedding = module.encode(list(views), return_features=True)
    else:  # a backbone alone
        features, embedding = module.backbone(views.flatten(0, 1)), None
    features = features.view(num_views, batch, -1)
    whitened = None
    loss_fn = getattr(module, "loss_fn", None)
    if embedding is not None and hasattr(loss_fn, "whitened_blocks"):
        usable = batch - batch % loss_fn.w_size
        if usable >= loss_fn.w_size:
            blocks = loss_fn.whitened_blocks(embedding[:, :usable].float())  # [w_iter, k, V, m, d]
            whitened = blocks[0]  # the first draw: [k, V, m, d]
    return Representations(features, embedding, whitened)


def representations_of_batch(features: Tensor, embeddings: Tensor, whitened: Optional[Tensor]) -> Representations:
    """A training step's representations (``features`` ``[V N, f]``, ``embeddings`` ``[V, N, d]``, the
    loss's whitened blocks ``[w_iter, k, V, m, d]``), detached, without another forward pass."""
    num_views, batch = embeddings.shape[:2]
    return Representations(features.detach().view(num_views, batch, -1), embeddings.detach(),
                           whitened.detach()[0] if whitened is not None else None)


def _stack_views(dataset: Dataset, count: int, batch_size: int, device, progress: bool) -> Tensor:
    """``[V, count, 3, H, W]`` from a dataset whose items are ``(list of V views, label)``."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    parts, seen = [], 0
    for views, _ in track(loader, -(-count // batch_size), "analysis: augmented views", enabled=progress):
        parts.append(torch.stack(list(views)).to(device))
        seen += parts[-1].shape[1]
        if seen >= count:
            break
    return torch.cat(parts, dim=1)[:, :count]


@dataclass
class Analysis:
    """The measurements of a model on evaluation images: ``test`` (the test images with the evaluation
    transform: spectra, ranks, negatives) and ``views`` (two augmented views of some of them: positives)."""

    test: Representations
    views: Optional[Representations] = None

    def _view_pairs(self) -> Dict[str, Tensor]:
        """``{representation: [V, N, dim]}`` of the augmented views (positives)."""
        if self.views is None:
            return {}
        pairs = {"backbone": self.views.backbone, "embedding": self.views.embedding,
                 "whitened": self.views.whitened_views()}
        return {name: z for name, z in pairs.items() if z is not None}

    def metrics(self, prefix: str = "analysis", rank_tol: float = 1e-5) -> Dict[str, float]:
        """Every measure of the test images, and the positives' cosine from the views."""
        metrics = measure(self.test, prefix, rank_tol)
        for name, z in self._view_pairs().items():
            metrics[f"{prefix}/{name}/positive_cosine"] = positive_cosine_similarity(z.float())
        return metrics

    def cosine_samples(self, max_samples: int = 10_000, seed: int = 0):
        """``{representation: (positives from the views or None, negatives from the test images)}``."""
        positives = {name: positive_cosine_samples(z, max_samples, seed) for name, z in self._view_pairs().items()}
        return {name: (positives.get(name), negative) for name, (_, negative) in cosine_samples(self.test, max_samples,
                                                                                               seed).items()}


def _in_chunks(module, views: Tensor, chunk: int) -> Representations:
    parts = [representations_of_views(module, views[:, start:start + chunk]) for start in range(0, views.shape[1], chunk)]
    backbone = torch.cat([p.backbone for p in parts], dim=1)
    embedding = torch.cat([p.embedding for p in parts], dim=1) if parts[0].embedding is not None else None
    blocks = [p.whitened_blocks for p in parts if p.whitened_blocks is not None]
    whitened = torch.cat(blocks) if blocks else None
    if views.shape[0] == 1:
        return Representations(backbone[0], embedding[0] if embedding is not None else None, whitened)
    return Representations(backbone, embedding, whitened)


@torch.no_grad()
def analyze_encoder(module, test_set: Dataset, views_set: Optional[Dataset], device, max_images: int = 2048,
                    batch_size: int = 256, progress: bool = False) -> Analysis:
    """The representations of up to ``max_images`` test images (evaluation transform) and, when
    ``views_set`` is given (the test images with the pretraining augmentation, two views each), of
    that many view pairs. In eval mode (running BatchNorm statistics), restored after; the chunks
    are multiples of ``w_size`` so the whitened output uses whole sub-batches. ``progress``: bars over
    the images read."""
    was_training = module.training
    module.eval()
    loss_fn = getattr(module, "loss_fn", None)
    chunk = batch_size * 8
    if hasattr(loss_fn, "w_size"):
        chunk = max(loss_fn.w_size, chunk - chunk % loss_fn.w_size)
    try:
        count = min(max_images, len(test_set))
        loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
        images, seen = [], 0
        for batch, _ in track(loader, -(-count // batch_size), "analysis: test images", enabled=progress):
            images.append(batch.to(device))
            seen += len(batch)
            if seen >= count:
                break
        test = _in_chunks(module, torch.cat(images)[:count].unsqueeze(0), chunk)
        views = _in_chunks(module, _stack_views(views_set, count, batch_size, device, progress), chunk) \
            if views_set is not None else None
    finally:
        module.train(was_training)
    return Analysis(test, views)
