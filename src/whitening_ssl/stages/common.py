"""What every stage shares: the run directory, the Trainer, the results file, messages, device checks."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from ..validation import Checks

log = logging.getLogger("whitening_ssl")

RESULTS_FILE = "results.json"
SIGTERM_EXIT_CODE = 143  # 128 + SIGTERM, the shell's convention for a terminated process


class RunInterrupted(RuntimeError):
    """The run was stopped by SIGTERM after saving a checkpoint; ``str`` says how to resume."""

    exit_code = SIGTERM_EXIT_CODE

    @classmethod
    def after_sigterm(cls, step: int, checkpoint: Optional[Path], run_dir: Path) -> "RunInterrupted":
        return cls(f"stopped by SIGTERM at step {step}; checkpoint saved: {checkpoint}; resume with ckpt_path=last "
                   f"hydra.run.dir={run_dir} (and the same other arguments)")
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64", "transformer-engine")


def is_main_process() -> bool:
    """Rank 0 (also before the DDP processes are launched: Lightning reads the rank from the environment)."""
    return rank_zero_only.rank == 0


def say(message: str) -> None:
    """A message for the user: printed and written to ``run.log``, once (main process only)."""
    if is_main_process():
        log.info(message)


def write_results(run_dir: os.PathLike | str, results: Dict[str, Any]) -> Path:
    """Write ``results.json`` atomically (main process only; a crash never leaves a half-written file)."""
    path = Path(run_dir) / RESULTS_FILE
    if is_main_process():
        tmp = path.with_name(f".{RESULTS_FILE}.tmp")
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


def report(run_dir: os.PathLike | str, results: Dict[str, Any]) -> Path:
    """Write ``results.json`` and print the summary."""
    path = write_results(run_dir, results)
    say(format_summary(results))
    say(f"results: {path}")
    return path


def job_overrides() -> List[str]:
    """The command-line overrides of this Hydra job (``[]`` outside Hydra, e.g. with the compose API)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(OmegaConf.to_container(HydraConfig.get().overrides.task))


def resolved(cfg: DictConfig) -> Dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)


# --- the Trainer ----------------------------------------------------------------------------------


def trainer_kwargs(cfg: DictConfig) -> Dict[str, Any]:
    """``cfg.trainer`` as a dict (without ``_target_``)."""
    options = OmegaConf.to_container(cfg.trainer, resolve=True)
    options.pop("_target_", None)
    return options


def build_trainer(cfg: DictConfig, callbacks: Iterable[pl.Callback] = (), logger=None, **overrides) -> pl.Trainer:
    """The one way a stage builds its Trainer: ``cfg.trainer`` + this stage's callbacks, logger, overrides.

    Checkpointing is this project's (``RunCheckpoints``), so Lightning's own is off.
    """
    from ..loggers import quiet_known_notices

    prepare_ddp_children()
    quiet_known_notices()
    options = {**trainer_kwargs(cfg), "enable_checkpointing": False, **overrides}
    return hydra.utils.instantiate({"_target_": "pytorch_lightning.Trainer", **options}, callbacks=list(callbacks),
                                   logger=logger or False, default_root_dir=str(cfg.run_dir))


def prepare_ddp_children() -> None:
    """Make Lightning's DDP child processes run exactly this job, in this job's directory.

    Lightning starts the other processes by re-running ``sys.argv`` with ``hydra.run.dir`` set to
    ``HydraConfig.run.dir``. In a ``-m`` sweep both are the sweep's, so a child would re-run the
    whole sweep in a phantom folder. Here ``sys.argv`` becomes this job's own overrides and the run
    directory this job's output directory; children log to the console only (no empty log files).
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in OmegaConf.to_container(hydra_cfg.overrides.task)
                 if not o.startswith(("hydra/job_logging=", "hydra.run.dir="))]
    sys.argv = [sys.argv[0], *overrides, "hydra/job_logging=stdout"]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


# --- checks shared by the stages ------------------------------------------------------------------


def _accelerator_wants_gpu(accelerator: Any) -> bool:
    return str(accelerator) in ("gpu", "cuda")


def training_on_gpu(cfg: DictConfig) -> bool:
    """Whether ``cfg.trainer`` trains on CUDA GPUs (``auto`` counts when one is there)."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    return _accelerator_wants_gpu(accelerator) or (accelerator == "auto" and torch.cuda.is_available())


