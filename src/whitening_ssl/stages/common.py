"""What every stage shares: its messages, the results file and its printed summary (publish_results), the
logger's end."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config_values import plain_dict, plain_list
from ..ranks import is_main_process
from ..run_folder import RESULTS_FILE

log = logging.getLogger("whitening_ssl")

SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM, the shell's convention for a terminated process
SIGINT_EXIT_CODE = 130  # 128 + SIGINT: Ctrl-C


class RunInterrupted(RuntimeError):
    """The run was stopped by SIGTERM or Ctrl-C (SIGINT) after saving a checkpoint; ``str`` says how to resume,
    ``exit_code`` is the shell's for that signal."""

    exit_code = SIGTERM_EXIT_CODE

    @classmethod
    def after_sigterm(cls, step: int, checkpoint: Path | None, run_dir: Path, ctrl_c: bool = False) -> RunInterrupted:
        signal = "Ctrl-C (SIGINT)" if ctrl_c else "SIGTERM"
        stopped = cls(
            f"stopped by {signal} at step {step}; checkpoint saved: {checkpoint}; resume with ckpt_path=last "
            f"hydra.run.dir={run_dir} (and the same other arguments)"
        )
        stopped.exit_code = SIGINT_EXIT_CODE if ctrl_c else SIGTERM_EXIT_CODE
        return stopped


def say(message: str) -> None:
    """A message for the user: printed and written to ``run.log``, once (main process only)."""
    if is_main_process():
        log.info(message)


def write_results(run_dir: os.PathLike | str, results: dict[str, Any]) -> Path:
    """Write ``results.json`` atomically (main process only; a crash never leaves a half-written file)."""
    path = Path(run_dir) / RESULTS_FILE
    if is_main_process():
        tmp = path.with_name(f".{RESULTS_FILE}.tmp")
        tmp.write_text(json.dumps(results, indent=2, default=str))
        os.replace(tmp, path)
    return path


def format_summary(results: dict[str, Any]) -> str:
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


def publish_results(run_dir: os.PathLike | str, results: dict[str, Any]) -> Path:
    """Write ``results.json`` and print the summary."""
    path = write_results(run_dir, results)
    say(format_summary(results))
    say(f"results: {path}")
    return path


def close_logger(cfg: DictConfig, logger) -> None:
    """End the logger's run (the one place W&B is finished: its process is stopped, the run uploaded or kept
    offline)."""
    if logger is None:
        return
    logger.finalize("success")
    if cfg.logger.kind == "wandb":
        import wandb

        wandb.finish()


def finish(cfg: DictConfig, results: dict[str, Any]) -> None:
    """The end of an evaluation stage: ``results.json`` and the summary first (a logger that fails, W&B offline
    without a key, loses nothing), then the figures to the logger (main process only)."""
    from ..loggers import build_logger

    if not is_main_process():
        return
    publish_results(cfg.run_dir, results)
    logger = build_logger(
        cfg.logger,
        str(cfg.run_dir),
        f"{results['stage']}_{results['method']}_{results['dataset']}",
        config=results["config"],
    )
    if logger is not None:
        logger.log_metrics({f"{results['stage']}/{k}": v for k, v in results["final"].items()})
    close_logger(cfg, logger)


def job_overrides() -> list[str]:
    """The command-line overrides of this Hydra job (``[]`` outside Hydra, e.g. with the compose API)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return plain_list(HydraConfig.get().overrides.task)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    return plain_dict(cfg)
