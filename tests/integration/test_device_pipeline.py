"""``data.pipeline=device``: the images as one tensor, views made on the device, in a real run."""

import json

import numpy as np
import pytest
import torch
from helpers import TINY, compose_config
from PIL import Image
from torch.utils.data import Subset
from torchvision import datasets as tv_datasets

from whitening_ssl.data import ArrayImageDataset, ImagePathDataset, SSLDataModule, image_tensor
from whitening_ssl.stages import run


def _as_pil_arrays(dataset):
    return np.stack([np.asarray(dataset[i][0].convert("RGB")) for i in range(len(dataset))])


def test_image_tensor_equals_the_datasets_own_images(tmp_path):
    gen = np.random.default_rng(0)
    cifar = tv_datasets.CIFAR10.__new__(tv_datasets.CIFAR10)  # the attributes torchvision's loader sets
    cifar.data, cifar.targets, cifar.transform, cifar.target_transform = (
        gen.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
        [3, 1, 4, 1, 5, 9],
        None,
        None,
    )
    stl = tv_datasets.STL10.__new__(tv_datasets.STL10)
    stl.data, stl.labels, stl.transform, stl.target_transform = (
        gen.integers(0, 256, (4, 3, 20, 20), dtype=np.uint8),
        np.array([0, 1, -1, 2]),
        None,
        None,
    )
    for path_index in range(3):
        Image.fromarray(gen.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / f"{path_index}.png")
    folder = ImagePathDataset([(str(tmp_path / f"{i}.png"), i) for i in range(3)], ["a", "b", "c"])
    grey = ArrayImageDataset(
        torch.from_numpy(gen.integers(0, 256, (5, 9, 9), dtype=np.uint8)), torch.arange(5), list("abcde")
    )
    (tmp_path / "bad").mkdir()  # an unreadable first file: skipped, its item is the next image with its label
    (tmp_path / "bad" / "0.png").write_bytes(b"")
    for path_index in (1, 2):
        Image.fromarray(gen.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / "bad" / f"{path_index}.png")
    with_bad = ImagePathDataset(
        [(str(tmp_path / "bad" / f"{i}.png"), i) for i in range(3)], ["a", "b", "c"], on_bad_image="skip"
    )
    for dataset in (cifar, folder, with_bad, Subset(cifar, [4, 0, 2]), stl):  # every one [N, 3, H, W]
        images, labels = image_tensor(dataset)
        assert images.dtype == torch.uint8 and images.shape[1] == 3
        assert np.array_equal(images.permute(0, 2, 3, 1).numpy(), _as_pil_arrays(dataset))
        assert labels.tolist() == [dataset[i][1] for i in range(len(dataset))]
    assert image_tensor(stl)[1].tolist() == [0, 1, -1, 2]
    images, _ = image_tensor(grey)  # grey keeps one channel: the augmentation copies it to RGB, as ToRGB
    assert images.shape == (5, 1, 9, 9) and np.array_equal(images[:, 0].numpy(), grey.data.numpy())
    assert image_tensor(cifar)[0].data_ptr() == torch.from_numpy(cifar.data).data_ptr()  # a view, no copy


def test_device_pipeline_batches_are_views_of_the_right_images():
    datamodule = SSLDataModule(
        "synthetic", batch_size=16, num_views=3, num_workers=0, pipeline="device", num_samples=64, num_test=16
    )
    datamodule.setup()
    indices, labels = next(iter(datamodule.train_dataloader()))
    assert indices.dtype == torch.long and indices.shape == (16,)
    views, same_labels = datamodule.make_views((indices, labels))
    assert len(views) == 3 and all(v.shape == (16, 3, 32, 32) and v.dtype == torch.float32 for v in views)
    assert torch.equal(same_labels, labels) and not torch.equal(views[0], views[1])
    # each view is made from its own image: a view of a constant image is constant
    datamodule.images = torch.arange(64, dtype=torch.uint8).view(64, 1, 1, 1).expand(64, 3, 32, 32).clone()
    datamodule._images_on = {}
    torch.manual_seed(0)
    views, _ = datamodule.make_views((indices, labels))
    mean, std = torch.tensor(datamodule.spec.mean), torch.tensor(datamodule.spec.std)
    first_pixels = views[0][:, :, 0, 0] * std + mean  # back to [0, 1]
    grey = first_pixels.mean(1)
    for value, index in zip(grey, indices):  # colour jitter moves it, but never onto another image's value
        assert abs(value.item() * 255 - index.item()) < 40


def test_device_pipeline_for_image_folders_crops_in_workers(tmp_path):
    for label, name in enumerate(("cat", "dog")):
        (tmp_path / "train" / name).mkdir(parents=True)
        for k in range(8):
            Image.new("RGB", (20 + k, 18), (100 * label, 10 * k, 50)).save(tmp_path / "train" / name / f"{k}.png")
    datamodule = SSLDataModule(
        "image_folder",
        root=str(tmp_path),
        batch_size=4,
        num_views=2,
        num_workers=0,
        pipeline="device",
        image_size=16,
        augmentation="imagenet",
    )  # crop first
    datamodule.setup()
    crops, labels = next(iter(datamodule.train_dataloader()))
    assert len(crops) == 2 and crops[0].dtype == torch.uint8 and crops[0].shape == (4, 3, 16, 16)
    views, _ = datamodule.make_views((crops, labels))
    assert [v.shape for v in views] == [(4, 3, 16, 16)] * 2 and views[0].dtype == torch.float32


def test_a_run_with_the_device_pipeline(tmp_path, monkeypatch):
    made = []
    original = SSLDataModule.make_views

    def make_views(self, batch):
        made.append(len(batch[0]))
        return original(self, batch)

    monkeypatch.setattr(SSLDataModule, "make_views", make_views)
    run(compose_config(["debug=fdr", *TINY, "data.batch_size=64", "data.pipeline=device"], run_dir=tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["global_step"] == 1 and made == [64]  # the one training batch, made on the device
    assert results["config"]["data"]["pipeline"] == "device"


@pytest.mark.parametrize("on_gpu,expected", [(False, "cpu"), (True, "device")])
def test_auto_makes_the_views_on_the_device_when_training_on_a_gpu(on_gpu, expected, tmp_path, monkeypatch):
    # the stage's view of the trainer is what a GPU changes; the device pipeline itself runs on CPU tensors
    from whitening_ssl.stages import pretrain

    monkeypatch.setattr(pretrain, "training_on_gpu", lambda cfg: on_gpu)
    made = []
    original = SSLDataModule.make_views
    monkeypatch.setattr(SSLDataModule, "make_views", lambda self, batch: made.append(1) or original(self, batch))
    # batches of 64 (the preset's 256 x 4 views: a longer CPU augmentation), no figures: neither is tested here
    overrides = ["data.batch_size=64", "analysis.at_evaluation=false", "data.pipeline=auto", "channels_last=false"]
    run(compose_config(["debug=fdr", *TINY, *overrides], run_dir=tmp_path))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["config"]["data"]["pipeline"] == expected and len(made) == (1 if on_gpu else 0)
