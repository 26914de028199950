"""Datasets torchvision downloads: CIFAR-10, CIFAR-100, STL-10 and Fashion-MNIST."""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import datasets as tv_datasets

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.image_datasets import ArrayImageDataset, read_idx
from whitening_ssl.data.registry import DatasetEntry, DatasetOptions, DatasetSpec, Missing, register_dataset

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

#: The folder torchvision creates under ``dataset.root`` for each dataset it downloads.
TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "stl10": "stl10_binary",
                       "fashion_mnist": "FashionMNIST/raw"}

FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _manual_hint(url: str, folder: str) -> str:
    return f"download {url} and extract it into {{root}} (so that {{root}}/{folder} exists)"


def _load_torchvision(name: str, root: Path, factory: Callable[[], Dataset]) -> Dataset:
    """Run a torchvision dataset constructor on files already in ``root`` (downloads happen before, in
    :func:`~whitening_ssl.data.download.download_dataset`); a missing or damaged file is one clear error."""
    try:
        return factory()
    except RuntimeError as error:  # "Dataset not found or corrupted"
        if "not found" in str(error).lower() or "corrupted" in str(error).lower():
            raise DatasetNotFoundError.for_dataset(
                name, root, looked_in=root / TORCHVISION_FOLDERS[name],
                detail=f"missing or damaged files: delete {root / TORCHVISION_FOLDERS[name].split('/')[0]} and run "
                       "again with dataset.download=true to fetch it afresh") from error
        raise


def _locate_torchvision(name: str) -> Callable[[Path, DatasetOptions], Missing | None]:
    def locate(root: Path, options: DatasetOptions) -> Missing | None:
        folder = root / TORCHVISION_FOLDERS[name]
        return None if folder.is_dir() else Missing([folder])

    return locate


def _fetch(*factories: Callable[[Path], Dataset]) -> Callable[[Path], None]:
    """A ``fetch(staging)`` that runs torchvision's downloads (``download=True``) into ``staging``."""
    def fetch(staging: Path) -> None:
        for factory in factories:
            factory(staging)

    return fetch


# --- CIFAR ------------------------------------------------------------------------------------


def _cifar(name: str, dataset_class, num_classes: int) -> DatasetEntry:
    spec = DatasetSpec(name, num_classes, 32, CIFAR_MEAN, CIFAR_STD, stem="cifar")

    def build(root: Path, options: DatasetOptions,
              splits: Collection[str], on_bad_image: str = "skip") -> dict[str, Dataset]:
        built = {}
        if {"pretrain", "train"} & set(splits):
            train = _load_torchvision(name, root, lambda: dataset_class(root, train=True))
            built.update(pretrain=train, train=train)
        if "test" in splits:
            built["test"] = _load_torchvision(name, root, lambda: dataset_class(root, train=False))
        return built

    return DatasetEntry(name=name, display_name=name.upper().replace("CIFAR", "CIFAR-"),
                        hint=_manual_hint(dataset_class.url, dataset_class.base_folder),
                        spec=lambda root, options: spec, locate=_locate_torchvision(name), build=build,
                        pretrain_size=lambda root, options: 50_000, in_memory=True,
                        fetch=_fetch(lambda staging: dataset_class(staging, train=True, download=True)),
                        fetched_folders=(dataset_class.base_folder,))


register_dataset(_cifar("cifar10", tv_datasets.CIFAR10, 10))
register_dataset(_cifar("cifar100", tv_datasets.CIFAR100, 100))


# --- STL-10 -----------------------------------------------------------------------------------

_STL10_SPEC = DatasetSpec("stl10", 10, 64, (0.43, 0.42, 0.39), (0.27, 0.26, 0.27), eval_resize=70,
                          eval_center_crop=64, stem="small")
_STL10_SPLITS = {"pretrain": "train+unlabeled", "train": "train", "test": "test"}


def _build_stl10(root: Path, options: DatasetOptions,
                 splits: Collection[str], on_bad_image: str = "skip") -> dict[str, Dataset]:
    def load(split: str) -> Dataset:
        return _load_torchvision("stl10", root, lambda: tv_datasets.STL10(root, split=split))

    # the unlabeled split (100k images, 2.8 GB in memory) is only loaded when pretraining asks for it
    return {name: load(_STL10_SPLITS[name]) for name in splits}


register_dataset(DatasetEntry(
    name="stl10", display_name="STL-10", hint=_manual_hint(tv_datasets.STL10.url, tv_datasets.STL10.base_folder),
    spec=lambda root, options: _STL10_SPEC, locate=_locate_torchvision("stl10"), build=_build_stl10,
    pretrain_size=lambda root, options: 105_000, in_memory=True,
    fetch=_fetch(lambda staging: tv_datasets.STL10(staging, split="test", download=True)),
    fetched_folders=(tv_datasets.STL10.base_folder,)))


# --- Fashion-MNIST ----------------------------------------------------------------------------

_FASHION_SPEC = DatasetSpec("fashion_mnist", 10, 28, (0.2860,) * 3, (0.3530,) * 3, stem="cifar")


def _fashion_mnist_search_dirs(root: Path) -> list[Path]:
    # FASHION_MNIST_SYSTEM_DIR is read at call time so tests can point it elsewhere
    return [root / "fashion_mnist", root / "FashionMNIST" / "raw", globals()["FASHION_MNIST_SYSTEM_DIR"]]


def find_fashion_mnist_files(root: Path) -> dict[str, Path] | None:
    """The four idx files from the first search folder that has all of them (gzipped or not)."""
    for folder in _fashion_mnist_search_dirs(root):
        found = {}
        for key, file_name in FASHION_MNIST_FILES.items():
            for candidate in (folder / file_name, folder / f"{file_name}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(FASHION_MNIST_FILES):
            return found
    return None


def _locate_fashion_mnist(root: Path, options: DatasetOptions) -> Missing | None:
    return None if find_fashion_mnist_files(root) is not None else Missing(_fashion_mnist_search_dirs(root))


def _build_fashion_mnist(root: Path, options: DatasetOptions,
                         splits: Collection[str], on_bad_image: str = "skip") -> dict[str, Dataset]:
    files = find_fashion_mnist_files(root)
    if files is None:
        raise DatasetNotFoundError.for_dataset("fashion_mnist", root, looked_in=_fashion_mnist_search_dirs(root))

    def load(split: str) -> ArrayImageDataset:
        images = torch.from_numpy(read_idx(files[f"{split}_images"]).copy())
        labels = torch.from_numpy(read_idx(files[f"{split}_labels"]).astype(np.int64))
        return ArrayImageDataset(images, labels, FASHION_MNIST_CLASSES)

    built = {}
    if {"pretrain", "train"} & set(splits):
        train = load("train")
        built.update(pretrain=train, train=train)
    if "test" in splits:
        built["test"] = load("test")
    return built


register_dataset(DatasetEntry(
    name="fashion_mnist", display_name="Fashion-MNIST",
    hint="apt-get install dataset-fashion-mnist (Debian, Ubuntu), or put the four idx files from "
         f"{tv_datasets.FashionMNIST.mirrors[0]} into {{root}}/fashion_mnist",
    spec=lambda root, options: _FASHION_SPEC, locate=_locate_fashion_mnist, build=_build_fashion_mnist,
    pretrain_size=lambda root, options: 60_000, in_memory=True,
    # torchvision downloads into <staging>/FashionMNIST/raw: moved to <root>/FashionMNIST, one of the search folders
    fetch=_fetch(lambda staging: tv_datasets.FashionMNIST(staging, train=True, download=True)),
    fetched_folders=("FashionMNIST",)))
