"""Pretraining LightningModule for the whitening MSE methods (W-MSE, CW-RGP and their ablations)."""

from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Mapping, Optional

import pytorch_lightning as pl
import torch
from torch import Tensor

from ..losses import WhiteningMSELoss, view_pair_mse
from ..models import build_backbone, projection_head
from ..schedules import lr_factor
from ..whitening import Whitening

METHOD_DEFAULTS: Dict[str, Any] = dict(
    name="custom",
    num_views=2,
    whiten="zca",
    axis="channel",
    groups=4,
    random_groups=True,
    w_size=64,
    w_iter=1,
    eps=0.0,
    denom_offset=1,
    norm=True,
    emb=512,
    head_size=1024,
    head_layers=2,
    head_bn=True,
    bn_per_view=True,
    batch_size=256,
    lr=3e-3,
    weight_decay=1e-6,
    warmup_steps=500,
    schedule="step",
    drops=[50, 25],
    drop_gamma=0.2,
)


class WhiteningPretrainModule(pl.LightningModule):
    """Encoder + projection head trained with the whitening MSE loss.

    Args:
        backbone: keyword arguments of :func:`whitening_ssl.models.build_backbone` (``name``, ...).
        method: the method preset (see ``conf/method/*.yaml``; missing keys take
            ``METHOD_DEFAULTS``): views, whitening, loss, head and optimiser settings.
        remove_maxpool: drop the ResNet stem max-pool (CIFAR-size images).
        dataset: the dataset configuration, kept in the checkpoint so that evaluation stages
            (``stage=linear ckpt=...``) find the data and its normalisation without other arguments.

    Per step: ``embed_views`` (backbone per view, as the paper's code, so BatchNorm statistics are
    per view; ``method.bn_per_view=false`` runs one forward on all views), ``gather_embeddings``
    (the identity on one device: the seam for gathering across devices), the loss on the whitened
    blocks, and ``batch_metrics`` (the one hook for per-batch analysis metrics).
    """

    def __init__(self, backbone: Mapping[str, Any], method: Mapping[str, Any], remove_maxpool: bool = False,
                 dataset: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.method = {**METHOD_DEFAULTS, **dict(method)}
        m = self.method
        self.backbone, self.feature_dim = build_backbone(**dict(backbone), remove_maxpool=remove_maxpool)
        self.head = projection_head(self.feature_dim, m["emb"], m["head_size"], m["head_layers"], m["head_bn"])
        whitening = Whitening(kind=m["whiten"], axis=m["axis"], groups=m["groups"], random_groups=m["random_groups"],
                              eps=m["eps"], denom_offset=m["denom_offset"])
        self.loss_fn = WhiteningMSELoss(whitening, w_size=m["w_size"], w_iter=m["w_iter"], norm=m["norm"])

    def forward(self, images: Tensor) -> Tensor:
        """Encoder features (the representation that is evaluated)."""
        return self.backbone(images)

    def embed_views(self, views: List[Tensor]) -> Tensor:
        """Head outputs of all views, ``[V, N, emb]``; the head sees all views in one batch."""
        if self.method["bn_per_view"]:
            features = torch.cat([self.backbone(view) for view in views])
        else:
            features = self.backbone(torch.cat(views))
        return self.head(features).view(len(views), views[0].shape[0], -1)

    def gather_embeddings(self, embeddings: Tensor) -> Tensor:
        """Embeddings whose batch is whitened together. One device: unchanged."""
        return embeddings

    @torch.no_grad()
    def batch_metrics(self, embeddings: Tensor, whitened: Tensor) -> Dict[str, Tensor]:
        """Per-batch monitoring: mean per-channel std of L2-normalised embeddings (collapse -> 0)."""
        normalised = torch.nn.functional.normalize(embeddings.float(), dim=-1)
        return {"train/embedding_std": normalised.std(dim=1).mean()}

    def training_step(self, batch, batch_idx: int) -> Tensor:
        views, _ = batch
        embeddings = self.gather_embeddings(self.embed_views(list(views)))
        whitened = self.loss_fn.whitened_blocks(embeddings)
        loss = view_pair_mse(whitened, normalize=self.loss_fn.norm, view_dim=2)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        if batch_idx % max(self.trainer.log_every_n_steps, 1) == 0:
            self.log_dict(self.batch_metrics(embeddings, whitened), on_step=True, on_epoch=False)
        return loss

    def configure_optimizers(self):
        m = self.method
        optimizer = torch.optim.Adam(self.parameters(), lr=m["lr"], weight_decay=m["weight_decay"])
        max_epochs = max(self.trainer.max_epochs or 1, 1)
        self.trainer.estimated_stepping_batches  # noqa: B018 (makes Lightning size the train loader)
        batches = self.trainer.num_training_batches
        steps_per_epoch = 1 if batches == float("inf") else max(int(batches) // self.trainer.accumulate_grad_batches, 1)
        factor = partial(lr_factor, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, schedule=m["schedule"],
                         warmup_steps=m["warmup_steps"], drops=list(m["drops"]), gamma=m["drop_gamma"])
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
