"""The linear-probe LightningModule of the standard (ImageNet) protocol.

Augmented images go through the frozen backbone (kept in eval mode, no gradients) into an
``nn.Linear`` classifier initialised N(0, 0.01) with zero bias; LARS or SGD with momentum 0.9,
learning rate ``lr x global batch / 256``, set once per epoch by ``linear.schedule`` (cosine, or steps). Top-1 and top-5
on the test split come from torchmetrics (micro average), summed over processes under DDP.

The fast protocol of the small datasets trains on precomputed features instead
(:func:`whitening_ssl.eval.linear_fast.train_linear_classifier`), without a Trainer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from ..optim import build_optimizer
from ..schedules import lr_factor, schedule_settings


class LinearProbeModule(pl.LightningModule):
    """Frozen ``backbone`` + ``nn.Linear`` classifier (standard protocol).

    Args:
        backbone: the pretrained encoder (its weights are not trained and its BatchNorm statistics
            do not change); ``feature_dim`` its output size.
        num_classes: classes of the probe's dataset.
        optim: ``optimizer`` (lars | sgd | adam), ``lr`` (per 256 images of global batch),
            ``weight_decay``, ``momentum``, ``batch_size`` (per process), ``schedule`` (``cosine_epoch`` |
            ``step``, per epoch) with ``drops`` and ``drop_gamma`` for ``step``.
    """

    def __init__(
        self, backbone: nn.Module, feature_dim: int, num_classes: int, optim: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["backbone"])
        self.optim = dict(optim or {})
        self.backbone = backbone.requires_grad_(False).eval()
        self.classifier = nn.Linear(feature_dim, num_classes)
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

    def forward(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            features = self.backbone(images)
        return self.classifier(features)

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

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "linear_test")

    def configure_optimizers(self):
        o = self.optim
        epochs = max(self.trainer.max_epochs or 1, 1)
        # linear scaling by the global batch (per-process batch x processes)
        lr = o["lr"] * o["batch_size"] * max(self.trainer.world_size, 1) / 256
        optimizer = build_optimizer(
            o["optimizer"], self.classifier.parameters(), lr=lr, weight_decay=o["weight_decay"], momentum=o["momentum"]
        )
        # set once per epoch, no warm-up: cosine (CW-RGP's recipe) or steps (INTL's: x0.1 at epochs 60 and 80)
        available = {"drops": list(o["drops"]), "gamma": o["drop_gamma"]}
        settings = {key: available[key] for key in schedule_settings(o["schedule"])}
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: lr_factor(epoch, 1, epochs, schedule=o["schedule"], warmup_steps=0, **settings)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
