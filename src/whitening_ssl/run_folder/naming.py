"""Run folders: a fresh one for every run, named by plain names, removed again when the run does not start.

- ``${unique_dir:PATH}`` gives every run a folder of its own: ``PATH`` if it does not exist, else
  ``PATH_2``, ``PATH_3``, ... The folder is created atomically when chosen, so two runs started in
  the same second never share it. Resolved once per run (cached), also across sweep jobs.
- ``${run_label:stage,method,dataset}`` is the folder's name: ``<method>_<dataset>`` for pretraining,
  the stage for evaluations, made a plain name (:func:`~whitening_ssl.run_folder.safe_name`: a
  method name with a path in it never puts the folder elsewhere).
- :func:`claim_folder` and :func:`claim_sweep_folders` take a run's (every sweep job's) folder before Hydra
  writes ``.hydra/`` into it: a folder that holds finished work or a live run is refused in one line, and
  nothing is written into it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from ..validation import ConfigError
from . import finished_run, name_too_long, safe_name
from .lock import RunLock, busy

_CREATED_DIRS: dict = {}  # folder -> the folders its creation made, outermost first


def run_label(stage: str, method: str, dataset: str) -> str:
    """``<method>_<dataset>`` for pretraining; the stage's name for evaluation stages (their method
    and dataset come from the checkpoint, not from the command line). Always one plain folder name."""
    return safe_name(f"{method}_{dataset}" if stage == "pretrain" else stage)


def unique_dir(path: str) -> str:
    """``path``, or ``path_2``, ``path_3``, ... : the first that does not exist, created atomically."""
    candidate, k = path, 1
    while True:
        new: list[str] = []  # the folders this call creates, deepest last (removed again if the checks fail)
        parent = os.path.abspath(candidate)
        while not os.path.exists(parent):
            new.insert(0, parent)
            parent = os.path.dirname(parent)
        try:
            os.makedirs(candidate, exist_ok=False)
        except FileExistsError:
            k += 1
            candidate = f"{path}_{k}"
            continue
        except OSError:  # not writable etc.: the checks report it
            return candidate
        _CREATED_DIRS[os.path.abspath(candidate)] = new
        return candidate


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("run_label", run_label, replace=True)
    # use_cache: resolved once per configuration; Hydra copies the cache into every sweep job
    OmegaConf.register_new_resolver("unique_dir", unique_dir, replace=True, use_cache=True)


register_resolvers()


def remove_if_created_and_empty(path: Path | None) -> None:
    """Undo :func:`unique_dir`'s folders (innermost first) when the run does not start; never a non-empty one."""
    created = _CREATED_DIRS.get(str(path.absolute())) if path is not None else None
    for folder in reversed(created or []):
        try:
            os.rmdir(folder)
        except OSError:
            return


def claim_folder(run_dir: Path, resuming: bool = False, dir_key: str = "hydra.run.dir") -> RunLock:
    """Lock ``run_dir`` for this process; :class:`ConfigError` when a live run holds it or it holds finished work
    (unless ``resuming``). Looked at before the lock is written and again once it is held, so a run that finished in
    between is never taken over; a refused folder is left as it was."""
    problem = name_too_long(run_dir, dir_key) or busy(run_dir) or (None if resuming else finished_run(run_dir, dir_key))
    if problem:  # nothing is written into a live run's folder or finished work
        raise ConfigError(problem)
    existed = run_dir.exists()
    lock = RunLock(run_dir).acquire()
    problem = None if resuming else finished_run(run_dir, dir_key)
    if problem:
        lock.release()
        if not existed:
            remove_empty(run_dir)
        raise ConfigError(problem)
    return lock


def remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def job_folder(sweep_dir: str, job_config, number: int) -> Path:
    """The folder Hydra's basic launcher gives job ``number`` of a sweep: ``hydra.sweep.dir/hydra.sweep.subdir``."""
    from omegaconf import open_dict

    with open_dict(job_config):
        job_config.hydra.job.num = number
        job_config.hydra.job.id = number
    return Path(sweep_dir, str(OmegaConf.select(job_config, "hydra.sweep.subdir"))).absolute()


def claim_sweep_folders(config, job_configs: Sequence) -> tuple[list[RunLock], list[tuple[int, str]]]:
    """Lock every job's folder of a ``-m`` sweep before the first job starts (Hydra writes ``.hydra/`` into
    each before the job runs): ``(the locks, [])``, or ``([], [(job number, problem)])`` with every lock given
    back and every folder this made removed. Each job's run releases its folder's lock when it ends. Under a
    launcher that runs the jobs elsewhere (SLURM) the folders are only looked at: each job locks its own."""
    sweep_dir = str(OmegaConf.select(config, "hydra.sweep.dir"))  # the sweep's own: resolved (and cached) once
    here = str(OmegaConf.select(config, "hydra.launcher._target_", default="")).endswith(".BasicLauncher")
    locks, problems = [], []
    for number, job_config in enumerate(job_configs):
        folder = job_folder(sweep_dir, job_config, number)
        resuming = OmegaConf.select(job_config, "ckpt_path") == "last"
        try:
            if here:
                locks.append(claim_folder(folder, resuming, dir_key="hydra.sweep.dir"))
            else:
                problem = (
                    name_too_long(folder, "hydra.sweep.dir")
                    or busy(folder)
                    or (None if resuming else finished_run(folder, "hydra.sweep.dir"))
                )
                if problem:
                    raise ConfigError(problem)
        except ConfigError as error:
            problems += [(number, line) for line in error.problems]
    if problems:
        for lock in locks:
            lock.release()
            remove_empty(lock.run_dir)
        remove_if_created_and_empty(Path(sweep_dir))
        return [], problems
    return locks, []
