"""Views made on the training device (``data.pipeline=device``).

For a dataset that fits in memory (``DatasetEntry.in_memory``: CIFAR-10/100, STL-10, Tiny-ImageNet,
Fashion-MNIST, synthetic) the pretraining images are held as ONE uint8 tensor, moved to the
training device once; the DataLoader yields only indices and labels, and each batch's views are
made there by :class:`~whitening_ssl.data.device_augment.DeviceAugmentation` (per-sample random
parameters, the CPU pipeline's distributions). For image folders (ImageNet) CPU workers decode and
run the random resized crop (uint8 crops, :func:`~whitening_ssl.data.device_augment.cpu_crop_transform`)
and the device does the rest of the recipe.

:data:`IMAGE_TENSORS` maps a dataset class to the function that returns its images as
``[N, H, W, C]`` (or ``[N, C, H, W]``) uint8 and its labels, without going through PIL per item.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Tuple, Type

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset
from torchvision import datasets as tv_datasets

from whitening_ssl.data.image_datasets import ArrayImageDataset, ImagePathDataset


class IndexDataset(Dataset):
    """Items ``(index, label)``: what the DataLoader serves when the images live on the device."""

    def __init__(self, labels: Tensor) -> None:
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Tuple[int, int]:
        return index, int(self.labels[index])


def _array_images(dataset: ArrayImageDataset) -> Tuple[Tensor, Tensor]:
    return dataset.data, dataset.targets


def _cifar_images(dataset) -> Tuple[Tensor, Tensor]:  # numpy [N, 32, 32, 3]
    return torch.from_numpy(np.ascontiguousarray(dataset.data)), torch.as_tensor(dataset.targets, dtype=torch.long)


def _stl10_images(dataset) -> Tuple[Tensor, Tensor]:  # numpy [N, 3, 96, 96]
    return torch.from_numpy(np.ascontiguousarray(dataset.data)), torch.as_tensor(dataset.labels, dtype=torch.long)


def _decoded_images(dataset: ImagePathDataset, threads: int = 8) -> Tuple[Tensor, Tensor]:
    """Every file decoded once (Tiny-ImageNet: 100k 64 x 64 images, 1.2 GB); all must share one size."""
    # through the dataset, never the file directly: its bad-image policy applies (a skipped file gives the
    # next good image, with that image's label)
    first = np.asarray(dataset[0][0])
    images = torch.empty(len(dataset), *first.shape, dtype=torch.uint8)
    labels = torch.empty(len(dataset), dtype=torch.long)

    def load(index: int) -> None:
        image, label = dataset[index]
        array = np.asarray(image)
        if array.shape != first.shape:
            raise ValueError(f"{dataset.path(index)} is {array.shape[1]}x{array.shape[0]}, not "
                             f"{first.shape[1]}x{first.shape[0]} like the others: use data.pipeline=cpu")
        images[index], labels[index] = torch.from_numpy(array), label

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(load, range(len(dataset))))
    return images, labels


def _subset_images(dataset: Subset) -> Tuple[Tensor, Tensor]:
    images, labels = image_tensor(dataset.dataset)
    index = torch.as_tensor(dataset.indices, dtype=torch.long)
    return images[index], labels[index]


#: dataset class -> (uint8 images, labels) of all its items
IMAGE_TENSORS: Dict[Type, Callable[[Dataset], Tuple[Tensor, Tensor]]] = {
    ArrayImageDataset: _array_images,
    tv_datasets.CIFAR10: _cifar_images,  # CIFAR100 subclasses CIFAR10
    tv_datasets.STL10: _stl10_images,
    ImagePathDataset: _decoded_images,
    Subset: _subset_images,
}


def image_tensor(dataset: Dataset) -> Tuple[Tensor, Tensor]:
    """The images of ``dataset`` as one uint8 tensor and its labels (see :data:`IMAGE_TENSORS`)."""
    for kind in type(dataset).__mro__:
        if kind in IMAGE_TENSORS:
            return IMAGE_TENSORS[kind](dataset)
    raise ValueError(f"{type(dataset).__name__} cannot be held in memory as one tensor: use data.pipeline=cpu")
