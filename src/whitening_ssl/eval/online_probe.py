"""The online linear probe: a classifier trained on the detached backbone features during pretraining.

Every training step, after the method's own step, a linear layer ``features -> classes`` takes one
step of its own optimiser on the step's backbone features of the global views (the views of the
first resolution; multi-crop's small crops are left out) and the batch's labels (``-1``, an
unlabelled image, is left out). The features are the ones the step already computed, detached: the
backbone never receives the probe's gradient, and the probe costs one small matrix product forward
and backward. At each online evaluation the probe classifies the test split's features, which the
evaluation extracts anyway, and adds ``online_probe_top1`` / ``online_probe_top5`` (percent) to the
evaluation's record; its running training accuracy is logged each epoch (``train/online_probe_top1``).

Under DDP every process trains on its share of the batch, the gradients are averaged over the
processes (one all-reduce of the probe's few thousand numbers), and the probe starts from the same
seeded weights everywhere, so the copies stay equal and nothing is counted twice. Its weights and
optimiser state are the callback's checkpoint state (tensors and plain values: they load with
``weights_only=True``), so a resumed run continues the same probe.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback
from torch import Tensor, nn

from ..optim import build_optimizer


def global_view_count(views: list[Tensor]) -> int:
    """How many leading views share the first view's size (multi-crop: the global views)."""
    count = 1
    while count < len(views) and views[count].shape == views[0].shape:
        count += 1
    return count


class OnlineProbe(Callback):
    """A linear probe on ``pl_module.step_features`` (the training step's backbone features), trained with
    its own optimiser (``optimizer``, ``lr``, ``weight_decay``, ``momentum``; initialised from ``seed``).

    Attaches :meth:`evaluate` to the trainer's :class:`~whitening_ssl.eval.online.OnlineEvaluation`, if
    there is one, so its test accuracy joins each evaluation's record.
    """

    def __init__(
        self, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0, momentum: float = 0.9, seed: int = 0
    ) -> None:
        self.settings: dict[str, Any] = {
            "optimizer": optimizer,
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
        }
        self.seed = seed
        self.classifier: nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._pending: dict[str, Any] | None = None
        self._tally: Tensor | None = None  # [correct, seen, loss sum] of the epoch, on the device

    # --- building -------------------------------------------------------------------------------

    def build(self, feature_dim: int, num_classes: int, device: torch.device) -> None:
        """The classifier (the same seeded weights on every process) and its optimiser."""
        generator = torch.Generator().manual_seed(self.seed)
        classifier = nn.Linear(feature_dim, num_classes)
        bound = feature_dim**-0.5
        with torch.no_grad():
            classifier.weight.uniform_(-bound, bound, generator=generator)
            classifier.bias.zero_()
        self.classifier = classifier.to(device)
        self.optimizer = build_optimizer(
            self.settings["optimizer"],
            self.classifier.parameters(),
            lr=self.settings["lr"],
            weight_decay=self.settings["weight_decay"],
            momentum=self.settings["momentum"],
        )
        self._tally = torch.zeros(3, device=device)
        if self._pending is not None:
            self.load_state_dict(self._pending)

    def _built(self) -> tuple[nn.Linear, torch.optim.Optimizer, Tensor]:
        """The classifier, its optimiser and the epoch's tally (:meth:`build` made them)."""
        assert self.classifier is not None and self.optimizer is not None and self._tally is not None, "build first"
        return self.classifier, self.optimizer, self._tally

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        running: Any = trainer  # (its datamodule and callbacks are set while it runs)
        module: Any = pl_module  # a PretrainModule
        if self.classifier is None:
            self.build(module.feature_dim, running.datamodule.num_classes, trainer.strategy.root_device)
        from .online import OnlineEvaluation

        for callback in running.callbacks:
            if isinstance(callback, OnlineEvaluation) and self.evaluate not in callback.feature_metrics:
                callback.feature_metrics.append(self.evaluate)

    # --- training -------------------------------------------------------------------------------

    def learn(self, features: Tensor, labels: Tensor) -> None:
        """One optimiser step on ``features [V N, f]`` (detached here) of ``V`` views of ``labels [N]``."""
        views = features.shape[0] // labels.shape[0]
        features = features[: views * labels.shape[0]].detach()
        labels = labels.repeat(views)
        classifier, optimizer, tally = self._built()
        with torch.enable_grad(), torch.autocast(features.device.type, enabled=False):
            logits = classifier(features.float())
            loss = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")
            labelled = (labels >= 0).float()
            mean_loss = (loss * labelled).sum() / labelled.sum().clamp(min=1.0)
            optimizer.zero_grad(set_to_none=True)
            mean_loss.backward()
        self._average_gradients()
        optimizer.step()
        with torch.no_grad():
            correct = ((logits.argmax(dim=1) == labels).float() * labelled).sum()
            tally += torch.stack([correct, labelled.sum(), (loss.detach() * labelled).sum()])

    def _average_gradients(self) -> None:
        """Under DDP: each process's gradient -> their mean (one all-reduce), so every copy takes the same step."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        grads = [p.grad for p in self._built()[0].parameters() if p.grad is not None]
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        features = getattr(pl_module, "step_features", None)
        if features is None:
            return
        module: Any = pl_module  # a PretrainModule
        module.step_features = None
        encoded = module.training_views(list(batch[0]))
        labels = batch[1]
        self.learn(features[: global_view_count(encoded) * labels.shape[0]], labels)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        running = self._built()[2]
        tally = running.clone()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            dist.all_reduce(tally)
        running.zero_()
        correct, seen, loss = tally.tolist()
        if seen > 0:
            pl_module.log_dict(
                {"train/online_probe_top1": 100.0 * correct / seen, "train/online_probe_loss": loss / seen},
                on_epoch=True,
                rank_zero_only=True,
            )

    # --- evaluation -----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> dict[str, float]:
        """Top-1 and top-5 (percent) of the probe on the test split's features."""
        if self.classifier is None:
            return {}
        weight, bias = self.classifier.weight.to(test_x.device), self.classifier.bias.to(test_x.device)
        hits = torch.zeros(2, dtype=torch.float64)
        top = min(5, weight.shape[0])
        for start in range(0, test_x.shape[0], 8192):  # chunks bound the logits' memory (ImageNet: 50k x 1000)
            logits = test_x[start : start + 8192].float() @ weight.T + bias
            labels = test_y[start : start + 8192].to(logits.device)
            best = logits.topk(top, dim=1).indices
            hits[0] += (best[:, 0] == labels).sum().item()
            hits[1] += (best == labels[:, None]).any(dim=1).sum().item()
        count = max(test_x.shape[0], 1)
        return {
            "online_probe_top1": 100.0 * hits[0].item() / count,
            "online_probe_top5": 100.0 * hits[1].item() / count,
        }

    # --- checkpoint state -------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        if self.classifier is None:
            return dict(self._pending or {})
        return {
            "classifier": {k: v.detach().cpu() for k, v in self.classifier.state_dict().items()},
            "optimizer": self._built()[1].state_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.classifier is None:  # restored before setup: applied when built
            self._pending = dict(state_dict)
            return
        self._pending = None
        if "classifier" in state_dict:
            self.classifier.load_state_dict(state_dict["classifier"])
            self._built()[1].load_state_dict(state_dict["optimizer"])
