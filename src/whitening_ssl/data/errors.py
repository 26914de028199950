"""Errors raised by the data pipeline.

A missing dataset is the most common way a run fails before it starts, so the
error says in one line which dataset is missing, where it was looked for, and
what to do about it, using the Hydra config keys (``dataset.root``,
``dataset.download``) the user actually controls.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

_TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
_IMAGENET_HINT = (
    "ImageNet cannot be downloaded automatically; get ILSVRC2012 from https://image-net.org and set "
    "dataset.root to a folder with train/ and val/, each with one folder per class named by WordNet id "
    "(<root>/train/n01440764/*.JPEG; sort the validation images into class folders with the usual valprep.sh script)"
)

# Human-readable name and how-to-get-it hint per dataset; "{root}" is filled
# with the folder the user configured. TORCHVISION_FOLDERS names the folder
# torchvision creates under root for the datasets it downloads.
_DISPLAY_NAMES = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "stl10": "STL-10",
    "tiny_imagenet": "Tiny-ImageNet",
    "fashion_mnist": "Fashion-MNIST",
    "image_folder": "Image folder dataset",
    "imagenet": "ImageNet",
    "imagenet100": "ImageNet-100",
}
TORCHVISION_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python", "stl10": "stl10_binary"}
_HINTS = {
    **{
        name: (
            "set dataset.download=true to let torchvision download it, "
            f"or set dataset.root to the folder that holds {folder}"
        )
        for name, folder in TORCHVISION_FOLDERS.items()
    },
    "tiny_imagenet": f"download {_TINY_IMAGENET_URL} and unzip into {{root}}",
    "fashion_mnist": "apt-get install dataset-fashion-mnist, or set dataset.download=true",
    "image_folder": (
        "set dataset.root to a folder with train/ (and optionally val/) "
        "subfolders of class folders"
    ),
    "imagenet": _IMAGENET_HINT,
    "imagenet100": _IMAGENET_HINT,
}


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the configuration says they are.

    Subclasses :class:`FileNotFoundError` so generic handlers still catch it;
    ``str(error)`` is always a single line.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def for_dataset(
        cls,
        name: str,
        root: str | os.PathLike,
        looked_in: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        detail: str | None = None,
    ) -> DatasetNotFoundError:
        """Build the standard one-line error for dataset ``name``.

        ``looked_in`` lists the place(s) searched (defaults to ``root``);
        ``detail`` is an optional reason (e.g. which file is missing).
        """
        display_name = _DISPLAY_NAMES.get(name, name)
        if looked_in is None:
            looked_in = root
        if isinstance(looked_in, (str, os.PathLike)):
            looked_in = [looked_in]
        places = ", ".join(os.path.abspath(os.fspath(place)) for place in looked_in)
        hint = _HINTS.get(name, "check dataset.root").format(root=os.path.abspath(os.fspath(root)))
        reason = f" ({detail})" if detail else ""
        return cls(f"{display_name} not found in {places}{reason}: {hint}")

    @classmethod
    def download_failed(cls, name: str, root: str | os.PathLike, reason: object) -> DatasetNotFoundError:
        """The error for a requested download that failed (typically: no network on a compute node)."""
        display_name = _DISPLAY_NAMES.get(name, name)
        where = os.path.abspath(os.fspath(root))
        folder = {**TORCHVISION_FOLDERS, "fashion_mnist": "FashionMNIST/raw"}.get(name, "the dataset")
        manual = f"download it elsewhere and set dataset.root to the folder that holds {folder}"
        return cls(f"{display_name} could not be downloaded into {where} ({reason}): check network access, or {manual}")
