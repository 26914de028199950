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

from .checkpoints import EXPORT_FORMATS, export_backbone, load_encoder
from .config_checks import ConfigError, check_run
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
    # not recursive: nested _target_ nodes (e.g. method.loss) are built by the module itself
    model = hydra.utils.instantiate(cfg.model, _convert_="all", _recursive_=False)

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
        "experiment_name": cfg.get("experiment_name"),
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
        _report(cfg, results)
    _close_logger(cfg, logger)
    return results


def _probe_source(cfg: DictConfig):
    """The encoder of ``cfg.ckpt`` and the dataset config to evaluate it on."""
    if not cfg.ckpt:
        raise ConfigError(f"stage={cfg.stage} needs ckpt=PATH (a pretraining checkpoint)")
    encoder = load_encoder(cfg.ckpt, OmegaConf.to_container(cfg.backbone, resolve=True), bool(cfg.dataset.remove_maxpool))
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
    if encoder.dataset_cfg and cfg.dataset_from_ckpt:
        dataset = encoder.dataset_cfg
    return encoder, dataset


def _eval_datamodule(dataset: Dict[str, Any], batch_size: int = 256):
    from .data import SSLDataModule

    datamodule = SSLDataModule(dataset["name"], root=dataset["root"], download=dataset["download"],
                               batch_size=batch_size, eval_batch_size=dataset["eval_batch_size"], num_views=2,
                               num_workers=dataset["num_workers"], **(dataset.get("options") or {}))
    datamodule.check_available()
    return datamodule


def _device(cfg: DictConfig) -> torch.device:
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def _base_results(cfg: DictConfig, encoder, dataset: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "method": encoder.method_name or cfg.method.name,
        "dataset": dataset["name"],
        "backbone": encoder.backbone_cfg.get("name"),
        "checkpoint": str(cfg.ckpt),
        "checkpoint_format": encoder.format,
        "pretrain_epochs": encoder.pretrain_epochs,
        "experiment_name": cfg.get("experiment_name"),
        "run_dir": str(cfg.run_dir),
    }


def linear(cfg: DictConfig) -> Dict[str, Any]:
    """Linear probe on the frozen backbone of ``cfg.ckpt`` (fast or standard protocol)."""
    from .eval.probe_data import FeatureDataModule, ImageProbeDataModule
    from .methods import LinearProbeModule

    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True)
    encoder, dataset = _probe_source(cfg)
    options = OmegaConf.to_container(cfg.linear, resolve=True)
    protocol = options["protocol"]
    if protocol == "fast":
        datamodule = FeatureDataModule(_eval_datamodule(dataset), encoder.backbone, batch_size=options["batch_size"],
                                       device=_device(cfg))
        datamodule.setup()
        num_classes = int(max(datamodule.train_set.tensors[1].max(), datamodule.test_set.tensors[1].max())) + 1
    elif protocol == "standard":
        datamodule = ImageProbeDataModule(dataset["name"], dataset["root"], dataset["download"],
                                          batch_size=options["batch_size"], eval_batch_size=dataset["eval_batch_size"],
                                          num_workers=dataset["num_workers"], crop_size=options["crop_size"],
                                          resize=options["resize"], **(dataset.get("options") or {}))
        datamodule.setup()
        num_classes = datamodule.num_classes
    else:
        raise ConfigError(f"linear.protocol={protocol!r}: use fast or standard")
    module = LinearProbeModule(encoder.backbone_cfg, num_classes, protocol=protocol, optim=options,
                               remove_maxpool=encoder.remove_maxpool)
    module.backbone.load_state_dict(encoder.backbone.state_dict())
    checkpoints = ModelCheckpoint(dirpath=str(run_dir / "checkpoints"), filename="linear", save_last=True)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    logger = build_logger(cfg.logger, str(run_dir), f"linear_{run_name(cfg)}", config=resolved)
    trainer_cfg = {**OmegaConf.to_container(cfg.trainer, resolve=True), "max_epochs": options["epochs"],
                   "check_val_every_n_epoch": options["epochs"]}
    trainer: pl.Trainer = hydra.utils.instantiate(trainer_cfg, callbacks=[checkpoints], logger=logger or False,
                                                  default_root_dir=str(run_dir))
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    (metrics,) = trainer.test(module, datamodule=datamodule, verbose=False)
    classifier_path = run_dir / "linear_classifier.pt"
    torch.save({"state_dict": module.classifier.state_dict(), "num_classes": num_classes,
                "feature_dim": module.classifier.in_features, "checkpoint": str(cfg.ckpt)}, classifier_path)
    results = {
        "stage": "linear",
        **_base_results(cfg, encoder, dataset),
        "protocol": protocol,
        "epochs": options["epochs"],
        "train_seconds": time.perf_counter() - start,
        "final": {"linear_top1": 100.0 * metrics["linear_test/top1"], "linear_top5": 100.0 * metrics["linear_test/top5"]},
        "classifier": str(classifier_path),
        "config": resolved,
    }
    _finish(cfg, results, logger)
    return results


