"""Online evaluation during pretraining: the fast protocol every few epochs and at the end.

As in the paper's code: evaluate every ``every_n_epochs`` epochs, every ``every_n_epochs_after_drop``
once the first learning-rate drop is reached, and after the last epoch. Optionally the untrained
encoder (the same initial weights) is evaluated before training, as a baseline.

Under DDP every process embeds its share of the evaluation sets (:func:`extract_features`), the
main process computes k-NN and the linear probe once, and the figures are broadcast so every
process logs and stores the same history. Evaluation runs with the random generators' state
preserved (it never changes training's random draws) and after the epoch's checkpoint is written
(a crash while evaluating keeps the epoch); ``after_evaluation`` then lets the checkpoint be
refreshed with the new history. Each record is stamped with the time it was reached
(:mod:`~whitening_ssl.eval.clock`); ``stop_at`` (``{metric: threshold}``) ends training at the first
evaluation that reaches one of its thresholds (time-to-accuracy runs). Other callbacks add figures
computed from the evaluation's features through ``feature_metrics`` (the online probe).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import Tensor

from ..training.rng import preserved_rng
from .clock import RunClock
from .fast_protocol import embed_sets, evaluate_features
from .features import broadcast_from_main
from .knn import check_knn_k


def _log_images(trainer: pl.Trainer, figures: dict[str, str], step: int) -> None:
    """The figures as W&B images when W&B is the logger (other loggers: the PNG files are enough)."""
    from pytorch_lightning.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            for name, path in figures.items():
                logger.log_image(key=f"analysis/{name}", images=[path], step=step)


def _datamodule(trainer: pl.Trainer) -> Any:
    """The trainer's DataModule (a :class:`~whitening_ssl.data.SSLDataModule` here)."""
    return trainer.datamodule  # type: ignore[attr-defined]  # set on the Trainer while it runs


def evaluated_encoder(pl_module: pl.LightningModule) -> torch.nn.Module:
    """What the evaluation embeds images with: the module's ``evaluated_encoder()`` (a whitening layer, a
    momentum encoder), else its backbone."""
    chooser = getattr(pl_module, "evaluated_encoder", None)
    encoder = chooser() if chooser is not None else pl_module.backbone
    assert isinstance(encoder, torch.nn.Module)
    return encoder


