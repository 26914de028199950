"""Lightning DataModules: multi-view pretraining batches, and the labelled splits of evaluation."""

from __future__ import annotations

from collections.abc import Sized
from pathlib import Path
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from whitening_ssl.data.datasets import build_parsed, transform_splits, with_views
from whitening_ssl.data.device.augment import DeviceAugmentation
from whitening_ssl.data.device.pipeline import IndexDataset, cpu_crop_views, image_tensor
from whitening_ssl.data.device.support import device_pipeline_error, device_pipeline_problem
from whitening_ssl.data.lookup import missing_error, parse
from whitening_ssl.data.recipes import get_recipe
from whitening_ssl.data.registry import DatasetSpec, batch_problem, dataset_spec
from whitening_ssl.data.sources.download import download_dataset
from whitening_ssl.data.sources.images import ImageFiles, TransformedDataset, skipped_images
from whitening_ssl.validation import ConfigError


class _DatasetModule(pl.LightningDataModule):
    """What both DataModules share: the dataset's name, root and options (parsed once), its spec."""

    splits: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        root: str = "./data",
        download: bool = False,
        eval_batch_size: int = 512,
        num_workers: int = 4,
        pin_memory: bool = True,
        on_bad_image: str = "skip",
        **dataset_options: Any,
    ) -> None:
        super().__init__()
        self.name, self.root, self.download, self.on_bad_image = name, root, download, on_bad_image
        self.eval_batch_size, self.num_workers, self.pin_memory = eval_batch_size, num_workers, pin_memory
        self.dataset_options = dict(dataset_options)
        self.entry, self.options = parse(name, self.dataset_options)
        self._spec: DatasetSpec | None = None
        self.pretrain_dataset: Dataset | None = None
        self.train_eval_dataset: Dataset | None = None
        self.test_eval_dataset: Dataset | None = None

    def check_available(self) -> None:
        """Raise :class:`DatasetNotFoundError` now if the data is missing (only checks paths)."""
        error = missing_error(self.entry, Path(self.root), self.options)
        if error is not None:
            raise error

    def prepare_data(self) -> None:
        """Download the dataset when it is missing and ``download`` is on (once: other processes wait for
        it, see :func:`~whitening_ssl.data.sources.download.download_dataset`); otherwise check its files are there.
        Lightning calls this on one process per node; the stages call it before anything reads the files."""
        if self.download:
            download_dataset(self.entry, Path(self.root), self.options)
        self.check_available()

    @property
    def spec(self) -> DatasetSpec:
        """Dataset constants; available before ``setup()`` (computed without loading images)."""
        if self._spec is None:
            self._spec = dataset_spec(self.entry, Path(self.root), self.options)
        return self._spec

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def _build(self):
        return build_parsed(
            self.entry,
            self.options,
            Path(self.root),
            download=False,
            splits=self.splits,
            on_bad_image=self.on_bad_image,
        )

    def image_files(self) -> ImageFiles:
        """The image files of the built splits (empty for datasets held in memory); call after ``setup()``."""
        return ImageFiles(self.pretrain_dataset, self.train_eval_dataset, self.test_eval_dataset)

    def eval_datasets(self) -> tuple[Dataset, Dataset]:
        """The labelled (train, test) splits with the deterministic evaluation transform."""
        if self.train_eval_dataset is None or self.test_eval_dataset is None:  # (set up together)
            raise RuntimeError(f"{type(self).__name__}.setup() must be called before requesting the evaluation sets")
        return self.train_eval_dataset, self.test_eval_dataset

    def views_dataset(self, num_views: int = 2) -> Dataset:
        """The test images with the pretraining augmentation, ``num_views`` views each (the positives of the
        analysis; a recipe with its own views gives its first ``num_views``: multi-crop's two full-size
        crops); call after ``setup()``."""
        base = (
            self.test_eval_dataset.base
            if isinstance(self.test_eval_dataset, TransformedDataset)
            else self.test_eval_dataset
        )
        assert base is not None, "call setup() first"
        return with_views(base, self.spec, self.options, num_views)

    def eval_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """(labelled train, test) loaders with the evaluation transform, in fixed order."""
        train, test = self.eval_datasets()
        return self._loader(train, self.eval_batch_size, train=False), self._loader(
            test, self.eval_batch_size, train=False
        )

    def skipped_images(self) -> list[str]:
        """Undecodable files skipped so far (``data.on_bad_image=skip``)."""
        return skipped_images(self.pretrain_dataset, self.train_eval_dataset, self.test_eval_dataset)

    def _loader(self, dataset: Dataset | None, batch_size: int, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must be called before requesting dataloaders")
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=train and self.num_workers > 0,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
        )


