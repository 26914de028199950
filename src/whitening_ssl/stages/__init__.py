"""The stages ``run.py`` runs (``stage=pretrain | linear | knn | export | analyze``), one module each.

Each stage has a ``check`` (everything it reads, before any data is loaded or directory made; all
problems are reported at once) and a ``run``. :func:`check_config` and :func:`run` dispatch through
the :data:`STAGES` registry.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import torch
from omegaconf import DictConfig

from ..validation import Checks
from . import analyze, evaluate, export, pretrain


@dataclass(frozen=True)
class Stage:
    check: Callable[[Checks, DictConfig, Optional[Path]], None]
    run: Callable[[DictConfig], Optional[Dict[str, Any]]]


STAGES: Dict[str, Stage] = {
    "pretrain": Stage(pretrain.check, pretrain.run),
    "linear": Stage(evaluate.check_linear, evaluate.run_linear),
    "knn": Stage(evaluate.check_knn, evaluate.run_knn),
    "export": Stage(export.check, export.run),
    "analyze": Stage(analyze.check, analyze.run),
}

MATMUL_PRECISIONS = ("highest", "high", "medium")


#: what Lightning's DDP launcher writes into the launching process's environment
LAUNCHER_ENVIRONMENT = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


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


def check_config(cfg: DictConfig, run_dir: Optional[Path] = None, check_machine: bool = True) -> None:
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


def run(cfg: DictConfig, checked: bool = False) -> Optional[float]:
    """Run ``cfg.stage``; returns the final linear (or k-NN) top-1 for Hydra sweepers (``None`` off rank 0).

    ``checked``: :func:`check_config` has already run (``run.py`` checks before Hydra makes the run
    directory); otherwise it runs here.
    """
    if not checked:
        run_dir = cfg.get("run_dir")
        check_config(cfg, Path(str(run_dir)) if run_dir else None)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    with distributed_job():
        results = STAGES[cfg.stage].run(cfg) or {}
    final = results.get("final") or {}
    return final.get("linear_top1", final.get("knn_top1"))
