"""Checks of ``dataset.*`` and ``data.*`` before anything is loaded (see :mod:`whitening_ssl.validation`).

They collect the errors the data layer itself raises (:func:`~whitening_ssl.data.registry.option_problems`,
the entry's ``locate`` and ``spec``, :func:`~whitening_ssl.data.registry.batch_problem`,
:func:`~whitening_ssl.data.device.support.device_pipeline_problem`), one line each, instead of restating them.
Torch-free, like everything it imports: ``python run.py check=true`` never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from whitening_ssl.data.device.support import device_pipeline_error, device_pipeline_problem
from whitening_ssl.data.lookup import missing_error
from whitening_ssl.data.options import DatasetOptions
from whitening_ssl.data.recipes import get_recipe
from whitening_ssl.data.registry import (
    PIPELINES,
    DatasetEntry,
    DatasetSpec,
    batch_problem,
    dataset_spec,
    get_entry,
    option_problems,
    parse_options,
    pretrain_size,
)
from whitening_ssl.data.sources.image_policies import BAD_IMAGE_POLICIES, VERIFY_MODES
from whitening_ssl.validation import Checks


class Located(NamedTuple):
    """A dataset whose ``dataset.*`` passed :func:`check_dataset`."""

    entry: DatasetEntry
    options: DatasetOptions
    root: Path
    spec: DatasetSpec


def check_dataset(checks: Checks, dataset: Any, *, needs_labels: bool = True) -> Located | None:
    """``dataset.*``: a registered name, a root, valid options, files present (cheap), >= 2 classes.

    Returns the dataset when everything checked is fine (for further checks); the files only when
    ``checks.check_machine``.
    """
    name = checks.get(dataset, "name", "dataset.name")
    root = checks.get(
        dataset,
        "root",
        "dataset.root",
        missing=f"dataset={name} needs its location: add dataset.root=/path/to/the/images"
        if name is not None
        else None,
    )
    download = checks.boolean(dataset, "download", "dataset.download", default=False)
    options = dict(checks.get(dataset, "options", "dataset.options", default={}) or {})
    try:
        entry = get_entry(name) if name is not None else None
    except ValueError as error:
        checks.add(str(error))
        return None
    if entry is None or root is None:
        return None
    problems = option_problems(entry, options)
    checks.extend(problems)
    if problems or not checks.check_machine:
        return None
    parsed, root = parse_options(entry, options), Path(str(root))
    will_download = download and entry.downloadable
    try:
        missing = None if will_download else missing_error(entry, root, parsed)
        if missing is not None:
            checks.add(str(missing))
            return None
        spec = dataset_spec(entry, root, parsed)
    except FileNotFoundError as error:  # e.g. a dataset.options.class_list that is not there
        if not will_download:  # downloadable data not downloaded yet: nothing more to check now
            checks.add(str(error))
        return None
    except ValueError as error:
        checks.add(str(error))
        return None
    if needs_labels and spec.num_classes < 2:
        checks.add(
            f"dataset={name} has {spec.num_classes} class under {root}: the evaluation (k-NN, linear "
            "probe) needs at least 2 classes; add class folders, or set eval.enabled=false to pretrain only"
        )
    return Located(entry, parsed, root, spec)


def check_pretraining_data(checks: Checks, data: Any, located: Located | None, world_size: int | None) -> None:
    """``data.*`` of pretraining: batch size, views (as many as a recipe with its own views makes), workers,
    pipeline (``device``: it makes the CPU pipeline's views of this dataset and recipe); the batch fits in the
    dataset."""
    batch = checks.integer(data, "batch_size", "data.batch_size", minimum=2)
    num_views = checks.integer(data, "num_views", "data.num_views", minimum=2)
    checks.integer(data, "num_workers", "data.num_workers", minimum=0)
    checks.integer(data, "eval_batch_size", "data.eval_batch_size", minimum=1)
    pipeline = checks.choice(data, "pipeline", "data.pipeline", PIPELINES)
    checks.choice(data, "verify_images", "data.verify_images", VERIFY_MODES)
    checks.choice(data, "on_bad_image", "data.on_bad_image", BAD_IMAGE_POLICIES)
    if located is None:
        return
    entry, options, root, spec = located
    recipe = get_recipe(options.augmentation_recipe(spec))
    problem = recipe.views_problem(num_views) if num_views is not None else None  # its own views fix their number
    if problem:
        checks.add(problem)
    if pipeline == "device":  # (auto picks cpu where the device cannot make the CPU pipeline's views)
        problem = device_pipeline_problem(entry, recipe, spec.image_size)
        if problem:
            checks.add(device_pipeline_error(problem))
    if batch is not None:
        problem = batch_problem(batch, pretrain_size(entry, root, options), entry.name, world_size or 1)
        if problem:
            checks.add(problem)
