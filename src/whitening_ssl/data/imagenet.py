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
systems), and the result is a compact :class:`FileListDataset`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.image_datasets import IMAGE_EXTENSIONS, FileListDataset, class_folders
from whitening_ssl.data.registry import DatasetEntry, DatasetOptions, DatasetSpec, Missing, register_dataset
from whitening_ssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD

IMAGENET_NAMES = ("imagenet", "imagenet100")
IMAGENET_SPLITS = ("train", "val")
IMAGENET100_CLASS_FILE = "imagenet100_classes.txt"
SCAN_THREADS = 8


def read_class_list(path: str | os.PathLike | None = None) -> list[str]:
    """The WordNet ids of a class-list file, in file order.

    ``path=None`` reads the ImageNet-100 list shipped with the package (through
    :mod:`importlib.resources`, so it works from a wheel as well as from the
    source tree). One id per line; blank lines and ``#`` comments are skipped
    and anything after the first word (e.g. a class name) is ignored.
    Duplicates or an empty list raise ``ValueError``.
    """
    if path is None:
        source = f"whitening_ssl.data/{IMAGENET100_CLASS_FILE}"
        text = resources.files("whitening_ssl.data").joinpath(IMAGENET100_CLASS_FILE).read_text(encoding="utf-8")
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
    seen: set[str] = set()
    duplicates = sorted({wnid for wnid in ids if wnid in seen or seen.add(wnid)})
    if duplicates:
        raise ValueError(f"Class list {source} repeats {len(duplicates)} id(s), e.g. {duplicates[0]}")
    return ids


def imagenet100_classes(class_list: str | os.PathLike | None = None) -> list[str]:
    """The ImageNet-100 class ids in label order (sorted), from ``class_list`` or the shipped list."""
    return sorted(read_class_list(class_list))


def imagenet_classes(name: str, root: str | os.PathLike, class_list: str | os.PathLike | None = None) -> list[str]:
    """Class ids of dataset ``name`` in label order.

    ``imagenet``: the folders of ``<root>/train`` (one ``scandir`` call);
    ``imagenet100``: the sorted class list (no disk access besides the list).
    """
    if name == "imagenet100":
        return imagenet100_classes(class_list)
    if name != "imagenet":
        raise ValueError(f"Unknown ImageNet variant '{name}'; valid names: {', '.join(IMAGENET_NAMES)}")
    root = Path(root)
    classes = class_folders(root / "train")
    if not classes:
        detail = "no class folders in train/" if (root / "train").is_dir() else "missing train/"
        raise DatasetNotFoundError.for_dataset(name, root, looked_in=root / "train", detail=detail)
    return classes


def imagenet_missing(name: str, root: Path, class_list: str | os.PathLike | None = None) -> Missing | None:
    """What is missing for ``train/`` and ``val/`` to hold a folder for every class (``None``: nothing).

    Cheap: one directory listing per split, no image is listed.
    """
    for split in IMAGENET_SPLITS:
        if not (root / split).is_dir():
            return Missing([root / split], f"missing {split}/")
    classes = imagenet_classes(name, root, class_list)
    for split in IMAGENET_SPLITS:
        present = set(class_folders(root / split))
        missing = [wnid for wnid in classes if wnid not in present]
        if missing:
            return Missing([root / split], f"{len(missing)} of the {len(classes)} class folders are missing from "
                                           f"{split}/, e.g. {missing[0]}")
    return None


def check_imagenet(name: str, root: str | os.PathLike, class_list: str | os.PathLike | None = None) -> list[str]:
    """Raise :class:`DatasetNotFoundError` unless ``train/`` and ``val/`` hold a folder for every class
    (:func:`imagenet_missing`); returns the classes in label order."""
    root = Path(root)
    missing = imagenet_missing(name, root, class_list)
    if missing is not None:
        raise DatasetNotFoundError.for_dataset(name, root, looked_in=missing.looked_in, detail=missing.detail)
    return imagenet_classes(name, root, class_list)