class SSLDataModule(_DatasetModule):
    """Data for self-supervised pretraining plus the labelled splits its online evaluation needs.

    A training batch is ``(views, labels)`` where ``views`` is a list of ``num_views`` tensors
    ``[B, 3, S_v, S_v]`` of the same images, augmented independently, in the recipe's view order; S_v is
    the dataset's crop unless the recipe gives view v its own (multi-crop: 2 x 224, then 192, 160, 128,
    96), and a recipe with its own views fixes ``num_views``. ``pipeline`` says where the views are
    made: ``cpu`` (torchvision on PIL images in DataLoader workers, the published pipeline), ``device``
    (on the training device, :mod:`whitening_ssl.data.device.pipeline`: the loader yields indices, or
    uint8 crops for image folders, and :meth:`on_after_batch_transfer` makes the views there); the
    configuration's ``auto`` is resolved to one of them by the pretraining stage. ``eval_datasets()`` /
    ``eval_dataloaders()`` give the labelled train and test splits with the deterministic evaluation
    transform. ``dataset_options`` are the dataset's ``dataset.options``.
    """

    splits = ("pretrain", "train", "test")

    def __init__(
        self,
        name: str,
        root: str = "./data",
        download: bool = False,
        batch_size: int = 256,
        eval_batch_size: int = 512,
        num_views: int = 2,
        num_workers: int = 4,
        pin_memory: bool = True,
        on_bad_image: str = "skip",
        pipeline: str = "cpu",
        **dataset_options: Any,
    ) -> None:
        super().__init__(
            name, root, download, eval_batch_size, num_workers, pin_memory, on_bad_image, **dataset_options
        )
        if pipeline not in ("cpu", "device"):
            raise ValueError(f"pipeline={pipeline!r} is not available: use cpu or device")
        self.batch_size, self.num_views, self.pipeline = batch_size, num_views, pipeline
        self.device_augmentation: DeviceAugmentation | None = None
        self.images: Tensor | None = None  # device pipeline, in-memory datasets: all pretraining images
        self._images_on: dict = {}

    def setup(self, stage: str | None = None) -> None:
        """Build the datasets once (idempotent across fit/validate/test stages)."""
        if self.train_eval_dataset is not None:
            return
        problem = get_recipe(self.options.augmentation_recipe(self.spec)).views_problem(self.num_views)
        if problem:  # the checks' rule, for direct use
            raise ConfigError(problem)
        bases = self._build()
        splits = transform_splits(bases, self.options, self.num_views)
        self.pretrain_dataset, self.train_eval_dataset, self.test_eval_dataset, self._spec = splits
        if self.pipeline == "device":
            self._setup_device_pipeline(bases.pretrain)

    def _setup_device_pipeline(self, pretrain: Dataset) -> None:
        spec = self.spec
        recipe = self.options.augmentation_recipe(spec)
        problem = device_pipeline_problem(self.entry, recipe, spec.image_size)  # the checks' rule, for direct use
        if problem:
            raise ConfigError(device_pipeline_error(problem))
        if self.entry.in_memory:  # the whole split as one uint8 [N, C, H, W] tensor; the loader serves indices
            self.images, labels = image_tensor(pretrain)
            self.pretrain_dataset = IndexDataset(labels)
        else:  # image folders: workers decode and crop (uint8), the device does the rest
            self.pretrain_dataset = TransformedDataset(
                pretrain, cpu_crop_views(recipe, spec.image_size, self.num_views)
            )
        self.device_augmentation = DeviceAugmentation(
            recipe, spec.image_size, spec.mean, spec.std, crop_on_device=self.entry.in_memory
        )

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Device pipeline: the batch's views, made on the device (training batches only)."""
        if self.device_augmentation is None or (self.trainer is not None and not self.trainer.training):
            return batch
        return self.make_views(batch)

    def make_views(self, batch):
        """``(indices or crops, labels)`` on the device -> ``(list of num_views views, labels)``, in view order."""
        inputs, labels = batch
        assert self.device_augmentation is not None  # the device pipeline's (setup)
        augmentation = self.device_augmentation.to(labels.device)
        if self.images is not None:
            views = augmentation.make_views(self._device_images(labels.device)[inputs], self.num_views)
        else:  # a list of num_views uint8 crops [B, 3, S_v, S_v]: the views of one size in one batch
            views = augmentation.views_of_crops(list(inputs))
        return views, labels

    def _device_images(self, device: torch.device) -> Tensor:
        key = str(device)
        if key not in self._images_on:
            assert self.images is not None  # an in-memory dataset's (setup)
            self._images_on = {key: self.images.to(device, non_blocking=True)}
        return self._images_on[key]

    def train_dataloader(self) -> DataLoader:
        """Shuffled multi-view pretraining batches; the last incomplete batch is dropped (a dataset smaller
        than the batches of all processes is an error, :func:`~whitening_ssl.data.registry.batch_problem`)."""
        if self.pretrain_dataset is not None:
            processes = self.trainer.world_size if self.trainer is not None else 1
            problem = batch_problem(self.batch_size, len(cast(Sized, self.pretrain_dataset)), str(self.name), processes)
            if problem:
                raise ValueError(problem)
        return self._loader(self.pretrain_dataset, self.batch_size, train=True)


class EvalDataModule(_DatasetModule):
    """Only the labelled train and test splits, with the evaluation transform (k-NN, fast linear probe).

    Never builds the pretraining split (STL-10's 100k unlabeled images are not loaded).
    """

    splits = ("train", "test")

    def setup(self, stage: str | None = None) -> None:
        if self.train_eval_dataset is not None:
            return
        splits = transform_splits(self._build(), self.options)
        self.train_eval_dataset, self.test_eval_dataset, self._spec = splits.train, splits.test, splits.spec
