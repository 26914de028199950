"""The paper's measurements on a model: backbone features, embedding (head output), whitened output.

Weng et al. (NeurIPS 2022) explain why whitening losses avoid collapse by measuring these three
representations: batch whitening only forces the embedding to full rank; PCA whitening collapses
where ZCA and Cholesky do not; stronger whitening raises the normalised stable rank of the whitened
output and drives the cosine similarity of negatives to zero, which is why the whitened output is a
poor representation. :func:`measure` turns the representations of one batch into those numbers
(:mod:`whitening_ssl.analysis.representations`), :func:`representations_of_batch` reads them from a
training step without an extra forward pass, and :func:`analyze_encoder` computes them on
evaluation images (features of test images, and two augmented views of some of them for the
positives), with the spectra and cosine samples the plots need.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sized
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..progress import track
from .cosines import mean_positive_cosine, positive_cosine_samples
from .representations import (  # noqa: F401 (REPRESENTATIONS, measure, representations_of_batch: this module's API)
    REPRESENTATIONS,
    Representations,
    cosine_samples,
    measure,
    representations_of_batch,
    spectra,
)


@torch.no_grad()
def representations_of_views(module, views: Tensor | None, features: Tensor | None = None) -> Representations:
    """The representations of ``views`` (``[V, N, 3, H, W]`` images) through ``module`` in eval mode:
    backbone features, head output (a pretraining module's :meth:`encode`) and, for whitening methods, the
    method's whitened output as its loss makes it (:meth:`PretrainModule.whitened_blocks`). ``features``: the
    backbone features ``[V, N, f]`` of the images, already computed (``views`` is then not read): only
    the head (``encode``'s second half) and the whitening run."""
    if features is None:
        assert views is not None  # read when the features are not given
        num_views, batch = views.shape[:2]
        if hasattr(module, "encode"):  # a pretraining module: its own one pass over the views (layout included)
            features, embedding = module.encode(list(views), return_features=True)
        else:  # a backbone alone
            features, embedding = module.backbone(views.flatten(0, 1)), None
    else:
        num_views, batch = features.shape[:2]
        features = features.flatten(0, 1)
        embedding = module.head(features).view(num_views, batch, -1) if hasattr(module, "encode") else None
    features = features.view(num_views, batch, -1)
    whitened = module.whitened_blocks(embedding) if embedding is not None else None  # [k, V, m, d]
    return Representations(features, embedding, whitened)


@dataclass
class Analysis:
    """The measurements of a model on evaluation images: ``test`` (the test images with the evaluation
    transform: spectra, ranks, negatives) and ``views`` (two augmented views of some of them: positives)."""

    test: Representations
    views: Representations | None = None
    _spectra: dict[str, Tensor] | None = field(default=None, init=False, repr=False)

    def _view_pairs(self) -> dict[str, Tensor]:
        """``{representation: [V, N, dim]}`` of the augmented views (positives)."""
        return self.views.present() if self.views is not None else {}

    def spectra(self) -> dict[str, Tensor]:
        """The test images' covariance eigenvalues per representation (computed once: measures and figures)."""
        if self._spectra is None:
            self._spectra = spectra(self.test)
        return self._spectra

    def metrics(self, prefix: str = "analysis", rank_tol: float = 1e-5) -> dict[str, float]:
        """Every measure of the test images, and the positives' cosine from the views."""
        metrics = measure(self.test, prefix, rank_tol, self.spectra())
        positives = {
            f"{prefix}/{name}/positive_cosine": mean_positive_cosine(z.float())
            for name, z in self._view_pairs().items()
        }
        if positives:
            metrics.update(zip(positives, torch.stack(list(positives.values())).tolist()))
        return metrics

    def cosine_samples(self, max_samples: int = 10_000, seed: int = 0):
        """``{representation: (positives from the views or None, negatives from the test images)}``."""
        positives = {name: positive_cosine_samples(z, max_samples, seed) for name, z in self._view_pairs().items()}
        return {
            name: (positives.get(name), negative)
            for name, (_, negative) in cosine_samples(self.test, max_samples, seed).items()
        }


def _read(loader: DataLoader, count: int, device, description: str, progress: bool) -> Iterator[Tensor]:
    """The first ``count`` images of ``loader`` as ``[V, n, 3, H, W]`` batches on ``device`` (items: an image,
    V = 1, or a list of V views)."""
    seen, batch_size = 0, loader.batch_size
    assert batch_size is not None  # a loader of batches
    for images, _ in track(loader, -(-count // batch_size), description, enabled=progress):
        images = torch.stack(list(images)) if isinstance(images, (list, tuple)) else images.unsqueeze(0)
        images = images[:, : count - seen].to(device, non_blocking=True)
        seen += images.shape[1]
        yield images
        if seen >= count:
            break


def _chunks(parts: Iterable[Tensor], chunk: int) -> Iterator[Tensor]:
    """``parts`` (``[V, n, ...]`` each, in order) cut again into consecutive ``chunk`` columns (the last one
    shorter)."""
    held, size = [], 0
    for part in parts:
        held.append(part)
        size += part.shape[1]
        while size >= chunk:
            joined = torch.cat(held, dim=1) if len(held) > 1 else held[0]
            yield joined[:, :chunk]
            held, size = [joined[:, chunk:]], size - chunk
    if size:
        yield torch.cat(held, dim=1)


def _in_chunks(module, parts: Iterable[Tensor], chunk: int, features: bool = False) -> Representations:
    """The representations of ``parts`` (images, or backbone features with ``features``) chunk by chunk."""
    found = [
        representations_of_views(module, None, part) if features else representations_of_views(module, part)
        for part in _chunks(parts, chunk)
    ]
    backbone = torch.cat([p.backbone for p in found], dim=1)
    embedding = torch.cat([cast(Tensor, p.embedding) for p in found], dim=1) if found[0].embedding is not None else None
    blocks = [p.whitened_blocks for p in found if p.whitened_blocks is not None]
    whitened = torch.cat(blocks) if blocks else None
    if backbone.shape[0] == 1:
        return Representations(backbone[0], embedding[0] if embedding is not None else None, whitened)
    return Representations(backbone, embedding, whitened)


@torch.no_grad()
def analyze_encoder(
    module,
    test_set: Dataset,
    views_set: Dataset | None,
    device,
    max_images: int = 2048,
    batch_size: int = 256,
    progress: bool = False,
    num_workers: int = 0,
    test_features: Tensor | None = None,
) -> Analysis:
    """The representations of up to ``max_images`` test images (evaluation transform) and, when
    ``views_set`` is given (the test images with the pretraining augmentation, two views each), of
    that many view pairs. In eval mode (running BatchNorm statistics), restored after; the chunks
    are multiples of ``w_size`` so the whitened output uses whole sub-batches, and each chunk is
    measured as soon as it is read. ``progress``: bars over the images read; ``num_workers``: DataLoader
    workers making the augmented views; ``test_features``: the backbone features of ``test_set`` in its
    order (e.g. the evaluation's, float32): the test images are then not read or embedded again."""
    was_training = module.training
    module.eval()
    loss_fn: Any = getattr(module, "loss_fn", None)
    chunk = batch_size * 8
    if hasattr(loss_fn, "w_size"):
        chunk = max(loss_fn.w_size, chunk - chunk % loss_fn.w_size)
    pin = torch.device(device).type == "cuda"
    try:
        count = min(max_images, len(cast(Sized, test_set)))
        if test_features is not None:
            test = _in_chunks(module, [test_features[:count].to(device).unsqueeze(0)], chunk, features=True)
        else:
            loader = DataLoader(test_set, batch_size=batch_size, shuffle=False, pin_memory=pin)
            test = _in_chunks(module, _read(loader, count, device, "analysis: test images", progress), chunk)
        views = None
        if views_set is not None:
            loader = DataLoader(
                views_set, batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=pin
            )
            views = _in_chunks(module, _read(loader, count, device, "analysis: augmented views", progress), chunk)
    finally:
        module.train(was_training)
    return Analysis(test, views)
