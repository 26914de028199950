"""Views made on the training device (``data.pipeline=device``; why and how: ``docs/data.md``).

An in-memory dataset (``DatasetEntry.in_memory``) is held as ONE uint8 ``[N, C, H, W]`` tensor
(:func:`image_tensor`, read through :data:`IMAGE_TENSORS` in the layout each dataset class stores,
:data:`LAYOUTS`, so no channel axis is guessed from a shape), moved to the device once; the
DataLoader yields indices and labels and :class:`~whitening_ssl.data.device.augment.DeviceAugmentation`
makes the views there. For image folders, CPU workers decode and crop and the device does the rest.
:func:`~whitening_ssl.data.device.support.device_pipeline_problem` is the one rule for whether the device
makes the CPU pipeline's views of a dataset and recipe; the checks and ``data.pipeline=auto`` both ask it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset
from torchvision import datasets as tv_datasets
from torchvision import transforms as T

from whitening_ssl.data.device.support import USE_CPU, device_pipeline_problem
from whitening_ssl.data.lookup import parse
from whitening_ssl.data.recipes import AugmentationRecipe, View, get_recipe
from whitening_ssl.data.registry import dataset_spec
from whitening_ssl.data.sources.images import ArrayImageDataset, ImagePathDataset
from whitening_ssl.data.transforms import MultiViewTransform, ToRGB, random_resized_crop
from whitening_ssl.validation import ConfigError

#: stored layout -> its ``[N, C, H, W]`` view (N images, C channels, H x W pixels)
LAYOUTS: dict[str, Callable[[Tensor], Tensor]] = {
    "NHW": lambda images: images.unsqueeze(1),  # grey without a channel axis (Fashion-MNIST)
    "NHWC": lambda images: images.permute(0, 3, 1, 2),  # CIFAR, decoded image files
    "NCHW": lambda images: images,  # STL-10
}


class IndexDataset(Dataset):
    """Items ``(index, label)``: what the DataLoader serves when the images live on the device."""

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return index, int(self.labels[index])


def channels_first(images: Tensor, layout: str, source: str) -> Tensor:
    """``images`` stored in ``layout`` (a key of :data:`LAYOUTS`) as ``[N, C, H, W]`` uint8, C = 1 or 3.

    A view of the same memory (``unsqueeze`` / ``permute``); an unknown layout, another dtype or
    channel count is a :class:`ConfigError` naming ``source``.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"{source}: unknown image layout {layout!r} (known: {', '.join(LAYOUTS)}); {USE_CPU}")
    if images.dtype != torch.uint8 or images.ndim != len(layout):
        raise ConfigError(f"{source}: images are {images.dtype} {tuple(images.shape)}, not uint8 {layout}; {USE_CPU}")
    images = LAYOUTS[layout](images)
    if images.shape[1] not in (1, 3):
        raise ConfigError(
            f"{source}: images have {images.shape[1]} channels; the device pipeline takes 1 (grey) or "
            f"3 (RGB); {USE_CPU}"
        )
    return images


def _labels(labels) -> Tensor:
    return torch.as_tensor(labels, dtype=torch.long)


def _decoded_images(dataset: ImagePathDataset, threads: int = 8) -> tuple[Tensor, Tensor, str]:
    """Every file decoded once (Tiny-ImageNet: 100k 64 x 64 images, 1.2 GB); all must share one size.

    PIL's arrays are ``[H, W]`` for one band, ``[H, W, 3]`` for RGB (what ``ImagePathDataset`` returns).
    """
    # through the dataset, never the file directly: its bad-image policy applies (a skipped file gives the
    # next good image, with that image's label)
    first = np.asarray(dataset[0][0])
    images = torch.empty(len(dataset), *first.shape, dtype=torch.uint8)
    labels = torch.empty(len(dataset), dtype=torch.long)

    def load(index: int) -> None:
        image, label = dataset[index]
        array = np.asarray(image)
        if array.shape != first.shape:
            raise ConfigError(
                f"{dataset.path(index)} is {array.shape[1]}x{array.shape[0]}, not "
                f"{first.shape[1]}x{first.shape[0]} like the others: {USE_CPU}"
            )
        images[index].numpy()[...], labels[index] = array, label  # no tensor over PIL's read-only buffer

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(load, range(len(dataset))))
    return images, labels, "NHW" if first.ndim == 2 else "NHWC"


