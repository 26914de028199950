"""ReSA (Weng et al., ICML 2025, "Clustering Properties of Self-Supervised Learning"; code winci-ai/resa).

Views: view 0 is the recipe's weak view (crop and flip only), views 1.. strong ones (``resa_*`` recipes).
The online network (backbone, projector, predictor where ``method.predictor``) encodes every view; the
momentum copy of backbone and projector encodes views 0 and 1 (``method.momentum_views``), without
gradients, and its outputs are all-gathered under DDP. The target of the cross-entropy
(:class:`~whitening_ssl.losses.ReSALoss`) is the Sinkhorn assignment of the L2-normalised backbone
features of the weak view, online (this process's, detached) against momentum (every process's)
(:func:`~whitening_ssl.losses.resa.sinkhorn_assignment`). The copy follows ``p_k <- m p_k + (1 - m)
p_q`` before each step's forward (BatchNorm statistics its own), ``m`` from ``method.momentum_base`` to 1
on a cosine over the steps. The evaluation reads the momentum encoder (``method.evaluate_momentum``), as
the authors' evaluation does.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from ..losses import loss_defaults
from ..losses.resa import ReSALoss, sinkhorn_assignment
from ..models import Predictor
from ..schedules import byol_tau
from ..validation import Checks
from .base import PretrainModule
from .byol import momentum_update
from .family_checks import check_resa
from .outputs import LossOutput


def _gather(x: Tensor) -> Tensor:
    """Every process's ``x`` along dim -2, without gradient (the authors' ``concat_all_gather``)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=-2)


class ReSAMethod(PretrainModule):
    """See the module docstring."""

    #: the method's own settings and their defaults
    OWN_SETTINGS: ClassVar[dict[str, Any]] = {
        "predictor": True,  # ImageNet: on (the authors' default); their CIFAR code: none
        "pred_hidden": 2048,
        "momentum_base": 0.996,  # m_0 of the momentum's cosine to 1 (per step)
        "momentum_views": 2,  # the views the momentum copy encodes: the weak one and the first strong one
        "evaluate_momentum": True,  # the evaluation reads the momentum encoder, as the authors'
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
        predictor = Predictor(m["emb"], m["pred_hidden"], batch_norm=m["head_bn"], activation=m["head_activation"])
        self.predictor = self.per_view_head(predictor) if m["predictor"] else None
        self.momentum_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.momentum_head = copy.deepcopy(self.head).requires_grad_(False)
        if self.feature_whitening is not None:  # the copy's layer keeps its own running statistics
            self.momentum_feature_whitening = copy.deepcopy(self.feature_whitening)
        self.loss_fn = ReSALoss(m["temperature"])
        self.online_features: Tensor | None = None

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        """The loss's and the assignment's defaults (their signatures) and the method's own."""
        sinkhorn = inspect.signature(sinkhorn_assignment).parameters
        return {
            "family": "resa",
            **loss_defaults(ReSALoss),
            "sinkhorn_eps": sinkhorn["eps"].default,
            "sinkhorn_iters": sinkhorn["iters"].default,
            **cls.OWN_SETTINGS,
        }

    def build_head(self) -> nn.Module:
        """The authors' projector: the head, then ``BatchNorm1d(emb, affine=False)`` (``method.head_bn``;
        their ViT projector has no BatchNorm)."""
        if not self.method["head_bn"]:
            return nn.Sequential(super().build_head())
        return nn.Sequential(super().build_head(), nn.BatchNorm1d(self.method["emb"], affine=False))

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        super().check_config(checks, method, data)
        check_resa(checks, method, data)

    @property
    def momentum(self) -> float:
        """``m`` now (from training progress, so it survives a resume)."""
        return byol_tau(self.training_progress, self.method["momentum_base"])

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:  # before the forward, as the authors' code
        momentum_update(
            ((self.backbone, self.momentum_backbone), (self.head, self.momentum_head)),
            self.momentum,
            copy_buffers=False,
        )

    def encode(
        self,
        views: list[Tensor],
        backbone: nn.Module | None = None,
        head: nn.Module | None = None,
        return_features: bool = False,
    ) -> Any:
        """As the base; the online pass keeps view 0's backbone features (detached) for the assignment."""
        features, embeddings = super().encode(views, backbone, head, return_features=True)
        if backbone is None:
            self.online_features = features[: views[0].shape[0]].detach()
        return (features, embeddings) if return_features else embeddings

    def evaluated_encoder(self) -> nn.Module:
        if not self.method["evaluate_momentum"]:
            return super().evaluated_encoder()
        return self.with_layer(self.momentum_backbone, getattr(self, "momentum_feature_whitening", None))

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        m = self.method
        online = embeddings
        if self.predictor is not None:
            online = self.predictor(embeddings.flatten(0, 1)).view(*embeddings.shape[:2], -1)
        with torch.no_grad():
            features, targets = self.encode(
                views[: m["momentum_views"]], self.momentum_backbone, self.momentum_head, return_features=True
            )
            target_features = _gather(F.normalize(features[: views[0].shape[0]].float(), dim=-1))
            world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
            online_features = self.online_features  # view 0's, kept by this step's encode
            if online_features is None or online_features.shape[0] != views[0].shape[0]:  # called without encode
                online_features = self.backbone(views[0])
            assignment = sinkhorn_assignment(
                F.normalize(online_features.float(), dim=-1),
                target_features,
                m["sinkhorn_eps"],
                m["sinkhorn_iters"],
                dist.all_reduce if world > 1 else None,
                world,
            )
        loss = self.loss_fn(online, _gather(targets), assignment)
        return LossOutput(loss, {"train/momentum": torch.tensor(self.momentum)})
