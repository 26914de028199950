"""BYOL (Grill et al., NeurIPS 2020) as the paper's baseline: predictor, EMA target, all view pairs."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..losses import BYOLLoss
from ..models import Predictor
from ..schedules import byol_tau
from ..validation import Checks
from .base import PretrainModule
from .family_checks import check_byol
from .outputs import LossOutput


@torch.no_grad()
def momentum_update(pairs: Iterable[tuple[nn.Module, nn.Module]], rate: float, copy_buffers: bool) -> None:
    """``copy <- rate * copy + (1 - rate) * online`` for the parameters of each ``(online, copy)`` module
    pair, in one fused call per pair, outside autograd; ``copy_buffers``: the buffers are copied too."""
    for online, copied in pairs:
        targets: list[Tensor] = list(copied.parameters())
        torch._foreach_mul_(targets, rate)
        torch._foreach_add_(targets, list(online.parameters()), alpha=1 - rate)
        buffers = list(copied.buffers())
        if copy_buffers and buffers:  # (a ViT has none)
            torch._foreach_copy_(buffers, list(online.buffers()))


class BYOLMethod(PretrainModule):
    """Predictor ``Linear(emb, pred_hidden)-BN-ReLU-Linear(emb)`` on the online head; the target (an
    EMA copy of backbone + head, never touched by the optimiser) is updated after every step with
    ``tau = 1 - (1 - tau_base)(cos(pi p) + 1) / 2``, ``p`` the fraction of training done.
    The predictor's BatchNorm follows ``method.head_per_view`` like the head's."""

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
        predictor = Predictor(m["emb"], m["pred_hidden"], batch_norm=m["head_bn"], activation=m["head_activation"])
        self.predictor = self.per_view_head(predictor)
        self.target_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.target_head = copy.deepcopy(self.head).requires_grad_(False)
        self.loss_fn = BYOLLoss()

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        super().check_config(checks, method, data)
        check_byol(checks, method, data)

    @property
    def tau(self) -> float:
        """EMA rate now (derived from training progress, so it survives a resume)."""
        return byol_tau(self.training_progress, self.method["tau_base"])

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        num_views, batch, emb = embeddings.shape
        predictions = self.predictor(embeddings.reshape(-1, emb)).view(num_views, batch, -1)
        with torch.no_grad():
            targets = self.encode(views, self.target_backbone, self.target_head)
        return LossOutput(self.loss_fn(predictions, targets), {"train/tau": torch.tensor(self.tau)})

    def update_target(self, tau: float) -> None:
        """``target <- tau * target + (1 - tau) * online`` for parameters; buffers are copied."""
        momentum_update(((self.backbone, self.target_backbone), (self.head, self.target_head)), tau, copy_buffers=True)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.update_target(self.tau)
