"""What every pretraining method shares: encoder, head, the multi-view step, optimiser and schedule.

Methods are thin subclasses that implement :meth:`PretrainModule.compute_loss` over the views'
embeddings; the losses themselves are pure ``nn.Module`` s (``losses.py``, ``baseline_losses.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytorch_lightning as pl
import torch
from torch import Tensor

from ..models import build_backbone, projection_head
from ..optim import LARS
from ..schedules import lr_factor

BASE_DEFAULTS: Dict[str, Any] = dict(
    name="custom",
    num_views=2,
    emb=512,
    head_size=1024,
    head_layers=2,
    head_bn=True,
    bn_per_view=True,
    batch_size=256,
    optimizer="adam",
    lr=3e-3,
    weight_decay=1e-6,
    momentum=0.9,
    warmup_steps=500,
    schedule="step",
    drops=[50, 25],
    drop_gamma=0.2,
)


class PretrainModule(pl.LightningModule):
    """Encoder + projection head trained on ``num_views`` augmented views of each image.

    Args:
        backbone: keyword arguments of :func:`whitening_ssl.models.build_backbone` (``name``, ...).
        method: the method preset (``conf/method/*.yaml``; missing keys take the class defaults).
        remove_maxpool: drop the ResNet stem max-pool (CIFAR-size images).
        dataset: the dataset configuration, kept in the checkpoint so that evaluation stages
            (``stage=linear ckpt=...``) find the data and its normalisation without other arguments.

    Per step: :meth:`encode` (backbone per view, as the paper's code, so BatchNorm statistics
    are per view; ``method.bn_per_view=false`` runs one forward on all views), :meth:`compute_loss`
    (the method), and :meth:`batch_metrics`, the one hook for per-batch analysis metrics.
    """

    DEFAULTS: Dict[str, Any] = BASE_DEFAULTS

    def __init__(self, backbone: Mapping[str, Any], method: Mapping[str, Any], remove_maxpool: bool = False,
                 dataset: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.method = {**BASE_DEFAULTS, **self.DEFAULTS, **dict(method)}
        m = self.method
        self.backbone, self.feature_dim = build_backbone(**dict(backbone), remove_maxpool=remove_maxpool)
        self.head = projection_head(self.feature_dim, m["emb"], m["head_size"], m["head_layers"], m["head_bn"])

    def forward(self, images: Tensor) -> Tensor:
        """Encoder features (the representation that is evaluated)."""
        return self.backbone(images)

    def encode(self, views: List[Tensor], backbone=None, head=None) -> Tensor:
        """Head outputs of all views, ``[V, N, emb]``; the head sees all views in one batch."""
        backbone = backbone or self.backbone
        head = head or self.head
        if self.method["bn_per_view"]:
            features = torch.cat([backbone(view) for view in views])
        else:
            features = backbone(torch.cat(views))
        return head(features).view(len(views), views[0].shape[0], -1)

    def gather_embeddings(self, embeddings: Tensor) -> Tensor:
        """Embeddings whose batch enters the loss together. One device (or per-GPU whitening): unchanged."""
        return embeddings

    def compute_loss(self, embeddings: Tensor, views: List[Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """The method's loss from ``embeddings [V, N, emb]``; returns ``(loss, extra logs)``."""
        raise NotImplementedError

    @torch.no_grad()
    def batch_metrics(self, embeddings: Tensor) -> Dict[str, Tensor]:
        """Per-batch monitoring: mean per-channel std of L2-normalised embeddings (collapse -> 0)."""
        normalised = torch.nn.functional.normalize(embeddings.float(), dim=-1)
        return {"train/embedding_std": normalised.std(dim=1).mean()}

    def training_step(self, batch, batch_idx: int) -> Tensor:
        views = list(batch[0])
        embeddings = self.gather_embeddings(self.encode(views))
        loss, logs = self.compute_loss(embeddings, views)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        if logs:
            self.log_dict(logs, on_step=True, on_epoch=False)
        if batch_idx % max(self.trainer.log_every_n_steps, 1) == 0:  # logging syncs anyway: check here
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at step {self.global_step}: a whitening covariance may be singular "
                    "(raise method.eps, the sub-batch size for batch whitening, or lower method.groups) or "
                    "the learning rate too high; checkpoints saved so far are in the run directory's checkpoints/")
            self.log_dict(self.batch_metrics(embeddings), on_step=True, on_epoch=False)
        return loss

    def optimized_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]

    def configure_optimizers(self):
        m = self.method
        params = self.optimized_parameters()
        if m["optimizer"] == "adam":
            optimizer = torch.optim.Adam(params, lr=m["lr"], weight_decay=m["weight_decay"])
        elif m["optimizer"] == "sgd":
            optimizer = torch.optim.SGD(params, lr=m["lr"], momentum=m["momentum"], weight_decay=m["weight_decay"])
        elif m["optimizer"] == "lars":
            optimizer = LARS(params, lr=m["lr"], momentum=m["momentum"], weight_decay=m["weight_decay"])
        else:
            raise ValueError(f"method.optimizer={m['optimizer']!r}: use adam, sgd or lars")
        max_epochs = max(self.trainer.max_epochs or 1, 1)
        self.trainer.estimated_stepping_batches  # noqa: B018 (makes Lightning size the train loader)
        batches = self.trainer.num_training_batches
        steps_per_epoch = 1 if batches == float("inf") else max(int(batches) // self.trainer.accumulate_grad_batches, 1)
        factor = partial(lr_factor, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, schedule=m["schedule"],
                         warmup_steps=m["warmup_steps"], drops=list(m["drops"]), gamma=m["drop_gamma"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @property
    def training_progress(self) -> float:
        """Fraction of training done, in [0, 1] (for schedules such as BYOL's tau)."""
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        return min(self.global_step / total, 1.0) if total and total != float("inf") else 0.0
