"""Run folders: a fresh one for every run, named by plain names, removed again when the run does not start.

- ``${unique_dir:PATH}`` gives every run a folder of its own: ``PATH`` if it does not exist, else
  ``PATH_2``, ``PATH_3``, ... The folder is created atomically when chosen, so two runs started in
  the same second never share it. Resolved once per run (cached), also across sweep jobs.
- ``${run_label:stage,method,dataset}`` is the folder's name: ``<method>_<dataset>`` for pretraining,
  the stage for evaluations, made a plain name (:func:`~whitening_ssl.checkpoints.safe_name`: a
  method name with a path in it never puts the folder elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

from ..checkpoints import safe_name

_CREATED_DIRS: dict = {}  # folder -> the folders its creation made, outermost first


def run_label(stage: str, method: str, dataset: str) -> str:
    """``<method>_<dataset>`` for pretraining; the stage's name for evaluation stages (their method
    and dataset come from the checkpoint, not from the command line). Always one plain folder name."""
    return safe_name(f"{method}_{dataset}" if stage == "pretrain" else stage)


def unique_dir(path: str) -> str:
    """``path``, or ``path_2``, ``path_3``, ... : the first that does not exist, created atomically."""
    candidate, k = path, 1
    while True:
        new = []  # the folders this call creates, deepest last (removed again if the checks fail)
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


def remove_if_created_and_empty(path: Optional[Path]) -> None:
    """Undo :func:`unique_dir`'s folders (innermost first) when the run does not start; never a non-empty one."""
    created = _CREATED_DIRS.get(str(path.absolute())) if path is not None else None
    for folder in reversed(created or []):
        try:
            os.rmdir(folder)
        except OSError:
            return
