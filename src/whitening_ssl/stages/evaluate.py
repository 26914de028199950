"""``stage=linear`` and ``stage=knn``: evaluate the frozen backbone of a checkpoint.

Both embed the labelled train and test splits once (every process its share under DDP, gathered
on the main process, see :mod:`whitening_ssl.eval.features`); the main process computes the
figures and writes ``results.json`` once, so they equal one process's figures on the same data.

- ``linear.protocol=fast`` (small datasets, as published): the linear classifier of the fast
  protocol (:func:`whitening_ssl.eval.linear.train_linear_classifier`, the same code as the online
  evaluation) trained on the features.
- ``linear.protocol=standard`` (ImageNet recipe): the ``probe`` LightningModule
  (:class:`whitening_ssl.methods.LinearProbeModule`) trained by a Lightning Trainer on augmented
  images through the frozen backbone; its test split is sharded without padding, so the accuracy
  counts every test image once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import hydra
import pytorch_lightning as pl
import torch
from lightning_fabric import Fabric
from omegaconf import DictConfig, OmegaConf

from ..checkpoints import LoadedEncoder, check_checkpoint_file, check_saved_dataset, load_encoder
from ..data import EvalDataModule, get_spec
from ..data.checks import check_dataset
from ..eval.features import extract_features
from ..eval.knn import KNN_WEIGHTINGS, check_knn_k, knn_accuracy
from ..eval.linear import linear_probe
from ..eval.online import FEATURE_DTYPES
from ..eval.probe_data import ImageProbeDataModule
from ..loggers import build_logger, check_logger
from ..models import STEMS
from ..training import CHECKPOINT_DIR, RunCheckpoints, resolve_resume_checkpoint
from ..training.resume import PROBE_SETTINGS
from ..validation import Checks, ConfigError
from .common import (
    build_trainer,
    check_output_dir,
    check_resume,
    check_trainer,
    fit_resumable,
    is_main_process,
    prepare_ddp_children,
    report,
    resolved,
    say,
    trainer_kwargs,
)

PROTOCOLS = ("fast", "standard")
LINEAR_OPTIMIZERS = ("adam", "sgd", "lars")


# --- checks ---------------------------------------------------------------------------------------


def check_ckpt(checks: Checks, cfg: DictConfig) -> None:
    """``ckpt``: an encoder checkpoint that can be read without running code from it (``trust_checkpoint``)."""
    trust = checks.boolean(cfg, "trust_checkpoint", "trust_checkpoint", default=False)
    ckpt = checks.get(cfg, "ckpt", "ckpt", default=None)
    if not ckpt:
        checks.add(f"stage={cfg.stage} needs ckpt=PATH (a pretraining checkpoint)")
    else:
        check_checkpoint_file(checks, ckpt, "ckpt", trust=bool(trust))


def _check_common(checks: Checks, cfg: DictConfig, run_dir: Optional[Path], resuming: bool = False) -> None:
    check_ckpt(checks, cfg)
    check_trainer(checks, cfg.trainer)
    check_logger(checks, cfg.logger)
    checks.choice(cfg.eval, "feature_dtype", "eval.feature_dtype", FEATURE_DTYPES)
    checks.choice(cfg.backbone, "stem", "backbone.stem", ("auto", *STEMS), default="auto")
    if not checks.boolean(cfg, "dataset_from_ckpt", "dataset_from_ckpt", default=True):
        check_dataset(checks, cfg.dataset)
    if run_dir is not None:
        check_output_dir(checks, run_dir, resuming=resuming)


def check_linear(checks: Checks, cfg: DictConfig, run_dir: Optional[Path]) -> None:
    # the standard protocol trains for hours (ImageNet): it checkpoints every epoch and resumes (ckpt_path=last)
    standard = cfg.get("linear") is not None and cfg.linear.get("protocol") == "standard"
    resuming = check_resume(checks, cfg, run_dir, prefixes=PROBE_SETTINGS) if standard else False
    _check_common(checks, cfg, run_dir, resuming=resuming)
    linear = cfg.linear
    checks.choice(linear, "protocol", "linear.protocol", PROTOCOLS)
    checks.integer(linear, "epochs", "linear.epochs", minimum=1)
    checks.integer(linear, "batch_size", "linear.batch_size", minimum=1)
    checks.choice(linear, "optimizer", "linear.optimizer", LINEAR_OPTIMIZERS)
    checks.number(linear, "lr", "linear.lr", positive=True)
    checks.number(linear, "lr_end", "linear.lr_end", positive=True)
    checks.number(linear, "weight_decay", "linear.weight_decay", minimum=0.0)
    checks.number(linear, "momentum", "linear.momentum", minimum=0.0)
    checks.integer(linear, "crop_size", "linear.crop_size", minimum=1)
    checks.integer(linear, "resize", "linear.resize", minimum=1)
    checks.integer(linear, "seed", "linear.seed", minimum=0)


def check_knn(checks: Checks, cfg: DictConfig, run_dir: Optional[Path]) -> None:
    _check_common(checks, cfg, run_dir)
    checks.integer(cfg.knn, "k", "knn.k", minimum=1)
    checks.choice(cfg.knn, "weighting", "knn.weighting", KNN_WEIGHTINGS)
    checks.number(cfg.knn, "temperature", "knn.temperature", positive=True)


# --- shared -----------------------------------------------------------------------------------------


def probe_source(cfg: DictConfig) -> Tuple[LoadedEncoder, Dict[str, Any]]:
    """The encoder of ``cfg.ckpt`` (the backbone the loader built, used as is) and the dataset to evaluate on."""
    # the command line's dataset (its root may be unset, "???", when the checkpoint names the dataset)
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True, throw_on_missing=False)
    backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
    stem = None  # the command line's dataset decides the max-pool of a foreign 3x3 stem
    if not OmegaConf.is_missing(cfg.dataset, "root"):
        try:
            stem = get_spec(dataset["name"], dataset["root"], **(dataset.get("options") or {})).stem
        except (ValueError, FileNotFoundError):
            pass
    encoder = load_encoder(cfg.ckpt, backbone, dataset_stem=stem, trust=bool(cfg.get("trust_checkpoint", False)))
    for note in encoder.notes:
        say(note)
    if encoder.dataset_cfg and cfg.dataset_from_ckpt:
        dataset = check_saved_dataset(encoder.dataset_cfg, str(cfg.ckpt))
    return encoder, dataset


def launch(cfg: DictConfig) -> Fabric:
    """Start the processes ``cfg.trainer`` asks for (one, or one per device under DDP) and join them."""
    prepare_ddp_children()
    options = trainer_kwargs(cfg)
    fabric = Fabric(accelerator=options.get("accelerator", "auto"), devices=options.get("devices", 1),
                    num_nodes=options.get("num_nodes", 1), strategy=options.get("strategy", "auto"),
                    precision=options.get("precision", "32-true"))
    fabric.launch()
    return fabric


def eval_datamodule(cfg: DictConfig, dataset: Dict[str, Any]) -> EvalDataModule:
    """The labelled splits of ``dataset`` (what :func:`probe_source` returns) with the evaluation transform."""
    return EvalDataModule(dataset["name"], root=dataset["root"], download=dataset.get("download", False),
                          eval_batch_size=dataset.get("eval_batch_size", 256), num_workers=dataset.get("num_workers", 0),
                          on_bad_image=cfg.data.on_bad_image, **(dataset.get("options") or {}))


def labelled_features(cfg: DictConfig, fabric: Fabric, encoder: LoadedEncoder, dataset: Dict[str, Any],
                      knn_k: Optional[int] = None):
    """Features and labels of the labelled train and test splits (main process; ``None`` elsewhere).
    ``knn_k``: refuse (every process, before any image is embedded) a k-NN with more neighbours than images."""
    datamodule = eval_datamodule(cfg, dataset)
    if fabric.global_rank == 0:
        datamodule.prepare_data()
    fabric.barrier()
    datamodule.setup()
    train_set, test_set = datamodule.eval_datasets()
    if knn_k is not None:
        check_knn_k(knn_k, len(train_set), "knn.k", dataset["name"])
    backbone = encoder.backbone.to(fabric.device)
    dtype = FEATURE_DTYPES[cfg.eval.feature_dtype]
    shown = bool(cfg.trainer.get("enable_progress_bar", True))
    with fabric.autocast():
        train = extract_features(backbone, train_set, datamodule.eval_batch_size, fabric.device, datamodule.num_workers,
                                 dtype=dtype, progress="features of the training images" if shown else None)
        test = extract_features(backbone, test_set, datamodule.eval_batch_size, fabric.device, datamodule.num_workers,
                                dtype=dtype, progress="features of the test images" if shown else None)
    return train, test


def base_results(cfg: DictConfig, encoder: LoadedEncoder, dataset: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "method": encoder.method_name or cfg.method.name,
        "dataset": dataset["name"],
        "backbone": encoder.backbone_cfg.get("name"),
        "checkpoint": str(cfg.ckpt),
        "checkpoint_format": encoder.format,
        "pretrain_epochs": encoder.pretrain_epochs,
        "pretrain_config": encoder.pretrain_config,
        "experiment_name": cfg.get("experiment_name"),
        "run_dir": str(cfg.run_dir),
    }


def _finish(cfg: DictConfig, results: Dict[str, Any]) -> None:
    if not is_main_process():
        return
    report(cfg.run_dir, results)  # the finished work first: a logger that fails (W&B offline, no key) loses nothing
    logger = build_logger(cfg.logger, str(cfg.run_dir), f"{results['stage']}_{results['method']}_{results['dataset']}",
                          config=results["config"])
    if logger is not None:
        logger.log_metrics({f"{results['stage']}/{k}": v for k, v in results["final"].items()})
        logger.finalize("success")
        if cfg.logger.kind == "wandb":
            import wandb

            wandb.finish()


# --- stage=linear -----------------------------------------------------------------------------------


def run_linear(cfg: DictConfig) -> Optional[Dict[str, Any]]:
    """Linear probe on the frozen backbone of ``cfg.ckpt`` (fast or standard protocol)."""
    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    options = OmegaConf.to_container(cfg.linear, resolve=True)
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
            train_x, train_y, test_x, test_y, epochs=options["epochs"],
            seed=options["seed"], lr=options["lr"], lr_end=options["lr_end"], weight_decay=options["weight_decay"],
            batch_size=options["batch_size"], return_classifier=True,
            progress=bool(cfg.trainer.get("enable_progress_bar", True)))
        classifier_path = run_dir / "linear_classifier.pt"
        torch.save({"state_dict": classifier.state_dict(), "num_classes": classifier.out_features,
                    "feature_dim": classifier.in_features, "checkpoint": str(cfg.ckpt)}, classifier_path)
        results = {
            "stage": "linear",
            **base_results(cfg, encoder, dataset),
            "protocol": "fast",
            "epochs": options["epochs"],
            "num_test": len(test_y),
            "train_seconds": time.perf_counter() - start,
            "final": {"linear_top1": 100.0 * accuracies[1], "linear_top5": 100.0 * accuracies[5]},
            "classifier": str(classifier_path),
            "config": resolved(cfg),
        }
        _finish(cfg, results)
    fabric.barrier()
    return results


def _run_linear_standard(cfg: DictConfig, options: Dict[str, Any], run_dir: Path) -> Optional[Dict[str, Any]]:
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    encoder, dataset = probe_source(cfg)
    datamodule = ImageProbeDataModule(dataset["name"], dataset["root"], dataset.get("download", False),
                                      batch_size=options["batch_size"],
                                      eval_batch_size=dataset.get("eval_batch_size", 256),
                                      num_workers=dataset.get("num_workers", 0), crop_size=options["crop_size"],
                                      resize=options["resize"], **(dataset.get("options") or {}))
    datamodule.setup()
    module = hydra.utils.instantiate(cfg.probe, backbone=encoder.backbone, feature_dim=encoder.feature_dim,
                                     num_classes=datamodule.num_classes,
                                     optim=options, _convert_="all")
    checkpoints = RunCheckpoints(run_dir / CHECKPOINT_DIR, config=resolved(cfg))
    trainer = build_trainer(cfg, callbacks=[checkpoints], max_epochs=options["epochs"], use_distributed_sampler=False,
                            limit_val_batches=0, num_sanity_val_steps=0)
    resume = resolve_resume_checkpoint(cfg.get("ckpt_path"), run_dir)
    start = time.perf_counter()
    fit_resumable(trainer, module, datamodule, resume, checkpoints, run_dir)
    (metrics,) = trainer.test(module, datamodule=datamodule, verbose=False)
    if not trainer.is_global_zero:
        return None
    classifier_path = run_dir / "linear_classifier.pt"
    torch.save({"state_dict": module.classifier.state_dict(), "num_classes": datamodule.num_classes,
                "feature_dim": module.classifier.in_features, "checkpoint": str(cfg.ckpt)}, classifier_path)
    results = {
        "stage": "linear",
        **base_results(cfg, encoder, dataset),
        "protocol": "standard",
        "epochs": options["epochs"],
        "num_test": len(datamodule.test_set),
        "train_seconds": time.perf_counter() - start,
        "final": {"linear_top1": 100.0 * metrics["linear_test/top1"], "linear_top5": 100.0 * metrics["linear_test/top5"]},
        "classifier": str(classifier_path),
        "config": resolved(cfg),
    }
    _finish(cfg, results)
    return results


# --- stage=knn ---------------------------------------------------------------------------------------


def run_knn(cfg: DictConfig) -> Optional[Dict[str, Any]]:
    """k-NN accuracy of the frozen backbone of ``cfg.ckpt``."""
    Path(str(cfg.run_dir)).mkdir(parents=True, exist_ok=True)
    fabric = launch(cfg)
    encoder, dataset = probe_source(cfg)
    (train_x, train_y), (test_x, test_y) = labelled_features(cfg, fabric, encoder, dataset, knn_k=cfg.knn.k)
    results = None
    if fabric.is_global_zero:
        accuracy = knn_accuracy(train_x, train_y, test_x, test_y, k=cfg.knn.k, weighting=cfg.knn.weighting,
                                temperature=cfg.knn.temperature,
                                progress=bool(cfg.trainer.get("enable_progress_bar", True)))
        results = {
            "stage": "knn",
            **base_results(cfg, encoder, dataset),
            "k": cfg.knn.k,
            "weighting": cfg.knn.weighting,
            "num_test": len(test_y),
            "final": {"knn_top1": 100.0 * accuracy},
            "config": resolved(cfg),
        }
        _finish(cfg, results)
    fabric.barrier()
    return results
