"""Dataset registry: per-dataset constants (specs) and builders for the three splits.

Every dataset yields three splits:

* ``pretrain``: the images used for self-supervised training (labels unused;
  STL-10 adds its unlabeled split here),
* ``train``: the labelled training split used by the evaluation (linear probe,
  k-NN),
* ``test``: the labelled test split.

:func:`build_datasets` returns the untransformed bases (items are
``(PIL image, int label)``); :func:`make_split_datasets` wraps them with the
multi-view augmentation and the evaluation transform. The augmentation recipe
is the dataset's default (``small`` for the small datasets, ``imagenet`` for
``imagenet`` / ``imagenet100``) unless the ``augmentation`` option names one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, Subset
from torchvision import datasets as tv_datasets
from torchvision.datasets.folder import IMG_EXTENSIONS

from whitening_ssl.data.errors import TORCHVISION_FOLDERS, DatasetNotFoundError
from whitening_ssl.data.imagenet import IMAGENET_NAMES, build_imagenet, check_imagenet, imagenet_classes
from whitening_ssl.data.image_datasets import (
    ArrayImageDataset,
    ImagePathDataset,
    TransformedDataset,
    make_synthetic_dataset,
    make_synthetic_patterns,
    read_idx,
    scan_class_folders,
)
from whitening_ssl.data.transforms import (
    AUGMENTATIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiViewTransform,
    eval_transform,
    make_augmentation,
)

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)

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

IMAGE_FOLDER_HOLDOUT_FRACTION = 0.1
IMAGE_FOLDER_HOLDOUT_SEED = 0
SYNTHETIC_TEST_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class DatasetSpec:
    """Constants of a dataset that the model and transforms depend on.

    ``image_size`` is the training crop size; ``eval_resize`` and
    ``eval_center_crop`` (None = unused) and ``eval_interpolation`` (of the
    resize) define the evaluation transform; ``remove_maxpool`` tells the
    ResNet backbone to drop its stem max-pool, as the papers do for the small
    28-32 px datasets.
    """

    name: str
    num_classes: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eval_resize: int | None = None
    eval_center_crop: int | None = None
    remove_maxpool: bool = False
    eval_interpolation: str = "bicubic"


_FIXED_SPECS = {
    "cifar10": DatasetSpec("cifar10", 10, 32, CIFAR_MEAN, CIFAR_STD, remove_maxpool=True),
    "cifar100": DatasetSpec("cifar100", 100, 32, CIFAR_MEAN, CIFAR_STD, remove_maxpool=True),
    "stl10": DatasetSpec("stl10", 10, 64, (0.43, 0.42, 0.39), (0.27, 0.26, 0.27), eval_resize=70, eval_center_crop=64),
    "tiny_imagenet": DatasetSpec("tiny_imagenet", 200, 64, (0.480, 0.448, 0.398), (0.277, 0.269, 0.282)),
    "fashion_mnist": DatasetSpec("fashion_mnist", 10, 28, (0.2860,) * 3, (0.3530,) * 3, remove_maxpool=True),
}
DATASET_NAMES = (*_FIXED_SPECS, *IMAGENET_NAMES, "image_folder", "synthetic")
IMAGENET_IMAGE_SIZE = 224
IMAGENET_EVAL_RESIZE = 256
# Augmentation recipe used when the "augmentation" option is "default" (all other datasets: "small").
DEFAULT_AUGMENTATION = {"imagenet": "imagenet", "imagenet100": "imagenet"}


@dataclass(frozen=True)
class DatasetOptions:
    """Optional per-dataset settings (the ``**options`` of :func:`build_datasets`).

    ``image_size`` applies to ``image_folder`` and ``synthetic`` (default 64 /
    32); ``num_samples``, ``num_test`` and ``num_classes`` to ``synthetic``.
    ``seed`` seeds the synthetic images and the subset permutations;
    ``*_subset`` keeps a deterministic random subset of K items of a split.
    ``augmentation`` picks the self-supervised recipe (one of
    :data:`~whitening_ssl.data.transforms.AUGMENTATIONS`; ``default`` = the
    dataset's own); ``class_list`` (``imagenet100`` only) is a file of WordNet
    ids replacing the shipped ImageNet-100 list.
    """

    image_size: int | None = None
    num_samples: int = 512
    num_test: int = 256
    num_classes: int | None = None
    seed: int = 0
    pretrain_subset: int | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    augmentation: str = "default"
    class_list: str | None = None

    @classmethod
    def parse(cls, name: str, options: dict[str, Any]) -> DatasetOptions:
        """Validate ``options`` for dataset ``name``; ``None`` values mean "use the default"."""
        valid = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"Unknown dataset option(s) {unknown} for '{name}'; valid options: {', '.join(valid)}")
        given = {key: value for key, value in options.items() if value is not None}
        if name != "synthetic":
            synthetic_only = sorted({"num_samples", "num_test"} & set(given))
            if synthetic_only:
                raise ValueError(f"Option(s) {synthetic_only} only apply to the 'synthetic' dataset, not '{name}'")
        if name != "imagenet100" and "class_list" in given:
            raise ValueError(f"Option 'class_list' only applies to the 'imagenet100' dataset, not '{name}'")
        augmentation = given.get("augmentation", "default")
        if augmentation not in AUGMENTATIONS:
            valid = ", ".join(AUGMENTATIONS)
            raise ValueError(f"Unknown augmentation '{augmentation}' for '{name}'; valid values: {valid}")
        if "class_list" in given:
            given["class_list"] = os.fspath(given["class_list"])
        return cls(**given)

    def augmentation_recipe(self, name: str) -> str:
        """The recipe to use for dataset ``name``: ``augmentation``, or the dataset's default."""
        if self.augmentation != "default":
            return self.augmentation
        return DEFAULT_AUGMENTATION.get(name, "small")


class SplitDatasets(NamedTuple):
    """The three splits of a dataset plus its spec (unpackable as a tuple)."""

    pretrain: Dataset
    train: Dataset
    test: Dataset
    spec: DatasetSpec


def _check_name(name: str) -> None:
    if name not in DATASET_NAMES:
        raise ValueError(f"Unknown dataset '{name}'; valid names: {', '.join(DATASET_NAMES)}")


# ---------------------------------------------------------------------------
# Where each dataset lives on disk
# ---------------------------------------------------------------------------


def _torchvision_folder(name: str, root: Path) -> Path:
    return root / TORCHVISION_FOLDERS[name]


def _tiny_imagenet_dir(root: Path) -> Path:
    """``<root>/tiny-imagenet-200``, or ``root`` itself when it already is that folder."""
    return root if root.name == "tiny-imagenet-200" else root / "tiny-imagenet-200"


def _fashion_mnist_search_dirs(root: Path) -> list[Path]:
    return [root / "fashion_mnist", root / "FashionMNIST" / "raw", FASHION_MNIST_SYSTEM_DIR]


def _find_fashion_mnist_files(root: Path) -> dict[str, Path] | None:
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


def check_dataset_available(
    name: str, root: str | os.PathLike = "./data", download: bool = False, **options: Any
) -> None:
    """Raise :class:`DatasetNotFoundError` if ``name`` cannot be loaded from ``root``.

    Cheap (only checks that the expected folders/files exist), so it can run
    before training starts. Datasets torchvision can download count as
    available when ``download`` is true; ImageNet never downloads. ``options``
    are the dataset options (only ``class_list`` matters here).
    """
    _check_name(name)
    parsed = DatasetOptions.parse(name, options)
    root = Path(root)
    downloadable = name in ("cifar10", "cifar100", "stl10", "fashion_mnist")
    if download and downloadable:
        return
    if name in ("cifar10", "cifar100", "stl10"):
        folder = _torchvision_folder(name, root)
        if not folder.is_dir():
            raise DatasetNotFoundError.for_dataset(name, root, looked_in=folder)
    elif name == "tiny_imagenet":
        folder = _tiny_imagenet_dir(root)
        for required in (folder / "train", folder / "val" / "val_annotations.txt"):
            if not required.exists():
                detail = f"missing {required.relative_to(folder)}"
                raise DatasetNotFoundError.for_dataset(name, root, looked_in=folder, detail=detail)
    elif name == "fashion_mnist":
        if _find_fashion_mnist_files(root) is None:
            raise DatasetNotFoundError.for_dataset(name, root, looked_in=_fashion_mnist_search_dirs(root))
    elif name == "image_folder":
        if not (root / "train").is_dir():
            raise DatasetNotFoundError.for_dataset(name, root, looked_in=root / "train")
    elif name in IMAGENET_NAMES:
        check_imagenet(name, root, parsed.class_list)


# ---------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------


def _image_folder_classes(root: Path) -> list[str]:
    train_dir = root / "train"
    classes = sorted(entry.name for entry in os.scandir(train_dir) if entry.is_dir()) if train_dir.is_dir() else []
    if not classes:
        raise DatasetNotFoundError.for_dataset("image_folder", root, looked_in=train_dir, detail="no class folders")
    return classes


def _image_folder_spec(image_size: int, num_classes: int) -> DatasetSpec:
    return DatasetSpec(
        "image_folder", num_classes, image_size, IMAGENET_MEAN, IMAGENET_STD,
        eval_resize=int(image_size * 1.1), eval_center_crop=image_size,
    )  # fmt: skip


def _imagenet_spec(name: str, num_classes: int) -> DatasetSpec:
    return DatasetSpec(
        name, num_classes, IMAGENET_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD,
        eval_resize=IMAGENET_EVAL_RESIZE, eval_center_crop=IMAGENET_IMAGE_SIZE,
        remove_maxpool=False, eval_interpolation="bilinear",
    )  # fmt: skip


def _synthetic_spec(image_size: int, num_classes: int) -> DatasetSpec:
    return DatasetSpec("synthetic", num_classes, image_size, (0.5,) * 3, (0.25,) * 3, remove_maxpool=True)


def _resolve_spec(name: str, root: Path, options: DatasetOptions) -> DatasetSpec:
    if name == "image_folder":
        spec = _image_folder_spec(options.image_size or 64, len(_image_folder_classes(root)))
    elif name == "synthetic":
        spec = _synthetic_spec(options.image_size or 32, options.num_classes or 10)
    elif name in IMAGENET_NAMES:
        spec = _imagenet_spec(name, len(imagenet_classes(name, root, options.class_list)))
    else:
        spec = _FIXED_SPECS[name]
    for option in ("image_size", "num_classes"):
        requested, actual = getattr(options, option), getattr(spec, option)
        if requested is not None and requested != actual:
            raise ValueError(f"Dataset '{name}' has {option}={actual}, but the config asks for {requested}")
    return spec


def get_spec(name: str, root: str | os.PathLike = "./data", **options: Any) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` without loading any images.

    Only ``image_folder`` and ``imagenet`` touch the disk (they list the
    class folders of ``train/`` to count the classes; ``imagenet100`` reads
    its class list).
    """
    _check_name(name)
    return _resolve_spec(name, Path(root), DatasetOptions.parse(name, options))


# ---------------------------------------------------------------------------
# Builders: each returns (pretrain, train, test) untransformed bases
# ---------------------------------------------------------------------------


def _load_torchvision(name: str, root: Path, download: bool, factory: Callable[[], Dataset]) -> Dataset:
    """Run a torchvision dataset constructor, turning "not found" / download failures into one clear error."""
    try:
        return factory()
    except DatasetNotFoundError:
        raise
    except RuntimeError as error:  # "Dataset not found or corrupted" / "Error downloading ..."
        message = str(error).lower()
        if download and "download" in message:
            raise DatasetNotFoundError.download_failed(name, root, error) from error
        if "not found" in message:
            raise DatasetNotFoundError.for_dataset(name, root, detail="missing or corrupted files") from error
        raise
    except OSError as error:  # urllib's URLError when there is no network
        if download:
            raise DatasetNotFoundError.download_failed(name, root, error) from error
        raise


def _build_cifar(name: str, root: Path, download: bool) -> tuple[Dataset, Dataset, Dataset]:
    dataset_class = tv_datasets.CIFAR10 if name == "cifar10" else tv_datasets.CIFAR100
    train = _load_torchvision(name, root, download, lambda: dataset_class(root, train=True, download=download))
    test = _load_torchvision(name, root, download, lambda: dataset_class(root, train=False, download=download))
    return train, train, test


def _build_stl10(root: Path, download: bool) -> tuple[Dataset, Dataset, Dataset]:
    def load(split: str) -> Dataset:
        def construct() -> Dataset:
            return tv_datasets.STL10(root, split=split, download=download)

        return _load_torchvision("stl10", root, download, construct)

    return load("train+unlabeled"), load("train"), load("test")


def _build_tiny_imagenet(root: Path) -> tuple[Dataset, Dataset, Dataset]:
    folder = _tiny_imagenet_dir(root)
    train_dir = folder / "train"
    wnids = sorted(entry.name for entry in os.scandir(train_dir) if entry.is_dir())
    if not wnids:
        raise DatasetNotFoundError.for_dataset("tiny_imagenet", root, looked_in=train_dir, detail="no class folders")
    class_to_idx = {wnid: index for index, wnid in enumerate(wnids)}
    train_samples = [
        (str(path), label)
        for wnid, label in class_to_idx.items()
        for path in sorted((train_dir / wnid / "images").glob("*.JPEG"))
    ]
    val_samples = []
    with open(folder / "val" / "val_annotations.txt") as annotations:
        for line in annotations:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2:
                continue
            file_name, wnid = fields[0], fields[1]
            if wnid not in class_to_idx:
                raise ValueError(f"{folder / 'val' / 'val_annotations.txt'}: class {wnid} has no train folder")
            val_samples.append((str(folder / "val" / "images" / file_name), class_to_idx[wnid]))
    train = ImagePathDataset(train_samples, wnids)
    return train, train, ImagePathDataset(val_samples, wnids)


def _build_fashion_mnist(root: Path, download: bool) -> tuple[Dataset, Dataset, Dataset]:
    files = _find_fashion_mnist_files(root)
    if files is None and download:
        for train in (True, False):  # downloads into <root>/FashionMNIST/raw, one of our search folders
            _load_torchvision(
                "fashion_mnist", root, download, lambda: tv_datasets.FashionMNIST(root, train=train, download=True)
            )
        files = _find_fashion_mnist_files(root)
    if files is None:
        raise DatasetNotFoundError.for_dataset("fashion_mnist", root, looked_in=_fashion_mnist_search_dirs(root))

    def load(split: str) -> ArrayImageDataset:
        images = torch.from_numpy(read_idx(files[f"{split}_images"]).copy())
        labels = torch.from_numpy(read_idx(files[f"{split}_labels"]).astype(np.int64))
        return ArrayImageDataset(images, labels, FASHION_MNIST_CLASSES)

    train = load("train")
    return train, train, load("test")


def _holdout_split(num_items: int) -> tuple[list[int], list[int]]:
    """Deterministic (fixed-seed) split of ``range(num_items)`` into (train, held-out) indices."""
    num_held_out = max(1, int(num_items * IMAGE_FOLDER_HOLDOUT_FRACTION)) if num_items > 1 else 0
    generator = torch.Generator().manual_seed(IMAGE_FOLDER_HOLDOUT_SEED)
    permutation = torch.randperm(num_items, generator=generator)
    held_out = sorted(permutation[:num_held_out].tolist())
    kept = sorted(permutation[num_held_out:].tolist())
    return kept, held_out


def _build_image_folder(root: Path) -> tuple[Dataset, Dataset, Dataset]:
    classes = _image_folder_classes(root)
    class_to_idx = {class_name: index for index, class_name in enumerate(classes)}
    extensions = tuple(extension.lower() for extension in IMG_EXTENSIONS)
    train_samples = scan_class_folders(root / "train", class_to_idx, extensions)
    if not train_samples:
        raise DatasetNotFoundError.for_dataset("image_folder", root, looked_in=root / "train", detail="no images")
    val_dir = root / "val"
    if val_dir.is_dir():
        test_samples = scan_class_folders(val_dir, class_to_idx, extensions)
    else:  # no val/: hold out a fixed 10% of train as the test split (and train on the rest only)
        kept, held_out = _holdout_split(len(train_samples))
        test_samples = [train_samples[index] for index in held_out]
        train_samples = [train_samples[index] for index in kept]
    train = ImagePathDataset(train_samples, classes)
    return train, train, ImagePathDataset(test_samples, classes)


def _build_synthetic(spec: DatasetSpec, options: DatasetOptions) -> tuple[Dataset, Dataset, Dataset]:
    generator = torch.Generator().manual_seed(options.seed)
    patterns = make_synthetic_patterns(spec.num_classes, spec.image_size, generator)
    train = make_synthetic_dataset(patterns, options.num_samples, generator)
    test_generator = torch.Generator().manual_seed(options.seed + SYNTHETIC_TEST_SEED_OFFSET)
    return train, train, make_synthetic_dataset(patterns, options.num_test, test_generator)


def _subset(dataset: Dataset, size: int | None, seed: int) -> Dataset:
    """Keep ``size`` items: the first ``size`` indices of a seeded permutation (sorted back into order)."""
    if size is None or size >= len(dataset):
        return dataset
    if size < 1:
        raise ValueError(f"Subset size must be a positive integer or null, got {size}")
    generator = torch.Generator().manual_seed(seed)
    indices = sorted(torch.randperm(len(dataset), generator=generator)[:size].tolist())
    if isinstance(dataset, ArrayImageDataset):
        return dataset.select(indices)
    return Subset(dataset, indices)


def build_datasets(
    name: str, root: str | os.PathLike = "./data", download: bool = False, **options: Any
) -> SplitDatasets:
    """Load the untransformed ``pretrain`` / ``train`` / ``test`` splits of ``name``.

    Items are ``(PIL image, int label)``. Raises :class:`DatasetNotFoundError`
    when the files are missing (and cannot be downloaded), ``ValueError`` for
    an unknown name or option. See :class:`DatasetOptions` for ``options``.
    """
    _check_name(name)
    parsed = DatasetOptions.parse(name, options)
    root = Path(root)
    check_dataset_available(name, root, download, **options)
    spec = _resolve_spec(name, root, parsed)
    if name in ("cifar10", "cifar100"):
        pretrain, train, test = _build_cifar(name, root, download)
    elif name == "stl10":
        pretrain, train, test = _build_stl10(root, download)
    elif name == "tiny_imagenet":
        pretrain, train, test = _build_tiny_imagenet(root)
    elif name == "fashion_mnist":
        pretrain, train, test = _build_fashion_mnist(root, download)
    elif name == "image_folder":
        pretrain, train, test = _build_image_folder(root)
    elif name in IMAGENET_NAMES:
        pretrain, train, test = build_imagenet(name, root, parsed.class_list)
    else:
        pretrain, train, test = _build_synthetic(spec, parsed)
    return SplitDatasets(
        pretrain=_subset(pretrain, parsed.pretrain_subset, parsed.seed),
        train=_subset(train, parsed.train_subset, parsed.seed),
        test=_subset(test, parsed.test_subset, parsed.seed),
        spec=spec,
    )


def make_split_datasets(
    name: str, root: str | os.PathLike = "./data", download: bool = False, num_views: int = 2, **options: Any
) -> SplitDatasets:
    """Like :func:`build_datasets`, with the transforms applied.

    ``pretrain`` items are ``(list of num_views augmented tensors, label)``
    (recipe: the ``augmentation`` option, see :class:`DatasetOptions`);
    ``train`` / ``test`` items are ``(eval-transformed tensor, label)``.
    """
    bases = build_datasets(name, root, download, **options)
    spec = bases.spec
    recipe = DatasetOptions.parse(name, options).augmentation_recipe(name)
    augmentation = MultiViewTransform(make_augmentation(recipe, spec.image_size, spec.mean, spec.std), num_views)
    evaluation = eval_transform(
        spec.mean, spec.std, spec.eval_resize, spec.eval_center_crop, interpolation=spec.eval_interpolation
    )
    return SplitDatasets(
        pretrain=TransformedDataset(bases.pretrain, augmentation),
        train=TransformedDataset(bases.train, evaluation),
        test=TransformedDataset(bases.test, evaluation),
        spec=spec,
    )
