"""Checkpoints that never lose a run.

:class:`RunCheckpoints` writes ``<run_dir>/checkpoints/last.ckpt``

- at the end of EVERY epoch, before the online evaluation runs (a crash or kill while evaluating
  keeps the epoch), and again after an evaluation (so the evaluation history is in it);
- every ``every_n_steps`` optimiser steps when asked (ImageNet-size epochs);
- when the process receives SIGTERM (what SLURM sends before preemption), after the current step;

and keeps a copy every ``keep_every_n_epochs`` epochs (``epoch0100.ckpt``: after 100 epochs, a hard
link to the same bytes, so a keep costs no space). Files are written under a temporary name and
renamed, so a crash mid-write never leaves a truncated ``last.ckpt``. ``meta.json`` beside them
records the epoch and step of ``last.ckpt``, why it was written, and the W&B run id, so a resumed
run continues the same W&B run. Every checkpoint also holds the random generators' state
(:mod:`whitening_ssl.training.rng`), so a resumed run continues the same random draws.

Before writing, the model's divergence check runs (blocking): a diverged model is never saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ..run_folder import CHECKPOINT_DIR, LAST_CHECKPOINT, META_FILE
from ..training.nonfinite import TrainingDivergedError
from ..training.rng import capture_rng_state, restore_rng_state


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, read-only file system); ``str`` is one line that says
    which file, how much space was free, and that the previous checkpoint is intact."""

    @classmethod
    def of(cls, error: OSError | None, target: Path, previous: Path | None, folder: Path) -> CheckpointWriteError:
        if error is None:  # another process failed to write: its own error says why
            return cls(f"the main process could not write {target.name}; the previous checkpoint is intact")
        try:
            free = f"{shutil.disk_usage(folder if folder.exists() else folder.parent).free / 2**20:.0f} MB free"
        except OSError:
            free = "free space unknown"
        kept = (
            f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint of this run exists"
        )
        return cls(
            f"could not write the checkpoint {target} ({error.strerror or error}; {free} on that file system): "
            f"nothing partial was left; {kept}; free space (or fix the file system) and resume with "
            f"ckpt_path=last hydra.run.dir={folder.parent}"
        )


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _remove_partial(path: Path) -> None:
    """Remove a partly written file; on a file system that has gone read-only this fails too, and the first
    error is the one to report (nothing more could be written there either)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def read_meta(checkpoint_dir: os.PathLike | str) -> dict[str, Any]:
    """The ``meta.json`` of a checkpoint folder (``{}`` when there is none or it is unreadable)."""
    try:
        return json.loads((Path(checkpoint_dir) / META_FILE).read_text())
    except (OSError, ValueError):
        return {}


def resolve_resume_checkpoint(ckpt_path: str | None, run_dir: os.PathLike | str) -> str | None:
    """The file to resume from: ``ckpt_path`` itself, or for ``last`` the newest checkpoint of ``run_dir``."""
    if not ckpt_path:
        return None
    if str(ckpt_path) != "last":
        return str(ckpt_path)
    folder = Path(run_dir) / CHECKPOINT_DIR
    last = folder / LAST_CHECKPOINT
    if last.is_file():
        return str(last)
    candidates = sorted(folder.glob("*.ckpt"), key=lambda path: path.stat().st_mtime) if folder.is_dir() else []
    return str(candidates[-1]) if candidates else None


class RunCheckpoints(Callback):
    """``last.ckpt`` every epoch (and every N steps), periodic keeps, atomic writes, SIGTERM; see the module.

    Args:
        dirpath: the checkpoint folder (``<run_dir>/checkpoints``).
        keep_every_n_epochs: also keep ``epochNNNN.ckpt`` every this many epochs (0: never).
        every_n_steps: also refresh ``last.ckpt`` every this many optimiser steps (0/None: never).
        meta: extra entries for ``meta.json`` (e.g. ``wandb_run_id``).
        check_model: called (blocking) before each write; raises if the model must not be saved.
        config: the run's resolved configuration, stored in every checkpoint (evaluation stages and
            the report read the pretraining settings from it).
    """

    def __init__(
        self,
        dirpath: os.PathLike | str,
        keep_every_n_epochs: int = 0,
        every_n_steps: int | None = None,
        meta: dict[str, Any] | None = None,
        check_model: Callable[[pl.Trainer, pl.LightningModule], None] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.config = config
        self.keep_every_n_epochs = keep_every_n_epochs or 0
        self.every_n_steps = every_n_steps or 0
        self.meta = dict(meta or {})
        self.check_model = check_model
        self.last_path: Path | None = None
        self._saved_at_step: int | None = None

    # --- writing ------------------------------------------------------------------------------

    def save(self, trainer: pl.Trainer, pl_module: pl.LightningModule, reason: str, epochs_completed: int) -> Path:
        """Write ``last.ckpt`` (atomically) and ``meta.json``; returns the path. Collective under DDP."""
        if self.check_model is not None:
            self.check_model(trainer, pl_module)
        last = self.dirpath / LAST_CHECKPOINT
        tmp = self.dirpath / f".{LAST_CHECKPOINT}.tmp"
        # what Trainer.save_checkpoint does, with the write's failure (disk full, read-only file system) agreed on by
        # every process: rank 0 writes, and all raise together instead of the others waiting in a barrier forever
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        failure: OSError | None = None
        if trainer.is_global_zero:
            try:
                self.dirpath.mkdir(parents=True, exist_ok=True)
                trainer.strategy.save_checkpoint(checkpoint, str(tmp))
                os.replace(tmp, last)
                if reason == "epoch" and self.keep_every_n_epochs and epochs_completed % self.keep_every_n_epochs == 0:
                    self._keep(last, self.dirpath / f"epoch{epochs_completed:04d}.ckpt")
                _write_json_atomically(
                    self.dirpath / META_FILE,
                    {
                        **self.meta,
                        "checkpoint": str(last),
                        "epochs_completed": epochs_completed,
                        "global_step": trainer.global_step,
                        "reason": reason,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    },
                )
            except OSError as error:
                failure = error
                _remove_partial(tmp)
        if trainer.strategy.reduce_boolean_decision(failure is not None, all=False):
            raise CheckpointWriteError.of(failure, tmp, self.last_path, self.dirpath)
        self.last_path = last
        self._saved_at_step = trainer.global_step
        trainer.strategy.barrier("RunCheckpoints.save")
        return last

    @staticmethod
    def _keep(source: Path, target: Path) -> None:
        tmp = target.with_name(f".{target.name}.tmp")
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:  # file systems without hard links: a copy
            import shutil

            shutil.copyfile(source, tmp)
        os.replace(tmp, target)

    def refresh(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Re-write ``last.ckpt`` at an epoch end (e.g. after the evaluation added to the history)."""
        self.save(trainer, pl_module, "epoch", trainer.current_epoch + 1)

    # --- hooks ----------------------------------------------------------------------------------

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        # One process: Lightning would only stop at the end of the epoch; stop before the next step.
        # Several: Lightning broadcasts the signal before each step and raises on every rank at once.
        if trainer.received_sigterm and trainer.world_size == 1:
            raise SIGTERMException()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        last_of_epoch = batch_idx + 1 >= trainer.num_training_batches  # the epoch's own save follows at once
        if (
            self.every_n_steps
            and trainer.global_step % self.every_n_steps == 0
            and not last_of_epoch
            and trainer.global_step != self._saved_at_step
        ):
            self.save(trainer, pl_module, "steps", trainer.current_epoch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.save(trainer, pl_module, "epoch", trainer.current_epoch + 1)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.global_step != self._saved_at_step:
            # a diverged model is not saved; the last good checkpoint stays
            with contextlib.suppress(TrainingDivergedError):
                self.save(trainer, pl_module, "sigterm", trainer.current_epoch)

    # --- state in the checkpoint ------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"rng": capture_rng_state(), "config": self.config}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        restore_rng_state(state_dict.get("rng") or {})
