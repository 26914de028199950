"""The stages ``run.py`` runs (``stage=pretrain | linear | knn | export | analyze``), one module each.

Each stage has a ``check`` (everything it reads, before any data is loaded or directory made; all
problems are reported at once) and a ``run``. :func:`check_config` and :func:`run` dispatch through
the :data:`STAGES` registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..validation import Checks


@dataclass(frozen=True)
class Stage:
    """A stage: where its functions are (``module:function`` in this package; imported when the stage is checked
    or run, so ``--help`` imports none, and its check imports no torch) and what it does."""

    check_at: str
    run_at: str
    description: str  # one line, shown by `python run.py --help`
    #: fetch what the stage needs before anything starts (a dataset to download), after the checks passed
    prepare_at: str | None = None

    def _function(self, location: str | None) -> Any:  # the function at ``module:function`` (None: none)
        if location is None:
            return None
        module, _, name = location.partition(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)

    @property
    def check(self) -> Callable[[Checks, DictConfig, Path | None], None]:
        return self._function(self.check_at)

    @property
    def run(self) -> Callable[[DictConfig], dict[str, Any] | None]:
        return self._function(self.run_at)

    @property
    def prepare(self) -> Callable[[DictConfig], None] | None:
        return self._function(self.prepare_at)


STAGES: dict[str, Stage] = {
    "pretrain": Stage(
        "pretrain_checks:check",
        "pretrain:run",
        "self-supervised pretraining (method=, dataset=) with online k-NN / linear evaluation",
        prepare_at="pretrain_checks:prepare",
    ),
    "linear": Stage(
        "evaluate:check_linear",
        "evaluate:run_linear",
        "linear probe on the frozen backbone of a checkpoint (ckpt=...; linear.*)",
    ),
    "knn": Stage(
        "evaluate:check_knn",
        "evaluate:run_knn",
        "k-NN classification with the frozen backbone of a checkpoint (ckpt=...; knn.*)",
    ),
    "export": Stage(
        "export:check",
        "export:run",
        "write a checkpoint's backbone for torchvision or detectron2 (ckpt=...; export.*)",
    ),
    "analyze": Stage(
        "analyze:check",
        "analyze:run",
        "measure a checkpoint: spectra, ranks, cosine similarities, with figures (ckpt=...)",
    ),
}

MATMUL_PRECISIONS = ("highest", "high", "medium")


def check_config(cfg: DictConfig, run_dir: Path | None = None, check_machine: bool = True) -> None:
    """Raise :class:`~whitening_ssl.validation.ConfigError` listing every problem of ``cfg`` (one line each).

    ``run_dir``: the directory the run will write to (checked for writability and earlier runs).
    ``check_machine=False`` checks the values only (not the dataset files, checkpoints, directories or GPUs).
    """
    checks = Checks(check_machine=check_machine)
    stage = checks.choice(cfg, "stage", "stage", STAGES)
    checks.choice(cfg, "matmul_precision", "matmul_precision", MATMUL_PRECISIONS, default="highest")
    if stage is not None:
        STAGES[stage].check(checks, cfg, run_dir)
    checks.raise_if_any()


def prepare(cfg: DictConfig) -> None:
    """What the stage fetches before it starts (``dataset.download``): once, before any folder or job."""
    stage = STAGES[cfg.stage]
    if stage.prepare is not None:
        stage.prepare(cfg)


def run(cfg: DictConfig, checked: bool = False) -> float | None:
    """Run ``cfg.stage``; returns the final linear (or k-NN) top-1 for Hydra sweepers (``None`` off rank 0).

    ``checked``: :func:`check_config` has already run (``run.py`` checks before Hydra makes the run
    directory); otherwise it runs here.
    """
    import torch

    from ..run_folder.lock import RunLock
    from .common import is_main_process
    from .launch import distributed_job

    run_dir = cfg.get("run_dir")
    if not checked:
        check_config(cfg, Path(str(run_dir)) if run_dir else None)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    # one live run per folder (the main process holds it; run.py took it before Hydra wrote .hydra/)
    lock = RunLock(str(run_dir)).acquire() if run_dir and is_main_process() else None
    try:
        with distributed_job():
            results = STAGES[cfg.stage].run(cfg) or {}
    finally:
        if lock is not None:
            lock.release()
    final = results.get("final") or {}
    return final.get("linear_top1", final.get("knn_top1"))
