"""Checks of a run's configuration, done before any data is loaded or any step is taken.

Each failure raises :class:`ConfigError` with one line that names the values to change.
"""

from __future__ import annotations

from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from .whitening import WHITENING_AXES, WHITENING_KINDS

COVARIANCE_KINDS = ("zca", "pca", "cholesky")
STAGES = ("pretrain", "linear", "knn", "export")
SCHEDULES = ("step", "cosine", "cosine_epoch", "constant")
OPTIMIZERS = ("adam", "sgd", "lars")


class ConfigError(ValueError):
    """A configuration value that cannot work; the message says what to change."""


def check_method(method: Mapping[str, Any]) -> None:
    """Validate a method preset (``conf/method/*.yaml`` after overrides)."""
    for key, minimum in (("num_views", 2), ("batch_size", 2), ("emb", 1)):
        if not isinstance(method.get(key), int) or method[key] < minimum:
            raise ConfigError(f"method.{key}={method.get(key)!r} must be an integer >= {minimum}")
    if method.get("schedule", "step") not in SCHEDULES:
        raise ConfigError(f"method.schedule={method['schedule']!r}: use one of {', '.join(SCHEDULES)}")
    if method.get("optimizer", "adam") not in OPTIMIZERS:
        raise ConfigError(f"method.optimizer={method['optimizer']!r}: use one of {', '.join(OPTIMIZERS)}")
    if "whiten" in method:
        check_whitening_method(method)


def check_whitening_method(method: Mapping[str, Any]) -> None:
    """The whitening MSE settings: kind, axis, sizes that give a non-singular covariance."""
    kind, axis = method["whiten"], method["axis"]
    if kind not in WHITENING_KINDS:
        raise ConfigError(f"method.whiten={kind!r} is not a whitening kind: use one of {', '.join(WHITENING_KINDS)}")
    if axis not in WHITENING_AXES:
        raise ConfigError(f"method.axis={axis!r} is not a whitening axis: use one of {', '.join(WHITENING_AXES)}")
    for key, minimum in (("w_size", 2), ("w_iter", 1), ("groups", 1)):
        if not isinstance(method[key], int) or method[key] < minimum:
            raise ConfigError(f"method.{key}={method[key]!r} must be an integer >= {minimum}")
    batch, w_size, emb, groups = method["batch_size"], method["w_size"], method["emb"], method["groups"]
    if batch % w_size:
        raise ConfigError(f"method.batch_size={batch} is not divisible by method.w_size={w_size}: "
                          "change one so that batch_size is a multiple of w_size")
    if emb % groups:
        raise ConfigError(f"method.emb={emb} is not divisible by method.groups={groups}: "
                          "choose groups that divide the embedding size")
    if kind in COVARIANCE_KINDS:
        channels = emb // groups
        if axis == "channel" and channels <= w_size:
            raise ConfigError(
                f"channel whitening needs method.emb / method.groups > method.w_size (the {w_size}x{w_size} "
                f"covariance over {channels} channels per group is singular): raise method.emb, lower "
                f"method.groups or lower method.w_size (emb={emb}, groups={groups}, w_size={w_size})")
        if axis == "batch" and w_size <= channels:
            raise ConfigError(
                f"batch whitening needs method.w_size > method.emb / method.groups (the {channels}x{channels} "
                f"covariance from {w_size} samples is singular): raise method.w_size or method.groups, or "
                f"lower method.emb (emb={emb}, groups={groups}, w_size={w_size})")
    if not 0.0 <= float(method["eps"]) < 1.0:
        raise ConfigError(f"method.eps={method['eps']} must be in [0, 1)")


def check_run(cfg: Mapping[str, Any]) -> None:
    """Validate the whole run configuration."""
    if cfg["stage"] not in STAGES:
        raise ConfigError(f"stage={cfg['stage']!r} is not available: use one of {', '.join(STAGES)}")
    if cfg["stage"] != "pretrain":
        if not cfg.get("ckpt"):
            raise ConfigError(f"stage={cfg['stage']} needs ckpt=PATH (a pretraining checkpoint)")
        return
    check_method(cfg["method"])
    dataset = cfg["dataset"]
    if isinstance(dataset, DictConfig) and OmegaConf.is_missing(dataset, "root"):
        raise ConfigError(f"dataset={dataset['name']} needs its location: add dataset.root=/path/to/the/images")
    if int(cfg["epochs"]) < 1:
        raise ConfigError(f"epochs={cfg['epochs']} must be at least 1")
