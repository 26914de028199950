"""``stage=linear`` and ``stage=knn``: evaluate the frozen backbone of a checkpoint.

Both embed the labelled train and test splits once (every process its share under DDP, gathered
on the main process, see :mod:`whitening_ssl.eval.features`); the main process computes the
figures and writes ``results.json`` once, so they equal one process's figures on the same data.

- ``linear.protocol=fast`` (small datasets, as published): the linear classifier of the fast
  protocol (:func:`whitening_ssl.eval.linear_fast.train_linear_classifier`, the same code as the online
  evaluation) trained on the features.
- ``linear.protocol=standard`` (ImageNet recipe): the ``probe`` LightningModule
  (:class:`whitening_ssl.eval.LinearProbeModule`) trained by a Lightning Trainer on augmented
  images through the frozen backbone; its test split is sharded without padding, so the accuracy
  counts every test image once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from ..checkpoints import RunCheckpoints, resolve_resume_checkpoint
from ..checkpoints.resume_settings import PROBE_SETTINGS
from ..config_values import plain_dict
from ..eval.knn import KNN_WEIGHTINGS, knn_accuracy
from ..eval.linear_fast import linear_probe
from ..eval.probe_data import ImageProbeDataModule
from ..run_folder import CHECKPOINT_DIR, CLASSIFIER_FILE
from ..validation import Checks
from .common import finish, resolved
from .encoder import base_results, labelled_features, probe_source
from .launch import build_trainer, fit_resumable, launch
from .stage_checks import check_encoder_stage, check_resume

PROTOCOLS = ("fast", "standard")
PROBE_SCHEDULES = ("cosine_epoch", "step")  # the standard protocol's per-epoch schedules
LINEAR_OPTIMIZERS = ("adam", "sgd", "lars")


# --- checks ---------------------------------------------------------------------------------------


def check_linear(checks: Checks, cfg: DictConfig, run_dir: Path | None) -> None:
    # the standard protocol trains for hours (ImageNet): it checkpoints every epoch and resumes (ckpt_path=last)
    standard = cfg.get("linear") is not None and cfg.linear.get("protocol") == "standard"
    resuming = check_resume(checks, cfg, run_dir, prefixes=PROBE_SETTINGS) if standard else False
    check_encoder_stage(checks, cfg, run_dir, resuming=resuming)
    linear = cfg.linear
    checks.choice(linear, "protocol", "linear.protocol", PROTOCOLS)
    checks.integer(linear, "epochs", "linear.epochs", minimum=1)
    checks.integer(linear, "batch_size", "linear.batch_size", minimum=1)
    checks.choice(linear, "optimizer", "linear.optimizer", LINEAR_OPTIMIZERS)
    checks.number(linear, "lr", "linear.lr", positive=True)
    checks.number(linear, "lr_end", "linear.lr_end", positive=True)
    checks.number(linear, "weight_decay", "linear.weight_decay", minimum=0.0)
    checks.number(linear, "momentum", "linear.momentum", minimum=0.0)
    checks.choice(linear, "schedule", "linear.schedule", PROBE_SCHEDULES)
    checks.number(linear, "drop_gamma", "linear.drop_gamma", positive=True)
    checks.integer(linear, "crop_size", "linear.crop_size", minimum=1)
    checks.integer(linear, "resize", "linear.resize", minimum=1)
    checks.integer(linear, "seed", "linear.seed", minimum=0)


def check_knn(checks: Checks, cfg: DictConfig, run_dir: Path | None) -> None:
    check_encoder_stage(checks, cfg, run_dir)
    checks.integer(cfg.knn, "k", "knn.k", minimum=1)
    checks.choice(cfg.knn, "weighting", "knn.weighting", KNN_WEIGHTINGS)
    checks.number(cfg.knn, "temperature", "knn.temperature", positive=True)


# --- stage=linear -----------------------------------------------------------------------------------


def _linear_results(
    cfg: DictConfig,
    encoder,
    dataset,
    protocol: str,
    classifier: torch.nn.Linear,
    num_test: int,
    top1: float,
    top5: float,
    seconds: float,
) -> dict[str, Any]:
    """Both protocols' ending: the classifier saved beside ``results.json``, the results written and logged."""
    run_dir = Path(str(cfg.run_dir))
    classifier_path = run_dir / CLASSIFIER_FILE
    torch.save(
        {
            "state_dict": classifier.state_dict(),
            "num_classes": classifier.out_features,
            "feature_dim": classifier.in_features,
            "checkpoint": str(cfg.ckpt),
        },
        classifier_path,
    )
    results = {
        "stage": "linear",
        **base_results(cfg, encoder, dataset),
        "protocol": protocol,
        "epochs": cfg.linear.epochs,
        "num_test": num_test,
        "train_seconds": seconds,
        "final": {"linear_top1": 100.0 * top1, "linear_top5": 100.0 * top5},
        "classifier": str(classifier_path),
        "config": resolved(cfg),
    }
    finish(cfg, results)
    return results


