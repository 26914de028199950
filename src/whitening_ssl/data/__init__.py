"""Data pipeline: the dataset registry, augmentations and the Lightning DataModule.

Importing this package registers every dataset (``torchvision_sources``, ``folder_sources``,
``imagenet``, ``synthetic``); :data:`DATASETS` maps each name to its registry entry.
"""

from whitening_ssl.data.registry import (  # noqa: I001 (the registry first, then the modules that fill it)
    DATASETS,
    DatasetEntry,
    DatasetOptions,
    DatasetSpec,
    SplitDatasets,
    get_entry,
    register_dataset,
)
from whitening_ssl.data import torchvision_sources  # noqa: F401,I001 (registration order = listing order)
from whitening_ssl.data import folder_sources, imagenet, synthetic  # noqa: F401
from whitening_ssl.data.datamodule import EvalDataModule, SSLDataModule
from whitening_ssl.data.datasets import (
    DATASET_NAMES,
    build_datasets,
    check_dataset_available,
    get_spec,
    make_split_datasets,
    pretrain_size,
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
    "DATASETS",
    "DATASET_NAMES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ArrayImageDataset",
    "DatasetEntry",
    "DatasetNotFoundError",
    "DatasetOptions",
    "DatasetSpec",
    "EvalDataModule",
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
    "get_entry",
    "get_spec",
    "imagenet100_classes",
    "imagenet_augmentation",
    "linear_eval_transform",
    "linear_train_transform",
    "make_augmentation",
    "make_split_datasets",
    "pretrain_size",
    "read_class_list",
    "read_idx",
    "register_dataset",
    "ssl_augmentation",
    "wmse_imagenet100_augmentation",
]
