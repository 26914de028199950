"""The ``synthetic`` dataset: random class-dependent images generated in memory (tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import torch
from torch.utils.data import Dataset

from whitening_ssl.data.image_datasets import make_synthetic_dataset, make_synthetic_patterns
from whitening_ssl.data.registry import DatasetEntry, DatasetOptions, DatasetSpec, register_dataset

SYNTHETIC_TEST_SEED_OFFSET = 1_000_003


def _spec(root: Path, options: DatasetOptions) -> DatasetSpec:
    return DatasetSpec("synthetic", options.num_classes or 10, options.image_size or 32, (0.5,) * 3, (0.25,) * 3,
                       stem="cifar")


def _build(root: Path, options: DatasetOptions,
           splits: Collection[str], on_bad_image: str = "skip") -> dict[str, Dataset]:
    spec = _spec(root, options)
    generator = torch.Generator().manual_seed(options.seed)
    patterns = make_synthetic_patterns(spec.num_classes, spec.image_size, generator)
    train = make_synthetic_dataset(patterns, options.num_samples, generator)
    test_generator = torch.Generator().manual_seed(options.seed + SYNTHETIC_TEST_SEED_OFFSET)
    built = {"pretrain": train, "train": train, "test": make_synthetic_dataset(patterns, options.num_test, test_generator)}
    return {name: built[name] for name in splits}


register_dataset(DatasetEntry(
    name="synthetic", display_name="Synthetic images", hint="nothing to get: the images are generated in memory",
    spec=_spec, locate=lambda root, options: None, build=_build,
    pretrain_size=lambda root, options: options.num_samples,
    options=frozenset({"image_size", "num_samples", "num_test", "num_classes"}), in_memory=True))