def run_linear(cfg: DictConfig) -> dict[str, Any] | None:
    """Linear probe on the frozen backbone of ``cfg.ckpt`` (fast or standard protocol)."""
    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    options = plain_dict(cfg.linear)
    if options["protocol"] == "standard":
        return _run_linear_standard(cfg, options, run_dir)
    fabric = launch(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    encoder, dataset = probe_source(cfg)
    start = time.perf_counter()
    (train_x, train_y), (test_x, test_y) = labelled_features(cfg, fabric, encoder, dataset)
    results = None
    if fabric.is_global_zero:
        accuracies, classifier = linear_probe(  # STL-10's unlabeled images (label -1) are left out
            train_x,
            train_y,
            test_x,
            test_y,
            epochs=options["epochs"],
            seed=options["seed"],
            lr=options["lr"],
            lr_end=options["lr_end"],
            weight_decay=options["weight_decay"],
            batch_size=options["batch_size"],
            return_classifier=True,
            progress=bool(cfg.trainer.get("enable_progress_bar", True)),
        )
        results = _linear_results(
            cfg,
            encoder,
            dataset,
            "fast",
            classifier,
            len(test_y),
            accuracies[1],
            accuracies[5],
            time.perf_counter() - start,
        )
    fabric.barrier()
    return results


def _run_linear_standard(cfg: DictConfig, options: dict[str, Any], run_dir: Path) -> dict[str, Any] | None:
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    encoder, dataset = probe_source(cfg)
    datamodule = ImageProbeDataModule(
        dataset["name"],
        dataset["root"],
        dataset.get("download", False),
        batch_size=options["batch_size"],
        eval_batch_size=dataset.get("eval_batch_size", 256),
        num_workers=dataset.get("num_workers", 0),
        crop_size=options["crop_size"],
        resize=options["resize"],
        **(dataset.get("options") or {}),
    )
    datamodule.setup()
    module = hydra.utils.instantiate(
        cfg.probe,
        backbone=encoder.backbone,
        feature_dim=encoder.feature_dim,
        num_classes=datamodule.num_classes,
        optim=options,
        _convert_="all",
    )
    checkpoints = RunCheckpoints(run_dir / CHECKPOINT_DIR, config=resolved(cfg))
    trainer = build_trainer(
        cfg,
        callbacks=[checkpoints],
        max_epochs=options["epochs"],
        use_distributed_sampler=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    fit_resumable(
        trainer, module, datamodule, resolve_resume_checkpoint(cfg.get("ckpt_path"), run_dir), checkpoints, run_dir
    )
    (metrics,) = trainer.test(module, datamodule=datamodule, verbose=False)
    if not trainer.is_global_zero:
        return None
    assert datamodule.test_set is not None  # set up by the fit
    return _linear_results(
        cfg,
        encoder,
        dataset,
        "standard",
        module.classifier,
        len(datamodule.test_set),
        metrics["linear_test/top1"],
        metrics["linear_test/top5"],
        time.perf_counter() - start,
    )


# --- stage=knn ---------------------------------------------------------------------------------------


def run_knn(cfg: DictConfig) -> dict[str, Any] | None:
    """k-NN accuracy of the frozen backbone of ``cfg.ckpt``."""
    Path(str(cfg.run_dir)).mkdir(parents=True, exist_ok=True)
    fabric = launch(cfg)
    encoder, dataset = probe_source(cfg)
    (train_x, train_y), (test_x, test_y) = labelled_features(cfg, fabric, encoder, dataset, knn_k=cfg.knn.k)
    results = None
    if fabric.is_global_zero:
        accuracy = knn_accuracy(
            train_x,
            train_y,
            test_x,
            test_y,
            k=cfg.knn.k,
            weighting=cfg.knn.weighting,
            temperature=cfg.knn.temperature,
            progress=bool(cfg.trainer.get("enable_progress_bar", True)),
        )
        results = {
            "stage": "knn",
            **base_results(cfg, encoder, dataset),
            "k": cfg.knn.k,
            "weighting": cfg.knn.weighting,
            "num_test": len(test_y),
            "final": {"knn_top1": 100.0 * accuracy},
            "config": resolved(cfg),
        }
        finish(cfg, results)
    fabric.barrier()
    return results