def knn(cfg: DictConfig) -> Dict[str, Any]:
    """k-NN accuracy of the frozen backbone of ``cfg.ckpt``."""
    from .eval import evaluate_encoder

    Path(str(cfg.run_dir)).mkdir(parents=True, exist_ok=True)
    encoder, dataset = _probe_source(cfg)
    datamodule = _eval_datamodule(dataset)
    datamodule.setup("fit")
    device = _device(cfg)
    train_loader, test_loader = datamodule.eval_dataloaders()
    metrics = evaluate_encoder(encoder.backbone.to(device), train_loader, test_loader, device, knn_k=cfg.knn.k,
                               linear_epochs=0, knn_weighting=cfg.knn.weighting, knn_temperature=cfg.knn.temperature)
    results = {
        "stage": "knn",
        **_base_results(cfg, encoder, dataset),
        "k": cfg.knn.k,
        "weighting": cfg.knn.weighting,
        "final": metrics,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    _finish(cfg, results, None)
    return results


def export(cfg: DictConfig) -> Dict[str, Any]:
    """Write the backbone of ``cfg.ckpt`` as a torchvision state_dict or a detectron2 pickle."""
    if not cfg.ckpt:
        raise ConfigError("stage=export needs ckpt=PATH (a pretraining checkpoint)")
    fmt = cfg.export.format
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"export.format={fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    encoder = load_encoder(cfg.ckpt, OmegaConf.to_container(cfg.backbone, resolve=True), bool(cfg.dataset.remove_maxpool))
    suffix = "pth" if fmt == "torchvision" else "pkl"
    output = cfg.export.output or str(Path(str(cfg.run_dir)) / f"backbone_{fmt}.{suffix}")
    path = export_backbone(encoder.backbone, output, fmt)
    print(f"exported {encoder.backbone_cfg.get('name')} backbone ({encoder.format} checkpoint) as {fmt}: {path}")
    if encoder.backbone_cfg.get("small_stem", False) and fmt == "torchvision":
        print("note: this backbone has the small-image stem (3x3 conv1): build the torchvision model with "
              "model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False) before load_state_dict"
              + (" and model.maxpool = nn.Identity()" if encoder.remove_maxpool else ""))
    return {"stage": "export", "format": fmt, "output": str(path), "checkpoint": str(cfg.ckpt)}


def _finish(cfg: DictConfig, results: Dict[str, Any], logger) -> None:
    """Log an evaluation stage's final figures, write results.json and print the summary."""
    if logger is not None:
        logger.log_metrics({f"{results['stage']}/{k}": v for k, v in results["final"].items()})
    _report(cfg, results)
    _close_logger(cfg, logger)


def _report(cfg: DictConfig, results: Dict[str, Any]) -> None:
    path = write_results(str(cfg.run_dir), results)
    print(format_summary(results))
    print(f"results: {path}")


def _close_logger(cfg: DictConfig, logger) -> None:
    if logger is not None and cfg.logger.kind == "wandb":
        import wandb

        wandb.finish()


STAGES = {"pretrain": pretrain, "linear": linear, "knn": knn, "export": export}


def run(cfg: DictConfig) -> Optional[float]:
    """Entry point used by ``run.py``; returns the final linear (or k-NN) top-1 for Hydra sweepers."""
    check_run(cfg)
    torch.set_float32_matmul_precision(cfg.matmul_precision)
    results = STAGES[cfg.stage](cfg)
    final = results.get("final") or {}
    return final.get("linear_top1", final.get("knn_top1"))
