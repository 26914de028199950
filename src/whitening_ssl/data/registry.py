"""The dataset registry: one :class:`~whitening_ssl.data.entry.DatasetEntry` per dataset name (:data:`DATASETS`),
and what is read from an entry: its options checked (:func:`option_problems`, :func:`parse_options`), its spec
(:func:`dataset_spec`), its size against the batch (:func:`batch_problem`). Torch-free (the pre-run check
uses it). See ``docs/data.md``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whitening_ssl.data.entry import DatasetEntry, DatasetSpec
from whitening_ssl.data.entry import Missing as Missing
from whitening_ssl.data.entry import SplitDatasets as SplitDatasets
from whitening_ssl.data.options import COMMON_OPTIONS, DatasetOptions
from whitening_ssl.data.recipes import get_recipe

if TYPE_CHECKING:
    from torch.utils.data import Dataset

SPLITS = ("pretrain", "train", "test")
#: ``data.pipeline``: where the views are made (``auto``: resolved by the pretraining stage, which knows the trainer)
PIPELINES = ("cpu", "device", "auto")


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add ``entry`` to :data:`DATASETS` (a name is registered once); its options are checked here."""
    if entry.name in DATASETS:
        raise ValueError(f"dataset {entry.name!r} is registered twice")
    clash = sorted(set(entry.options) & set(COMMON_OPTIONS))
    if clash:
        raise ValueError(
            f"dataset {entry.name!r} declares {', '.join(clash)}: options of every dataset, declared "
            "once in COMMON_OPTIONS; remove them from its options"
        )
    for key, option in entry.options.items():
        problem = None if option.default is None else option.problem(key, option.default)
        if problem:
            raise ValueError(f"dataset {entry.name!r}: its default {problem}")
    DATASETS[entry.name] = entry
    return entry


def get_entry(name: str) -> DatasetEntry:
    """The entry of ``dataset.name``: a registered name, or ``module.attribute`` of your own (a
    :class:`DatasetEntry`, see :func:`whitening_ssl.plugins.lookup`); one ``ValueError`` line otherwise."""
    from whitening_ssl.plugins import LookupFailed, lookup

    try:
        return lookup(DATASETS, name, "dataset.name", expected=DatasetEntry)
    except LookupFailed as error:
        raise ValueError(str(error)) from None


def option_problems(entry: DatasetEntry, given: Mapping[str, Any]) -> list[str]:
    """One line per problem of ``given`` (``dataset.options``) for ``entry``: what :func:`parse_options` raises."""
    declared = entry.all_options
    found = []
    owned = {key for other in DATASETS.values() for key in other.options}
    unknown = sorted(key for key in given if key not in declared and key not in owned)
    if unknown:
        found.append(
            f"unknown dataset option(s) {', '.join(unknown)} for dataset={entry.name}: valid options are "
            f"{', '.join(declared)}"
        )
    for key, value in given.items():
        if value is None or key in unknown:
            continue
        if key not in declared:
            owners = "|".join(name for name, other in DATASETS.items() if key in other.options)
            found.append(f"dataset.options.{key} applies only to dataset={owners}: remove it for dataset={entry.name}")
        elif problem := declared[key].problem(key, value):
            found.append(problem)
    return found


def parse_options(entry: DatasetEntry, given: Mapping[str, Any] | None = None) -> DatasetOptions:
    """``given`` checked for ``entry`` (``ValueError``, one line per problem joined by "; ") with defaults filled in."""
    given = dict(given or {})
    problems = option_problems(entry, given)
    if problems:
        raise ValueError("; ".join(problems))
    values = {
        key: option.default if given.get(key) is None else given[key] for key, option in entry.all_options.items()
    }
    for key, option in entry.all_options.items():
        if option.kind == "path" and values[key] is not None:
            values[key] = os.fspath(values[key])
    return DatasetOptions(**values)


def splits_from(sources: Mapping[str, Any], load: Callable[[Path, DatasetOptions, Any, str], Dataset]) -> Callable:
    """A ``DatasetEntry.build`` that loads each source once: ``sources`` maps each split to a source key
    (splits with the same key share one dataset, e.g. pretrain and train), ``load(root, options, key,
    on_bad_image)`` loads one."""

    def build(root: Path, options: DatasetOptions, splits: Collection[str], on_bad_image: str) -> dict[str, Dataset]:
        loaded: dict[Any, Dataset] = {}
        for split in splits:
            if sources[split] not in loaded:
                loaded[sources[split]] = load(root, options, sources[split], on_bad_image)
        return {split: loaded[sources[split]] for split in splits}

    return build


def dataset_spec(entry: DatasetEntry, root: Path, options: DatasetOptions) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``entry`` under ``root`` (no image is read), with the ``mean`` / ``std`` and the
    ``eval_mean`` / ``eval_std`` of the recipe ``options.augmentation`` where it has its own (INTL's): the one
    place they apply, so the views of both pipelines normalise alike, and every evaluation transform of the run."""
    spec = entry.spec if isinstance(entry.spec, DatasetSpec) else entry.spec(root, options)
    recipe = get_recipe(options.augmentation_recipe(spec))
    if recipe.mean is not None and recipe.std is not None:  # (given together: the recipe's check)
        spec = dataclasses.replace(spec, mean=recipe.mean, std=recipe.std)
    if recipe.eval_mean is not None:
        spec = dataclasses.replace(spec, eval_mean=recipe.eval_mean, eval_std=recipe.eval_std)
    return spec


def pretrain_size(entry: DatasetEntry, root: Path, options: DatasetOptions) -> int | None:
    """Pretraining images after ``pretrain_subset`` (``None``: unknown without a scan)."""
    size = entry.pretrain_size(root, options) if callable(entry.pretrain_size) else entry.pretrain_size
    if size is not None and options.pretrain_subset is not None:
        size = min(size, options.pretrain_subset)
    return size


def batch_problem(batch_size: int, size: int | None, name: str, processes: int = 1) -> str | None:
    """The one rule of batch against dataset size: whitening needs full batches, so ``processes`` batches of
    ``batch_size`` must fit in the ``size`` pretraining images (``None``: unknown, nothing to say)."""
    if size is None or batch_size * processes <= size:
        return None
    per = f" x {processes} processes" if processes > 1 else ""
    return (
        f"data.batch_size={batch_size}{per} is larger than the {size} pretraining images of dataset={name}: "
        "no full batch can be formed; lower data.batch_size"
    )
