"""Whitening MSE methods: W-MSE, CW-RGP, Shuffled-DBN and the ablations (BN-only, plain, PCA)."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from ..losses import WhiteningMSELoss, covariance_penalty
from ..whitening import COVARIANCE_KINDS, WHITENING_AXES, WHITENING_KINDS, ZCA_SOLVERS, Whitening
from .base import PretrainModule


class WhiteningMSEMethod(PretrainModule):
    """Encoder + head trained with the whitening MSE loss (:class:`~whitening_ssl.losses.WhiteningMSELoss`).

    The ImageNet recipe adds ``cov_w`` times a covariance penalty on the head outputs
    (:func:`~whitening_ssl.losses.covariance_penalty`, summed over views) until epoch ``cov_stop``.
    """

    def __init__(self, backbone, method, num_views: int, dataset=None, analysis=None) -> None:
        super().__init__(backbone, method, num_views, dataset, analysis)
        m = self.method
        whitening = Whitening(kind=m["whiten"], axis=m["axis"], groups=m["groups"], random_groups=m["random_groups"],
                              eps=m["eps"], denom_offset=m["denom_offset"], solver=m["solver"],
                              newton_iters=m["newton_iters"])
        self.loss_fn = WhiteningMSELoss(whitening, w_size=m["w_size"], w_iter=m["w_iter"], norm=m["norm"])

    @classmethod
    def check_config(cls, checks, method, data) -> None:
        """The whitening settings: kind, axis, sizes that give a non-singular covariance."""
        super().check_config(checks, method, data)
        kind = checks.choice(method, "whiten", "method.whiten", WHITENING_KINDS)
        axis = checks.choice(method, "axis", "method.axis", WHITENING_AXES)
        w_size = checks.integer(method, "w_size", "method.w_size", minimum=2)
        checks.integer(method, "w_iter", "method.w_iter", minimum=1)
        groups = checks.integer(method, "groups", "method.groups", minimum=1)
        checks.boolean(method, "random_groups", "method.random_groups")
        checks.number(method, "eps", "method.eps", minimum=0.0, below=1.0)
        checks.integer(method, "denom_offset", "method.denom_offset", minimum=0)
        checks.boolean(method, "norm", "method.norm")
        checks.boolean(method, "gather", "method.gather")
        solver = checks.choice(method, "solver", "method.solver", ZCA_SOLVERS)
        checks.integer(method, "newton_iters", "method.newton_iters", minimum=1)
        if solver not in (None, "eigh") and kind is not None and kind != "zca":
            checks.add(f"method.solver={solver} applies to ZCA whitening only (method.whiten={kind}): "
                       "use method.solver=eigh")
        checks.number(method, "cov_w", "method.cov_w", minimum=0.0)
        checks.integer(method, "cov_stop", "method.cov_stop", minimum=0)
        emb = checks.integer(method, "emb", "method.emb", minimum=1)
        batch = checks.integer(data, "batch_size", "data.batch_size", minimum=2)
        if None in (kind, axis, w_size, groups, emb, batch):
            return
        if batch % w_size:
            checks.add(f"data.batch_size={batch} is not divisible by method.w_size={w_size}: change one so that "
                       "batch_size is a multiple of w_size")
        if emb % groups:
            checks.add(f"method.emb={emb} is not divisible by method.groups={groups}: choose groups that divide the "
                       "embedding size")
            return
        if kind in COVARIANCE_KINDS:
            channels = emb // groups
            if axis == "channel" and channels <= w_size:
                checks.add(f"channel whitening needs method.emb / method.groups > method.w_size (the {w_size}x{w_size} "
                           f"covariance over {channels} channels per group is singular): raise method.emb, lower "
                           f"method.groups or lower method.w_size (emb={emb}, groups={groups}, w_size={w_size})")
            if axis == "batch" and w_size <= channels:
                checks.add(f"batch whitening needs method.w_size > method.emb / method.groups (the {channels}x{channels} "
                           f"covariance from {w_size} samples is singular): raise method.w_size or method.groups, or "
                           f"lower method.emb (emb={emb}, groups={groups}, w_size={w_size})")

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
