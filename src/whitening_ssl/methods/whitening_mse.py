"""Whitening MSE methods: W-MSE, CW-RGP, Shuffled-DBN and the ablations (BN-only, plain, PCA)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from ..losses import WhiteningMSELoss, covariance_penalty
from ..whitening import Whitening
from .base import PretrainModule


class WhiteningMSEMethod(PretrainModule):
    """Encoder + head trained with the whitening MSE loss (:class:`~whitening_ssl.losses.WhiteningMSELoss`).

    Its settings are the whitening transform's (:class:`~whitening_ssl.whitening.Whitening`: ``whiten``,
    ``axis``, ``groups``, ...), the loss's (``w_size``, ``w_iter``, ``norm``) and :data:`OWN_SETTINGS`;
    :meth:`default_settings` gathers their defaults (the configuration's ``method/_shared/whitening_mse``
    node is made from it, so each default lives in one signature). The ImageNet recipe adds ``cov_w``
    times a covariance penalty on the head outputs (:func:`~whitening_ssl.losses.covariance_penalty`,
    summed over views) until epoch ``cov_stop``.
    """

    #: the method's own settings and their defaults
    OWN_SETTINGS = {
        "gather": False,  # DDP: whiten the global batch (all-gather with gradients) instead of each process's part
        "cov_w": 0.0,  # ImageNet recipe: weight of the covariance penalty on head outputs ...
        "cov_stop": 0,  # ... until this epoch
    }

    def __init__(self, backbone, method, num_views: int, dataset=None, analysis=None) -> None:
        super().__init__(backbone, method, num_views, dataset, analysis)
        m = self.method
        self.loss_fn = WhiteningMSELoss(Whitening.from_settings(m), w_size=m["w_size"], w_iter=m["w_iter"],
                                        norm=m["norm"])

    @classmethod
    def default_settings(cls) -> Dict[str, Any]:
        return {"family": "whitening_mse", **Whitening.default_settings(), "w_size": "???",
                **WhiteningMSELoss.default_settings(), **cls.OWN_SETTINGS}

    @classmethod
    def check_config(cls, checks, method, data) -> None:
        """The whitening's, the loss's and the method's own settings, and sizes that give a non-singular covariance."""
        super().check_config(checks, method, data)
        Whitening.check(checks, method, "method.")
        batch = checks.integer(data, "batch_size", "data.batch_size", minimum=2)
        WhiteningMSELoss.check(checks, method, "method.", batch_size=batch)
        checks.boolean(method, "gather", "method.gather")
        checks.number(method, "cov_w", "method.cov_w", minimum=0.0)
        checks.integer(method, "cov_stop", "method.cov_stop", minimum=0)
        emb, w_size = method.get("emb"), method.get("w_size")
        if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (emb, w_size)):
            Whitening.check_shape(checks, method, samples=w_size, channels=emb, path="method.")

    def cov_weight(self, epoch: int) -> float:
        """``cov_w`` before epoch ``cov_stop``, 0 from then on (as the paper's ``step(epoch)``)."""
        return self.method["cov_w"] if epoch < self.method["cov_stop"] else 0.0

    def gathering(self) -> bool:
        """``method.gather`` under DDP: the loss sees the global batch."""
        return bool(self.method["gather"]) and dist.is_available() and dist.is_initialized() \
            and dist.get_world_size() > 1

    def gather_embeddings(self, embeddings: Tensor) -> Tensor:
        """``method.gather=true``: every process's embeddings, all-gathered with their gradients, in rank order.

        Every process then computes the same loss on the global batch (``[V, N x processes, d]``), and
        the sub-batches of ``w_size`` are drawn from the global batch. The gradient of the all-gather
        sums the processes' (equal) gradients for each part, and DDP averages over the processes, so the
        parameter gradients equal those of one process on the concatenated batch. ``false`` (the
        paper's ImageNet runs): each process whitens its own part.
        """
        if not self.gathering():
            return embeddings
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(embeddings.contiguous()), dim=1)

    def shared_generator(self, device) -> Optional[torch.Generator]:
        """With ``gather``: a generator seeded by (run seed, step), the same on every process, so all
        processes draw the same sub-batches and channel partitions without communicating."""
        if not self.gathering():
            return None
        generator = torch.Generator(device=device)
        generator.manual_seed(torch.initial_seed() + self.global_step)
        return generator

    def compute_loss(self, embeddings: Tensor, views: List[Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        whitened = self.loss_fn.whitened_blocks(embeddings, generator=self.shared_generator(embeddings.device))
        if self.capture_whitened:  # this step is measured (analysis.every_n_steps)
            self.last_whitened = whitened.detach()
        mse = self.loss_fn.pair_loss(whitened)
        cov_weight = self.cov_weight(self.current_epoch)
        if not cov_weight:
            return mse, {}
        penalty = covariance_penalty(embeddings, samples_as_variables=self.method["axis"] == "channel")
        return mse + cov_weight * penalty, {"train/mse": mse.detach(), "train/cov_penalty": penalty.detach()}