def check_trainer(checks: Checks, trainer: Any) -> Optional[int]:
    """``trainer.*``: a GPU when one is asked for, SyncBatchNorm only on GPUs, a known precision.

    Returns the number of processes when it is known from the configuration (for the batch check).
    """
    accelerator = checks.get(trainer, "accelerator", "trainer.accelerator", default="auto")
    devices = checks.get(trainer, "devices", "trainer.devices", default=1)
    num_nodes = checks.integer(trainer, "num_nodes", "trainer.num_nodes", minimum=1, default=1)
    sync_bn = checks.boolean(trainer, "sync_batchnorm", "trainer.sync_batchnorm", default=False)
    checks.integer(trainer, "log_every_n_steps", "trainer.log_every_n_steps", minimum=1, default=50)
    precision = checks.get(trainer, "precision", "trainer.precision", default="32-true")
    if precision is not None and str(precision) not in PRECISIONS:
        checks.add(f"trainer.precision={precision!r} is not available: use one of 32-true, 16-mixed, bf16-mixed")
    if not checks.check_machine:
        return None
    has_gpu = torch.cuda.is_available()
    gpus = torch.cuda.device_count() if has_gpu else 0
    if _accelerator_wants_gpu(accelerator) and not has_gpu:
        checks.add(f"trainer.accelerator={accelerator} but this machine has no GPU (torch.cuda.is_available() is "
                   "False): use trainer=cpu (or trainer.accelerator=cpu)")
    on_cpu = str(accelerator) == "cpu" or (str(accelerator) == "auto" and not has_gpu) or \
        (_accelerator_wants_gpu(accelerator) and not has_gpu)
    if sync_bn and on_cpu:
        checks.add("trainer.sync_batchnorm=true needs GPUs (SyncBatchNorm runs on CUDA only): set "
                   "trainer.sync_batchnorm=false on CPU (trainer=ddp implies it: use trainer=cpu)")
    if isinstance(devices, int) and not isinstance(devices, bool) and _accelerator_wants_gpu(accelerator) \
            and has_gpu and devices > gpus:
        checks.add(f"trainer.devices={devices} but this machine has {gpus} GPU(s): lower trainer.devices")
    if isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1 and num_nodes:
        return devices * num_nodes
    return None


def fit_resumable(trainer: pl.Trainer, module: pl.LightningModule, datamodule, resume: Optional[str],
                  checkpoints, run_dir: Path) -> None:
    """``trainer.fit``, from the checkpoint ``resume`` when given (read with ``weights_only=True``: a file
    never runs code); a SIGTERM (``checkpoints``, the run's :class:`~whitening_ssl.training.RunCheckpoints`,
    has saved) ends it as :class:`RunInterrupted`. The progress bar is closed however the fit ends."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    if resume:
        from ..checkpoints import verify_resume_file

        verify_resume_file(resume)  # refused in one line (unread where it is no torch file) before Lightning loads it
        say(f"resuming from {resume}")
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume, weights_only=True)
    except SIGTERMException:
        raise RunInterrupted.after_sigterm(trainer.global_step, checkpoints.last_path, run_dir) from None
    finally:
        close_progress_bar(trainer)


def close_progress_bar(trainer: pl.Trainer) -> None:
    """End the progress bar's line (a fit that raised leaves it open, and it would print at exit)."""
    bar = trainer.progress_bar_callback
    for name in ("train_progress_bar", "val_progress_bar", "test_progress_bar", "predict_progress_bar"):
        try:
            progress = getattr(bar, name, None) if bar is not None else None
        except (TypeError, AttributeError):  # Lightning raises when a bar was never created
            progress = None
        if progress is not None and hasattr(progress, "close"):
            progress.close()


def _given_settings(cfg: DictConfig, prefixes) -> Dict[str, Any]:
    """The parts of ``cfg`` that ``prefixes`` name, resolved (the hydra node is never touched)."""
    heads = {prefix.split(".")[0] for prefix in prefixes}
    return {head: OmegaConf.to_container(cfg[head], resolve=True) if OmegaConf.is_config(cfg[head]) else cfg[head]
            for head in heads if head in cfg}


def resume_changes(cfg: DictConfig, checkpoint: str, prefixes) -> list:
    """The settings of ``checkpoint`` that ``cfg`` changes (see :mod:`whitening_ssl.training.resume`)."""
    from ..training.resume import saved_run_config, setting_changes

    saved = saved_run_config(checkpoint)
    return setting_changes(saved or {}, _given_settings(cfg, prefixes), prefixes) if saved is not None else []


