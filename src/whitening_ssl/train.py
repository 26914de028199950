"""The run behind ``python run.py``: validate, build from the Hydra config, train, evaluate, report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

from .config_checks import check_run
from .eval.online import OnlineEvaluation
from .loggers import build_logger

RESULTS_FILE = "results.json"


def run_name(cfg: DictConfig) -> str:
    return f"{cfg.method.name}_{cfg.dataset.name}_{cfg.backbone.name}"


def write_results(run_dir: str, results: Dict[str, Any]) -> Path:
    """Write ``results.json`` atomically (a crash never leaves a half-written file)."""
    path = Path(run_dir) / RESULTS_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmp, path)
    return path


def format_summary(results: Dict[str, Any]) -> str:
    """Human-readable table of the final figures (and the untrained baseline when present)."""
    final, untrained = results.get("final") or {}, results.get("untrained") or {}
    lines = [f"{'metric':<14}{'trained':>10}" + (f"{'untrained':>12}" if untrained else "")]
    for key in ("knn_top1", "linear_top1", "linear_top5"):
        if key in final:
            row = f"{key:<14}{final[key]:>10.2f}"
            if key in untrained:
                row += f"{untrained[key]:>12.2f}"
            lines.append(row)
    return "\n".join(lines)


def pretrain(cfg: DictConfig) -> Dict[str, Any]:
    """Self-supervised pretraining with online evaluation; returns what ``results.json`` holds."""
    run_dir = str(cfg.run_dir)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)

    datamodule = hydra.utils.instantiate(cfg.data, **OmegaConf.to_container(cfg.dataset.options, resolve=True))
    datamodule.check_available()
    model = hydra.utils.instantiate(cfg.model, _convert_="all")

    evaluation = OnlineEvaluation(**OmegaConf.to_container(cfg.eval, resolve=True), drops=list(cfg.method.drops))
    checkpoints = ModelCheckpoint(dirpath=os.path.join(run_dir, "checkpoints"), filename="epoch{epoch:04d}",
                                  auto_insert_metric_name=False, save_last=True, save_top_k=-1,
                                  every_n_epochs=cfg.checkpoint_every)
    callbacks = [evaluation, checkpoints]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    logger = build_logger(cfg.logger, run_dir, run_name(cfg), config=resolved)
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=logger or False,
                                                  default_root_dir=run_dir)

    start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    results = {
        "stage": "pretrain",
        "method": cfg.method.name,
        "dataset": cfg.dataset.name,
        "backbone": cfg.backbone.name,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "train_seconds": time.perf_counter() - start,
        "final": evaluation.final,
        "untrained": evaluation.untrained,
        "history": evaluation.history,
        "last_checkpoint": checkpoints.last_model_path or None,
        "run_dir": run_dir,
        "config": resolved,
    }
    if trainer.is_global_zero:
        path = write_results(run_dir, results)
        print(format_summary(results))
        print(f"results: {path}")
    if logger is not None and hasattr(logger, "experiment") and cfg.logger.kind == "wandb":
        import wandb

        wandb.finish()
    return results


def run(cfg: DictConfig) -> Optional[float]:
    """Entry point used by ``run.py``; returns the final linear top-1 (for Hydra sweepers)."""
    check_run(cfg)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    results = pretrain(cfg)
    final = results.get("final") or {}
    return final.get("linear_top1", final.get("knn_top1"))