#: dataset class -> (uint8 images, labels, their layout: a key of LAYOUTS) of all its items
IMAGE_TENSORS: dict[type, Callable[[Any], tuple[Tensor, Tensor, str]]] = {
    ArrayImageDataset: lambda dataset: (dataset.data, dataset.targets, "NHW" if dataset.data.ndim == 3 else "NHWC"),
    # numpy [N, 32, 32, 3]; CIFAR100 subclasses CIFAR10
    tv_datasets.CIFAR10: lambda dataset: (torch.from_numpy(dataset.data), _labels(dataset.targets), "NHWC"),
    # numpy [N, 3, 96, 96] (torchvision's transposed view)
    tv_datasets.STL10: lambda dataset: (torch.from_numpy(dataset.data), _labels(dataset.labels), "NCHW"),
    ImagePathDataset: _decoded_images,
}


def image_tensor(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """The images of ``dataset`` as one uint8 ``[N, C, H, W]`` tensor (C = 1 or 3) and its labels.

    Read by the :data:`IMAGE_TENSORS` entry of its class and put channels first by
    :func:`channels_first`; a ``Subset`` is its dataset's tensor at its indices. A class
    without an entry is a one-line :class:`ConfigError`.
    """
    if isinstance(dataset, Subset):
        images, labels = image_tensor(dataset.dataset)
        index = torch.as_tensor(dataset.indices, dtype=torch.long)
        return images[index], labels[index]
    for kind in type(dataset).__mro__:
        if kind in IMAGE_TENSORS:
            images, labels, layout = IMAGE_TENSORS[kind](dataset)
            return channels_first(images, layout, type(dataset).__name__), labels
    raise ConfigError(
        f"data.pipeline=device cannot hold {type(dataset).__name__} images as one tensor (no reader "
        f"in data.device.pipeline.IMAGE_TENSORS); {USE_CPU}"
    )


def cpu_crop_transform(recipe: AugmentationRecipe | str, crop_size: int, view: View | None = None) -> T.Compose:
    """The DataLoader-worker half of ``crop_on_device=False``: PIL image -> ToRGB -> the recipe's
    RandomResizedCrop (of ``view``'s size and scale, when given) -> uint8 [3, S, S];
    ``DeviceAugmentation(crop_on_device=False)`` does the rest."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    crop = (
        random_resized_crop(recipe, view.crop_size, view.crop_scale) if view else random_resized_crop(recipe, crop_size)
    )
    return T.Compose([ToRGB(), crop, T.PILToTensor()])


def cpu_crop_views(recipe: AugmentationRecipe | str, crop_size: int, num_views: int) -> MultiViewTransform:
    """:func:`cpu_crop_transform` of each of the recipe's ``num_views`` views, in view order."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    return MultiViewTransform(
        [cpu_crop_transform(recipe, crop_size, view) for view in recipe.view_list(crop_size, num_views)]
    )


def auto_pipeline(on_gpu: bool, dataset: dict[str, Any]) -> tuple[str, str | None]:
    """``data.pipeline=auto`` for the ``dataset.*`` configuration ``dataset``: ``(pipeline, why not device)``.

    ``device`` when training on a GPU and :func:`device_pipeline_problem` finds nothing, else ``cpu``
    (and the problem, when it is what ruled the device out).
    """
    if not on_gpu:
        return "cpu", None
    entry, options = parse(dataset["name"], dataset.get("options") or {})
    spec = dataset_spec(entry, Path(str(dataset["root"])), options)
    problem = device_pipeline_problem(entry, options.augmentation_recipe(spec), spec.image_size)
    return ("cpu", problem) if problem else ("device", None)
