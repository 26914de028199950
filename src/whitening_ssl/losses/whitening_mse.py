"""Whitening MSE loss (W-MSE, Ermolov et al. ICML 2021; CW-RGP, Weng et al. NeurIPS 2022).

The module takes the embeddings of all views at once, ``[V, N, d]``, cuts the batch into
sub-batches, whitens every (iteration, sub-batch, view) block in one batched call, and averages
the distance between every pair of views (:func:`~whitening_ssl.losses.pairs.view_pair_mse`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..validation import Checks
from ..whitening import Whitening
from ._views import Device, Views, as_views
from .loss_rules import check_whitening_mse_loss, subbatch_problem
from .pairs import view_pair_mse


class WhiteningMSELoss(nn.Module):
    """Whitening MSE loss: MSE between whitened, (optionally) L2-normalised views.

    For each of ``w_iter`` iterations, a random permutation of the ``N`` samples is cut into
    ``N / w_size`` sub-batches (the same sub-batches for every view); every (sub-batch, view)
    block is whitened independently; every pair of views ``i < j`` contributes
    ``mean_n || z_i/|z_i| - z_j/|z_j| ||^2``, and the total is divided by
    ``w_iter * V (V - 1) / 2``. Every view receives gradients (no stop-gradient).

    Args:
        whitening: the :class:`~whitening_ssl.whitening.Whitening` transform applied per block.
        w_size: sub-batch size ``m`` (``N % w_size == 0`` is required).
        w_iter: number of sub-batch draws averaged per step.
        norm: L2-normalise whitened embeddings before the MSE (W-MSE's default).

    Shapes: ``forward(embeddings)`` takes ``[V, N, d]`` (or a list of ``V`` tensors ``[N, d]``)
    and returns a scalar.
    """

    def __init__(self, whitening: Whitening, w_size: int, w_iter: int = 1, norm: bool = True) -> None:
        super().__init__()
        checks = Checks(check_machine=False)
        self.check(checks, {"w_size": w_size, "w_iter": w_iter, "norm": norm})
        checks.raise_if_any()
        self.whitening = whitening
        self.w_size = w_size
        self.w_iter = w_iter
        self.norm = norm

    @classmethod
    def check(
        cls,
        checks: Checks,
        settings: Mapping[str, Any],
        path: str = "",
        batch_size: int | None = None,
        batch_key: str = "data.batch_size",
    ) -> None:
        """Record the problems of the loss's settings (``w_size``, ``w_iter``, ``norm``; ``path`` their prefix)
        and, given the ``batch_size`` the loss will see, whether ``w_size`` divides it
        (:func:`~whitening_ssl.losses.loss_rules.check_whitening_mse_loss`, which the pre-run check calls too)."""
        check_whitening_mse_loss(checks, settings, path, batch_size, batch_key)

    @staticmethod
    def batch_problem(batch_size: int, w_size: int, path: str = "", batch_key: str = "data.batch_size") -> str | None:
        """Why a batch of ``batch_size`` samples cannot be cut into sub-batches of ``w_size``, or ``None``."""
        return subbatch_problem(batch_size, w_size, path, batch_key)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        """The loss's settings that have a default (``w_size`` has none: every preset states it)."""
        parameters = inspect.signature(cls.__init__).parameters
        return {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}

    def draw_subbatches(
        self, batch_size: int, device: Device = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Sub-batch indices ``[w_iter, N / w_size, w_size]``: one random permutation per iteration (the settings
        were checked by the constructor; only the batch size is new here)."""
        problem = self.batch_problem(batch_size, self.w_size, batch_key="batch size")
        if problem:
            raise ValueError(problem)
        perms = torch.rand(self.w_iter, batch_size, device=device, generator=generator).argsort(dim=1)
        return perms.view(self.w_iter, batch_size // self.w_size, self.w_size)

    def whitened_blocks(
        self, embeddings: Tensor, subbatches: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Whitened blocks ``[w_iter, N / w_size, V, w_size, d]`` of the embeddings ``[V, N, d]``.

        Random draws (sub-batches, channel partitions) come from ``generator`` (default: global).
        """
        if subbatches is None:
            subbatches = self.draw_subbatches(embeddings.shape[1], device=embeddings.device, generator=generator)
        num_views, dim = embeddings.shape[0], embeddings.shape[-1]
        # index_select (backward: index_add) is much cheaper than advanced indexing here
        blocks = embeddings.index_select(1, subbatches.flatten()).view(num_views, *subbatches.shape, dim)
        return self.whitening(blocks.movedim(0, 2), generator=generator)  # [w_iter, k, V, m, d]

    def pair_loss(self, whitened: Tensor) -> Tensor:
        """The loss of whitened blocks ``[w_iter, k, V, m, d]`` (:meth:`whitened_blocks`): the mean over view
        pairs of the (normalised, with ``norm``) squared distances."""
        return view_pair_mse(whitened, normalize=self.norm, view_dim=2)

    def forward(
        self, embeddings: Views, subbatches: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        return self.pair_loss(self.whitened_blocks(as_views(embeddings), subbatches, generator))


def covariance_penalty(embeddings: Tensor, samples_as_variables: bool = False) -> Tensor:
    """Off-diagonal covariance penalty of the CW-RGP ImageNet recipe, summed over views.

    Per view ``H`` (``[N, d]``; for channel whitening transposed first, so the samples are the
    variables): centre over observations, ``C = X^T X / (n - 1)``, penalty
    ``sum_{i != j} C_ij^2 / p`` with ``p`` the number of variables. ``embeddings``: ``[V, N, d]``.
    """
    x = embeddings.transpose(-1, -2) if samples_as_variables else embeddings  # [V, observations, variables]
    num_obs, num_vars = x.shape[-2:]
    x = x - x.mean(dim=-2, keepdim=True)
    cov = x.transpose(-1, -2) @ x / (num_obs - 1)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov, dim1=-2, dim2=-1))
    return (off_diagonal.square().sum(dim=(-2, -1)) / num_vars).sum()
