"""Data pipeline: the dataset registry, augmentations and the Lightning DataModules (``docs/data.md``).

Importing this package registers every built-in dataset; :data:`DATASETS` maps each name to its
:class:`DatasetEntry`. A dataset of your own is one ``register_dataset(DatasetEntry(...))`` in a file
of your own, with its options declared as :class:`Option` s. Everything other packages use is here.

The names are imported when first used (:mod:`whitening_ssl.lazy`): the registry, the built-in entries
and the checks before a run import no torch, torchvision, Lightning or PIL (an entry's functions import
them when they read images); the DataModules, transforms and the device pipeline import them at first use.
"""

from typing import TYPE_CHECKING

from whitening_ssl.lazy import lazy_namespace

# the built-in datasets, registered on import (registration order = listing order); torch-free
# isort: off
from .sources import torchvision_sets, fashion_mnist, folders, imagenet, synthetic  # noqa: F401
# isort: on

if TYPE_CHECKING:
    from .datamodule import EvalDataModule as EvalDataModule
    from .datamodule import SSLDataModule as SSLDataModule
    from .dataset_checks import Located as Located
    from .dataset_checks import check_dataset as check_dataset
    from .dataset_checks import check_pretraining_data as check_pretraining_data
    from .datasets import build_datasets as build_datasets
    from .datasets import make_split_datasets as make_split_datasets
    from .device.augment import AugmentationParams as AugmentationParams
    from .device.augment import DeviceAugmentation as DeviceAugmentation
    from .device.filters import pil_box_kernels as pil_box_kernels
    from .device.filters import pil_gaussian_blur as pil_gaussian_blur
    from .device.filters import solarize as solarize
    from .device.ops import resampling_matrix as resampling_matrix
    from .device.params import size_groups as size_groups
    from .device.pipeline import auto_pipeline as auto_pipeline
    from .device.pipeline import channels_first as channels_first
    from .device.pipeline import cpu_crop_transform as cpu_crop_transform
    from .device.pipeline import cpu_crop_views as cpu_crop_views
    from .device.pipeline import image_tensor as image_tensor
    from .entry import DatasetEntry as DatasetEntry
    from .entry import DatasetSpec as DatasetSpec
    from .entry import Missing as Missing
    from .entry import SplitDatasets as SplitDatasets
    from .errors import BadImageError as BadImageError
    from .errors import BadImageWarning as BadImageWarning
    from .errors import DatasetNotFoundError as DatasetNotFoundError
    from .lookup import check_dataset_available as check_dataset_available
    from .lookup import get_spec as get_spec
    from .lookup import missing_error as missing_error
    from .lookup import parse as parse
    from .options import COMMON_OPTIONS as COMMON_OPTIONS
    from .options import DatasetOptions as DatasetOptions
    from .options import Option as Option
    from .recipe import BLUR_FILTERS as BLUR_FILTERS
    from .recipe import AugmentationRecipe as AugmentationRecipe
    from .recipe import View as View
    from .recipe import ViewGroup as ViewGroup
    from .recipes import IMAGENET_MEAN as IMAGENET_MEAN
    from .recipes import IMAGENET_STD as IMAGENET_STD
    from .recipes import RECIPES as RECIPES
    from .recipes import get_recipe as get_recipe
    from .recipes import register_recipe as register_recipe
    from .registry import DATASETS as DATASETS
    from .registry import batch_problem as batch_problem
    from .registry import dataset_spec as dataset_spec
    from .registry import get_entry as get_entry
    from .registry import option_problems as option_problems
    from .registry import parse_options as parse_options
    from .registry import pretrain_size as pretrain_size
    from .registry import register_dataset as register_dataset
    from .registry import splits_from as splits_from
    from .sources.download import download_dataset as download_dataset
    from .sources.fashion_mnist import SYSTEM_DATA_DIRS as SYSTEM_DATA_DIRS
    from .sources.fashion_mnist import read_idx as read_idx
    from .sources.imagenet import imagenet100_classes as imagenet100_classes
    from .sources.imagenet import read_class_list as read_class_list
    from .sources.images import ArrayImageDataset as ArrayImageDataset
    from .sources.images import FileListDataset as FileListDataset
    from .sources.images import ImagePathDataset as ImagePathDataset
    from .sources.images import TransformedDataset as TransformedDataset
    from .sources.verify import MAX_CONSECUTIVE_BAD_IMAGES as MAX_CONSECUTIVE_BAD_IMAGES
    from .sources.verify import BadImage as BadImage
    from .sources.verify import describe_bad_images as describe_bad_images
    from .sources.verify import find_bad_images as find_bad_images
    from .transforms import MultiViewTransform as MultiViewTransform
    from .transforms import PILGaussianBlur as PILGaussianBlur
    from .transforms import ToRGB as ToRGB
    from .transforms import eval_transform as eval_transform
    from .transforms import linear_eval_transform as linear_eval_transform
    from .transforms import linear_train_transform as linear_train_transform
    from .transforms import make_augmentation as make_augmentation
    from .transforms import view_transforms as view_transforms

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
