"""Reading the ``results.json`` of runs, and telling which results are of the same model.

A model is one pretrained encoder. Its results are the pretraining run's own (the online evaluation,
the untrained baseline, the history) and those of the ``stage=linear`` / ``stage=knn`` runs that
evaluated its checkpoint: an evaluation belongs to a pretraining run in the report when the run
folder of its ``checkpoint`` (``<run>/checkpoints/*.ckpt``) or of its ``pretrain_config.run_dir`` is
that run's folder, it names the same method and dataset (an evaluation on another dataset is a
result of its own), and its ``pretrain_epochs`` (when known) are the run's epochs. Evaluations of a
checkpoint whose pretraining run is not in the report are one model per checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..run_folder import CHECKPOINT_DIR, RESULTS_FILE

STAGES = ("pretrain", "linear", "knn")  # the stages whose results.json has figures
SKIPPED_STAGES = ("export",)  # results.json without figures, by design
# (metric, the evaluation stage whose figure takes precedence over the online one)
METRICS = (("linear_top1", "linear"), ("knn_top1", "knn"))


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _find(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else every results.json below it (sorted, no symlinked dirs)."""
    if path.is_file():
        return [path]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        if RESULTS_FILE in files:
            found.append(Path(root) / RESULTS_FILE)
    return found


def _validate(data: Any) -> dict[str, float]:
    """The fields the table uses, checked; raises ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("stage", "pretrain") not in STAGES:
        raise ValueError(f"unknown stage {data.get('stage')!r}")
    for key in ("method", "dataset"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"no {key!r}")
    final = data.get("final")
    if not isinstance(final, dict):
        raise ValueError("no 'final' figures (unfinished run?)")
    metrics = {}
    for key, _ in METRICS:
        value = final.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"final.{key} is not a number: {value!r}")
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"final.{key}={value!r} is not a percentage in [0, 100]")
        metrics[key] = float(value)
    if not metrics:
        raise ValueError("no linear_top1 or knn_top1 in 'final'")
    return metrics


def collect_results(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read every ``results.json`` under ``path`` (or the file ``path`` itself).

    A file that cannot be read, is not JSON, or lacks method, dataset or final figures is skipped
    with a warning on stderr naming it. Each returned dict is the file's content plus ``_path``.
    """
    results = []
    for file in _find(Path(path)):
        try:
            data = json.loads(file.read_text())
            if isinstance(data, dict) and data.get("stage") in SKIPPED_STAGES:
                continue
            _validate(data)
        except (OSError, UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
            warn(f"skipping {file}: {error}")
            continue
        data["_path"] = str(file)
        results.append(data)
    return results


def stage_of(result: dict[str, Any]) -> str:
    return result.get("stage", "pretrain")


def _dict_at(result: dict[str, Any], key: str) -> dict[str, Any]:
    """``result[key]`` where it is a dict, else ``{}``."""
    value = result.get(key)
    return value if isinstance(value, dict) else {}


def _folder(path: Any) -> str | None:
    return os.path.realpath(str(path)) if isinstance(path, (str, os.PathLike)) and str(path) else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _pretraining_folders(result: dict[str, Any]) -> set[str]:
    """The folder of a pretraining run, as each of its records names it."""
    config = _dict_at(result, "config")
    path = str(result.get("_path", ""))
    own = os.path.dirname(path) if path.endswith(RESULTS_FILE) else path
    folders = {result.get("run_dir"), config.get("run_dir"), own}
    return {folder for folder in map(_folder, folders) if folder}


def _evaluated_folders(result: dict[str, Any]) -> set[str]:
    """The folder of the pretraining run whose checkpoint an evaluation read (as far as it says)."""
    config = _dict_at(result, "config")
    pretrain = _dict_at(result, "pretrain_config")
    folders = {pretrain.get("run_dir")}
    for checkpoint in (result.get("checkpoint"), config.get("ckpt")):
        if isinstance(checkpoint, str) and Path(checkpoint).parent.name == CHECKPOINT_DIR:
            folders.add(str(Path(checkpoint).parent.parent))
    return {folder for folder in map(_folder, folders) if folder}


def _evaluation_identity(result: dict[str, Any]) -> str:
    """What tells two evaluations of one unseen checkpoint alike: its run folder, else the checkpoint, else the file."""
    config = _dict_at(result, "config")
    folders = sorted(_evaluated_folders(result))
    checkpoint = _folder(result.get("checkpoint") or config.get("ckpt"))
    where = folders[0] if folders else checkpoint or result.get("_path")
    return f"{where}@{_int(result.get('pretrain_epochs'))}:{result['method']}:{result['dataset']}"


@dataclass
class Model:
    """One pretrained encoder: its pretraining result when it is in the report, and its evaluations."""

    pretrain: dict[str, Any] | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def results(self) -> list[dict[str, Any]]:
        return ([self.pretrain] if self.pretrain else []) + self.evaluations

    @property
    def first(self) -> dict[str, Any]:
        return self.results[0]

    @property
    def epochs(self) -> int | None:
        """Pretraining epochs: the run's ``epochs``, else an evaluation's ``pretrain_epochs``."""
        if self.pretrain is not None:
            return _int(self.pretrain.get("epochs"))
        return next((e for e in (_int(r.get("pretrain_epochs")) for r in self.evaluations) if e is not None), None)

    @property
    def pretrain_settings_source(self) -> dict[str, Any]:
        """The result whose settings are the model's pretraining settings (one with ``pretrain_config`` if any)."""
        known = (r for r in self.results if stage_of(r) == "pretrain" or isinstance(r.get("pretrain_config"), dict))
        return next(known, self.first)


def models(results: Iterable[dict[str, Any]]) -> list[Model]:
    """The results grouped by model (see the module's docstring), in the order of their first result."""
    results = list(results)
    found: list[Model] = []
    by_folder: dict[str, list[Model]] = {}
    for result in results:
        if stage_of(result) == "pretrain":
            found.append(Model(pretrain=result))
            for folder in _pretraining_folders(result):
                by_folder.setdefault(folder, []).append(found[-1])
    unseen: dict[str, Model] = {}
    for result in (r for r in results if stage_of(r) != "pretrain"):
        epochs = _int(result.get("pretrain_epochs"))
        owners = [
            m
            for folder in sorted(_evaluated_folders(result))
            for m in by_folder.get(folder, [])
            if m.pretrain is not None
            and (m.pretrain["method"], m.pretrain["dataset"]) == (result["method"], result["dataset"])
            and (epochs is None or m.epochs is None or m.epochs == epochs)
        ]
        if owners:
            owners[0].evaluations.append(result)
            continue
        identity = _evaluation_identity(result)
        if identity not in unseen:
            unseen[identity] = Model()
            found.append(unseen[identity])
        unseen[identity].evaluations.append(result)
    return found
