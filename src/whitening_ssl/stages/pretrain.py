"""``stage=pretrain``: self-supervised pretraining with online evaluation, safe to kill at any moment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.callbacks import LearningRateMonitor

from ..checkpoints import RunCheckpoints, read_meta, resolve_resume_checkpoint
from ..checkpoints.resume_settings import PRETRAIN_SETTINGS, as_records
from ..config_values import plain_dict
from ..data import SSLDataModule, auto_pipeline, describe_bad_images, find_bad_images
from ..eval.eval_checks import probe_wanted
from ..eval.online import OnlineEvaluation
from ..eval.online_probe import OnlineProbe
from ..loggers import build_logger, wandb_run_id
from ..models import (
    resolve_stem,
    synchronize_batchnorm,
    wants_channels_last,
)
from ..run_folder import ANALYSIS_DIR, CHECKPOINT_DIR
from ..training import TrainingDivergedError
from ..validation import ConfigError
from .callbacks import build_callbacks
from .common import close_logger, is_main_process, job_overrides, publish_results, resolved, say
from .launch import build_trainer, fit_resumable, training_on_gpu
from .stage_checks import resume_changes


def run_name(cfg: DictConfig) -> str:
    return f"{cfg.method.name}_{cfg.dataset.name}_{cfg.backbone.name}"


def _verify_images(datamodule: SSLDataModule, mode: str) -> None:
    """``data.verify_images``: header checks of the image files, before training."""
    if mode == "none":
        return
    datamodule.setup("fit")
    files = datamodule.image_files()
    if not files:
        return
    bad = find_bad_images(files, mode=mode)
    if bad:
        raise ConfigError(describe_bad_images(bad))


def run(cfg: DictConfig) -> dict[str, Any]:
    """Pretrain; returns what ``results.json`` holds."""
    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    dataset_cfg = plain_dict(cfg.dataset)
    data_cfg = plain_dict(cfg.data)
    if data_cfg["pipeline"] == "auto":  # views made on the device when training on a GPU, where it can make them
        data_cfg["pipeline"], problem = auto_pipeline(training_on_gpu(cfg), dataset_cfg)
        if problem:
            say(f"data.pipeline=auto: the views are made on the CPU, as the device pipeline {problem}")
    datamodule = SSLDataModule(
        dataset_cfg["name"],
        root=dataset_cfg["root"],
        download=dataset_cfg["download"],
        batch_size=data_cfg["batch_size"],
        eval_batch_size=data_cfg["eval_batch_size"],
        num_views=data_cfg["num_views"],
        num_workers=data_cfg["num_workers"],
        on_bad_image=data_cfg["on_bad_image"],
        pipeline=data_cfg["pipeline"],
        **(dataset_cfg.get("options") or {}),
    )
    if is_main_process():  # under DDP the other processes wait for it in Lightning's prepare_data barrier
        datamodule.prepare_data()  # downloads the dataset once when it is missing (dataset.download=true)
        _verify_images(datamodule, data_cfg["verify_images"])
    backbone = resolve_stem(plain_dict(cfg.backbone), datamodule.spec.stem, datamodule.spec.image_size)
    # not recursive: nested _target_ nodes (e.g. method.loss) are built by the module itself
    model = hydra.utils.instantiate(cfg.model, backbone=backbone, _convert_="all", _recursive_=False)
    # auto: on a GPU, for a convolutional backbone (a ViT's one convolution is its patch embedding)
    channels_last = (
        training_on_gpu(cfg) and wants_channels_last(model.backbone)
        if cfg.channels_last == "auto"
        else bool(cfg.channels_last)
    )
    model.speed_up(channels_last=channels_last, compile=bool(cfg.compile))

    config = resolved(cfg)
    config["backbone"] = backbone
    config["data"]["pipeline"] = data_cfg["pipeline"]
    resume = resolve_resume_checkpoint(cfg.ckpt_path, run_dir)
    previous = read_meta(Path(resume).parent) if resume else {}
    logger = build_logger(
        cfg.logger, str(run_dir), run_name(cfg), config=config, resume_id=previous.get("wandb_run_id")
    )
    context = {
        "run_dir": run_dir,
        "dirpath": run_dir / CHECKPOINT_DIR,
        "meta": {"wandb_run_id": wandb_run_id(logger)},
        "check_model": lambda trainer, module: module.raise_if_diverged(blocking=True),
        "config": {**config, "overrides": job_overrides()},
        "figures_dir": str(run_dir / ANALYSIS_DIR),
    }
    callbacks = list(build_callbacks(cfg.callbacks, context).values())
    checkpoints = next(c for c in callbacks if isinstance(c, RunCheckpoints))
    if not probe_wanted(plain_dict(cfg.online_probe), cfg.eval.enabled):
        callbacks = [
            c for c in callbacks if not isinstance(c, OnlineProbe)
        ]  # online_probe.enabled: false, or auto without labels
    evaluation = next((c for c in callbacks if isinstance(c, OnlineEvaluation)), None)
    if evaluation is not None and evaluation.after_evaluation is None:  # the figures go into last.ckpt at once
        evaluation.after_evaluation = checkpoints.refresh
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
    sync_batchnorm = bool(cfg.trainer.get("sync_batchnorm", False))
    if sync_batchnorm:  # our layers synchronise themselves and keep per-view statistics
        synchronize_batchnorm(model)
    trainer = build_trainer(cfg, callbacks=callbacks, logger=logger, sync_batchnorm=False)
    start = time.perf_counter()
    try:
        fit_resumable(trainer, model, datamodule, resume, checkpoints, run_dir)
    except TrainingDivergedError as error:
        kept = (
            f"the last good checkpoint is {checkpoints.last_path}"
            if checkpoints.last_path
            else "no checkpoint was written before it"
        )
        raise TrainingDivergedError(f"{error}; {kept}", error.step) from None
    finally:
        skipped = datamodule.skipped_images()
        if skipped:
            say(f"skipped {len(skipped)} undecodable image(s) (named in the warnings above), e.g. {skipped[0]}")
    results = {
        "stage": "pretrain",
        "experiment_name": cfg.get("experiment_name"),
        "method": cfg.method.name,
        "dataset": cfg.dataset.name,
        "backbone": cfg.backbone.name,
        "epochs": trainer.current_epoch,
        "global_step": trainer.global_step,
        "train_seconds": time.perf_counter() - start,
        "final": evaluation.final if evaluation else None,
        "untrained": evaluation.untrained if evaluation else None,
        "history": evaluation.history if evaluation else [],
        "last_checkpoint": str(checkpoints.last_path) if checkpoints.last_path else None,
        "run_dir": str(run_dir),
        "overrides": job_overrides(),
        "config": config,
    }
    if resume and cfg.get("allow_resume_changes"):  # a deliberate change of the checkpoint's settings, on record
        results["resume_changes"] = as_records(resume_changes(cfg, resume, PRETRAIN_SETTINGS))
    publish_results(run_dir, results)
    close_logger(cfg, logger)
    return results
