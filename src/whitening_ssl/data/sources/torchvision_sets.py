"""Datasets torchvision downloads: CIFAR-10, CIFAR-100 and STL-10 (Fashion-MNIST: ``fashion_mnist``).

torchvision is imported when a dataset is read or downloaded, not when it is registered or checked: the
folder each class reads and the address it downloads from are written here (:data:`TORCHVISION_FILES`,
kept equal to torchvision's by a test).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, Missing, register_dataset, splits_from

if TYPE_CHECKING:
    from torch.utils.data import Dataset

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

#: torchvision dataset class -> (its ``base_folder``, its ``url``)
TORCHVISION_FILES = {
    "CIFAR10": ("cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "CIFAR100": ("cifar-100-python", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "STL10": ("stl10_binary", "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"),
}


def torchvision_class(name: str) -> Any:
    """``torchvision.datasets.<name>`` (imported here, when a dataset is read or downloaded)."""
    from torchvision import datasets as tv_datasets

    return getattr(tv_datasets, name)


def _torchvision_entry(
    name: str,
    display_name: str,
    class_name: str,
    spec: DatasetSpec,
    sources: dict,
    pretrain_size: int,
    read: Callable[[Path, object], Dataset],
    fetch: Callable[[Path], object],
) -> DatasetEntry:
    """A torchvision dataset (``torchvision.datasets.<class_name>``) in ``<root>/<its base_folder>``:
    ``read(root, source)`` loads one of its ``sources`` from the files in place (downloads happen before, in
    ``download_dataset``, by ``fetch(staging)``); a missing or damaged file is one clear error."""
    folder, url = TORCHVISION_FILES[class_name]

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
        hint=f"download {url} and extract it into {{root}} (so that {{root}}/{folder} exists)",
        locate=lambda root, options: None if (root / folder).is_dir() else Missing([root / folder]),
        pretrain_size=pretrain_size,
        in_memory=True,
        fetch=fetch,
        fetched_folders=(folder,),
    )


# --- CIFAR (pretrain and train: one copy of the training images) -------------------------------


def _cifar(name: str, class_name: str, num_classes: int) -> DatasetEntry:
    return _torchvision_entry(
        name,
        name.upper().replace("CIFAR", "CIFAR-"),
        class_name,
        DatasetSpec(name, num_classes, 32, CIFAR_MEAN, CIFAR_STD, stem="cifar"),
        sources={"pretrain": True, "train": True, "test": False},
        pretrain_size=50_000,
        read=lambda root, train: torchvision_class(class_name)(root, train=train),
        fetch=lambda staging: torchvision_class(class_name)(staging, train=True, download=True),
    )


register_dataset(_cifar("cifar10", "CIFAR10", 10))
register_dataset(_cifar("cifar100", "CIFAR100", 100))


# --- STL-10 (the unlabeled split, 100k images and 2.8 GB in memory, only when pretraining asks for it) --

register_dataset(
    _torchvision_entry(
        "stl10",
        "STL-10",
        "STL10",
        DatasetSpec("stl10", 10, 64, (0.43, 0.42, 0.39), (0.27, 0.26, 0.27), eval_resize=70, eval_center_crop=64),
        sources={"pretrain": "train+unlabeled", "train": "train", "test": "test"},
        pretrain_size=105_000,
        read=lambda root, split: torchvision_class("STL10")(root, split=split),
        fetch=lambda staging: torchvision_class("STL10")(staging, split="test", download=True),
    )
)
