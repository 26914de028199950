"""Lightning DataModule serving multi-view pretraining batches and evaluation loaders."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from whitening_ssl.data.datasets import (
    DatasetSpec,
    build_datasets,
    check_dataset_available,
    get_spec,
    make_split_datasets,
)


class SSLDataModule(pl.LightningDataModule):
    """Data for self-supervised pretraining plus the splits its evaluation needs.

    ``train_dataloader()`` yields ``(views, labels)`` where ``views`` is a list
    of ``num_views`` tensors ``[B, 3, H, W]`` of the same images, augmented
    independently. ``eval_dataloaders()`` gives the labelled train and test
    splits with the deterministic evaluation transform, for a linear probe or
    k-NN on frozen features. ``dataset_options`` are passed to
    :func:`~whitening_ssl.data.datasets.build_datasets` (``image_size``,
    ``num_samples``, ``train_subset``, ``augmentation``, ``class_list``, ...;
    see :class:`~whitening_ssl.data.datasets.DatasetOptions`).
    """

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
        **dataset_options: Any,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.name = name
        self.root = root
        self.download = download
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_views = num_views
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.dataset_options = dict(dataset_options)
        self._spec: DatasetSpec | None = None
        self.pretrain_dataset: Dataset | None = None
        self.train_eval_dataset: Dataset | None = None
        self.test_eval_dataset: Dataset | None = None

    def check_available(self) -> None:
        """Raise :class:`DatasetNotFoundError` now if the data is missing (only checks paths)."""
        check_dataset_available(self.name, self.root, self.download, **self.dataset_options)

    def prepare_data(self) -> None:
        """Download the dataset if allowed (Lightning calls this on one process only)."""
        if self.download:
            build_datasets(self.name, self.root, download=True, **self.dataset_options)
        else:
            self.check_available()

    def setup(self, stage: str | None = None) -> None:
        """Build the transformed datasets once (idempotent across fit/validate/test stages)."""
        if self.pretrain_dataset is not None:
            return
        splits = make_split_datasets(
            self.name, self.root, download=False, num_views=self.num_views, **self.dataset_options
        )
        self.pretrain_dataset, self.train_eval_dataset, self.test_eval_dataset, self._spec = splits

    @property
    def spec(self) -> DatasetSpec:
        """Dataset constants; available before ``setup()`` (computed without loading images)."""
        if self._spec is None:
            self._spec = get_spec(self.name, self.root, **self.dataset_options)
        return self._spec

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def _loader(self, dataset: Dataset | None, batch_size: int, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("SSLDataModule.setup() must be called before requesting dataloaders")
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=train and self.num_workers > 0,
            pin_memory=self.pin_memory and torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled multi-view pretraining batches; the last incomplete batch is dropped.

        Whitening needs full batches, so a dataset smaller than one batch is
        an error rather than a silently empty epoch.
        """
        if self.pretrain_dataset is not None and len(self.pretrain_dataset) < self.batch_size:
            raise ValueError(
                f"batch_size={self.batch_size} exceeds the {len(self.pretrain_dataset)} pretraining images "
                f"of '{self.name}': no full batch can be formed; lower the batch size"
            )
        return self._loader(self.pretrain_dataset, self.batch_size, train=True)

    def eval_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """(labelled train, test) loaders with the evaluation transform, in fixed order."""
        return (
            self._loader(self.train_eval_dataset, self.eval_batch_size, train=False),
            self._loader(self.test_eval_dataset, self.eval_batch_size, train=False),
        )
