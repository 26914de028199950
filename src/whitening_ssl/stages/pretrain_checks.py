"""``stage=pretrain``'s checks before anything starts, and its download (torch-free: ``check=true`` imports no
torch; the stage itself is :mod:`.pretrain`)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ..config_values import plain_dict
from ..data.dataset_checks import check_dataset, check_pretraining_data
from ..eval.eval_checks import check_eval_config, check_online_probe_config
from ..loggers import check_logger
from ..methods.method_checks import check_method_settings
from ..models.backbone_checks import check_backbone, feature_dim, view_sizes
from ..validation import Checks
from .callbacks import check_callbacks
from .stage_checks import check_analysis_config, check_output_dir, check_resume, check_trainer


def check(checks: Checks, cfg: DictConfig, run_dir: Path | None) -> None:
    """Everything pretraining reads, checked before any data is loaded."""
    checks.integer(cfg, "epochs", "epochs", minimum=1)
    checks.integer(cfg, "seed", "seed", minimum=0)
    checks.integer(cfg, "checkpoint_every", "checkpoint_every", minimum=0)
    checks.integer(cfg, "checkpoint_every_n_steps", "checkpoint_every_n_steps", minimum=0, default=0)
    if checks.get(cfg, "channels_last", "channels_last", default="auto") not in ("auto", True, False):
        checks.add(f"channels_last={cfg.get('channels_last')!r} is not available: use auto, true or false")
    checks.boolean(cfg, "compile", "compile", default=False)
    world_size = check_trainer(checks, cfg.trainer)
    check_logger(checks, cfg.logger)
    method = checks.section(cfg, "method", "method")
    data = checks.section(cfg, "data", "data")
    backbone = checks.section(cfg, "backbone", "backbone")
    if method is not None and data is not None:  # the backbone's feature size is computed where a rule needs it
        check_method_settings(checks, method, data, lambda: feature_dim(backbone) if backbone is not None else None)
    eval_cfg = checks.section(cfg, "eval", "eval")
    if eval_cfg is not None:
        check_eval_config(checks, eval_cfg)
    probe = checks.section(cfg, "online_probe", "online_probe")
    if probe is not None:
        check_online_probe_config(checks, probe)
    analysis = checks.section(cfg, "analysis", "analysis")
    if analysis is not None:
        check_analysis_config(checks, analysis)
    check_callbacks(checks, cfg.get("callbacks"))
    needs_labels = bool(eval_cfg is not None and eval_cfg.get("enabled", True)) or bool(
        probe is not None and probe.get("enabled") is True
    )
    located = check_dataset(checks, cfg.dataset, needs_labels=needs_labels) if "dataset" in cfg else None
    if data is not None:
        check_pretraining_data(checks, data, located, world_size)
    if backbone is not None:
        check_backbone(checks, backbone, located and located.spec, view_sizes(located, data))
    resuming = check_resume(checks, cfg, run_dir)
    if run_dir is not None:
        check_output_dir(checks, run_dir, resuming=resuming)


def prepare(cfg: DictConfig) -> None:
    """Download the dataset when it is missing and ``dataset.download`` is on (before any folder is made)."""
    from ..data import download_dataset, parse

    if not cfg.dataset.get("download", False):
        return
    entry, options = parse(cfg.dataset.name, plain_dict(cfg.dataset.options) or {})
    download_dataset(entry, Path(str(cfg.dataset.root)), options)
