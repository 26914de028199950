"""What every pretraining method shares: encoder, head, the multi-view step, optimiser and schedule.

Methods are thin subclasses that implement :meth:`PretrainModule.compute_loss` over the views'
embeddings (a :class:`~whitening_ssl.methods.outputs.LossOutput`); the losses themselves are pure
``nn.Module`` s (:mod:`whitening_ssl.losses`). Every setting is read from the method preset
(``conf/method/*.yaml``): there are no defaults here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.types import OptimizerLRSchedulerConfig
from torch import Tensor, nn

from ..models import ProjectionHead, build_backbone, per_view_batchnorm, views_per_pass
from ..optim import build_optimizer, cosine_weight_decay, parameter_groups
from ..schedules import lr_factor, schedule_settings
from ..training.nonfinite import NonFiniteLossError, NonFiniteWatch, WhiteningFailedError
from ..validation import Checks
from .extras import EncoderExtras
from .family_checks import check_common
from .outputs import LossOutput

log = logging.getLogger("whitening_ssl")


class PretrainModule(EncoderExtras, pl.LightningModule):
    """Encoder + projection head trained on ``num_views`` augmented views of each image.

    Args:
        backbone: keyword arguments of :func:`whitening_ssl.models.build_backbone` (``name``, ``stem``, ...).
        method: the method preset (``conf/method/*.yaml``), every key the method reads.
        num_views: augmented views of each image per step.
        dataset: the dataset configuration, kept in the checkpoint so that evaluation stages
            (``stage=linear ckpt=...``) find the data and its normalisation without other arguments.
        analysis: ``analysis.*`` (``every_n_steps``, ``collapse_fraction``, ``rank_tol``): the paper's
            measurements of the training batch (:meth:`analyze_batch`); ``None``: none.

    Per step, :meth:`encode` runs all views through the backbone and the head in ONE pass. Where
    the BatchNorm statistics are taken follows the paper's code: ``method.bn_per_view`` (backbone)
    and ``method.head_per_view`` (head, and predictor where there is one) make those BatchNorm
    layers normalise each view with its own statistics, exactly as a separate pass per view would
    (:mod:`whitening_ssl.models.view_norm`); otherwise the views share the batch statistics.
    Then :meth:`compute_loss` (the method: a :class:`LossOutput`, with the whitened output on the steps
    that are measured), and :meth:`batch_metrics`, the one hook for per-batch analysis metrics.
    """

    def __init__(
        self,
        backbone: Mapping[str, Any],
        method: Mapping[str, Any],
        num_views: int,
        dataset: Mapping[str, Any] | None = None,
        analysis: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.method = dict(method)
        self.num_views = num_views
        m = self.method
        self.backbone, self.feature_dim = build_backbone(**dict(backbone))
        if m["bn_per_view"]:
            per_view_batchnorm(self.backbone, num_views)
        self.head = self.per_view_head(self.build_head())
        self.setup_extras()  # method.feature_whitening, method.sigreg_weight (methods/extras.py)
        self.nonfinite = NonFiniteWatch()
        self.channels_last = False
        self.analysis = dict(analysis or {})
        self._collapse_warned = False
        self.step_features: Tensor | None = None  # the last step's backbone features, detached (online probe)

    def speed_up(self, channels_last: bool = False, compile: bool = False) -> None:
        """Layout and compilation, which change no result beyond float rounding.

        ``channels_last``: convolutional backbones (and their inputs) in NHWC memory layout, what GPU
        convolutions run fastest on; ``compile``: ``torch.compile`` the backbone(s) in place (parameter
        names, so checkpoints, stay the same).
        """
        backbones = [module for name, module in self.named_children() if name.endswith("backbone")]
        for backbone in backbones:
            if channels_last:
                backbone.to(memory_format=torch.channels_last)
            if compile:
                backbone.compile()
        self.channels_last = channels_last

    # --- the networks --------------------------------------------------------------------------

    def build_head(self) -> nn.Module:
        """The projection head (subclasses with another head override this)."""
        m = self.method
        return ProjectionHead(
            self.feature_dim,
            m["emb"],
            m["head_size"],
            m["head_layers"],
            m["head_bn"],
            m["head_bias"],
            m["head_activation"],
        )

    def per_view_head(self, module: nn.Module) -> nn.Module:
        """``module`` with per-view BatchNorm statistics when ``method.head_per_view``."""
        return per_view_batchnorm(module, self.num_views) if self.method["head_per_view"] else module

    def forward(self, images: Tensor) -> Tensor:
        """Encoder features (the representation that is evaluated)."""
        return self.backbone(images)

    def encode(
        self,
        views: list[Tensor],
        backbone: nn.Module | None = None,
        head: nn.Module | None = None,
        return_features: bool = False,
    ) -> Any:
        """Head outputs of ``views``, ``[V, N, emb]`` (and the backbone features ``[V N, f]`` with
        ``return_features``): one backbone pass per resolution (views of one size concatenated; multi-crop
        views come in runs of equal size) and one head pass, each BatchNorm taking its statistics per view
        (:func:`~whitening_ssl.models.view_norm.views_per_pass` tells the layers how many views a pass holds)."""
        backbone = backbone if backbone is not None else self.backbone
        head = head if head is not None else self.head
        parts, start = [], 0
        while start < len(views):  # a loop over the few resolutions, not over views
            end = start + 1
            while end < len(views) and views[end].shape == views[start].shape:
                end += 1
            images = torch.cat(views[start:end])
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with views_per_pass(backbone, end - start, self.num_views):
                parts.append(backbone(images))
            start = end
        features = self.whiten_features(parts[0] if len(parts) == 1 else torch.cat(parts), len(views), backbone)
        with views_per_pass(head, len(views), self.num_views):
            embeddings = head(features).view(len(views), views[0].shape[0], -1)
        return (features, embeddings) if return_features else embeddings

    def training_views(self, views: list[Tensor]) -> list[Tensor]:
        """The views the online network encodes each step (all; a momentum method keeps one for its copy)."""
        return views

    # --- configuration checks --------------------------------------------------------------------

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        """Record problems of ``method.*`` (and the ``data.*`` it depends on) in ``checks``; subclasses add theirs
        (the rules: :mod:`whitening_ssl.methods.family_checks`, which the pre-run check calls without torch)."""
        check_common(checks, method, data)

    # --- the step ----------------------------------------------------------------------------------

    def gather_embeddings(self, embeddings: Tensor) -> Tensor:
        """Embeddings whose batch enters the loss together. One device (or per-GPU whitening): unchanged."""
        return embeddings

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        """The method's loss from ``embeddings [V, N, emb]`` (and the step's ``views``, for a target network), its
        logged terms and, with ``measure`` (a step whose representations are measured), its whitened output."""
        raise NotImplementedError

    def whitened_blocks(self, embeddings: Tensor) -> Tensor | None:
        """The method's whitened output of ``embeddings [V, N, emb]`` for the measurements: blocks
        ``[k, V, m, d]``, each ``[m, d]`` whitened on its own; ``None`` for a method without a whitening."""
        return None

    @torch.no_grad()
    def batch_metrics(self, embeddings: Tensor) -> dict[str, Tensor]:
        """Per-batch monitoring: mean per-channel std of L2-normalised embeddings (collapse -> 0)."""
        normalised = torch.nn.functional.normalize(embeddings.float(), dim=-1)
        return {"train/embedding_std": normalised.std(dim=1).mean()}

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        views = list(batch[0])
        every = int(self.analysis.get("every_n_steps") or 0)
        analyze = every > 0 and self.global_step % every == 0
        features, embeddings = self.encode(self.training_views(views), return_features=True)
        self.step_features = features.detach()
        embeddings = self.gather_embeddings(embeddings)
        measured = analyze and self.trainer.is_global_zero  # the main process measures
        try:
            output = self.add_sigreg(self.compute_loss(embeddings, views, measure=measured), embeddings)
        except torch.linalg.LinAlgError as error:
            raise WhiteningFailedError(self.global_step, str(error), self.current_epoch) from None
        loss = output.loss
        self.nonfinite.record(loss, self.global_step)
        if self.trainer.world_size == 1:  # no collective needed: stop on the step (CPU) or a step later (GPU)
            self.raise_if_diverged(blocking=False)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        if output.terms:
            self.log_dict(output.terms, on_step=True, on_epoch=False)
        every = self.trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by Lightning's logger connector
        if batch_idx % max(every, 1) == 0:  # logging syncs anyway: check here
            self.raise_if_diverged(blocking=True)
            self.log_dict(self.batch_metrics(embeddings), on_step=True, on_epoch=False)
        if measured:
            self.analyze_batch(features, embeddings, output.whitened)
        return loss

    @torch.no_grad()
    def analyze_batch(self, features: Tensor, embeddings: Tensor, whitened: Tensor | None = None) -> dict[str, float]:
        """The paper's measurements of this step's backbone features, embeddings and (whitening methods)
        whitened output (:attr:`LossOutput.whitened`, ``[k, V, m, d]``), logged as
        ``analysis/<representation>/<measure>``; warns once when the embedding collapses (effective rank below
        ``analysis.collapse_fraction`` of its size)."""
        from ..analysis.model import measure, representations_of_batch

        views = embeddings.shape[0]
        if features.shape[0] != embeddings.shape[0] * embeddings.shape[1]:  # gathered embeddings: local part
            embeddings = embeddings[:, : features.shape[0] // views]
        finite = torch.isfinite(features).all() & torch.isfinite(embeddings).all()
        if whitened is not None:
            finite &= torch.isfinite(whitened).all()
        if not finite:  # a diverged step: nothing to measure; raise_if_diverged names the step
            return {}
        metrics = measure(representations_of_batch(features, embeddings, whitened), rank_tol=self.analysis["rank_tol"])
        loggable = {k: v for k, v in metrics.items() if math.isfinite(v)}
        for logger in self.loggers:  # straight to the loggers: self.log would repeat them at later steps
            logger.log_metrics(loggable, step=self.global_step)
        self.watch_collapse(metrics)
        return metrics

    def watch_collapse(self, metrics: Mapping[str, float]) -> None:
        """One warning the first time, once the warm-up is over, that the embedding's effective rank is below
        ``analysis.collapse_fraction`` of its size (an untrained network's can be that low already)."""
        fraction = metrics.get("analysis/embedding/effective_rank_fraction")
        threshold = float(self.analysis.get("collapse_fraction") or 0.0)
        if (
            fraction is None
            or self._collapse_warned
            or not fraction < threshold
            or self.global_step < int(self.method["warmup_steps"])
        ):
            return
        self._collapse_warned = True
        rank = metrics["analysis/embedding/effective_rank"]
        log.warning(
            f"dimensional collapse? at step {self.global_step} the embedding's effective rank is {rank:.1f} of "
            f"{self.method['emb']} ({100 * fraction:.1f}%, below analysis.collapse_fraction={threshold}): the "
            "whitening may not prevent collapse here (the paper finds PCA whitening collapses)"
        )

    def raise_if_diverged(self, blocking: bool = True) -> None:
        """Raise :class:`NonFiniteLossError` naming the first step whose loss was not finite.

        ``blocking=False`` reads what the device has already reported (no sync); ``blocking=True``
        waits, and under DDP agrees across processes (every process must call it at the same point).
        """
        step = self.nonfinite.first_bad_step(blocking=blocking)
        if blocking and self._trainer is not None and self.trainer.world_size > 1:
            flag = torch.tensor(-1 if step is None else step, device=self.device)
            flag = self.trainer.strategy.reduce(flag, reduce_op="max")
            step = int(flag) if int(flag) >= 0 else None
        if step is not None:
            steps_per_epoch = max(int(self.trainer.num_training_batches), 1) if self._trainer is not None else 0
            epoch = step // steps_per_epoch if steps_per_epoch and steps_per_epoch != float("inf") else None
            raise NonFiniteLossError(step, epoch)

    # --- optimisation --------------------------------------------------------------------------------

    def optimized_named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(name, p) for name, p in self.named_parameters() if p.requires_grad]

    def optimized_parameters(self) -> list[nn.Parameter]:
        return [p for _, p in self.optimized_named_parameters()]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """``method.weight_decay_end``: the cosine weight-decay schedule (the groups that decay)."""
        if self.method.get("weight_decay_end") is not None:
            decay = cosine_weight_decay(
                self.global_step,
                int(self.trainer.estimated_stepping_batches),
                self.method["weight_decay"],
                self.method["weight_decay_end"],
            )
            for group in self.trainer.optimizers[0].param_groups:
                if group.get("decays", True):
                    group["weight_decay"] = decay

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        m = self.method
        # no weight decay on norms, biases, position embeddings and tokens unless decay_norm_and_bias
        parameters = parameter_groups(self.optimized_named_parameters(), m["decay_norm_and_bias"])
        for group in parameters[1:]:
            group["decays"] = False
        optimizer = build_optimizer(
            m["optimizer"], parameters, lr=m["lr"], weight_decay=m["weight_decay"], momentum=m["momentum"]
        )
        max_epochs = max(self.trainer.max_epochs or 1, 1)
        _ = self.trainer.estimated_stepping_batches  # sets up the train dataloader, so num_training_batches is known
        batches = self.trainer.num_training_batches
        steps_per_epoch = 1 if batches == float("inf") else max(int(batches) // self.trainer.accumulate_grad_batches, 1)
        # the schedule takes what is its own
        available = {"drops": list(m["drops"]), "gamma": m["drop_gamma"], "final_fraction": m["final_lr_fraction"]}
        factor = partial(
            lr_factor,
            steps_per_epoch=steps_per_epoch,
            max_epochs=max_epochs,
            schedule=m["schedule"],
            warmup_steps=m["warmup_steps"],
            **{key: available[key] for key in schedule_settings(m["schedule"])},
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    @property
    def training_progress(self) -> float:
        """Fraction of training done, in [0, 1] (for schedules such as BYOL's tau)."""
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        return min(self.global_step / total, 1.0) if total and total != float("inf") else 0.0
