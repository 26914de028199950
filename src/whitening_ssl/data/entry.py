"""What a dataset is to the project: one :class:`DatasetEntry` (in :data:`~whitening_ssl.data.registry.DATASETS`).

An entry is everything the project knows about a dataset: its constants (:class:`DatasetSpec`),
where its files are and how to tell they are missing (paths only, no image read), how to get it
by hand, how to build its splits, how to download it (optional), and its own ``dataset.options``
(:class:`~whitening_ssl.data.options.Option`, next to the entry; the options of every dataset are
:data:`~whitening_ssl.data.options.COMMON_OPTIONS`), checked by
:func:`~whitening_ssl.data.registry.option_problems`. The splits: ``pretrain`` (self-supervised
training; labels unused), ``train`` and ``test`` (the labelled splits of the evaluation). Torch-free:
an entry's functions import what they need when called.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from whitening_ssl.data.options import COMMON_OPTIONS, DatasetOptions, Option

if TYPE_CHECKING:
    from torch.utils.data import Dataset


@dataclass(frozen=True)
class DatasetSpec:
    """Constants of a dataset that the model and the transforms depend on.

    ``image_size`` is the training crop; ``eval_resize``/``eval_center_crop`` (None: unused) and
    ``eval_interpolation`` define the evaluation transform; ``stem`` is the ResNet stem the papers
    use for it (a key of ``whitening_ssl.models.STEMS``); ``augmentation`` the default recipe.
    ``eval_mean`` / ``eval_std`` (None: ``mean`` / ``std``) normalise the evaluation transforms:
    :attr:`eval_normalisation`.
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
    eval_mean: tuple[float, ...] | None = None
    eval_std: tuple[float, ...] | None = None

    @property
    def eval_normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` of the evaluation transforms (k-NN, linear probes)."""
        if self.eval_mean is None:
            return self.mean, self.std
        assert self.eval_std is not None  # (given together: the recipe's check)
        return self.eval_mean, self.eval_std


class Missing(NamedTuple):
    """Why a dataset is not available: the places looked in and an optional detail."""

    looked_in: Sequence[os.PathLike | str]
    detail: str | None = None


class SplitDatasets(NamedTuple):
    """The splits of a dataset plus its spec (unpackable as a tuple); unbuilt splits are ``None``."""

    pretrain: Dataset | None
    train: Dataset | None
    test: Dataset | None
    spec: DatasetSpec


@dataclass(frozen=True, eq=False)
class DatasetEntry:
    """One dataset. Functions take the root (``Path``) and the parsed :class:`DatasetOptions`:

    - ``spec``: a :class:`DatasetSpec`, or ``spec(root, options)`` (may list class folders, reads no image);
    - ``locate(root, options)``: ``None`` when the files are there, else :class:`Missing` (paths only);
    - ``build(root, options, splits, on_bad_image)``: ``{split: dataset}`` for the requested splits,
      items ``(PIL image, label)``; ``on_bad_image`` is the policy of datasets read from image files;
    - ``pretrain_size``: pretraining images before subsetting (an int, a function, or None: unknown
      without a scan), so that a batch larger than the dataset is refused before training;
    - ``options``: the entry's own ``dataset.options`` (besides :data:`COMMON_OPTIONS`);
    - ``hint``: how to get the data by hand (``{root}`` is replaced by the configured root);
    - ``fetch(staging)``: downloads into ``staging``, where ``fetched_folders`` appear (see
      :func:`~whitening_ssl.data.sources.download.download_dataset`); None: cannot be downloaded;
    - ``in_memory``: its pretraining images fit in memory as one tensor (``data.pipeline=device``).
    """

    name: str
    display_name: str
    hint: str
    spec: DatasetSpec | Callable[[Path, DatasetOptions], DatasetSpec]
    build: Callable[[Path, DatasetOptions, Collection[str], str], dict[str, Dataset]]
    locate: Callable[[Path, DatasetOptions], Missing | None] = lambda root, options: None
    pretrain_size: int | Callable[[Path, DatasetOptions], int | None] | None = None
    options: Mapping[str, Option] = field(default_factory=dict)
    fetch: Callable[[Path], object] | None = None
    fetched_folders: tuple[str, ...] = ()
    in_memory: bool = False

    @property
    def downloadable(self) -> bool:
        return self.fetch is not None

    @property
    def all_options(self) -> dict[str, Option]:
        """:data:`COMMON_OPTIONS` and the entry's own."""
        return {**COMMON_OPTIONS, **self.options}
