"""Fashion-MNIST: idx files under the root, torchvision's download folder or the system's."""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, Missing, register_dataset, splits_from

if TYPE_CHECKING:  # numpy, torch: imported when the files are read, not when the dataset is checked
    import numpy as np

    from whitening_ssl.data.sources.images import ArrayImageDataset

#: folders of datasets installed for the whole system (Debian's dataset-fashion-mnist), searched after the root
SYSTEM_DATA_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
#: where torchvision's ``FashionMNIST`` downloads the files from (its ``mirrors[0]``; a test keeps them equal)
FASHION_MNIST_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_ANNOUNCED: set = set()  # the roots whose system copy has been named

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
    import numpy as np

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
    import numpy as np
    import torch

    from whitening_ssl.data.sources.images import ArrayImageDataset

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


def _fetch_fashion_mnist(staging: Path) -> object:
    from torchvision import datasets as tv_datasets

    return tv_datasets.FashionMNIST(staging, train=True, download=True)


register_dataset(
    DatasetEntry(
        name="fashion_mnist",
        display_name="Fashion-MNIST",
        hint="apt-get install dataset-fashion-mnist (Debian, Ubuntu), or put the four idx files from "
        f"{FASHION_MNIST_MIRROR} into {{root}}/fashion_mnist",
        spec=DatasetSpec("fashion_mnist", 10, 28, (0.2860,) * 3, (0.3530,) * 3, stem="cifar"),
        build=splits_from({"pretrain": "train", "train": "train", "test": "test"}, _load_fashion_mnist),
        locate=lambda root, options: None if find_fashion_mnist_files(root) else Missing(_fashion_mnist_dirs(root)),
        pretrain_size=60_000,
        in_memory=True,
        # torchvision downloads into <staging>/FashionMNIST/raw: moved to <root>/FashionMNIST, one of the search folders
        fetch=_fetch_fashion_mnist,
        fetched_folders=("FashionMNIST",),
    )
)
