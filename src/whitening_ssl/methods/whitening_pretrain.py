"""Whitening MSE methods: W-MSE, CW-RGP, Shuffled-DBN and the ablations (BN-only, plain, PCA)."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch
from torch import Tensor

from ..losses import WhiteningMSELoss, covariance_penalty, view_pair_mse
from ..whitening import Whitening
from .base import BASE_DEFAULTS, PretrainModule

METHOD_DEFAULTS: Dict[str, Any] = dict(
    BASE_DEFAULTS,
    whiten="zca",
    axis="channel",
    groups=4,
    random_groups=True,
    w_size=64,
    w_iter=1,
    eps=0.0,
    denom_offset=1,
    norm=True,
    cov_w=0.0,
    cov_stop=0,
)


class WhiteningPretrainModule(PretrainModule):
    """Encoder + head trained with the whitening MSE loss (:class:`~whitening_ssl.losses.WhiteningMSELoss`).

    The ImageNet recipe adds ``cov_w`` times a covariance penalty on the head outputs
    (:func:`~whitening_ssl.losses.covariance_penalty`, summed over views) until epoch ``cov_stop``.
    """

    DEFAULTS = METHOD_DEFAULTS

    def __init__(self, backbone, method, remove_maxpool: bool = False, dataset=None) -> None:
        super().__init__(backbone, method, remove_maxpool, dataset)
        m = self.method
        whitening = Whitening(kind=m["whiten"], axis=m["axis"], groups=m["groups"], random_groups=m["random_groups"],
                              eps=m["eps"], denom_offset=m["denom_offset"])
        self.loss_fn = WhiteningMSELoss(whitening, w_size=m["w_size"], w_iter=m["w_iter"], norm=m["norm"])

    def cov_weight(self, epoch: int) -> float:
        """``cov_w`` before epoch ``cov_stop``, 0 from then on (as the paper's ``step(epoch)``)."""
        return self.method["cov_w"] if epoch < self.method["cov_stop"] else 0.0

    def compute_loss(self, embeddings: Tensor, views: List[Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        whitened = self.loss_fn.whitened_blocks(embeddings)
        mse = view_pair_mse(whitened, normalize=self.loss_fn.norm, view_dim=2)
        cov_weight = self.cov_weight(self.current_epoch)
        if not cov_weight:
            return mse, {}
        penalty = covariance_penalty(embeddings, samples_as_variables=self.method["axis"] == "channel")
        return mse + cov_weight * penalty, {"train/mse": mse.detach(), "train/cov_penalty": penalty.detach()}
