"""Data pipeline: dataset registry, augmentations and the Lightning DataModule."""

from whitening_ssl.data.datamodule import SSLDataModule
from whitening_ssl.data.datasets import (
    DATASET_NAMES,
    DatasetOptions,
    DatasetSpec,
    SplitDatasets,
    build_datasets,
    check_dataset_available,
    get_spec,
    make_split_datasets,
)
from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.image_datasets import ArrayImageDataset, ImagePathDataset, TransformedDataset, read_idx
from whitening_ssl.data.transforms import MultiViewTransform, ToRGB, eval_transform, ssl_augmentation

__all__ = [
    "DATASET_NAMES",
    "ArrayImageDataset",
    "DatasetNotFoundError",
    "DatasetOptions",
    "DatasetSpec",
    "ImagePathDataset",
    "MultiViewTransform",
    "SSLDataModule",
    "SplitDatasets",
    "ToRGB",
    "TransformedDataset",
    "build_datasets",
    "check_dataset_available",
    "eval_transform",
    "get_spec",
    "make_split_datasets",
    "read_idx",
    "ssl_augmentation",
]
