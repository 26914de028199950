"""Stand-ins of the datasets' STORED formats: tiny copies written exactly as the real files lie on disk.

CIFAR-10/100, STL-10 and Tiny-ImageNet cannot be downloaded on a test machine, so their readers
(torchvision's classes, the Tiny-ImageNet folder scan) are tested on a few images written in the
very layout the real download leaves under ``dataset.root``::

    stand_in = write_stand_in("cifar10", tmp_path, num_images=64)
    stand_in.accept(monkeypatch)                 # torchvision's md5 checks accept the files written
    cfg = compose_config([*stand_in.overrides(), ...])

:data:`STAND_INS` maps each dataset name to its writer; :func:`write_stand_in` looks it up and
raises for a name without one, so a dataset added to the registry makes the tests that iterate
the registry fail until it has a stand-in here. Every writer takes ``(root, num_images,
generator)``, writes ``num_images`` pretraining images (STL-10: train + unlabeled) and a test split of
``max(num_images // 4, 8)`` images, and returns a :class:`StandIn`: what was written (``files``,
relative to ``root``, with their md5), the ``dataset.options`` the dataset needs (``options``), and
the torchvision class attributes that hold md5 lists (``md5_attributes``), which :meth:`StandIn.accept`
sets to the files' own md5s. The real files' md5s stay in torchvision; a download archive of a
stand-in (e.g. ``tar czf`` of ``root / stand_in.folder``) can reuse ``files`` for its members.

The images are smooth (random 4x4 colour patterns upsampled, plus noise), so crops and resizing see
structure, and each image has its own brightness; Tiny-ImageNet's stand-in includes one grey JPEG,
as the real training set does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import datasets as tv_datasets

TEST_FRACTION = 4  # test images = max(num_images // TEST_FRACTION, MIN_TEST)
MIN_TEST = 8


@dataclasses.dataclass
class StandIn:
    """A stand-in written under ``root``: ``folder`` (what the download creates there), ``files``
    (path relative to ``root`` -> md5), ``options`` (``dataset.options.*`` it needs), and
    ``md5_attributes`` (torchvision class -> {attribute: value} that :meth:`accept` sets)."""

    name: str
    root: Path
    folder: str | None
    files: dict[str, str]
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    md5_attributes: dict[type, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def accept(self, monkeypatch) -> None:
        """Make torchvision's integrity checks (md5 of every file) accept the files written."""
        for dataset_class, attributes in self.md5_attributes.items():
            for attribute, value in attributes.items():
                monkeypatch.setattr(dataset_class, attribute, value)

    def overrides(self) -> list[str]:
        """The Hydra overrides that read this stand-in: ``dataset=<name> dataset.root=<root> ...``."""
        options = [f"++dataset.options.{key}={value}" for key, value in self.options.items()]
        return [f"dataset={self.name}", f"dataset.root={self.root}", "dataset.download=false", *options]


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write(root: Path, relative: str, data: bytes, files: dict[str, str]) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    files[relative] = _md5(path)
    return path


