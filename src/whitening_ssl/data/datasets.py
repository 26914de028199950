"""The splits of a dataset, with or without transforms (finding one without loading it:
:mod:`~whitening_ssl.data.lookup`).

:func:`build_datasets` returns the untransformed splits (items ``(PIL image, int label)``);
:func:`make_split_datasets` adds the multi-view augmentation (``pretrain``) and the evaluation
transform (``train``, ``test``). Both build only the splits asked for: the evaluation stages ask
for ``("train", "test")`` and never load STL-10's 100k unlabeled images.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sized
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import Dataset, Subset

from whitening_ssl.data.lookup import missing_error, parse
from whitening_ssl.data.options import DatasetOptions
from whitening_ssl.data.recipes import get_recipe
from whitening_ssl.data.registry import SPLITS, DatasetEntry, DatasetSpec, SplitDatasets, dataset_spec
from whitening_ssl.data.sources.download import download_dataset
from whitening_ssl.data.sources.images import ArrayImageDataset, TransformedDataset
from whitening_ssl.data.transforms import eval_transform, view_transforms


def _subset(dataset: Dataset, size: int | None, seed: int) -> Dataset:
    """Keep ``size`` items: the first ``size`` indices of a seeded permutation (sorted back into order)."""
    if size is None or size >= len(cast(Sized, dataset)):
        return dataset
    generator = torch.Generator().manual_seed(seed)
    indices = sorted(torch.randperm(len(cast(Sized, dataset)), generator=generator)[:size].tolist())
    if isinstance(dataset, ArrayImageDataset):
        return dataset.select(indices)
    return Subset(dataset, indices)


def build_datasets(
    name: str,
    root: str | os.PathLike = "./data",
    download: bool = False,
    splits: Collection[str] = SPLITS,
    on_bad_image: str = "skip",
    **options: Any,
) -> SplitDatasets:
    """The untransformed ``splits`` of ``name`` (others are ``None``), subsets applied.

    ``on_bad_image`` (``skip`` | ``stop``): what an undecodable image file does. With ``download``, a
    dataset that can be downloaded is fetched first when its files are missing. Raises
    :class:`DatasetNotFoundError` when the files are missing, ``ValueError`` for an unknown name or option.
    """
    entry, parsed = parse(name, options)
    return build_parsed(entry, parsed, Path(root), download, splits, on_bad_image)


def build_parsed(
    entry: DatasetEntry,
    options: DatasetOptions,
    root: Path,
    download: bool = False,
    splits: Collection[str] = SPLITS,
    on_bad_image: str = "skip",
) -> SplitDatasets:
    """:func:`build_datasets` with the options already parsed (the DataModules parse once per run)."""
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}: use {', '.join(SPLITS)}")
    if download:
        download_dataset(entry, root, options)
    error = missing_error(entry, root, options)
    if error is not None:
        raise error
    spec = dataset_spec(entry, root, options)
    built = entry.build(root, options, tuple(splits), on_bad_image)
    sizes = {"pretrain": options.pretrain_subset, "train": options.train_subset, "test": options.test_subset}
    subsets = {split: _subset(built[split], sizes[split], options.seed) for split in splits}
    return SplitDatasets(subsets.get("pretrain"), subsets.get("train"), subsets.get("test"), spec)


def make_split_datasets(
    name: str,
    root: str | os.PathLike = "./data",
    download: bool = False,
    num_views: int = 2,
    splits: Collection[str] = SPLITS,
    on_bad_image: str = "skip",
    **options: Any,
) -> SplitDatasets:
    """:func:`build_datasets` with the transforms: ``pretrain`` items ``(list of num_views augmented tensors,
    label)``, ``train`` / ``test`` items ``(eval-transformed tensor, label)``."""
    entry, parsed = parse(name, options)
    return transform_splits(build_parsed(entry, parsed, Path(root), download, splits, on_bad_image), parsed, num_views)


def with_views(base: Dataset, spec: DatasetSpec, options: DatasetOptions, num_views: int) -> TransformedDataset:
    """``base`` with the pretraining augmentation (the ``augmentation`` option's recipe, default the
    dataset's own): items ``(list of num_views augmented tensors, label)``, in the recipe's view order (a
    recipe with its own views: its first ``num_views``)."""
    recipe = options.augmentation_recipe(spec)
    return TransformedDataset(base, view_transforms(recipe, spec.image_size, spec.mean, spec.std, num_views))


def transform_splits(bases: SplitDatasets, options: DatasetOptions, num_views: int = 2) -> SplitDatasets:
    """The multi-view augmentation on ``pretrain`` (all of a recipe's views: ``num_views`` must be the number it
    fixes, if it fixes one), the evaluation transform on ``train`` and ``test``."""
    spec = bases.spec
    problem = (
        get_recipe(options.augmentation_recipe(spec)).views_problem(num_views) if bases.pretrain is not None else None
    )
    if problem:
        raise ValueError(problem)
    evaluation = eval_transform(
        *spec.eval_normalisation, spec.eval_resize, spec.eval_center_crop, interpolation=spec.eval_interpolation
    )
    return SplitDatasets(
        pretrain=with_views(bases.pretrain, spec, options, num_views) if bases.pretrain is not None else None,
        train=TransformedDataset(bases.train, evaluation) if bases.train is not None else None,
        test=TransformedDataset(bases.test, evaluation) if bases.test is not None else None,
        spec=spec,
    )
