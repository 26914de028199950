"""Processes and Trainers: building the Trainer, launching DDP processes, fitting with resume, SIGTERM and Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import hydra
import pytorch_lightning as pl
import torch
from lightning_fabric import Fabric
from omegaconf import DictConfig

from ..config_values import plain_dict, plain_list
from .common import RunInterrupted, say
from .stage_checks import accelerator_wants_gpu

#: what Lightning's DDP launcher writes into the launching process's environment
LAUNCHER_ENVIRONMENT = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def trainer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """``cfg.trainer`` as a dict (without ``_target_``)."""
    options = plain_dict(cfg.trainer)
    options.pop("_target_", None)
    return options


def build_trainer(cfg: DictConfig, callbacks: Iterable[pl.Callback] = (), logger=None, **overrides) -> pl.Trainer:
    """The one way a stage builds its Trainer: ``cfg.trainer`` + this stage's callbacks, logger, overrides.

    Checkpointing is this project's (``RunCheckpoints``), so Lightning's own is off. Where standard
    output is not a terminal, plain progress lines (``ProgressLines``) replace Lightning's bar.
    """
    from ..loggers import quiet_known_notices
    from ..progress import interactive
    from ..training import ProgressLines

    prepare_ddp_children()
    quiet_known_notices()
    options = {**trainer_kwargs(cfg), "enable_checkpointing": False, **overrides}
    if options.get("enable_progress_bar", True) and not interactive():
        callbacks = [*callbacks, ProgressLines()]
    return hydra.utils.instantiate(
        {"_target_": "pytorch_lightning.Trainer", **options},
        callbacks=list(callbacks),
        logger=logger or False,
        default_root_dir=str(cfg.run_dir),
    )


def prepare_ddp_children() -> None:
    """Make Lightning's DDP child processes run exactly this job, in this job's directory.

    Lightning starts the other processes by re-running ``sys.argv`` with ``hydra.run.dir`` set to
    ``HydraConfig.run.dir``. In a ``-m`` sweep both are the sweep's, so a child would re-run the
    whole sweep in a phantom folder. Here ``sys.argv`` becomes this job's own overrides and the run
    directory this job's output directory; children log to the console only (no empty log files).
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    if not HydraConfig.initialized():
        return
    hydra_cfg = cast(DictConfig, HydraConfig.get())  # a DictConfig at run time (typed as its schema)
    overrides = [
        o for o in plain_list(hydra_cfg.overrides.task) if not o.startswith(("hydra/job_logging=", "hydra.run.dir="))
    ]
    sys.argv = [sys.argv[0], *overrides, "hydra/job_logging=stdout"]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


def launch(cfg: DictConfig) -> Fabric:
    """Start the processes ``cfg.trainer`` asks for (one, or one per device under DDP) and join them."""
    prepare_ddp_children()
    options = trainer_kwargs(cfg)
    fabric = Fabric(
        accelerator=options.get("accelerator", "auto"),
        devices=options.get("devices", 1),
        num_nodes=options.get("num_nodes", 1),
        strategy=options.get("strategy", "auto"),
        precision=options.get("precision", "32-true"),
    )
    fabric.launch()
    return fabric


@contextlib.contextmanager
def distributed_job() -> Iterator[None]:
    """Leave no DDP state behind: the next job of a ``-m`` sweep in this process starts its own processes.

    Lightning's launcher sets ``LOCAL_RANK``, ``MASTER_PORT``, ... in the launching process and keeps
    its process group; a second DDP job would then take itself for a child of the first and wait
    for peers that have exited. Variables set by an external launcher (torchrun, SLURM) are kept.
    """
    before = {key: os.environ.get(key) for key in LAUNCHER_ENVIRONMENT}
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def training_on_gpu(cfg: DictConfig) -> bool:
    """Whether ``cfg.trainer`` trains on CUDA GPUs (``auto`` counts when one is there)."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    return accelerator_wants_gpu(accelerator) or (accelerator == "auto" and torch.cuda.is_available())


def fit_resumable(
    trainer: pl.Trainer, module: pl.LightningModule, datamodule, resume: str | None, checkpoints, run_dir: Path
) -> None:
    """``trainer.fit``, from the checkpoint ``resume`` when given (read with ``weights_only=True``: a file
    never runs code); a SIGTERM (``checkpoints``, the run's :class:`~whitening_ssl.training.RunCheckpoints`,
    has saved) ends it as :class:`RunInterrupted`; so does Ctrl-C (SIGINT), taken as a SIGTERM (a second Ctrl-C
    stops at once). The progress bar is closed however the fit ends."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    if resume:
        from ..checkpoints import verify_resume_file

        verify_resume_file(resume)  # refused in one line (unread where it is no torch file) before Lightning loads it
        say(f"resuming from {resume}")
    try:
        with ctrl_c_as_sigterm(trainer) as ctrl_c:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except SIGTERMException:
        raise RunInterrupted.after_sigterm(
            trainer.global_step, checkpoints.last_path, run_dir, ctrl_c["pressed"]
        ) from None
    finally:
        close_progress_bar(trainer)


@contextlib.contextmanager
def ctrl_c_as_sigterm(trainer: pl.Trainer) -> Iterator[dict[str, bool]]:
    """Ctrl-C (SIGINT) sets Lightning's SIGTERM flag: the run saves after the current step and stops
    (:class:`~whitening_ssl.training.RunCheckpoints`); a second Ctrl-C raises ``KeyboardInterrupt`` at once.
    Yields ``{"pressed": bool}``. Outside the main thread (where no handler can be set) Ctrl-C is left as it is."""
    import signal
    import threading

    state = {"pressed": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        if state["pressed"]:
            raise KeyboardInterrupt
        state["pressed"] = True
        trainer._signal_connector.received_sigterm = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


def close_progress_bar(trainer: pl.Trainer) -> None:
    """End the progress bar's line (a fit that raised leaves it open, and it would print at exit)."""
    bar = trainer.progress_bar_callback
    for name in ("train_progress_bar", "val_progress_bar", "test_progress_bar", "predict_progress_bar"):
        try:
            progress = getattr(bar, name, None) if bar is not None else None
        except (TypeError, AttributeError):  # Lightning raises when a bar was never created
            progress = None
        if progress is not None and hasattr(progress, "close"):
            progress.close()