def smooth_images(count: int, channels: int, size: int, generator: torch.Generator) -> np.ndarray:
    """uint8 ``[count, size, size, channels]``: a random 4x4 pattern per image, upsampled, with noise and
    a per-image brightness in [0.5, 1]."""
    low = torch.rand(count, channels, 4, 4, generator=generator)
    smooth = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    brightness = 0.5 + 0.5 * torch.rand(count, 1, 1, 1, generator=generator)
    noisy = (smooth * brightness + 0.05 * torch.randn(count, channels, size, size, generator=generator)).clamp(0, 1)
    return (noisy * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _labels(count: int, num_classes: int, generator: torch.Generator) -> np.ndarray:
    return (torch.randperm(count, generator=generator) % num_classes).numpy().astype(np.int64)


def _test_count(num_images: int) -> int:
    return max(num_images // TEST_FRACTION, MIN_TEST)


# --- CIFAR-10 / CIFAR-100: python pickles of [N, 3072] channel-planar rows ------------------------------


def _cifar_batch(images: np.ndarray, labels: np.ndarray, label_key: str, name: str) -> bytes:
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # R plane, G plane, B plane per row
    batch = {
        "batch_label": name,
        label_key: labels.tolist(),
        "data": rows,
        "filenames": [f"stand_in_{k:05d}.png" for k in range(len(images))],
    }
    if label_key == "fine_labels":
        batch["coarse_labels"] = (labels // 5).tolist()
    return pickle.dumps(batch, protocol=2)


def _write_cifar(dataset_class, num_classes: int, label_key: str, meta: dict[str, list]):
    def write(root: Path, num_images: int, generator: torch.Generator) -> StandIn:
        folder, files = dataset_class.base_folder, {}
        train_names = [name for name, _ in dataset_class.train_list]
        test_names = [name for name, _ in dataset_class.test_list]
        splits = [(train_names, num_images), (test_names, _test_count(num_images))]
        for names, count in splits:
            images, labels = smooth_images(count, 3, 32, generator), _labels(count, num_classes, generator)
            for part, name in enumerate(names):  # CIFAR-10's training set comes in 5 batches
                share = slice(part * count // len(names), (part + 1) * count // len(names))
                _write(root, f"{folder}/{name}", _cifar_batch(images[share], labels[share], label_key, name), files)
        meta_name = dataset_class.meta["filename"]
        _write(root, f"{folder}/{meta_name}", pickle.dumps(meta, protocol=2), files)
        md5s = {
            "train_list": [[name, files[f"{folder}/{name}"]] for name in train_names],
            "test_list": [[name, files[f"{folder}/{name}"]] for name in test_names],
            "meta": {**dataset_class.meta, "md5": files[f"{folder}/{meta_name}"]},
        }
        return StandIn(dataset_class.__name__.lower(), root, folder, files, md5_attributes={dataset_class: md5s})

    return write


_CIFAR10_META = {"label_names": [f"class_{k}" for k in range(10)], "num_cases_per_batch": 10000, "num_vis": 3072}
_CIFAR100_META = {
    "fine_label_names": [f"fine_{k}" for k in range(100)],
    "coarse_label_names": [f"coarse_{k}" for k in range(20)],
}


# --- STL-10: raw uint8 [N, 3, 96, 96] stored column-major, labels 1..10 ----------------------------------


def write_stl10(root: Path, num_images: int, generator: torch.Generator) -> StandIn:
    """``stl10_binary/``: ``*_X.bin`` hold each image's planes column by column (torchvision transposes
    them back), ``*_y.bin`` the labels 1..10; ``num_images`` pretraining images = train + unlabeled."""
    folder, files = tv_datasets.STL10.base_folder, {}
    train_count = num_images // 2
    for split, count, labelled in [
        ("train", train_count, True),
        ("unlabeled", num_images - train_count, False),
        ("test", _test_count(num_images), True),
    ]:
        images = smooth_images(count, 3, 96, generator)  # [N, H, W, C]
        column_major = np.ascontiguousarray(images.transpose(0, 3, 2, 1))  # [N, C, W, H]
        _write(root, f"{folder}/{split}_X.bin", column_major.tobytes(), files)
        if labelled:
            _write(
                root, f"{folder}/{split}_y.bin", (_labels(count, 10, generator) + 1).astype(np.uint8).tobytes(), files
            )
    _write(root, f"{folder}/class_names.txt", "\n".join(f"class_{k}" for k in range(10)).encode() + b"\n", files)
    folds = "\n".join(" ".join(str(i) for i in range(k, train_count, 10)) for k in range(10)) + "\n"
    _write(root, f"{folder}/fold_indices.txt", folds.encode(), files)
    md5s = {
        attribute: [[name, files[f"{folder}/{name}"]] for name, _ in getattr(tv_datasets.STL10, attribute)]
        for attribute in ("train_list", "test_list")
    }
    return StandIn("stl10", root, folder, files, md5_attributes={tv_datasets.STL10: md5s})


# --- Fashion-MNIST: idx files as torchvision extracts them ------------------------------------------------


def _idx(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(dim).to_bytes(4, "big") for dim in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_fashion_mnist(root: Path, num_images: int, generator: torch.Generator) -> StandIn:
    """``FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``: 28 x 28 grey images, no channel axis."""
    folder, files = "FashionMNIST/raw", {}
    for prefix, count in [("train", num_images), ("t10k", _test_count(num_images))]:
        images = smooth_images(count, 1, 28, generator)[..., 0]
        _write(root, f"{folder}/{prefix}-images-idx3-ubyte", _idx(images, 2051), files)
        _write(root, f"{folder}/{prefix}-labels-idx1-ubyte", _idx(_labels(count, 10, generator), 2049), files)
    return StandIn("fashion_mnist", root, folder, files)


# --- Tiny-ImageNet: JPEG folders ------------------------------------------------------------------------

TINY_WNIDS = ("n01443537", "n01629819", "n01641577", "n01644900")  # the first classes of wnids.txt


def _jpeg(image: np.ndarray) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_tiny_imagenet(root: Path, num_images: int, generator: torch.Generator) -> StandIn:
    """``tiny-imagenet-200/``: ``train/<wnid>/images/<wnid>_<k>.JPEG`` (64 x 64; the first one grey, as
    some real ones are) with ``<wnid>_boxes.txt``, ``val/images/val_<k>.JPEG`` listed in
    ``val/val_annotations.txt`` (file, wnid, box), ``test/images``, ``wnids.txt``, ``words.txt``."""
    folder, files = "tiny-imagenet-200", {}
    images = smooth_images(num_images, 3, 64, generator)
    for k, image in enumerate(images):
        wnid = TINY_WNIDS[k % len(TINY_WNIDS)]
        pixels = image.mean(axis=2).round().astype(np.uint8) if k == 0 else image  # one grey JPEG
        _write(root, f"{folder}/train/{wnid}/images/{wnid}_{k}.JPEG", _jpeg(pixels), files)
    for wnid in TINY_WNIDS:
        boxes = "".join(f"{wnid}_{k}.JPEG\t0\t0\t63\t63\n" for k in range(num_images) if TINY_WNIDS[k % 4] == wnid)
        _write(root, f"{folder}/train/{wnid}/{wnid}_boxes.txt", boxes.encode(), files)
    annotations = []
    for k, image in enumerate(smooth_images(_test_count(num_images), 3, 64, generator)):
        _write(root, f"{folder}/val/images/val_{k}.JPEG", _jpeg(image), files)
        annotations.append(f"val_{k}.JPEG\t{TINY_WNIDS[k % len(TINY_WNIDS)]}\t0\t0\t63\t63\n")
    _write(root, f"{folder}/val/val_annotations.txt", "".join(annotations).encode(), files)
    for k, image in enumerate(smooth_images(2, 3, 64, generator)):
        _write(root, f"{folder}/test/images/test_{k}.JPEG", _jpeg(image), files)
    _write(root, f"{folder}/wnids.txt", "".join(f"{wnid}\n" for wnid in TINY_WNIDS).encode(), files)
    _write(root, f"{folder}/words.txt", "".join(f"{wnid}\tclass {wnid}\n" for wnid in TINY_WNIDS).encode(), files)
    return StandIn("tiny_imagenet", root, folder, files)


# --- synthetic: generated in memory ---------------------------------------------------------------------


def write_synthetic(root: Path, num_images: int, generator: torch.Generator) -> StandIn:
    """Nothing to write: the sizes as ``dataset.options``."""
    options = {"num_samples": num_images, "num_test": _test_count(num_images)}
    return StandIn("synthetic", root, None, {}, options=options)


#: dataset name -> writer(root, num_images, generator) -> StandIn
STAND_INS: dict[str, Callable[[Path, int, torch.Generator], StandIn]] = {
    "cifar10": _write_cifar(tv_datasets.CIFAR10, 10, "labels", _CIFAR10_META),
    "cifar100": _write_cifar(tv_datasets.CIFAR100, 100, "fine_labels", _CIFAR100_META),
    "stl10": write_stl10,
    "fashion_mnist": write_fashion_mnist,
    "tiny_imagenet": write_tiny_imagenet,
    "synthetic": write_synthetic,
}


def write_stand_in(name: str, root: Path | str, num_images: int = 64, seed: int = 0) -> StandIn:
    """Write the stand-in of dataset ``name`` under ``root`` (``num_images`` pretraining images, seeded)."""
    if name not in STAND_INS:
        raise LookupError(
            f"dataset {name!r} has no stand-in: add a writer of its stored format to STAND_INS in tests/fakes.py"
        )
    return STAND_INS[name](Path(root), num_images, torch.Generator().manual_seed(seed))
