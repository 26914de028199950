"""Data pipeline: the dataset registry, augmentations and the Lightning DataModules (``docs/data.md``).

Importing this package registers every built-in dataset; :data:`DATASETS` maps each name to its
:class:`DatasetEntry`. A dataset of your own is one ``register_dataset(DatasetEntry(...))`` in a file
of your own, with its options declared as :class:`Option` s. Everything other packages use is here.
"""

# the registry first, then the modules that fill it (registration order = listing order)
from whitening_ssl.data.options import COMMON_OPTIONS, DatasetOptions, Option  # noqa: I001
from whitening_ssl.data.registry import (
    DATASETS,
    DatasetEntry,
    DatasetSpec,
    Missing,
    SplitDatasets,
    batch_problem,
    dataset_spec,
    get_entry,
    option_problems,
    parse_options,
    pretrain_size,
    register_dataset,
    splits_from,
)
from whitening_ssl.data.sources import torchvision_sets, folders, imagenet, synthetic  # noqa: F401
from whitening_ssl.data.dataset_checks import Located, check_dataset, check_pretraining_data
from whitening_ssl.data.datamodule import EvalDataModule, SSLDataModule
from whitening_ssl.data.datasets import (
    build_datasets,
    check_dataset_available,
    get_spec,
    make_split_datasets,
    missing_error,
    parse,
)
from whitening_ssl.data.device.augment import AugmentationParams, DeviceAugmentation
from whitening_ssl.data.device.ops import resampling_matrix
from whitening_ssl.data.device.filters import pil_box_kernels, pil_gaussian_blur, solarize
from whitening_ssl.data.device.params import size_groups
from whitening_ssl.data.device.pipeline import (
    auto_pipeline,
    channels_first,
    cpu_crop_transform,
    cpu_crop_views,
    image_tensor,
)
from whitening_ssl.data.sources.download import download_dataset
from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.sources.images import ArrayImageDataset, FileListDataset, ImagePathDataset, TransformedDataset
from whitening_ssl.data.sources.imagenet import imagenet100_classes, read_class_list
from whitening_ssl.data.recipes import (
    BLUR_FILTERS,
    RECIPES,
    AugmentationRecipe,
    View,
    ViewGroup,
    get_recipe,
    register_recipe,
)
from whitening_ssl.data.sources.torchvision_sets import SYSTEM_DATA_DIRS, read_idx
from whitening_ssl.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiViewTransform,
    PILGaussianBlur,
    ToRGB,
    eval_transform,
    linear_eval_transform,
    linear_train_transform,
    make_augmentation,
    view_transforms,
)
from whitening_ssl.data.sources.verify import (
    MAX_CONSECUTIVE_BAD_IMAGES,
    BadImage,
    BadImageError,
    BadImageWarning,
    describe_bad_images,
    find_bad_images,
)

__all__ = [
    # a dataset: its entry, its options, the registry
    "COMMON_OPTIONS",
    "DATASETS",
    "DatasetEntry",
    "DatasetOptions",
    "DatasetSpec",
    "Missing",
    "Option",
    "SplitDatasets",
    "get_entry",
    "register_dataset",
    "splits_from",
    # using one: options, files, splits, checks before a run, download
    "DatasetNotFoundError",
    "Located",
    "batch_problem",
    "build_datasets",
    "check_dataset",
    "check_dataset_available",
    "check_pretraining_data",
    "dataset_spec",
    "download_dataset",
    "get_spec",
    "make_split_datasets",
    "missing_error",
    "option_problems",
    "parse",
    "parse_options",
    "pretrain_size",
    "SYSTEM_DATA_DIRS",
    # dataset classes and readers
    "ArrayImageDataset",
    "FileListDataset",
    "ImagePathDataset",
    "TransformedDataset",
    "imagenet100_classes",
    "read_class_list",
    "read_idx",
    # the DataModules
    "EvalDataModule",
    "SSLDataModule",
    # transforms and augmentation recipes (CPU pipeline)
    "BLUR_FILTERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RECIPES",
    "AugmentationRecipe",
    "MultiViewTransform",
    "PILGaussianBlur",
    "ToRGB",
    "View",
    "ViewGroup",
    "eval_transform",
    "get_recipe",
    "linear_eval_transform",
    "linear_train_transform",
    "make_augmentation",
    "register_recipe",
    "view_transforms",
    # the device pipeline
    "AugmentationParams",
    "DeviceAugmentation",
    "auto_pipeline",
    "channels_first",
    "cpu_crop_transform",
    "cpu_crop_views",
    "image_tensor",
    "pil_box_kernels",
    "pil_gaussian_blur",
    "resampling_matrix",
    "size_groups",
    "solarize",
    # bad image files
    "MAX_CONSECUTIVE_BAD_IMAGES",
    "BadImage",
    "BadImageError",
    "BadImageWarning",
    "describe_bad_images",
    "find_bad_images",
]
