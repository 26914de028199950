"""Datasets read from image folders: Tiny-ImageNet and your own ``image_folder``."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.options import DatasetOptions, Option
from whitening_ssl.data.recipes import IMAGENET_MEAN, IMAGENET_STD
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, Missing, register_dataset, splits_from
from whitening_ssl.data.sources.listing import class_folders, scan_class_folders

if TYPE_CHECKING:  # torch and the image datasets: imported when a dataset is built, not when it is checked
    from torch.utils.data import Dataset

    from whitening_ssl.data.sources.images import ImagePathDataset

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
IMAGE_FOLDER_HOLDOUT_FRACTION = 0.1
IMAGE_FOLDER_HOLDOUT_SEED = 0


# --- Tiny-ImageNet ----------------------------------------------------------------------------


def tiny_imagenet_dir(root: Path) -> Path:
    """``<root>/tiny-imagenet-200``, or ``root`` itself when it already is that folder."""
    return root if root.name == "tiny-imagenet-200" else root / "tiny-imagenet-200"


def _locate_tiny(root: Path, options: DatasetOptions) -> Missing | None:
    folder = tiny_imagenet_dir(root)
    for required in (folder / "train", folder / "val" / "val_annotations.txt"):
        if not required.exists():
            return Missing([folder], f"missing {required.relative_to(folder)}")
    return None


def _load_tiny(root: Path, options: DatasetOptions, split: str, on_bad_image: str) -> ImagePathDataset:
    """``train``: ``train/<wnid>/images/*.JPEG``; ``val``: ``val/images`` labelled by ``val_annotations.txt``
    (file, wnid, box); labels follow the sorted WordNet ids of the train folders."""
    from whitening_ssl.data.sources.images import ImagePathDataset

    folder = tiny_imagenet_dir(root)
    wnids = class_folders(folder / "train")
    if not wnids:
        raise DatasetNotFoundError.for_dataset(
            "tiny_imagenet", root, looked_in=folder / "train", detail="no class folders"
        )
    class_to_idx = {wnid: index for index, wnid in enumerate(wnids)}
    if split == "train":
        samples = [
            (str(path), label)
            for wnid, label in class_to_idx.items()
            for path in sorted((folder / "train" / wnid / "images").glob("*.JPEG"))
        ]
        return ImagePathDataset(samples, wnids, on_bad_image=on_bad_image)
    samples, annotations = [], folder / "val" / "val_annotations.txt"
    for line in annotations.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        if fields[1] not in class_to_idx:
            raise ValueError(f"{annotations}: class {fields[1]} has no train folder")
        samples.append((str(folder / "val" / "images" / fields[0]), class_to_idx[fields[1]]))
    return ImagePathDataset(samples, wnids, on_bad_image=on_bad_image)


register_dataset(
    DatasetEntry(
        name="tiny_imagenet",
        display_name="Tiny-ImageNet",
        hint=f"download {TINY_IMAGENET_URL} and unzip into {{root}}",
        spec=DatasetSpec("tiny_imagenet", 200, 64, (0.480, 0.448, 0.398), (0.277, 0.269, 0.282)),
        locate=_locate_tiny,
        build=splits_from({"pretrain": "train", "train": "train", "test": "val"}, _load_tiny),
        pretrain_size=100_000,
        in_memory=True,
    )
)


# --- image_folder: root/train/<class>/*, and root/val/<class>/* or a held-out 10% of train --------------------


def _image_folder_classes(root: Path) -> list[str]:
    classes = class_folders(root / "train")
    if not classes:
        raise DatasetNotFoundError.for_dataset(
            "image_folder", root, looked_in=root / "train", detail="no class folders"
        )
    return classes


def _image_folder_spec(root: Path, options: DatasetOptions) -> DatasetSpec:
    size = options.image_size
    return DatasetSpec(
        "image_folder",
        len(_image_folder_classes(root)),
        size,
        IMAGENET_MEAN,
        IMAGENET_STD,
        eval_resize=int(size * 1.1),
        eval_center_crop=size,
    )


def _locate_image_folder(root: Path, options: DatasetOptions) -> Missing | None:
    if not (root / "train").is_dir():
        return Missing([root / "train"])
    return None if class_folders(root / "train") else Missing([root / "train"], "no class folders")


def held_out_count(num_items: int) -> int:
    """How many of ``num_items`` training images :func:`holdout_split` holds out."""
    return max(1, int(num_items * IMAGE_FOLDER_HOLDOUT_FRACTION)) if num_items > 1 else 0


def holdout_split(num_items: int) -> tuple[list[int], list[int]]:
    """Deterministic (fixed-seed) split of ``range(num_items)`` into (train, held-out) indices."""
    import torch

    num_held_out = held_out_count(num_items)
    permutation = torch.randperm(num_items, generator=torch.Generator().manual_seed(IMAGE_FOLDER_HOLDOUT_SEED))
    return sorted(permutation[num_held_out:].tolist()), sorted(permutation[:num_held_out].tolist())


def _image_folder_train(root: Path) -> tuple[list[str], dict[str, int], list[tuple[str, int]]]:
    """The classes, their indices and every ``(path, label)`` of ``root/train``."""
    classes = _image_folder_classes(root)
    class_to_idx = {name: index for index, name in enumerate(classes)}
    train = scan_class_folders(root / "train", class_to_idx)
    if not train:
        raise DatasetNotFoundError.for_dataset("image_folder", root, looked_in=root / "train", detail="no images")
    return classes, class_to_idx, train


def _image_folder_pretrain_size(root: Path, options: DatasetOptions) -> int:
    """The training images :func:`_image_folder_samples` keeps, counted without the held-out split's draw."""
    total = len(_image_folder_train(root)[2])
    return total if (root / "val").is_dir() else total - held_out_count(total)


def _image_folder_samples(root: Path) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, int]]]:
    classes, class_to_idx, train = _image_folder_train(root)
    if (root / "val").is_dir():
        test = scan_class_folders(root / "val", class_to_idx)
    else:  # no val/: hold out a fixed 10% of train as the test split (and train on the rest only)
        kept, held_out = holdout_split(len(train))
        train, test = [train[i] for i in kept], [train[i] for i in held_out]
    return classes, train, test


def _build_image_folder(
    root: Path, options: DatasetOptions, splits: Collection[str], on_bad_image: str
) -> dict[str, Dataset]:
    from whitening_ssl.data.sources.images import ImagePathDataset

    classes, train_samples, test_samples = _image_folder_samples(root)
    train = ImagePathDataset(train_samples, classes, on_bad_image=on_bad_image)
    built = {"pretrain": train, "train": train, "test": ImagePathDataset(test_samples, classes, on_bad_image)}
    return {name: built[name] for name in splits}


register_dataset(
    DatasetEntry(
        name="image_folder",
        display_name="Image folder dataset",
        hint="set dataset.root to a folder with train/ (and optionally val/) subfolders of class folders",
        spec=_image_folder_spec,
        locate=_locate_image_folder,
        build=_build_image_folder,
        pretrain_size=_image_folder_pretrain_size,
        options={"image_size": Option(64, doc="the training crop (and the evaluation's centre crop) in pixels")},
    )
)