class OnlineEvaluation(Callback):
    """Runs :func:`evaluate_encoder` on ``pl_module.backbone`` and logs ``eval/*`` (percent).

    The datamodule must provide ``eval_datasets() -> (train_set, test_set)`` (labelled, evaluation
    transform) and ``eval_batch_size`` / ``num_workers``. ``history`` keeps every evaluation (with
    its epoch); ``final`` the last one; ``untrained`` the baseline when ``evaluate_untrained``.
    Place it after the checkpoint callback in the callback list.
    """

    def __init__(
        self,
        every_n_epochs: int = 10,
        every_n_epochs_after_drop: int = 5,
        drops: Sequence[int] = (50, 25),
        knn_k: int = 5,
        linear_epochs: int = 500,
        evaluate_untrained: bool = False,
        seed: int = 0,
        enabled: bool = True,
        feature_dtype: str = "float32",
        analysis: dict | None = None,
        stop_at: Mapping[str, float] | None = None,
        figures_dir: str | None = None,
        after_evaluation: Callable[[pl.Trainer, pl.LightningModule], None] | None = None,
    ) -> None:
        self.every_n_epochs = every_n_epochs
        self.every_n_epochs_after_drop = every_n_epochs_after_drop
        self.drops = list(drops)
        self.knn_k = knn_k
        self.linear_epochs = linear_epochs
        self.evaluate_untrained = evaluate_untrained
        self.seed = seed
        self.enabled = enabled
        self.feature_dtype = feature_dtype
        self.analysis = dict(analysis or {})
        self.figures_dir = figures_dir
        self.after_evaluation = after_evaluation
        self.stop_at = dict(stop_at or {})
        self.feature_metrics: list[
            Callable[..., dict[str, float]]
        ] = []  # (train_x, train_y, test_x, test_y) -> figures
        self.clock = RunClock()
        self.history: list = []
        self.final: dict[str, float] | None = None
        self.untrained: dict[str, float] | None = None
        self._last_evaluated_step: int | None = None

    def _evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stem: str = "") -> dict[str, float]:
        datamodule = _datamodule(trainer)
        train_set, test_set = datamodule.eval_datasets()
        progress = trainer.progress_bar_callback is not None
        start = time.perf_counter()
        with preserved_rng():
            features = embed_sets(
                evaluated_encoder(pl_module),
                train_set,
                test_set,
                pl_module.device,
                batch_size=datamodule.eval_batch_size,
                num_workers=datamodule.num_workers,
                feature_dtype=self.feature_dtype,
                progress=progress,
            )
            metrics = (
                None
                if features is None
                else evaluate_features(
                    *features, knn_k=self.knn_k, linear_epochs=self.linear_epochs, seed=self.seed, progress=progress
                )
            )
            if metrics is not None and features is not None:
                for extra in self.feature_metrics:
                    metrics.update(extra(*features))
        if metrics is not None and features is not None:
            metrics["eval_seconds"] = time.perf_counter() - start
            if self.analysis.get("at_evaluation"):
                start = time.perf_counter()
                test_x = features[2] if features[2].dtype == torch.float32 else None  # else measured from the images
                metrics.update(
                    self._analyze(trainer, pl_module, stem or f"epoch{trainer.current_epoch + 1:04d}_", test_x)
                )
                metrics["analysis_seconds"] = time.perf_counter() - start
        return broadcast_from_main(metrics)

    def _analyze(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, stem: str, test_features: Tensor | None = None
    ) -> dict[str, float]:
        """The paper's measurements on the test images (main process), with figures in ``figures_dir``;
        ``test_features``: the evaluation's backbone features of the test images (not embedded again)."""
        from ..analysis.model import analyze_encoder

        datamodule = _datamodule(trainer)
        _, test_set = datamodule.eval_datasets()
        with preserved_rng():
            analysis = analyze_encoder(
                pl_module,
                test_set,
                datamodule.views_dataset(),
                pl_module.device,
                max_images=self.analysis["max_images"],
                batch_size=datamodule.eval_batch_size,
                progress=trainer.progress_bar_callback is not None,
                num_workers=datamodule.num_workers,
                test_features=test_features,
            )
            metrics = analysis.metrics(rank_tol=self.analysis["rank_tol"])
            if stem != "untrained_":
                pl_module.watch_collapse(metrics)  # type: ignore[operator]  # a PretrainModule's
            if self.figures_dir:
                from ..analysis.plots import write_analysis_figures

                epoch = "untrained, epoch 0" if stem == "untrained_" else f"epoch {trainer.current_epoch + 1}"
                method = getattr(pl_module, "method", {}).get("name", "?")
                context = f"{Path(self.figures_dir).parent.name}, {method}, {epoch}"
                figures = write_analysis_figures(analysis, Path(self.figures_dir), stem=stem, context=context)
                _log_images(trainer, figures, trainer.global_step)
        return {k: v for k, v in metrics.items() if math.isfinite(v)}

    def is_due(self, epoch: int, max_epochs: int) -> bool:
        """Whether to evaluate after 0-based ``epoch`` (the paper's schedule, plus the last epoch)."""
        if epoch + 1 >= max_epochs:
            return True
        first_drop = max_epochs - self.drops[0] if self.drops else None
        every = self.every_n_epochs
        if first_drop is not None and first_drop >= 1 and epoch >= first_drop:
            every = self.every_n_epochs_after_drop
        return every > 0 and (epoch + 1) % every == 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock.start()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.enabled:
            return
        train_set, _ = _datamodule(trainer).eval_datasets()  # before the first step: a k-NN that cannot run is refused
        check_knn_k(self.knn_k, len(train_set), "eval.knn_k", _datamodule(trainer).name)
        if self.evaluate_untrained and self.untrained is None and trainer.global_step == 0:
            start = time.perf_counter()
            self.untrained = self._evaluate(trainer, pl_module, stem="untrained_")
            self.clock.add_evaluation(time.perf_counter() - start)
            for logger in trainer.loggers:
                logger.log_metrics({f"untrained/{k}": v for k, v in self.untrained.items()}, step=0)
        # A resumed run whose last epoch was checkpointed but killed while evaluating: evaluate it now.
        completed = trainer.current_epoch
        if (
            completed > 0
            and self.is_due(completed - 1, trainer.max_epochs or 1)
            and (not self.history or self.history[-1]["epoch"] < completed)
        ):
            self._record(trainer, pl_module, completed - 1, log=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if not self.enabled or trainer.sanity_checking or not self.is_due(epoch, trainer.max_epochs or 1):
            return
        self._record(trainer, pl_module, epoch)
        if self.after_evaluation is not None:
            self.after_evaluation(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # runs stopped before an epoch end (max_steps) still get a final evaluation
        if self.enabled and self._last_evaluated_step != trainer.global_step:
            self._record(trainer, pl_module, trainer.current_epoch, log=False)

    def _record(self, trainer, pl_module, epoch: int, log: bool = True) -> None:
        stamp, start = self.clock.stamp(trainer.world_size), time.perf_counter()
        metrics = self._evaluate(trainer, pl_module)
        self.clock.add_evaluation(time.perf_counter() - start)
        self.final = metrics
        self.history.append({"epoch": epoch + 1, **stamp, **metrics})
        if any(metrics.get(name, -math.inf) >= threshold for name, threshold in self.stop_at.items()):
            trainer.should_stop = True  # eval.stop_at reached (the same figures on every process)
        self._last_evaluated_step = trainer.global_step
        if log:
            for name, value in metrics.items():
                pl_module.log(f"eval/{name}", value, on_epoch=True, rank_zero_only=True)
        else:
            for logger in trainer.loggers:
                logger.log_metrics({f"eval/{k}": v for k, v in metrics.items()}, step=trainer.global_step)

    def state_dict(self) -> dict:
        return {"history": self.history, "untrained": self.untrained, "clock": self.clock.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))
        self.untrained = state_dict.get("untrained")
        self.clock.load_state_dict(state_dict.get("clock"))
        if self.history:
            self.final = {k: v for k, v in self.history[-1].items() if k not in ("epoch", *RunClock.STAMPS)}
