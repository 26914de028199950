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
from whitening_ssl.data.image_datasets import (
    ArrayImageDataset,
    FileListDataset,
    ImagePathDataset,
    TransformedDataset,
    read_idx,
)
from whitening_ssl.data.imagenet import imagenet100_classes, read_class_list
from whitening_ssl.data.transforms import (
    AUGMENTATIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiViewTransform,
    ToRGB,
    eval_transform,
    imagenet_augmentation,
    linear_eval_transform,
    linear_train_transform,
    make_augmentation,
    ssl_augmentation,
    wmse_imagenet100_augmentation,
)

__all__ = [
    "AUGMENTATIONS",
    "DATASET_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ArrayImageDataset",
    "DatasetNotFoundError",
    "DatasetOptions",
    "DatasetSpec",
    "FileListDataset",
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
    "imagenet100_classes",
    "imagenet_augmentation",
    "linear_eval_transform",
    "linear_train_transform",
    "make_augmentation",
    "make_split_datasets",
    "read_class_list",
    "read_idx",
    "ssl_augmentation",
    "wmse_imagenet100_augmentation",
]
