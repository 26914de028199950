"""Experiment loggers: W&B that never prompts (offline without an account), CSV, or none."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

WANDB_MODES = ("auto", "online", "offline", "disabled")


def wandb_credentials_available() -> bool:
    """Whether W&B can log in without asking: an API key in the environment or in ``~/.netrc``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
        hosts = netrc.netrc(path).hosts if os.path.exists(path) else {}
    except (netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def resolve_wandb_mode(mode: str = "auto") -> str:
    """``auto``: ``WANDB_MODE`` if set, else ``online`` with credentials and ``offline`` without."""
    if mode not in WANDB_MODES:
        raise ValueError(f"logger.mode={mode!r}: use one of {', '.join(WANDB_MODES)}")
    if mode != "auto":
        return mode
    env_mode = os.environ.get("WANDB_MODE")
    if env_mode == "":  # an empty WANDB_MODE makes wandb itself fail: treat it as unset
        del os.environ["WANDB_MODE"]
    if env_mode:
        return {"dryrun": "offline", "run": "online"}.get(env_mode, env_mode)
    return "online" if wandb_credentials_available() else "offline"


def build_logger(cfg: Mapping[str, Any], run_dir: str, run_name: str, config: Optional[dict] = None) -> Optional[Logger]:
    """Logger from ``conf/logger/*.yaml``: ``kind`` is ``wandb``, ``csv`` or ``none``."""
    kind = cfg.get("kind", "none")
    if kind == "none":
        return None
    if kind == "csv":
        return CSVLogger(save_dir=run_dir, name="csv", version="")
    if kind == "wandb":
        mode = resolve_wandb_mode(cfg.get("mode", "auto"))
        if mode == "disabled":
            return None
        if mode == "offline":
            print(f"W&B: logging offline to {run_dir}/wandb (sync later with: wandb sync {run_dir}/wandb/offline-run-*)")
        os.environ.setdefault("WANDB_SILENT", "true")
        logger = WandbLogger(project=cfg.get("project", "whitening-ssl"), entity=cfg.get("entity"), name=run_name,
                             save_dir=run_dir, mode=mode, tags=list(cfg.get("tags") or []), config=config)
        return logger
    raise ValueError(f"logger.kind={kind!r}: use wandb, csv or none")
