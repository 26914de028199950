"""Online evaluation during pretraining: the fast protocol every few epochs and at the end.

As in the paper's code: evaluate every ``every_n_epochs`` epochs, every ``every_n_epochs_after_drop``
once the first learning-rate drop is reached, and after the last epoch. Optionally the untrained
encoder (the same initial weights) is evaluated before training, as a baseline.
"""

from __future__ import annotations

import time
from typing import Dict, Optional, Sequence

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from .features import extract_features
from .knn import knn_accuracy
from .linear import linear_probe


def evaluate_encoder(encoder, train_loader, test_loader, device, knn_k: int = 5, linear_epochs: int = 500,
                     seed: int = 0, knn_weighting: str = "majority", knn_temperature: float = 0.07) -> Dict[str, float]:
    """k-NN top-1 and (``linear_epochs > 0``) linear top-1/top-5, in percent, of a frozen encoder."""
    train_x, train_y = extract_features(encoder, train_loader, device)
    test_x, test_y = extract_features(encoder, test_loader, device)
    knn = knn_accuracy(train_x, train_y, test_x, test_y, k=knn_k, weighting=knn_weighting, temperature=knn_temperature)
    metrics = {"knn_top1": 100.0 * knn}
    if linear_epochs > 0:
        accuracies = linear_probe(train_x, train_y, test_x, test_y, epochs=linear_epochs, seed=seed)
        metrics["linear_top1"] = 100.0 * accuracies[1]
        metrics["linear_top5"] = 100.0 * accuracies[5]
    return metrics


class OnlineEvaluation(Callback):
    """Runs :func:`evaluate_encoder` on ``pl_module.backbone`` and logs ``eval/*`` (percent).

    The datamodule must provide ``eval_dataloaders() -> (train_loader, test_loader)``.
    ``history`` keeps every evaluation (with its epoch); ``final`` the last one; ``untrained`` the
    baseline when ``evaluate_untrained``.
    """

    def __init__(self, every_n_epochs: int = 10, every_n_epochs_after_drop: int = 5,
                 drops: Sequence[int] = (50, 25), knn_k: int = 5, linear_epochs: int = 500,
                 evaluate_untrained: bool = False, seed: int = 0, enabled: bool = True) -> None:
        self.every_n_epochs = every_n_epochs
        self.every_n_epochs_after_drop = every_n_epochs_after_drop
        self.drops = list(drops)
        self.knn_k = knn_k
        self.linear_epochs = linear_epochs
        self.evaluate_untrained = evaluate_untrained
        self.seed = seed
        self.enabled = enabled
        self.history: list = []
        self.final: Optional[Dict[str, float]] = None
        self.untrained: Optional[Dict[str, float]] = None
        self._last_evaluated_step: Optional[int] = None

    def _evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Dict[str, float]:
        train_loader, test_loader = trainer.datamodule.eval_dataloaders()
        start = time.perf_counter()
        metrics = evaluate_encoder(pl_module.backbone, train_loader, test_loader, pl_module.device,
                                   knn_k=self.knn_k, linear_epochs=self.linear_epochs, seed=self.seed)
        metrics["eval_seconds"] = time.perf_counter() - start
        return metrics

    def is_due(self, epoch: int, max_epochs: int) -> bool:
        """Whether to evaluate after 0-based ``epoch`` (the paper's schedule, plus the last epoch)."""
        if epoch + 1 >= max_epochs:
            return True
        first_drop = max_epochs - self.drops[0] if self.drops else None
        every = self.every_n_epochs
        if first_drop is not None and first_drop >= 1 and epoch >= first_drop:
            every = self.every_n_epochs_after_drop
        return every > 0 and (epoch + 1) % every == 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled and self.evaluate_untrained and self.untrained is None and trainer.global_step == 0:
            self.untrained = self._evaluate(trainer, pl_module)
            for logger in trainer.loggers:
                logger.log_metrics({f"untrained/{k}": v for k, v in self.untrained.items()}, step=0)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if not self.enabled or trainer.sanity_checking or not self.is_due(epoch, trainer.max_epochs or 1):
            return
        self._record(trainer, pl_module, epoch)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # runs stopped before an epoch end (max_steps, interruption) still get a final evaluation
        if self.enabled and self._last_evaluated_step != trainer.global_step:
            self._record(trainer, pl_module, trainer.current_epoch, log=False)

    def _record(self, trainer, pl_module, epoch: int, log: bool = True) -> None:
        metrics = self._evaluate(trainer, pl_module)
        self.final = metrics
        self.history.append({"epoch": epoch + 1, **metrics})
        self._last_evaluated_step = trainer.global_step
        if log:
            for name, value in metrics.items():
                pl_module.log(f"eval/{name}", value, on_epoch=True, rank_zero_only=True)
        else:
            for logger in trainer.loggers:
                logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=trainer.global_step)

    def state_dict(self) -> dict:
        return {"history": self.history, "untrained": self.untrained}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))
        self.untrained = state_dict.get("untrained")
        if self.history:
            self.final = {k: v for k, v in self.history[-1].items() if k != "epoch"}
