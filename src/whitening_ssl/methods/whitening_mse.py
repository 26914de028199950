"""Whitening MSE methods: W-MSE, CW-RGP, Shuffled-DBN and the ablations (BN-only, plain, PCA)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor

from ..losses import WhiteningMSELoss, covariance_penalty
from ..validation import Checks
from ..whitening import Whitening
from .base import PretrainModule
from .family_checks import check_whitening_mse
from .gathering import GlobalBatch
from .outputs import LossOutput


class WhiteningMSEMethod(GlobalBatch, PretrainModule):
    """Encoder + head trained with the whitening MSE loss (:class:`~whitening_ssl.losses.WhiteningMSELoss`).

    Its settings are the whitening transform's (:class:`~whitening_ssl.whitening.Whitening`: ``whiten``,
    ``axis``, ``groups``, ...), the loss's (``w_size``, ``w_iter``, ``norm``) and :data:`OWN_SETTINGS`;
    :meth:`default_settings` gathers their defaults (``conf/method/_defaults/whitening_mse.yaml`` is written
    from it by :mod:`whitening_ssl.cli.write_defaults`, so each default lives in one signature). The ImageNet
    recipe adds ``cov_w`` times a covariance penalty on the head outputs
    (:func:`~whitening_ssl.losses.covariance_penalty`, summed over views) until epoch ``cov_stop``.
    """

    #: the method's own settings and their defaults
    OWN_SETTINGS: ClassVar[dict[str, Any]] = {
        "gather": False,  # DDP: whiten the global batch (all-gather with gradients) instead of each process's part
        "cov_w": 0.0,  # ImageNet recipe: weight of the covariance penalty on head outputs ...
        "cov_stop": 0,  # ... until this epoch
    }

    def __init__(
        self,
        backbone: Mapping[str, Any],
        method: Mapping[str, Any],
        num_views: int,
        dataset: Mapping[str, Any] | None = None,
        analysis: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone, method, num_views, dataset, analysis)
        m = self.method
        self.loss_fn = WhiteningMSELoss(
            Whitening.from_settings(m), w_size=m["w_size"], w_iter=m["w_iter"], norm=m["norm"]
        )

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        from ..settings.methods import FAMILY_DEFAULTS  # (the configuration's node: the same dict)

        return FAMILY_DEFAULTS["whitening_mse"]()

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """The whitening's, the loss's and the method's own settings, and sizes that give a non-singular covariance."""
        super().check_config(checks, method, data)
        check_whitening_mse(checks, method, data)

    def cov_weight(self, epoch: int) -> float:
        """``cov_w`` before epoch ``cov_stop``, 0 from then on (as the paper's ``step(epoch)``)."""
        return self.method["cov_w"] if epoch < self.method["cov_stop"] else 0.0

    def whitened_blocks(self, embeddings: Tensor) -> Tensor | None:
        """Sub-batches of ``w_size`` whitened as the loss does (its first draw); ``None`` below one sub-batch."""
        usable = embeddings.shape[1] - embeddings.shape[1] % self.method["w_size"]
        return self.loss_fn.whitened_blocks(embeddings[:, :usable].float())[0] if usable else None

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        """The whitening MSE (plus the covariance penalty while it is on); measured: the first draw's blocks."""
        whitened = self.loss_fn.whitened_blocks(embeddings, generator=self.shared_generator(embeddings.device))
        mse = self.loss_fn.pair_loss(whitened)
        measured = whitened[0].detach() if measure else None  # [k, V, m, d]: already computed, kept when measured
        cov_weight = self.cov_weight(self.current_epoch)
        if not cov_weight:
            return LossOutput(mse, whitened=measured)
        penalty = covariance_penalty(embeddings, samples_as_variables=self.method["axis"] == "channel")
        terms = {"train/mse": mse.detach(), "train/cov_penalty": penalty.detach()}
        return LossOutput(mse + cov_weight * penalty, terms, measured)
