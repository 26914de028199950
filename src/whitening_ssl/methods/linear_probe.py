"""Linear-probe LightningModule: a linear classifier on a frozen pretrained backbone.

Two protocols (PAPER_NOTES section 6):

- ``fast`` (small datasets, as published): batches are precomputed features of the frozen backbone
  (see :class:`whitening_ssl.eval.FeatureDataModule`); Adam, lr 1e-2 decayed exponentially to 1e-6
  over the epochs, weight decay 5e-6, batches of 1000.
- ``standard`` (ImageNet recipe): batches are augmented images passed through the frozen backbone
  (kept in eval mode, no gradients); LARS or SGD with momentum 0.9, lr ``base_lr * global batch / 256``,
  no weight decay, cosine decay; ``fc`` initialised N(0, 0.01) with zero bias.

Top-1 and top-5 on the test split come from torchmetrics (micro average).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from ..models import build_backbone
from ..optim import LARS

PROTOCOLS = ("fast", "standard")


class LinearProbeModule(pl.LightningModule):
    """Frozen backbone + ``nn.Linear`` classifier.

    Args:
        backbone: keyword arguments of :func:`whitening_ssl.models.build_backbone`; weights are
            loaded separately (:func:`whitening_ssl.checkpoints.load_encoder`).
        num_classes: classes of the probe's dataset.
        protocol: ``fast`` (inputs are features) or ``standard`` (inputs are images).
        optim: ``optimizer`` (adam | sgd | lars), ``lr``, ``lr_end`` (fast), ``weight_decay``,
            ``momentum``, ``batch_size`` (for the lr scaling of the standard protocol).
        remove_maxpool: as the pretrained backbone.
    """

    def __init__(self, backbone: Mapping[str, Any], num_classes: int, protocol: str = "fast",
                 optim: Optional[Mapping[str, Any]] = None, remove_maxpool: bool = False) -> None:
        super().__init__()
        if protocol not in PROTOCOLS:
            raise ValueError(f"linear.protocol={protocol!r}: use one of {', '.join(PROTOCOLS)}")
        self.save_hyperparameters()
        self.protocol = protocol
        self.optim = dict(optim or {})
        self.backbone, feature_dim = build_backbone(**dict(backbone), remove_maxpool=remove_maxpool)
        self.backbone.requires_grad_(False)
        self.backbone.eval()
        self.classifier = nn.Linear(feature_dim, num_classes)
        if protocol == "standard":
            nn.init.normal_(self.classifier.weight, mean=0.0, std=0.01)
            nn.init.zeros_(self.classifier.bias)
        top5 = min(5, num_classes)
        self.test_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")
        self.test_top5 = MulticlassAccuracy(num_classes, top_k=top5, average="micro")
        self.train_top1 = MulticlassAccuracy(num_classes, top_k=1, average="micro")

    def train(self, mode: bool = True):
        """The backbone stays in eval mode (frozen BatchNorm statistics) whatever Lightning asks."""
        super().train(mode)
        self.backbone.eval()
        return self

    def features(self, inputs: Tensor) -> Tensor:
        if self.protocol == "fast":
            return inputs
        with torch.no_grad():
            return self.backbone(inputs)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.classifier(self.features(inputs))

    def training_step(self, batch, batch_idx: int) -> Tensor:
        inputs, targets = batch
        logits = self(inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        self.train_top1(logits, targets)
        self.log("linear/train_loss", loss, prog_bar=True, on_step=False, on_epoch=True)
        self.log("linear/train_top1", self.train_top1, on_step=False, on_epoch=True)
        return loss

    def _evaluate(self, batch, prefix: str) -> None:
        inputs, targets = batch
        logits = self(inputs)
        self.test_top1(logits, targets)
        self.test_top5(logits, targets)
        self.log(f"{prefix}/top1", self.test_top1, on_step=False, on_epoch=True, prog_bar=True)
        self.log(f"{prefix}/top5", self.test_top5, on_step=False, on_epoch=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "linear_val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "linear_test")

    def configure_optimizers(self):
        o = self.optim
        name = o.get("optimizer", "adam" if self.protocol == "fast" else "lars")
        params = self.classifier.parameters()
        epochs = max(self.trainer.max_epochs or 1, 1)
        if self.protocol == "fast":
            lr = o.get("lr", 1e-2)
        else:
            # linear scaling by the global batch (per-device batch x devices)
            lr = o.get("lr", 0.1) * o.get("batch_size", 1024) * max(self.trainer.world_size, 1) / 256
        if name == "adam":
            optimizer = torch.optim.Adam(params, lr=lr, weight_decay=o.get("weight_decay", 5e-6))
        elif name == "sgd":
            optimizer = torch.optim.SGD(params, lr=lr, momentum=o.get("momentum", 0.9), weight_decay=o.get("weight_decay", 0.0))
        elif name == "lars":
            optimizer = LARS(params, lr=lr, momentum=o.get("momentum", 0.9), weight_decay=o.get("weight_decay", 0.0))
        else:
            raise ValueError(f"linear.optimizer={name!r}: use adam, sgd or lars")
        if self.protocol == "fast":
            gamma = (o.get("lr_end", 1e-6) / lr) ** (1.0 / epochs)
            scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        else:
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.5 * (1 + math.cos(math.pi * epoch / epochs)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
