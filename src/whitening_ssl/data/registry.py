"""The dataset registry: one :class:`DatasetEntry` per dataset name.

An entry says everything the rest of the project needs to know about a dataset: its constants
(:class:`DatasetSpec`: classes, image size, normalisation, evaluation transform, ResNet stem,
augmentation recipe), where its files are and how to tell they are missing (cheap path checks, no
image is read), how to get it (the hint printed when it is missing), how many pretraining images
it has (so a batch larger than the dataset is refused before training), and how to build its
three splits:

* ``pretrain``: the images of self-supervised training (labels unused; STL-10 adds its unlabeled split),
* ``train``: the labelled training split of the evaluation (linear probe, k-NN),
* ``test``: the labelled test split.

Adding a dataset is one entry (``register_dataset``) in a module imported by
``whitening_ssl.data`` plus one YAML file in ``conf/dataset/``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

from torch.utils.data import Dataset

#: ``data.verify_images``: check image files before training (none, a seeded sample of 256, all);
#: ``data.on_bad_image``: what an undecodable image does during training (skip it, or stop the run).
VERIFY_MODES = ("none", "sample", "all")
BAD_IMAGE_POLICIES = ("skip", "stop")

SPLITS = ("pretrain", "train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """Constants of a dataset that the model and the transforms depend on.

    ``image_size`` is the training crop; ``eval_resize``/``eval_center_crop`` (None: unused) and
    ``eval_interpolation`` define the evaluation transform; ``stem`` is the ResNet stem the papers
    use for it (a key of :data:`whitening_ssl.models.STEMS`); ``augmentation`` the default self-supervised recipe.
    """

    name: str
    num_classes: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eval_resize: int | None = None
    eval_center_crop: int | None = None
    eval_interpolation: str = "bicubic"
    stem: str = "small"
    augmentation: str = "small"


@dataclass(frozen=True)
class DatasetOptions:
    """Optional settings of a dataset (``dataset.options.*``), checked once per run by :meth:`parse`.

    Common to all datasets: ``seed`` (subsets, synthetic images), ``pretrain_subset`` /
    ``train_subset`` / ``test_subset`` (keep a seeded random subset of K items of a split) and
    ``augmentation`` (a recipe name, ``default`` = the dataset's own). The others apply only to the
    datasets whose entry lists them (``DatasetEntry.options``): ``image_size`` (``image_folder``,
    ``synthetic``; elsewhere it must equal the dataset's size), ``num_samples``/``num_test``/
    ``num_classes`` (``synthetic``), ``class_list`` (``imagenet100``).
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

    COMMON = frozenset({"seed", "pretrain_subset", "train_subset", "test_subset", "augmentation", "image_size",
                        "num_classes"})

    @classmethod
    def parse(cls, entry: "DatasetEntry", options: dict[str, Any] | None) -> "DatasetOptions":
        """Validated options for ``entry``; raises ``ValueError`` with one line per problem."""
        problems = cls.problems(entry, options or {})
        if problems:
            raise ValueError("; ".join(problems))
        given = {key: value for key, value in (options or {}).items() if value is not None}
        if "class_list" in given:
            given["class_list"] = os.fspath(given["class_list"])
        return cls(**given)

    @classmethod
    def problems(cls, entry: "DatasetEntry", options: dict[str, Any]) -> list[str]:
        from whitening_ssl.data.recipes import RECIPES

        valid = [field.name for field in dataclasses.fields(cls)]
        found = []
        unknown = sorted(set(options) - set(valid))
        if unknown:
            found.append(f"unknown dataset option(s) {', '.join(unknown)} for dataset={entry.name}: "
                         f"valid options are {', '.join(valid)}")
        given = {key: value for key, value in options.items() if value is not None and key in valid}
        for key in sorted(set(given) - cls.COMMON - set(entry.options)):
            owners = [name for name, other in DATASETS.items() if key in other.options]
            found.append(f"dataset.options.{key} applies only to dataset={'|'.join(owners) or '?'}: remove it for "
                         f"dataset={entry.name}")
        for key in ("image_size", "num_samples", "num_test", "num_classes", "pretrain_subset", "train_subset",
                    "test_subset", "seed"):
            value = given.get(key)
            minimum = 0 if key == "seed" else 1
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
                found.append(f"dataset.options.{key}={value!r} must be a whole number >= {minimum}")
        augmentation = given.get("augmentation", "default")
        if augmentation != "default" and augmentation not in RECIPES:
            found.append(f"dataset.options.augmentation={augmentation!r} is not available: use default or one of "
                         f"{', '.join(RECIPES)}")
        return found

    def augmentation_recipe(self, spec: DatasetSpec) -> str:
        """The recipe to use: ``augmentation``, or the dataset's default."""
        return spec.augmentation if self.augmentation == "default" else self.augmentation


class Missing(NamedTuple):
    """Why a dataset is not available: the places looked in and an optional detail."""

    looked_in: Sequence[os.PathLike | str]
    detail: Optional[str] = None


class SplitDatasets(NamedTuple):
    """The splits of a dataset plus its spec (unpackable as a tuple); unbuilt splits are ``None``."""

    pretrain: Optional[Dataset]
    train: Optional[Dataset]
    test: Optional[Dataset]
    spec: DatasetSpec


@dataclass(frozen=True)
class DatasetEntry:
    """Everything the project knows about one dataset (see the module docstring).

    Functions take the dataset root (``Path``) and the parsed :class:`DatasetOptions`:

    - ``spec(root, options)``: the constants (may list class folders, never reads images);
    - ``locate(root, options)``: ``None`` when the files are there, else :class:`Missing` (paths only);
    - ``build(root, options, splits, on_bad_image)``: the untransformed datasets of the requested
      splits from the files in ``root`` (a dict split name -> dataset; items are ``(PIL image, label)``;
      ``on_bad_image`` is the decoding policy of datasets read from image files);
    - ``pretrain_size(root, options)``: number of pretraining images before subsetting, or ``None``
      when counting would be expensive.
    ``hint`` says how to get the data by hand (``{root}`` is replaced by the configured root);
    ``fetch(staging)``, for datasets that can be downloaded, downloads and extracts them into the
    folder ``staging``, where they appear as ``fetched_folders``
    (:func:`whitening_ssl.data.download.download_dataset` moves them into the root when complete);
    ``in_memory``: its pretraining images fit in (device) memory as one tensor, so ``data.pipeline=device``
    makes the views from that tensor (otherwise CPU workers decode and crop, the device does the rest).
    """

    name: str
    display_name: str
    hint: str
    spec: Callable[[Path, DatasetOptions], DatasetSpec]
    locate: Callable[[Path, DatasetOptions], Optional[Missing]]
    build: Callable[[Path, DatasetOptions, Collection[str], str], dict[str, Dataset]]
    pretrain_size: Callable[[Path, DatasetOptions], Optional[int]] = lambda root, options: None
    fetch: Optional[Callable[[Path], None]] = None
    fetched_folders: tuple[str, ...] = ()
    options: frozenset = frozenset()
    in_memory: bool = False

    @property
    def downloadable(self) -> bool:
        return self.fetch is not None


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    if entry.name in DATASETS:
        raise ValueError(f"dataset {entry.name!r} is registered twice")
    DATASETS[entry.name] = entry
    return entry


def get_entry(name: str) -> DatasetEntry:
    """The registry entry of ``name``; one ``ValueError`` line listing the valid names otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}") from None
