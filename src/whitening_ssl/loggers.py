"""Experiment loggers: W&B that never prompts (offline without an account), CSV, or none."""

from __future__ import annotations

import logging
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ranks import is_main_process

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger

log = logging.getLogger("whitening_ssl")

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


def _csv_logger(
    cfg: Mapping[str, Any], run_dir: str, run_name: str, config: dict | None, resume_id: str | None
) -> Logger:
    """``<run_dir>/csv/metrics.csv``; a run resumed into the same folder writes ``csv/resume_<k>/metrics.csv``
    (Lightning's CSV logger would otherwise delete the first file)."""
    from pytorch_lightning.loggers import CSVLogger

    folder = Path(run_dir) / "csv"
    version = ""
    if (folder / "metrics.csv").exists():
        k = 1
        while (folder / f"resume_{k}").exists():
            k += 1
        version = f"resume_{k}"
    return CSVLogger(save_dir=run_dir, name="csv", version=version)


def _wandb_logger(
    cfg: Mapping[str, Any], run_dir: str, run_name: str, config: dict | None, resume_id: str | None
) -> Logger | None:
    """W&B that never prompts; with ``resume_id`` (a resumed run) it continues that W&B run."""
    mode = resolve_wandb_mode(cfg.get("mode", "auto"))
    if mode == "disabled":
        return None
    if mode == "offline" and is_main_process():
        log.info(f"W&B: logging offline to {run_dir}/wandb (sync later with: wandb sync {run_dir}/wandb/offline-run-*)")
    os.environ.setdefault("WANDB_SILENT", "true")
    from pytorch_lightning.loggers import WandbLogger

    resume: dict[str, Any] = {"id": resume_id, "resume": "allow"} if resume_id else {}
    logger = WandbLogger(
        project=cfg.get("project", "whitening-ssl"),
        entity=cfg.get("entity"),
        name=run_name,
        save_dir=run_dir,
        mode=mode,
        tags=list(cfg.get("tags") or []),
        config=config,
        **resume,
    )
    # Lightning passes wandb.init(anonymous=None), which wandb >= 0.19 warns about on every run: not ours to pass
    logger._wandb_init.pop("anonymous", None)
    return logger


class _DropLightningTips(logging.Filter):
    """Lightning's advertisement printed at every Trainer start ("💡 Tip: ... litlogger ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip:")


def quiet_known_notices() -> None:
    """Silence, at their source, the notices every run would print that say nothing about the run: Lightning's
    litlogger tip and torch's ``LeafSpec`` deprecation raised inside Lightning (not by this project's code)."""
    import warnings

    rank_zero_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _DropLightningTips) for f in rank_zero_log.filters):
        rank_zero_log.addFilter(_DropLightningTips())
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )


LOGGERS = {
    "wandb": _wandb_logger,
    "csv": _csv_logger,
    "none": lambda cfg, run_dir, run_name, config, resume_id: None,
}


def check_logger(checks, cfg: Mapping[str, Any]) -> None:
    """``logger.*``: a known kind, and a known W&B mode."""
    kind = checks.choice(cfg, "kind", "logger.kind", LOGGERS)
    if kind == "wandb":
        checks.choice(cfg, "mode", "logger.mode", WANDB_MODES, default="auto")


def build_logger(
    cfg: Mapping[str, Any], run_dir: str, run_name: str, config: dict | None = None, resume_id: str | None = None
) -> Logger | None:
    """Logger from ``conf/logger/*.yaml``: ``kind`` is a key of :data:`LOGGERS`."""
    kind = cfg.get("kind", "none")
    if kind not in LOGGERS:
        raise ValueError(f"logger.kind={kind!r}: use one of {', '.join(LOGGERS)}")
    return LOGGERS[kind](cfg, run_dir, run_name, config, resume_id)


def wandb_run_id(logger: Logger | None) -> str | None:
    """The W&B run id of ``logger`` (created on the main process), ``None`` for other loggers."""
    from pytorch_lightning.loggers import WandbLogger

    if not isinstance(logger, WandbLogger) or not is_main_process():
        return None
    return logger.experiment.id
