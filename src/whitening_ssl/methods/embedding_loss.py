"""Baselines trained with one loss on the views' embeddings: SimCLR, Barlow Twins, VICReg, Zero-CL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from torch import Tensor, nn

from ..losses import build_loss
from ..validation import Checks
from .base import PretrainModule
from .family_checks import check_embedding_loss
from .outputs import LossOutput


class EmbeddingLossMethod(PretrainModule):
    """Backbone + head (+ ``head_out_bn``: a BatchNorm1d on the head output, as SimCLR in the paper's
    code) trained with ``method.loss`` (a node naming a loss of :mod:`whitening_ssl.losses` by ``name``
    or ``_target_``, with its arguments; :func:`~whitening_ssl.losses.build_loss`) on the ``[V, N, emb]``
    embeddings.

    A loss with parameters of its own (Barlow Twins' learnable BatchNorm, whose ``num_features`` the
    preset sets to ``${..emb}``) is trained with the rest of the model.
    """

    def __init__(
        self,
        backbone: Mapping[str, Any],
        method: Mapping[str, Any],
        num_views: int,
        dataset: Mapping[str, Any] | None = None,
        analysis: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone, method, num_views, dataset, analysis)
        if self.method["head_out_bn"]:
            cast(nn.Sequential, self.head).append(self.per_view_head(nn.BatchNorm1d(self.method["emb"])))
        self.loss_fn = build_loss(self.method["loss"])

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """The common settings and the loss: built once here, so its own constructor's rules are the check."""
        super().check_config(checks, method, data)
        check_embedding_loss(checks, method, data)

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        return LossOutput(self.loss_fn(embeddings))
