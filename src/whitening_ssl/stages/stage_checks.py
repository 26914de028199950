"""The checks the stages share: the trainer, the checkpoint an evaluation reads, the resume, the run folder.

Torch-free, as every module the pre-run check (``check=true``) imports: torch is imported only to count GPUs
where the trainer asks for one, and to read a checkpoint where a stage reads one."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..data.dataset_checks import check_dataset
from ..eval.eval_checks import FEATURE_DTYPES
from ..loggers import check_logger
from ..models.stems import STEMS
from ..ranks import is_main_process
from ..run_folder import CHECKPOINT_DIR, finished_run, name_too_long
from ..validation import Checks

#: ``trainer.precision``: Lightning's names
PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "64", "transformer-engine")


def accelerator_wants_gpu(accelerator: Any) -> bool:
    return str(accelerator) in ("gpu", "cuda")


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_trainer(checks: Checks, trainer: Any) -> int | None:
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
    # the GPUs are counted (torch imported) only where the answer matters
    gpu_matters = accelerator_wants_gpu(accelerator) or (bool(sync_bn) and str(accelerator) == "auto")
    gpus = _gpu_count() if gpu_matters else 0
    has_gpu = gpus > 0
    if accelerator_wants_gpu(accelerator) and not has_gpu:
        checks.add(
            f"trainer.accelerator={accelerator} but this machine has no GPU (torch.cuda.is_available() is "
            "False): use trainer=cpu (or trainer.accelerator=cpu)"
        )
    on_cpu = (
        str(accelerator) == "cpu"
        or (str(accelerator) == "auto" and not has_gpu)
        or (accelerator_wants_gpu(accelerator) and not has_gpu)
    )
    if sync_bn and on_cpu:
        checks.add(
            "trainer.sync_batchnorm=true needs GPUs (SyncBatchNorm runs on CUDA only): set "
            "trainer.sync_batchnorm=false on CPU (trainer=ddp implies it: use trainer=cpu)"
        )
    if (
        isinstance(devices, int)
        and not isinstance(devices, bool)
        and accelerator_wants_gpu(accelerator)
        and has_gpu
        and devices > gpus
    ):
        checks.add(f"trainer.devices={devices} but this machine has {gpus} GPU(s): lower trainer.devices")
    if isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1 and num_nodes:
        return devices * num_nodes
    return None


def check_ckpt(checks: Checks, cfg: DictConfig) -> None:
    """``ckpt``: an encoder checkpoint that can be read without running code from it (``trust_checkpoint``)."""
    from ..checkpoints.formats import check_checkpoint_file

    trust = checks.boolean(cfg, "trust_checkpoint", "trust_checkpoint", default=False)
    ckpt = checks.get(cfg, "ckpt", "ckpt", default=None)
    if not ckpt:
        checks.add(f"stage={cfg.stage} needs ckpt=PATH (a pretraining checkpoint)")
    else:
        check_checkpoint_file(checks, ckpt, "ckpt", trust=bool(trust))


def check_encoder_stage(checks: Checks, cfg: DictConfig, run_dir: Path | None, resuming: bool = False) -> None:
    """What every stage that reads an encoder checkpoint checks (linear, knn, analyze)."""
    check_ckpt(checks, cfg)
    check_trainer(checks, cfg.trainer)
    check_logger(checks, cfg.logger)
    checks.choice(cfg.eval, "feature_dtype", "eval.feature_dtype", FEATURE_DTYPES)
    checks.choice(cfg.backbone, "stem", "backbone.stem", ("auto", *STEMS), default="auto")
    if not checks.boolean(cfg, "dataset_from_ckpt", "dataset_from_ckpt", default=True):
        check_dataset(checks, cfg.dataset)
    if run_dir is not None:
        check_output_dir(checks, run_dir, resuming=resuming)


def _given_settings(cfg: DictConfig, prefixes) -> dict[str, Any]:
    """The parts of ``cfg`` that ``prefixes`` name, resolved (the hydra node is never touched)."""
    heads = {prefix.split(".")[0] for prefix in prefixes}
    return {
        head: OmegaConf.to_container(cfg[head], resolve=True) if OmegaConf.is_config(cfg[head]) else cfg[head]
        for head in heads
        if head in cfg
    }


def resume_changes(cfg: DictConfig, checkpoint: str, prefixes) -> list:
    """The settings of ``checkpoint`` that ``cfg`` changes (see :mod:`whitening_ssl.checkpoints.resume_settings`)."""
    from ..checkpoints.resume_settings import saved_run_config, setting_changes

    saved = saved_run_config(checkpoint)
    return setting_changes(saved or {}, _given_settings(cfg, prefixes), prefixes) if saved is not None else []


def check_resume(checks: Checks, cfg: DictConfig, run_dir: Path | None, prefixes=None) -> bool:
    """``ckpt_path``: ``last`` (the newest checkpoint of the run directory) or a checkpoint file to resume
    from; returns whether the run resumes into its run directory.

    The checkpoint must come from the same stage, with the same settings ``prefixes`` (default: what
    shapes a pretraining run's model and data), unless ``allow_resume_changes=true``.
    """
    ckpt_path = checks.get(cfg, "ckpt_path", "ckpt_path", default=None)
    allow = checks.boolean(cfg, "allow_resume_changes", "allow_resume_changes", default=False)
    if not ckpt_path:
        return False
    from ..checkpoints import CheckpointError, check_checkpoint_file, resolve_resume_checkpoint
    from ..checkpoints.resume_settings import PRETRAIN_SETTINGS, describe_changes, saved_run_config

    resuming_here = ckpt_path == "last"
    if resuming_here:
        if run_dir is None or not checks.check_machine:
            return True
        resolved_path = resolve_resume_checkpoint("last", run_dir)
        if resolved_path is None:
            checks.add(
                f"ckpt_path=last: {run_dir / CHECKPOINT_DIR} holds no checkpoint; give hydra.run.dir= the run "
                "to resume (outputs/<date>/<time>_<method>_<dataset>) or ckpt_path=<file>"
            )
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
        checks.add(
            f"ckpt_path={ckpt_path}: {resolved_path} holds no run settings, so it is not a checkpoint of this "
            f"project's stage={stage}: resume from a run's checkpoints/last.ckpt (stage=linear|knn|analyze "
            "take other checkpoints with ckpt=)"
        )
        return resuming_here
    if saved.get("stage", "pretrain") != stage:
        kind = (
            "a linear-probe checkpoint (stage=linear)"
            if saved.get("stage") == "linear"
            else f"a checkpoint of stage={saved.get('stage')}"
        )
        checks.add(
            f"ckpt_path={ckpt_path}: {resolved_path} is {kind}, not of stage={stage}: resume stage={stage} from "
            f"its own checkpoints/last.ckpt"
            + (f" (this probe evaluated ckpt={saved.get('ckpt')})" if saved.get("ckpt") else "")
        )
        return resuming_here
    prefixes = prefixes or PRETRAIN_SETTINGS
    changes = resume_changes(cfg, resolved_path, prefixes)
    if changes and not allow:
        checks.add(
            f"ckpt_path={ckpt_path}: the checkpoint was trained with other settings ({describe_changes(changes)}): "
            "resume with the checkpoint's settings, or add allow_resume_changes=true to change them on "
            "purpose (the changes are recorded in results.json)"
        )
    return resuming_here


def check_output_dir(checks: Checks, run_dir: Path, resuming: bool) -> None:
    """The run directory can be written, is not a file, and does not already hold another run."""
    if not checks.check_machine:
        return
    problem = name_too_long(run_dir)
    if problem:
        checks.add(problem)
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
        checks.add(
            f"cannot write to {ancestor} ({error.strerror or error}): choose a writable hydra.run.dir "
            "(or start from a writable folder)"
        )
        return
    if run_dir.is_dir() and not resuming and is_main_process():
        problem = finished_run(run_dir)
        if problem:
            checks.add(problem)


def check_analysis_config(checks: Checks, analysis) -> None:
    """``analysis.*``: how often and on how many images the measurements run."""
    checks.integer(analysis, "every_n_steps", "analysis.every_n_steps", minimum=0)
    checks.boolean(analysis, "at_evaluation", "analysis.at_evaluation")
    checks.integer(analysis, "max_images", "analysis.max_images", minimum=16)
    checks.number(analysis, "collapse_fraction", "analysis.collapse_fraction", minimum=0.0, below=1.0)
    checks.number(analysis, "rank_tol", "analysis.rank_tol", positive=True, below=1.0)
