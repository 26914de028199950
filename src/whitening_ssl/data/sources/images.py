"""Small Dataset classes of ``(PIL image, int label)`` items, and the listing of image folders.

They are the untransformed "bases" of the pipeline: :class:`TransformedDataset` adds a transform
on top, so one base (e.g. CIFAR-10's train split) serves both the multi-view pretraining set and
the evaluation set without being loaded twice. Datasets read from files decode under a bad-image
policy (:class:`~whitening_ssl.data.sources.verify.BadImageGuard`; why ``skip`` is the default: ``docs/data.md``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence, Sized
from typing import Any, cast

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from whitening_ssl.data.sources.verify import BadImageGuard


class TransformedDataset(Dataset):
    """Apply ``transform`` (a plain attribute, swappable) to the image of each ``(image, label)`` item of ``base``."""

    def __init__(self, base: Dataset, transform: Callable[[Image.Image], Any] | None = None) -> None:
        self.base = base
        self.transform = transform

    def __len__(self) -> int:
        return len(cast(Sized, self.base))

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self.base[index]
        return (image if self.transform is None else self.transform(image)), label

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base={type(self.base).__name__}, len={len(self)}, transform={self.transform!r})"


class ArrayImageDataset(Dataset):
    """A dataset held in memory: ``data`` uint8 ``[N, H, W]`` (grey) or ``[N, H, W, 3]``, ``targets`` ``[N]``.

    The raw arrays stay exposed, so the device pipeline moves the whole dataset at once.
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
        """A new in-memory dataset with only ``indices`` (keeps ``.data`` exposed)."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return ArrayImageDataset(self.data[indices], self.targets[indices], self.classes)


class _ImageFileDataset(Dataset):
    """What the datasets read from files share: ``path(i)``, RGB decoding under ``on_bad_image``
    (``skip``: warn once naming the file and return the next decodable item; ``stop``: raise
    :class:`~whitening_ssl.data.sources.verify.BadImageError`), and the files skipped so far."""

    targets: Sequence[int] | np.ndarray

    def __init__(self, num_items: int, on_bad_image: str) -> None:
        self.bad_images = BadImageGuard(num_items, on_bad_image)

    def __len__(self) -> int:
        return len(self.targets)

    def path(self, index: int) -> str:
        """The file of item ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        index, image = self.bad_images.load(index, self.path)
        return image, int(self.targets[index])

    def skipped_images(self) -> list[str]:
        """Paths of the undecodable files skipped so far (by this process or its DataLoader workers)."""
        return [self.path(index) for index in self.bad_images.flagged_indices()]


class ImagePathDataset(_ImageFileDataset):
    """Images stored as files, listed as ``(path, label)`` samples."""

    def __init__(self, samples: Sequence[tuple[str, int]], classes: Sequence[str], on_bad_image: str = "skip") -> None:
        self.samples = list(samples)
        self.targets = [label for _, label in self.samples]
        self.classes = list(classes)
        super().__init__(len(self.samples), on_bad_image)

    def path(self, index: int) -> str:
        return self.samples[index][0]


class FileListDataset(_ImageFileDataset):
    """A compact file list for millions of files: ``root`` plus relative paths in one fixed-width bytes
    array and labels in one int64 array, which forked DataLoader workers share without copying."""

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
        super().__init__(len(self.targets), on_bad_image)

    def path(self, index: int) -> str:
        return os.path.join(self.root, os.fsdecode(self.files[index]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.root!r}, len={len(self)}, classes={len(self.classes)}, "
            f"on_bad_image={self.bad_images.on_bad_image!r})"
        )


def _file_dataset(dataset: Dataset | None) -> _ImageFileDataset | None:
    """The dataset of image files under transforms and subsets (``None`` for in-memory data)."""
    while dataset is not None and not isinstance(dataset, _ImageFileDataset):
        dataset = getattr(dataset, "base", None) or getattr(dataset, "dataset", None)
    return dataset


class ImageFiles(Sequence):
    """The files of several image-file datasets as one lazy sequence (no list of a million paths)."""

    def __init__(self, *datasets: Dataset | None) -> None:
        self.datasets: list[_ImageFileDataset] = []
        for dataset in map(_file_dataset, datasets):
            if dataset is not None and all(dataset is not seen for seen in self.datasets):
                self.datasets.append(dataset)
        self.sizes = [len(dataset) for dataset in self.datasets]

    def __len__(self) -> int:
        return sum(self.sizes)

    def __getitem__(self, index: int) -> str:  # type: ignore[override]  # whole-number indices only, no slices
        for dataset, size in zip(self.datasets, self.sizes):
            if index < size:
                return dataset.path(index)
            index -= size
        raise IndexError(index)


def skipped_images(*datasets: Dataset | None) -> list[str]:
    """Undecodable image files skipped so far by any of ``datasets`` (through transforms and subsets)."""
    found: list[str] = []
    for dataset in map(_file_dataset, datasets):
        if dataset is not None:
            found.extend(path for path in dataset.skipped_images() if path not in found)
    return found
