"""Checks of ``dataset.*`` and ``data.*`` before anything is loaded (see :mod:`whitening_ssl.validation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from whitening_ssl.data.datamodule import PIPELINES
from whitening_ssl.data.datasets import DATASETS, _missing_error, _pretrain_size, _resolved_spec
from whitening_ssl.data.device_pipeline import device_pipeline_error, device_pipeline_problem
from whitening_ssl.data.registry import BAD_IMAGE_POLICIES, VERIFY_MODES, DatasetEntry, DatasetOptions, DatasetSpec
from whitening_ssl.validation import Checks


def check_dataset(checks: Checks, dataset: Any, *, needs_labels: bool = True, check_machine: bool = True,
                  ) -> Optional[tuple[DatasetEntry, DatasetOptions, Path, DatasetSpec]]:
    """``dataset.*``: a registered name, a root, valid options, files present (cheap), >= 2 classes.

    Returns the entry, parsed options, root and spec when everything checked is fine (for further checks).
    """
    name = checks.choice(dataset, "name", "dataset.name", DATASETS)
    root = checks.get(dataset, "root", "dataset.root", missing=f"dataset={name} needs its location: add "
                      "dataset.root=/path/to/the/images" if name is not None else None)
    download = checks.boolean(dataset, "download", "dataset.download", default=False)
    options = checks.get(dataset, "options", "dataset.options", default={}) or {}
    if name is None or root is None:
        return None
    entry = DATASETS[name]
    option_problems = DatasetOptions.problems(entry, dict(options))
    checks.extend(option_problems)
    if option_problems or not check_machine or not checks.check_machine:
        return None
    parsed = DatasetOptions.parse(entry, dict(options))
    root = Path(str(root))
    will_download = download and entry.downloadable
    try:
        error = None if will_download else _missing_error(entry, root, parsed)
        if error is not None:
            checks.add(str(error))
            return None
        spec = _resolved_spec(entry, root, parsed)
    except FileNotFoundError as error:  # e.g. a dataset.options.class_list that is not there
        if not will_download:  # downloadable data not downloaded yet: nothing more to check now
            checks.add(str(error))
        return None
    except ValueError as error:
        checks.add(str(error))
        return None
    if needs_labels and spec.num_classes < 2:
        checks.add(f"dataset={name} has {spec.num_classes} class under {root}: the evaluation (k-NN, linear "
                   "probe) needs at least 2 classes; add class folders, or set eval.enabled=false to pretrain only")
    return entry, parsed, root, spec


def check_pretraining_data(checks: Checks, data: Any, located, world_size: Optional[int]) -> None:
    """``data.*`` of pretraining: batch size, views, workers, pipeline (``device``: it makes the CPU pipeline's
    views of this dataset and recipe); the batch fits in the dataset."""
    batch = checks.integer(data, "batch_size", "data.batch_size", minimum=2)
    checks.integer(data, "num_views", "data.num_views", minimum=2)
    checks.integer(data, "num_workers", "data.num_workers", minimum=0)
    checks.integer(data, "eval_batch_size", "data.eval_batch_size", minimum=1)
    pipeline = checks.choice(data, "pipeline", "data.pipeline", PIPELINES)
    checks.choice(data, "verify_images", "data.verify_images", VERIFY_MODES)
    checks.choice(data, "on_bad_image", "data.on_bad_image", BAD_IMAGE_POLICIES)
    if located is None:
        return
    entry, parsed, root, spec = located
    if pipeline == "device":  # (auto picks cpu where the device cannot make the CPU pipeline's views)
        problem = device_pipeline_problem(entry, parsed.augmentation_recipe(spec), spec.image_size)
        if problem:
            checks.add(device_pipeline_error(problem))
    if batch is None:
        return
    size = _pretrain_size(entry, root, parsed)
    processes = world_size or 1
    if size is not None and batch * processes > size:
        per = f" x {processes} processes" if processes > 1 else ""
        checks.add(f"data.batch_size={batch}{per} is larger than the {size} pretraining images of "
                   f"dataset={entry.name}: no full batch can be formed; lower data.batch_size")
