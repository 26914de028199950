"""Labelled images with the standard linear-protocol transforms (ImageNet recipe)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler

from .features import ShardBatchSampler

if TYPE_CHECKING:
    from ..data import TransformedDataset


class ImageProbeDataModule(pl.LightningDataModule):
    """Train: RandomResizedCrop(``crop_size``) + horizontal flip; test: Resize(``resize``) +
    CenterCrop(``crop_size``); both normalised with the evaluation statistics (``DatasetSpec.eval_normalisation``).

    Under DDP the training split is shuffled and divided by a ``DistributedSampler`` (each process a
    different part every epoch), and the test split is divided into whole batches without padding
    (:class:`~whitening_ssl.eval.features.ShardBatchSampler`), so every test image is counted once.
    Run the Trainer with ``use_distributed_sampler=False`` so Lightning keeps these samplers.
    """

    def __init__(
        self,
        name: str,
        root: str = "./data",
        download: bool = False,
        batch_size: int = 1024,
        eval_batch_size: int = 256,
        num_workers: int = 8,
        crop_size: int = 224,
        resize: int = 256,
        **dataset_options: Any,
    ) -> None:
        super().__init__()
        self.name, self.root, self.download = name, root, download
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.crop_size, self.resize = crop_size, resize
        self.dataset_options = dict(dataset_options)
        self.train_set: TransformedDataset | None = None
        self.test_set: TransformedDataset | None = None
        self.num_classes: int | None = None

    def setup(self, stage: str | None = None) -> None:
        from ..data import TransformedDataset, build_datasets, linear_eval_transform, linear_train_transform

        if self.train_set is not None:
            return
        assert self.name is not None  # (LightningDataModule declares name optional; this one is given)
        splits = build_datasets(
            self.name, self.root, download=self.download, splits=("train", "test"), **self.dataset_options
        )
        spec = splits.spec
        assert splits.train is not None and splits.test is not None  # both asked for
        self.num_classes = spec.num_classes
        mean, std = spec.eval_normalisation
        self.train_set = TransformedDataset(splits.train, linear_train_transform(mean, std, crop_size=self.crop_size))
        self.test_set = TransformedDataset(
            splits.test, linear_eval_transform(mean, std, resize=self.resize, crop_size=self.crop_size)
        )

    def _ranks(self):
        trainer = self.trainer
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup() first"
        rank, world_size = self._ranks()
        sampler: DistributedSampler[Any] = DistributedSampler(
            self.train_set, num_replicas=world_size, rank=rank, shuffle=True
        )
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def _test_loader(self) -> DataLoader:
        assert self.test_set is not None, "setup() first"
        rank, world_size = self._ranks()
        # every process gets at least one batch (Lightning refuses an empty loader on one rank)
        batch_size = min(self.eval_batch_size, max(1, -(-len(self.test_set) // world_size)))
        sampler = ShardBatchSampler(len(self.test_set), batch_size, rank, world_size)
        return DataLoader(
            self.test_set, batch_sampler=sampler, num_workers=self.num_workers, pin_memory=torch.cuda.is_available()
        )

    def test_dataloader(self) -> DataLoader:
        return self._test_loader()
