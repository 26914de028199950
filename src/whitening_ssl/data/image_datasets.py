"""Small Dataset classes that return ``(PIL image, int label)`` items.

They are the untransformed "bases" of the pipeline: :class:`TransformedDataset`
adds a transform on top, so one base (e.g. CIFAR-10's train split) can serve
both the multi-view pretraining set and the evaluation set without being
loaded twice.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from whitening_ssl.data.verify import BadImageGuard

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


class TransformedDataset(Dataset):
    """Apply ``transform`` to the image of each ``(image, label)`` item of ``base``.

    The transform is a plain attribute, so it can be swapped after
    construction (e.g. to evaluate the pretraining images with the eval
    transform).
    """

    def __init__(self, base: Dataset, transform: Callable[[Image.Image], Any] | None = None) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self.base[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={type(self.base).__name__}, len={len(self)}, transform={self.transform!r})"


class ArrayImageDataset(Dataset):
    """A dataset held entirely in memory as a uint8 tensor.

    ``data`` is ``[N, H, W]`` (grayscale) or ``[N, H, W, 3]`` (RGB) uint8 and
    ``targets`` is ``[N]`` int64. Keeping the raw arrays exposed lets a later
    GPU augmentation pipeline move the whole dataset to the device at once
    instead of going through PIL item by item.
    """

    def __init__(self, data: torch.Tensor, targets: torch.Tensor, classes: Sequence[str]) -> None:
        if data.dtype != torch.uint8 or data.ndim not in (3, 4):
            raise ValueError(f"data must be a uint8 [N,H,W] or [N,H,W,3] tensor, got {data.dtype} {tuple(data.shape)}")
        if len(data) != len(targets):
            raise ValueError(f"{len(data)} images but {len(targets)} targets")
        self.data = data
        self.targets = targets.to(torch.int64)
        self.classes = list(classes)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.data[index].numpy()), int(self.targets[index])

    def select(self, indices: Sequence[int] | torch.Tensor) -> ArrayImageDataset:
        """Return a new in-memory dataset with only ``indices`` (keeps ``.data`` exposed)."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return ArrayImageDataset(self.data[indices], self.targets[indices], self.classes)


