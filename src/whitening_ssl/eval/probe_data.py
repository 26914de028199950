"""Features of a frozen encoder, computed once, served as batches (fast linear protocol)."""

from __future__ import annotations

from typing import Optional

import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from .features import extract_features


class FeatureDataModule(pl.LightningDataModule):
    """Wraps a datamodule with ``eval_dataloaders()``: embeds its train/test splits once with
    ``encoder`` (eval mode, no augmentation) and serves shuffled batches of features.

    Batches are sliced from the feature tensors directly (a batch sampler indexes the tensors), so
    hundreds of epochs over precomputed features cost little beyond the classifier itself.
    """

    def __init__(self, source: pl.LightningDataModule, encoder: nn.Module, batch_size: int = 1000,
                 device: Optional[torch.device] = None) -> None:
        super().__init__()
        self.source = source
        self.encoder = encoder
        self.batch_size = batch_size
        self.device = device or torch.device("cpu")
        self.train_set: Optional[TensorDataset] = None
        self.test_set: Optional[TensorDataset] = None

    def setup(self, stage: Optional[str] = None) -> None:
        if self.train_set is not None:
            return
        self.source.setup("fit")
        train_loader, test_loader = self.source.eval_dataloaders()
        encoder = self.encoder.to(self.device)
        train_x, train_y = extract_features(encoder, train_loader, self.device)
        test_x, test_y = extract_features(encoder, test_loader, self.device)
        labelled = train_y >= 0  # STL-10's unlabeled images carry -1
        self.train_set = TensorDataset(train_x[labelled].cpu(), train_y[labelled].cpu())
        self.test_set = TensorDataset(test_x.cpu(), test_y.cpu())

    @property
    def feature_dim(self) -> int:
        return self.train_set.tensors[0].shape[1]

    def _loader(self, dataset: TensorDataset, shuffle: bool) -> DataLoader:
        sampler = RandomSampler(dataset) if shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, batch_size=None, sampler=BatchSampler(sampler, self.batch_size, drop_last=False))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)


class ImageProbeDataModule(pl.LightningDataModule):
    """Labelled images with the standard linear-protocol transforms (ImageNet recipe).

    Train: RandomResizedCrop(``crop_size``) + horizontal flip; test: Resize(``resize``) +
    CenterCrop(``crop_size``); both normalised with the dataset's statistics.
    """

    def __init__(self, name: str, root: str = "./data", download: bool = False, batch_size: int = 1024,
                 eval_batch_size: int = 256, num_workers: int = 8, crop_size: int = 224, resize: int = 256,
                 **dataset_options) -> None:
        super().__init__()
        self.name, self.root, self.download = name, root, download
        self.batch_size, self.eval_batch_size, self.num_workers = batch_size, eval_batch_size, num_workers
        self.crop_size, self.resize = crop_size, resize
        self.dataset_options = dict(dataset_options)
        self.train_set = self.test_set = None
        self.num_classes: Optional[int] = None

    def setup(self, stage: Optional[str] = None) -> None:
        from ..data import TransformedDataset, build_datasets, linear_eval_transform, linear_train_transform

        if self.train_set is not None:
            return
        splits = build_datasets(self.name, self.root, download=self.download, **self.dataset_options)
        spec = splits.spec
        self.num_classes = spec.num_classes
        self.train_set = TransformedDataset(splits.train, linear_train_transform(spec.mean, spec.std, crop_size=self.crop_size))
        self.test_set = TransformedDataset(
            splits.test, linear_eval_transform(spec.mean, spec.std, resize=self.resize, crop_size=self.crop_size))

    def _loader(self, dataset, shuffle: bool, batch_size: int) -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=False, num_workers=self.num_workers,
                          persistent_workers=shuffle and self.num_workers > 0, pin_memory=torch.cuda.is_available())

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.eval_batch_size)
