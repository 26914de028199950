"""Plain progress lines for training whose output is not a terminal (a SLURM job's log, ``> run.log``).

Lightning's bar redraws one line with carriage returns; in a file its frames pile up into one line of
tens of thousands of characters. :class:`ProgressLines` takes its place there (the Trainer is built with
it when standard output is no terminal): one short line every :data:`~whitening_ssl.progress.LINE_SECONDS`
and one when the fit ends, to the console and ``run.log``::

    step 1200/39000 (3%)  epoch 7/200  loss 1.2345  21.4 steps/s  5478 images/s  elapsed 0:00:56  left 0:29:26
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks.progress import ProgressBar

from .. import progress
from ..progress import duration, log


def _batch_size(batch: Any) -> int:
    """Images in ``batch``: the first dimension of its first tensor (images, views or labels)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 0
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            size = _batch_size(item)
            if size:
                return size
    return 0


def _loss(outputs: Any) -> torch.Tensor | None:
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    return outputs.detach() if isinstance(outputs, torch.Tensor) else None


class ProgressLines(ProgressBar):
    """Lightning's progress bar as plain lines: step, epoch, loss, throughput, elapsed and remaining time."""

    def __init__(self, every_seconds: float | None = None) -> None:
        super().__init__()
        self.every_seconds = progress.LINE_SECONDS if every_seconds is None else every_seconds
        self._enabled = True
        self._start, self._first_step, self._last_line, self._images = 0.0, 0, 0.0, 0
        self._loss: torch.Tensor | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last_line = time.monotonic()
        self._first_step, self._images, self._loss = trainer.global_step, 0, None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._images += _batch_size(batch) * trainer.world_size
        loss = _loss(outputs)
        self._loss = loss if loss is not None else self._loss
        now = time.monotonic()
        if now - self._last_line >= self.every_seconds:
            self._last_line = now
            self._print(trainer, now)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step > self._first_step:
            self._print(trainer, time.monotonic())

    def line(self, trainer: pl.Trainer, now: float) -> str:
        """The progress line at time ``now``."""
        elapsed = max(now - self._start, 1e-9)
        done, total = trainer.global_step, trainer.estimated_stepping_batches
        rate = (done - self._first_step) / elapsed
        parts = [f"step {done}/{total} ({100 * done / total:.0f}%)" if math.isfinite(total) else f"step {done}"]
        if trainer.max_epochs and trainer.max_epochs > 0:
            epoch = min(trainer.current_epoch + 1, trainer.max_epochs)  # after the fit, current_epoch is max_epochs
            parts.append(f"epoch {epoch}/{trainer.max_epochs}")
        if self._loss is not None:
            parts.append(f"loss {float(self._loss):.4f}")
        parts += [f"{rate:.2f} steps/s", f"{self._images / elapsed:.0f} images/s", f"elapsed {duration(elapsed)}"]
        if math.isfinite(total) and rate > 0:
            parts.append(f"left {duration((total - done) / rate)}")
        return "  ".join(parts)

    def _print(self, trainer: pl.Trainer, now: float) -> None:
        if self._enabled:
            log.info(self.line(trainer, now))