class ImagePathDataset(Dataset):
    """Images stored as files, listed as ``(path, label)`` samples; loaded as RGB PIL images.

    ``on_bad_image`` says what happens when a file cannot be decoded (empty,
    truncated, not an image): ``"skip"`` (the default) warns once naming the
    file and returns the next decodable item instead; ``"stop"`` raises
    :class:`~whitening_ssl.data.verify.BadImageError` naming the file. Skip is
    the default because a multi-day run should not die at epoch 50 over one
    corrupt file among a million: every skip is warned about by name and
    listed by :meth:`skipped_images` for the end-of-run summary, and a broken
    dataset (100 consecutive bad files) still stops the run. Choose ``"stop"``
    when every image must be used exactly as listed.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str], on_bad_image: str = "skip") -> None:
        self.samples = list(samples)
        self.targets = [label for _, label in self.samples]
        self.classes = list(classes)
        self.bad_images = BadImageGuard(len(self.samples), on_bad_image)

    def __len__(self) -> int:
        return len(self.samples)

    def path(self, index: int) -> str:
        """Path of item ``index``."""
        return self.samples[index][0]

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        index, image = self.bad_images.load(index, self.path)
        return image, self.targets[index]

    def skipped_images(self) -> list[str]:
        """Paths of the undecodable files skipped so far (by this process or its DataLoader workers)."""
        return [self.path(index) for index in self.bad_images.flagged_indices()]


class FileListDataset(Dataset):
    """A compact file list: ``root`` plus relative paths and labels held in numpy arrays.

    For datasets with millions of files (ImageNet has 1.28M training images) a
    Python list of ``(path, label)`` tuples costs hundreds of MB per process
    and, through reference counting, is slowly copied into every forked
    DataLoader worker. Here the relative paths are one fixed-width bytes array
    and the labels one int64 array, which workers share without copying.
    Items are ``(RGB PIL image, int label)``; ``on_bad_image`` (``"skip"`` by
    default, or ``"stop"``) handles undecodable files as in
    :class:`ImagePathDataset`, with one shared-memory byte per file.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        files: Sequence[str],
        targets: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        on_bad_image: str = "skip",
    ) -> None:
        if len(files) != len(targets):
            raise ValueError(f"{len(files)} files but {len(targets)} targets")
        self.root = os.fspath(root)
        self.files = np.array([os.fsencode(name) for name in files], dtype=np.bytes_)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.classes = list(classes)
        self.bad_images = BadImageGuard(len(self.targets), on_bad_image)

    def __len__(self) -> int:
        return len(self.targets)

    def path(self, index: int) -> str:
        """Absolute path of item ``index``."""
        return os.path.join(self.root, os.fsdecode(self.files[index]))

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        index, image = self.bad_images.load(index, self.path)
        return image, int(self.targets[index])

    def skipped_images(self) -> list[str]:
        """Paths of the undecodable files skipped so far (by this process or its DataLoader workers)."""
        return [self.path(index) for index in self.bad_images.flagged_indices()]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.root!r}, len={len(self)}, classes={len(self.classes)}, "
            f"on_bad_image={self.bad_images.on_bad_image!r})"
        )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST-style idx file (optionally gzipped) into a uint8 array.

    Images (magic 2051) come back as ``[N, rows, cols]``, labels (magic 2049)
    as ``[N]``; dimensions are big-endian int32 after the magic number.
    """
    opener = gzip.open if os.fspath(path).endswith(".gz") else open
    with opener(path, "rb") as file:
        raw = file.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic == IDX_IMAGES_MAGIC:
        num_dims = 3
    elif magic == IDX_LABELS_MAGIC:
        num_dims = 1
    else:
        raise ValueError(f"{path} is not an idx image/label file (magic number {magic})")
    header_size = 4 + 4 * num_dims
    shape = tuple(int(dim) for dim in np.frombuffer(raw, dtype=">i4", count=num_dims, offset=4))
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {array.size} values")
    return array.reshape(shape)


def make_synthetic_dataset(
    patterns: torch.Tensor, num_samples: int, generator: torch.Generator, noise_std: float = 0.1
) -> ArrayImageDataset:
    """Draw ``num_samples`` images: a class's colour pattern plus Gaussian noise.

    ``patterns`` is ``[num_classes, 3, H, W]`` in [0, 1]; labels are balanced
    and shuffled. The class signal is strong enough for a small network to
    learn, which makes this a fast end-to-end smoke-test dataset.
    """
    num_classes, _, height, width = patterns.shape
    labels = torch.arange(num_samples) % num_classes
    labels = labels[torch.randperm(num_samples, generator=generator)]
    noise = noise_std * torch.randn(num_samples, 3, height, width, generator=generator)
    images = (patterns[labels] + noise).clamp(0.0, 1.0)
    data = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    classes = [f"class_{index}" for index in range(num_classes)]
    return ArrayImageDataset(data, labels, classes)


def make_synthetic_patterns(num_classes: int, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """One random low-resolution (4x4) colour pattern per class, upsampled to ``image_size``."""
    low_res = torch.rand(num_classes, 3, 4, 4, generator=generator)
    return F.interpolate(low_res, size=(image_size, image_size), mode="bilinear", align_corners=False)


#: file extensions read as images (torchvision's, lower case)
IMAGE_EXTENSIONS = tuple(extension.lower() for extension in IMG_EXTENSIONS)


def class_folders(directory: Path) -> list[str]:
    """Sorted names of the sub-folders of ``directory`` ([] when it does not exist)."""
    if not directory.is_dir():
        return []
    with os.scandir(directory) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


def scan_class_folders(
    directory: Path, class_to_idx: dict[str, int], extensions: tuple[str, ...]
) -> list[tuple[str, int]]:
    """List ``(path, label)`` for image files under ``directory/<class>/`` (recursively, sorted).

    Class folders missing from ``directory`` are skipped, so a validation
    folder may hold a subset of the training classes and keep their indices.
    """
    samples = []
    for class_name, label in sorted(class_to_idx.items(), key=lambda item: item[1]):
        class_dir = directory / class_name
        if not class_dir.is_dir():
            continue
        for folder, _, file_names in sorted(os.walk(class_dir, followlinks=True)):
            for file_name in sorted(file_names):
                if file_name.lower().endswith(extensions):
                    samples.append((os.path.join(folder, file_name), label))
    return samples
