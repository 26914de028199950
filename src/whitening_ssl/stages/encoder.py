"""An evaluation stage's encoder and data: the checkpoint's backbone, its dataset, their features."""

from __future__ import annotations

import contextlib
from collections.abc import Sized
from typing import Any, cast

import torch
from lightning_fabric import Fabric
from omegaconf import DictConfig, OmegaConf

from ..checkpoints import LoadedEncoder, check_saved_dataset, load_encoder
from ..config_values import plain_dict
from ..data import EvalDataModule, get_spec
from ..eval.features import extract_train_test_features
from ..eval.knn import check_knn_k
from .common import say


def probe_source(cfg: DictConfig) -> tuple[LoadedEncoder, dict[str, Any]]:
    """The encoder of ``cfg.ckpt`` (the backbone the loader built, used as is) and the dataset to evaluate on."""
    # the command line's dataset (its root may be unset, "???", when the checkpoint names the dataset)
    dataset = plain_dict(cfg.dataset, throw_on_missing=False)
    backbone = plain_dict(cfg.backbone)
    stem = None  # the command line's dataset decides the max-pool of a foreign 3x3 stem
    if not OmegaConf.is_missing(cfg.dataset, "root"):
        with contextlib.suppress(ValueError, FileNotFoundError):
            stem = get_spec(dataset["name"], dataset["root"], **(dataset.get("options") or {})).stem
    encoder = load_encoder(cfg.ckpt, backbone, dataset_stem=stem, trust=bool(cfg.get("trust_checkpoint", False)))
    for note in encoder.notes:
        say(note)
    if encoder.dataset_cfg and cfg.dataset_from_ckpt:
        dataset = check_saved_dataset(encoder.dataset_cfg, str(cfg.ckpt))
    return encoder, dataset


def eval_datamodule(cfg: DictConfig, dataset: dict[str, Any]) -> EvalDataModule:
    """The labelled splits of ``dataset`` (what :func:`probe_source` returns) with the evaluation transform."""
    return EvalDataModule(
        dataset["name"],
        root=dataset["root"],
        download=dataset.get("download", False),
        eval_batch_size=dataset.get("eval_batch_size", 256),
        num_workers=dataset.get("num_workers", 0),
        on_bad_image=cfg.data.on_bad_image,
        **(dataset.get("options") or {}),
    )


def labelled_features(
    cfg: DictConfig, fabric: Fabric, encoder: LoadedEncoder, dataset: dict[str, Any], knn_k: int | None = None
):
    """Features and labels of the labelled train and test splits (main process; ``None`` elsewhere).
    ``knn_k``: refuse (every process, before any image is embedded) a k-NN with more neighbours than images."""
    datamodule = eval_datamodule(cfg, dataset)
    if fabric.global_rank == 0:
        datamodule.prepare_data()
    fabric.barrier()
    datamodule.setup()
    train_set, test_set = datamodule.eval_datasets()
    if knn_k is not None:
        check_knn_k(knn_k, len(cast(Sized, train_set)), "knn.k", dataset["name"])
    backbone = encoder.backbone.to(fabric.device)
    dtype = getattr(torch, cfg.eval.feature_dtype)  # a name of eval.eval_checks.FEATURE_DTYPES
    shown = bool(cfg.trainer.get("enable_progress_bar", True))
    with fabric.autocast():
        train, test = extract_train_test_features(
            backbone,
            train_set,
            test_set,
            datamodule.eval_batch_size,
            fabric.device,
            datamodule.num_workers,
            dtype,
            progress=shown,
        )
    return train, test


def base_results(cfg: DictConfig, encoder: LoadedEncoder, dataset: dict[str, Any]) -> dict[str, Any]:
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
