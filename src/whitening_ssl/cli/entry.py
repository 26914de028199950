"""Between Hydra and the stages: resolvers, checks before anything starts, one-line errors.

- ``${unique_dir:PATH}`` gives every run a folder of its own: ``PATH`` if it does not exist, else
  ``PATH_2``, ``PATH_3``, ... The folder is created atomically when chosen, so two runs started in
  the same second never share it. Resolved once per run (cached), also across sweep jobs.
- :class:`CheckBeforeRunning` (a Hydra callback) checks the whole configuration, and for ``-m``
  sweeps every job's, before Hydra creates a directory or a job starts; all problems are printed
  at once, one line each, and the process exits with status 2 leaving nothing behind. Then it
  downloads what the run needs (``dataset.download``, once for all jobs of a sweep) and takes the
  run folder's lock, still before Hydra writes into it. ``check=true`` stops after the checks with
  a summary (status 0): the dry run.
- :func:`main` runs the stage and turns the errors users can fix into one line on stderr (and in
  ``run.log``) with an exit status (:mod:`.errors`). In a sweep a failed job is reported and the
  sweep goes on; the sweep exits with status 1 at the end, listing the failed jobs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from ..data.errors import DatasetNotFoundError
from ..ranks import is_main_process
from ..run_folder.naming import claim_folder, claim_sweep_folders, remove_if_created_and_empty
from ..stages import check_config, prepare, run
from ..validation import ConfigError
from . import help as _help  # noqa: F401 (registers ${whitening_ssl_help:}: python run.py --help)
from .errors import error_lines, exit_code, exit_codes, report_error
from .preflight import summary, sweep_jobs

log = logging.getLogger("whitening_ssl")

_FAILED_JOBS: list[tuple[int, list[str], str]] = []


def _in_local_sweep() -> tuple[int, list[str]] | None:
    """``(job number, overrides)`` for a job of a ``-m`` sweep whose jobs run one after another in this
    process (Hydra's basic launcher): a failed job is reported and the next one starts. Under other
    launchers (SLURM: a process per job) a failed job exits with its code, so the launcher sees it."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from ..stages.common import job_overrides

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    if not str(hydra_cfg.launcher.get("_target_", "")).endswith(".BasicLauncher"):
        return None
    return int(hydra_cfg.job.num), job_overrides()


def main(cfg: DictConfig) -> float | None:
    """What ``run.py`` runs (the configuration was checked by :class:`CheckBeforeRunning`)."""
    from ..stages.common import RunInterrupted

    try:
        return run(cfg, checked=True)
    except tuple(error_type for error_type, _ in exit_codes()) as error:
        lines = error_lines(error)
        sweep = _in_local_sweep()
        if sweep is not None and not isinstance(error, RunInterrupted):
            number, overrides = sweep
            report_error([f"job #{number} ({' '.join(overrides)}): {line}" for line in lines])
            _FAILED_JOBS.append((number, overrides, lines[0]))
            return None
        report_error(lines)
        sys.exit(exit_code(error))


# --- Hydra callback -----------------------------------------------------------------------------


def _is_child_process() -> bool:
    return not is_main_process()


def _fail(lines: list[str], run_dir: Path | None = None) -> NoReturn:
    remove_if_created_and_empty(run_dir)
    report_error(lines)
    sys.exit(2)


def _dry_run(lines: list[str], run_dir: Path | None = None) -> None:
    """``check=true``: print what was checked, leave nothing behind, exit 0."""
    remove_if_created_and_empty(run_dir)
    print("\n".join(lines))
    sys.exit(0)


def _prepare(configs: list[DictConfig]) -> None:
    """Download what the runs need, once per distinct dataset (a sweep's jobs often share it)."""
    seen = set()
    for cfg in configs:
        key = (cfg.stage, OmegaConf.select(cfg, "dataset.name"), str(OmegaConf.select(cfg, "dataset.root")))
        if key not in seen:
            seen.add(key)
            prepare(cfg)


def _never_swallowed(hook):
    """Hydra turns an exception in a callback into a warning and starts the run anyway: a check that crashes must
    stop everything instead (exit 1, one line; the traceback with ``HYDRA_FULL_ERROR=1``)."""
    import functools
    import os

    @functools.wraps(hook)
    def checked(self, *args: Any, **kwargs: Any) -> None:
        try:
            hook(self, *args, **kwargs)
        except Exception as error:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                import traceback

                traceback.print_exc()
            config = kwargs.get("config", args[0] if args else None)
            for key in ("hydra.run.dir", "hydra.sweep.dir"):
                folder = OmegaConf.select(config, key, default=None) if config is not None else None
                remove_if_created_and_empty(Path(str(folder)).absolute() if folder else None)
            report_error(
                [
                    f"the checks before the run failed ({type(error).__name__}: {' '.join(str(error).split())}): "
                    "nothing was started; this is a bug, please report it with the command (HYDRA_FULL_ERROR=1 "
                    "shows where)"
                ]
            )
            sys.exit(1)

    return checked


class CheckBeforeRunning(Callback):
    """Checks the configuration (every job's, for sweeps) before Hydra creates anything; exits 2 on problems.

    Then (unless ``check=true``, the dry run) the data is downloaded and the run folder locked, still before
    Hydra writes ``.hydra/`` into it.
    """

    @_never_swallowed
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _is_child_process():  # a DDP child of a checked run: its folder exists and holds this run
            return
        run_dir = None
        try:
            run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir"))).absolute()
            check_config(config, run_dir)  # the checks read neither the hydra node nor run_dir
        except (ConfigError, MissingMandatoryValue) as error:
            _fail(error_lines(error), run_dir)
        if config.get("check"):
            _dry_run(summary(config, run_dir), run_dir)
        try:
            _prepare([config])
            # released when the run ends (stages.run) or the process exits; finished work is looked at again
            claim_folder(run_dir, resuming=config.get("ckpt_path") == "last")
        except (ConfigError, DatasetNotFoundError) as error:
            _fail(error_lines(error), run_dir)

    @_never_swallowed
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _is_child_process():
            return
        jobs = sweep_jobs(config)
        lines, configs = [], []
        for number, (job, load) in enumerate(jobs):
            try:
                job_config = load()
                configs.append(job_config)
                check_config(job_config)
            except (ConfigError, MissingMandatoryValue) as error:
                lines += [f"job #{number} ({' '.join(job)}): {line}" for line in error_lines(error)]
            except Exception as error:
                lines.append(f"job #{number} ({' '.join(job)}): {' '.join(str(error).split())}")
        if lines:
            _fail(
                [
                    *lines,
                    f"no job was started: fix the {len({line.split(')')[0] for line in lines})} "
                    f"job(s) above (of {len(jobs)})",
                ]
            )
        if config.get("check"):
            _dry_run(
                [
                    f"job #{number} ({' '.join(job)}): {line.strip()}"
                    for number, ((job, _), job_config) in enumerate(zip(jobs, configs))
                    for line in summary(job_config, None)[1:]
                ]
                + [f"checked: no problem found in the {len(jobs)} job(s) of the sweep; none was started"]
            )
        try:
            _prepare(configs)
        except DatasetNotFoundError as error:
            _fail([*error_lines(error), "no job was started"])
        _, taken = claim_sweep_folders(config, configs)  # every job's folder, before Hydra writes .hydra/ into any
        if taken:
            _fail(
                [f"job #{number} ({' '.join(jobs[number][0])}): {line}" for number, line in taken]
                + [f"no job was started: fix the {len({number for number, _ in taken})} job(s) above (of {len(jobs)})"]
            )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from .sweep_summary import print_sweep_summary

        print_sweep_summary(config)  # jobs that ran in processes of their own (submitit): their tables here
        if _FAILED_JOBS:
            report_error(
                [
                    f"{len(_FAILED_JOBS)} job(s) of the sweep failed: "
                    + "; ".join(
                        f"#{number} ({' '.join(overrides)}): {line}" for number, overrides, line in _FAILED_JOBS
                    )
                ]
            )
            sys.exit(1)
