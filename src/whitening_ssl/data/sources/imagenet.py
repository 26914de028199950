"""ImageNet (ILSVRC2012) and its 100-class subset ImageNet-100.

Both read the standard ImageFolder layout::

    <root>/train/<wnid>/*.JPEG
    <root>/val/<wnid>/*.JPEG      (val sorted into class folders, e.g. by valprep.sh)

``imagenet`` takes its classes from the folders of ``train/`` (1000 for the
real dataset); ``imagenet100`` keeps only the WordNet ids of a class list
(by default the list shipped with this package, ``imagenet100_classes.txt``,
the subset used by CMC / W-MSE / CW-RGP), with class indices in sorted id
order. Only the selected class folders are listed, each with one
``os.scandir`` call (in a small thread pool, which matters on network file
systems), into a compact :class:`FileListDataset`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.options import DatasetOptions, Option
from whitening_ssl.data.recipes import IMAGENET_MEAN, IMAGENET_STD
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, Missing, register_dataset, splits_from
from whitening_ssl.data.sources.listing import class_folders, list_images

if TYPE_CHECKING:
    from whitening_ssl.data.sources.images import FileListDataset

IMAGENET_FOLDERS = ("train", "val")
IMAGENET100_CLASS_FILE = "imagenet100_classes.txt"
SCAN_THREADS = 8


def read_class_list(path: str | os.PathLike | None = None) -> list[str]:
    """The WordNet ids of a class-list file, in file order (``None``: the ImageNet-100 list shipped with the
    package, read through :mod:`importlib.resources`, so it works from a wheel too).

    One id per line; blank lines, ``#`` comments and anything after the first word (e.g. a class
    name) are ignored. Duplicates or an empty list raise ``ValueError``.
    """
    if path is None:
        source = f"whitening_ssl.data.sources/{IMAGENET100_CLASS_FILE}"
        text = (
            resources.files("whitening_ssl.data.sources").joinpath(IMAGENET100_CLASS_FILE).read_text(encoding="utf-8")
        )
    else:
        source = os.fspath(Path(path).expanduser())
        if not os.path.isfile(source):
            where = os.path.abspath(source)
            raise FileNotFoundError(f"Class list {where} not found (set by dataset.options.class_list)")
        with open(source, encoding="utf-8") as file:
            text = file.read()
    ids = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            ids.append(words[0])
    if not ids:
        raise ValueError(f"Class list {source} is empty")
    duplicates = sorted(wnid for wnid, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"Class list {source} repeats {len(duplicates)} id(s), e.g. {duplicates[0]}")
    return ids


def imagenet100_classes(class_list: str | os.PathLike | None = None) -> list[str]:
    """The ImageNet-100 class ids in label order (sorted), from ``class_list`` or the shipped list."""
    return sorted(read_class_list(class_list))


def train_classes(root: Path) -> list[str]:
    """``imagenet``'s class ids in label order: the folders of ``<root>/train`` (one ``scandir`` call)."""
    classes = class_folders(root / "train")
    if not classes:
        detail = "no class folders in train/" if (root / "train").is_dir() else "missing train/"
        raise DatasetNotFoundError.for_dataset("imagenet", root, looked_in=root / "train", detail=detail)
    return classes


def imagenet_missing(root: Path, classes: Callable[[], list[str]]) -> Missing | None:
    """What is missing for ``train/`` and ``val/`` to hold a folder for each of ``classes()`` (``None``:
    nothing). Cheap: one directory listing per split, no image is listed."""
    for split in IMAGENET_FOLDERS:
        if not (root / split).is_dir():
            return Missing([root / split], f"missing {split}/")
    wanted = classes()
    for split in IMAGENET_FOLDERS:
        present = set(class_folders(root / split))
        missing = [wnid for wnid in wanted if wnid not in present]
        if missing:
            return Missing(
                [root / split],
                f"{len(missing)} of the {len(wanted)} class folders are missing from {split}/, e.g. {missing[0]}",
            )
    return None


def scan_split(split_dir: Path, classes: Sequence[str], on_bad_image: str = "skip") -> FileListDataset:
    """List ``split_dir/<class>/`` for each class (label = position in ``classes``), in a thread pool."""
    from whitening_ssl.data.sources.images import FileListDataset  # (torch: only when the dataset is built)

    with ThreadPoolExecutor(max_workers=max(1, min(SCAN_THREADS, len(classes)))) as pool:
        listings = list(pool.map(lambda wnid: list_images(split_dir / wnid), classes))
    files: list[str] = []
    targets: list[int] = []
    for label, (wnid, names) in enumerate(zip(classes, listings)):
        files.extend(f"{wnid}/{name}" for name in names)
        targets.extend([label] * len(names))
    return FileListDataset(split_dir, files, targets, classes, on_bad_image=on_bad_image)


# --- registry entries ---------------------------------------------------------------------------

IMAGENET_IMAGE_SIZE = 224
IMAGENET_EVAL_RESIZE = 256
IMAGENET_HINT = (
    "ImageNet cannot be downloaded automatically; get ILSVRC2012 from https://image-net.org and set "
    "dataset.root to a folder with train/ and val/, each with one folder per class named by WordNet id "
    "(<root>/train/n01440764/*.JPEG; sort the validation images into class folders with the usual valprep.sh script)"
)


def _imagenet_entry(
    name: str, display_name: str, classes: Callable[[Path, DatasetOptions], list[str]], options: dict[str, Option]
) -> DatasetEntry:
    """An ImageNet folder dataset whose class ids (in label order) are ``classes(root, options)``."""

    def load(root: Path, options: DatasetOptions, folder: str, on_bad_image: str) -> FileListDataset:
        dataset = scan_split(root / folder, classes(root, options), on_bad_image)
        if len(dataset) == 0:
            raise DatasetNotFoundError.for_dataset(
                name, root, looked_in=root / folder, detail=f"no images in {folder}/"
            )
        return dataset

    def spec(root: Path, options: DatasetOptions) -> DatasetSpec:
        return DatasetSpec(
            name,
            len(classes(root, options)),
            IMAGENET_IMAGE_SIZE,
            IMAGENET_MEAN,
            IMAGENET_STD,
            eval_resize=IMAGENET_EVAL_RESIZE,
            eval_center_crop=IMAGENET_IMAGE_SIZE,
            eval_interpolation="bilinear",
            stem="imagenet",
            augmentation="imagenet",
        )

    return DatasetEntry(
        name=name,
        display_name=display_name,
        hint=IMAGENET_HINT,
        spec=spec,
        locate=lambda root, options: imagenet_missing(root, lambda: classes(root, options)),
        build=splits_from({"pretrain": "train", "train": "train", "test": "val"}, load),
        options=options,
    )


register_dataset(_imagenet_entry("imagenet", "ImageNet", lambda root, options: train_classes(root), {}))
register_dataset(
    _imagenet_entry(
        "imagenet100",
        "ImageNet-100",
        lambda root, options: imagenet100_classes(options.class_list),
        {
            "class_list": Option(
                None, kind="path", doc="a file of WordNet ids, one per line (default: the shipped list)"
            )
        },
    )
)