def check_resume(checks: Checks, cfg: DictConfig, run_dir: Optional[Path], prefixes=None) -> bool:
    """``ckpt_path``: ``last`` (the newest checkpoint of the run directory) or a checkpoint file to resume
    from; returns whether the run resumes into its run directory.

    The checkpoint must come from the same stage, with the same settings ``prefixes`` (default: what
    shapes a pretraining run's model and data), unless ``allow_resume_changes=true``.
    """
    from ..checkpoints import check_checkpoint_file
    from ..training import CHECKPOINT_DIR, resolve_resume_checkpoint
    from ..checkpoints import CheckpointError
    from ..training.resume import PRETRAIN_SETTINGS, describe_changes, saved_run_config

    ckpt_path = checks.get(cfg, "ckpt_path", "ckpt_path", default=None)
    allow = checks.boolean(cfg, "allow_resume_changes", "allow_resume_changes", default=False)
    if not ckpt_path:
        return False
    resuming_here = ckpt_path == "last"
    if resuming_here:
        if run_dir is None or not checks.check_machine:
            return True
        resolved_path = resolve_resume_checkpoint("last", run_dir)
        if resolved_path is None:
            checks.add(f"ckpt_path=last: {run_dir / CHECKPOINT_DIR} holds no checkpoint; give hydra.run.dir= the run "
                       "to resume (outputs/<date>/<time>_<method>_<dataset>) or ckpt_path=<file>")
            return True
    else:
        before = len(checks.problems)
        check_checkpoint_file(checks, ckpt_path, "ckpt_path")
        if len(checks.problems) > before or not checks.check_machine:
            return False
        resolved_path = str(ckpt_path)
    try:
        saved = saved_run_config(resolved_path)
    except CheckpointError as error:
        checks.add(f"ckpt_path={ckpt_path}: {error}")
        return resuming_here
    stage = cfg.get("stage", "pretrain")
    if saved is None:
        checks.add(f"ckpt_path={ckpt_path}: {resolved_path} holds no run settings, so it is not a checkpoint of this "
                   f"project's stage={stage}: resume from a run's checkpoints/last.ckpt (stage=linear|knn|analyze "
                   "take other checkpoints with ckpt=)")
        return resuming_here
    if saved.get("stage", "pretrain") != stage:
        kind = "a linear-probe checkpoint (stage=linear)" if saved.get("stage") == "linear" else \
            f"a checkpoint of stage={saved.get('stage')}"
        checks.add(f"ckpt_path={ckpt_path}: {resolved_path} is {kind}, not of stage={stage}: resume stage={stage} from "
                   f"its own checkpoints/last.ckpt" + (f" (this probe evaluated ckpt={saved.get('ckpt')})"
                                                     if saved.get("ckpt") else ""))
        return resuming_here
    prefixes = prefixes or PRETRAIN_SETTINGS
    changes = resume_changes(cfg, resolved_path, prefixes)
    if changes and not allow:
        checks.add(f"ckpt_path={ckpt_path}: the checkpoint was trained with other settings ({describe_changes(changes)}): "
                   "resume with the checkpoint's settings, or add allow_resume_changes=true to change them on "
                   "purpose (the changes are recorded in results.json)")
    return resuming_here


def check_output_dir(checks: Checks, run_dir: Path, resuming: bool) -> None:
    """The run directory can be written, is not a file, and does not already hold another run."""
    if not checks.check_machine:
        return
    if run_dir.exists() and not run_dir.is_dir():
        checks.add(f"the run directory {run_dir} is a file: choose another hydra.run.dir")
        return
    ancestor = run_dir
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        checks.add(f"cannot create the run directory {run_dir}: {ancestor} is a file; choose another hydra.run.dir")
        return
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as error:
        checks.add(f"cannot write to {ancestor} ({error.strerror or error}): choose a writable hydra.run.dir "
                   "(or start from a writable folder)")
        return
    if run_dir.is_dir() and not resuming and is_main_process():
        # a complete checkpoint or results: a run's work (a partial .last.ckpt.tmp from a kill during the first save
        # is not: that folder starts afresh)
        previous = [name for name, present in ((RESULTS_FILE, (run_dir / RESULTS_FILE).exists()),
                                                ("checkpoints", any((run_dir / "checkpoints").glob("*.ckpt"))))
                    if present]
        if previous:
            checks.add(f"{run_dir} already holds a run ({', '.join(previous)}): resume it with ckpt_path=last "
                       f"hydra.run.dir={run_dir}, or choose another hydra.run.dir")
