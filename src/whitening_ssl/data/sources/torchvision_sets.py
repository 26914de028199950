"""Datasets torchvision downloads: CIFAR-10, CIFAR-100, STL-10 and Fashion-MNIST."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, Missing, register_dataset, splits_from
from whitening_ssl.data.sources.images import ArrayImageDataset

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

#: folders of datasets installed for the whole system (Debian's dataset-fashion-mnist), searched after the root
SYSTEM_DATA_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
_ANNOUNCED: set = set()  # the roots whose system copy has been named


def _torchvision_entry(
    name: str,
    display_name: str,
    dataset_class,
    spec: DatasetSpec,
    sources: dict,
    pretrain_size: int,
    read: Callable[[Path, object], Dataset],
    fetch: Callable[[Path], object],
) -> DatasetEntry:
    """A torchvision dataset in ``<root>/<dataset_class.base_folder>``: ``read(root, source)`` loads one of
    its ``sources`` from the files in place (downloads happen before, in ``download_dataset``, by
    ``fetch(staging)``); a missing or damaged file is one clear error."""
    folder = dataset_class.base_folder

    def load(root, options, source, on_bad_image):
        try:
            return read(root, source)
        except RuntimeError as error:  # torchvision's "Dataset not found or corrupted"
            if "not found" not in str(error).lower() and "corrupted" not in str(error).lower():
                raise
            raise DatasetNotFoundError.for_dataset(
                name,
                root,
                looked_in=root / folder,
                detail=(
                    f"missing or damaged files: delete {root / folder} and run again with dataset.download=true to "
                    "fetch it afresh"
                ),
            ) from error

    return DatasetEntry(
        name=name,
        display_name=display_name,
        spec=spec,
        build=splits_from(sources, load),
        hint=f"download {dataset_class.url} and extract it into {{root}} (so that {{root}}/{folder} exists)",
        locate=lambda root, options: None if (root / folder).is_dir() else Missing([root / folder]),
        pretrain_size=pretrain_size,
        in_memory=True,
        fetch=fetch,
        fetched_folders=(folder,),
    )


# --- CIFAR (pretrain and train: one copy of the training images) -------------------------------


def _cifar(name: str, dataset_class, num_classes: int) -> DatasetEntry:
    return _torchvision_entry(
        name,
        name.upper().replace("CIFAR", "CIFAR-"),
        dataset_class,
        DatasetSpec(name, num_classes, 32, CIFAR_MEAN, CIFAR_STD, stem="cifar"),
        sources={"pretrain": True, "train": True, "test": False},
        pretrain_size=50_000,
        read=lambda root, train: dataset_class(root, train=train),
        fetch=lambda staging: dataset_class(staging, train=True, download=True),
    )


register_dataset(_cifar("cifar10", tv_datasets.CIFAR10, 10))
register_dataset(_cifar("cifar100", tv_datasets.CIFAR100, 100))


# --- STL-10 (the unlabeled split, 100k images and 2.8 GB in memory, only when pretraining asks for it) --

register_dataset(
    _torchvision_entry(
        "stl10",
        "STL-10",
        tv_datasets.STL10,
        DatasetSpec("stl10", 10, 64, (0.43, 0.42, 0.39), (0.27, 0.26, 0.27), eval_resize=70, eval_center_crop=64),
        sources={"pretrain": "train+unlabeled", "train": "train", "test": "test"},
        pretrain_size=105_000,
        read=lambda root, split: tv_datasets.STL10(root, split=split),
        fetch=lambda staging: tv_datasets.STL10(staging, split="test", download=True),
    )
)


# --- Fashion-MNIST (idx files under the root, torchvision's download folder or the system's) -------------

FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IDX_MAGIC = {2051: 3, 2049: 1}  # images [N, rows, cols], labels [N]: the number of dimensions after the magic


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An MNIST-style idx file (optionally gzipped) as a uint8 array: big-endian int32 magic (2051 images,
    2049 labels), then one big-endian int32 per dimension, then the bytes."""
    with (gzip.open if os.fspath(path).endswith(".gz") else open)(path, "rb") as file:
        raw = file.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic not in IDX_MAGIC:
        raise ValueError(f"{path} is not an idx image/label file (magic number {magic})")
    shape = tuple(int(dim) for dim in np.frombuffer(raw, dtype=">i4", count=IDX_MAGIC[magic], offset=4))
    array = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * IDX_MAGIC[magic])
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {array.size} values")
    return array.reshape(shape)


def _fashion_mnist_dirs(root: Path) -> list[Path]:
    return [root / "fashion_mnist", root / "FashionMNIST" / "raw", SYSTEM_DATA_DIRS["fashion_mnist"]]


def _idx_file(folder: Path, name: str) -> Path | None:
    return next((path for path in (folder / name, folder / f"{name}.gz") if path.is_file()), None)


def find_fashion_mnist_files(root: Path) -> dict[str, tuple[Path, Path]] | None:
    """Split -> (images, labels) idx files from the first search folder that has all four (gzipped or not)."""
    for folder in _fashion_mnist_dirs(root):
        found = {
            split: (_idx_file(folder, images), _idx_file(folder, labels))
            for split, (images, labels) in FASHION_MNIST_FILES.items()
        }
        if all(None not in pair for pair in found.values()):
            return cast("dict[str, tuple[Path, Path]]", found)
    return None


def _load_fashion_mnist(root, options, split, on_bad_image) -> ArrayImageDataset:
    files = find_fashion_mnist_files(root)
    if files is None:
        raise DatasetNotFoundError.for_dataset("fashion_mnist", root, looked_in=_fashion_mnist_dirs(root))
    system = SYSTEM_DATA_DIRS["fashion_mnist"]
    if files[split][0].parent == system and root not in _ANNOUNCED:  # said once: which copy the run reads
        _ANNOUNCED.add(root)
        logging.getLogger("whitening_ssl").info(
            f"note: {Path(root).absolute()} holds no Fashion-MNIST: reading the copy Debian's dataset-fashion-mnist "
            f"package installed in {system}"
        )
    images, labels = (read_idx(path) for path in files[split])
    return ArrayImageDataset(
        torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), FASHION_MNIST_CLASSES
    )


register_dataset(
    DatasetEntry(
        name="fashion_mnist",
        display_name="Fashion-MNIST",
        hint="apt-get install dataset-fashion-mnist (Debian, Ubuntu), or put the four idx files from "
        f"{tv_datasets.FashionMNIST.mirrors[0]} into {{root}}/fashion_mnist",
        spec=DatasetSpec("fashion_mnist", 10, 28, (0.2860,) * 3, (0.3530,) * 3, stem="cifar"),
        build=splits_from({"pretrain": "train", "train": "train", "test": "test"}, _load_fashion_mnist),
        locate=lambda root, options: None if find_fashion_mnist_files(root) else Missing(_fashion_mnist_dirs(root)),
        pretrain_size=60_000,
        in_memory=True,
        # torchvision downloads into <staging>/FashionMNIST/raw: moved to <root>/FashionMNIST, one of the search folders
        fetch=lambda staging: tv_datasets.FashionMNIST(staging, train=True, download=True),
        fetched_folders=("FashionMNIST",),
    )
)