def list_images(directory: str | os.PathLike, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[str]:
    """Image files under ``directory`` (recursively), as sorted paths relative to it.

    Uses ``os.scandir``, whose entries carry the file type, so listing a class
    folder costs one system call per folder rather than one ``stat`` per file.
    """
    extensions = tuple(extension.lower() for extension in extensions)
    found = []
    pending = [("", os.fspath(directory))]
    while pending:
        prefix, folder = pending.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    pending.append((prefix + entry.name + "/", entry.path))
                elif entry.name.lower().endswith(extensions) and entry.is_file():
                    found.append(prefix + entry.name)
    return sorted(found)


def scan_split(
    split_dir: str | os.PathLike, classes: Sequence[str], threads: int = SCAN_THREADS, on_bad_image: str = "skip"
) -> FileListDataset:
    """List ``split_dir/<class>/`` for each class (label = position in ``classes``) into a dataset."""
    split_dir = Path(split_dir)
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(classes)))) as pool:
        listings = list(pool.map(lambda wnid: list_images(split_dir / wnid), classes))
    files, targets = [], []
    for label, (wnid, names) in enumerate(zip(classes, listings)):
        files.extend(f"{wnid}/{name}" for name in names)
        targets.extend([label] * len(names))
    return FileListDataset(split_dir, files, targets, classes, on_bad_image=on_bad_image)


def build_imagenet(
    name: str, root: str | os.PathLike, class_list: str | os.PathLike | None = None,
    splits: Collection[str] = ("pretrain", "train", "test"), on_bad_image: str = "skip",
) -> dict[str, FileListDataset]:
    """The requested splits of ``imagenet`` or ``imagenet100``: pretrain and train are ``train/``, test is ``val/``."""
    root = Path(root)
    classes = check_imagenet(name, root, class_list)
    folders = {"pretrain": "train", "train": "train", "test": "val"}
    scanned: dict[str, FileListDataset] = {}
    for folder in sorted({folders[split] for split in splits}):
        dataset = scan_split(root / folder, classes, on_bad_image=on_bad_image)
        if len(dataset) == 0:
            raise DatasetNotFoundError.for_dataset(name, root, looked_in=root / folder, detail=f"no images in {folder}/")
        scanned[folder] = dataset
    return {split: scanned[folders[split]] for split in splits}


# --- registry entries ---------------------------------------------------------------------------

IMAGENET_IMAGE_SIZE = 224
IMAGENET_EVAL_RESIZE = 256
_IMAGENET_HINT = (
    "ImageNet cannot be downloaded automatically; get ILSVRC2012 from https://image-net.org and set "
    "dataset.root to a folder with train/ and val/, each with one folder per class named by WordNet id "
    "(<root>/train/n01440764/*.JPEG; sort the validation images into class folders with the usual valprep.sh script)"
)


def _spec(name: str):
    def spec(root: Path, options: DatasetOptions) -> DatasetSpec:
        classes = imagenet_classes(name, root, options.class_list)
        return DatasetSpec(name, len(classes), IMAGENET_IMAGE_SIZE, IMAGENET_MEAN, IMAGENET_STD,
                           eval_resize=IMAGENET_EVAL_RESIZE, eval_center_crop=IMAGENET_IMAGE_SIZE,
                           eval_interpolation="bilinear", stem="imagenet", augmentation="imagenet")

    return spec


def _locate(name: str):
    def locate(root: Path, options: DatasetOptions) -> Missing | None:
        return imagenet_missing(name, root, options.class_list)

    return locate


def _build(name: str):
    def build(root: Path, options: DatasetOptions,
              splits: Collection[str], on_bad_image: str = "skip"):
        return build_imagenet(name, root, options.class_list, splits, on_bad_image)

    return build


for _name, _display in (("imagenet", "ImageNet"), ("imagenet100", "ImageNet-100")):
    register_dataset(DatasetEntry(
        name=_name, display_name=_display, hint=_IMAGENET_HINT, spec=_spec(_name), locate=_locate(_name),
        build=_build(_name),
        options=frozenset({"class_list"}) if _name == "imagenet100" else frozenset()))
