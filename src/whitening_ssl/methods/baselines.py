"""The baselines of the paper's comparison, each a thin method over a pure loss module.

- :class:`EmbeddingLossModule`: one loss on the head outputs of all views (SimCLR's NT-Xent with a
  BatchNorm after the head, Barlow Twins, VICReg, Zero-CL's instance-wise variant). The loss is
  built from ``method.loss`` (a Hydra ``_target_`` node).
- :class:`BYOLModule`: online predictor, EMA target (backbone + head), tau from 0.99 to 1 (cosine).
- :class:`SimSiamModule`: 3-layer projector, predictor, stop-gradient on the other branch.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Tuple

import hydra
import torch
from torch import Tensor, nn

from ..baseline_losses import BYOLLoss, SimSiamLoss, byol_tau
from .base import PretrainModule


class EmbeddingLossModule(PretrainModule):
    """Backbone + head (+ ``head_out_bn``: BatchNorm1d on the head output, as SimCLR in the paper's
    code) trained with ``method.loss`` on the ``[V, N, emb]`` embeddings."""

    DEFAULTS: Dict[str, Any] = dict(head_out_bn=False, loss=None)

    def __init__(self, backbone, method, num_views: int = 2, dataset=None) -> None:
        super().__init__(backbone, method, num_views, dataset)
        if self.method["head_out_bn"]:
            self.head.append(nn.BatchNorm1d(self.method["emb"]))
        if not self.method["loss"]:
            raise ValueError("method.loss must name the loss module (a node with _target_)")
        self.loss_fn = hydra.utils.instantiate(self.method["loss"])

    def compute_loss(self, embeddings: Tensor, views: List[Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        return self.loss_fn(embeddings), {}


def _predictor(emb: int, hidden: int, bias: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.Linear(emb, hidden, bias=bias), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, emb))


class BYOLModule(PretrainModule):
    """BYOL: predictor ``Linear(emb, pred_hidden)-BN-ReLU-Linear(emb)`` on the online head; the
    target (an EMA copy of backbone + head, never touched by the optimiser) is updated after every
    step with ``tau = 1 - (1 - tau_base)(cos(pi p) + 1) / 2``, ``p`` the fraction of training done."""

    DEFAULTS: Dict[str, Any] = dict(tau_base=0.99, pred_hidden=1024)

    def __init__(self, backbone, method, num_views: int = 2, dataset=None) -> None:
        super().__init__(backbone, method, num_views, dataset)
        m = self.method
        self.predictor = _predictor(m["emb"], m["pred_hidden"])
        self.target_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.target_head = copy.deepcopy(self.head).requires_grad_(False)
        self.loss_fn = BYOLLoss()

    @property
    def tau(self) -> float:
        """EMA rate now (derived from training progress, so it survives a resume)."""
        return byol_tau(self.training_progress, self.method["tau_base"])

    def compute_loss(self, embeddings: Tensor, views: List[Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        num_views, batch, emb = embeddings.shape
        predictions = self.predictor(embeddings.reshape(-1, emb)).view(num_views, batch, -1)
        with torch.no_grad():
            targets = self.encode(views, self.target_backbone, self.target_head)
        return self.loss_fn(predictions, targets), {"train/tau": torch.tensor(self.tau)}

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """``target <- tau * target + (1 - tau) * online`` for parameters; buffers are copied."""
        for online, target in ((self.backbone, self.target_backbone), (self.head, self.target_head)):
            online_params, target_params = list(online.parameters()), list(target.parameters())
            torch._foreach_mul_(target_params, tau)
            torch._foreach_add_(target_params, online_params, alpha=1 - tau)
            torch._foreach_copy_(list(target.buffers()), list(online.buffers()))

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        self.update_target(self.tau)


class SimSiamModule(PretrainModule):
    """SimSiam: projector ``3 x [Linear(no bias), BN]`` with ReLU between (last BN without affine),
    hidden ``head_size``; predictor ``Linear(emb, pred_hidden, no bias)-BN-ReLU-Linear(emb)``;
    negative cosine against the detached other branch."""

    DEFAULTS: Dict[str, Any] = dict(pred_hidden=512, head_size=2048, emb=2048)

    def __init__(self, backbone, method, num_views: int = 2, dataset=None) -> None:
        super().__init__(backbone, method, num_views, dataset)
        m = self.method
        hidden, emb = m["head_size"], m["emb"]
        self.head = nn.Sequential(
            nn.Linear(self.feature_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, emb, bias=False), nn.BatchNorm1d(emb, affine=False))
        self.predictor = _predictor(emb, m["pred_hidden"], bias=False)
        self.loss_fn = SimSiamLoss()

    def compute_loss(self, embeddings: Tensor, views: List[Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        num_views, batch, emb = embeddings.shape
        predictions = self.predictor(embeddings.reshape(-1, emb)).view(num_views, batch, -1)
        return self.loss_fn(predictions, embeddings), {}
