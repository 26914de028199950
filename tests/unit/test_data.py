"""Tests of the data pipeline (datasets, transforms, DataModule); all run in a few seconds."""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONF
from omegaconf import OmegaConf
from PIL import Image
from torchvision import transforms as T

from whitening_ssl.data import (
    DATASETS,
    SYSTEM_DATA_DIRS,
    DatasetEntry,
    DatasetNotFoundError,
    Option,
    SSLDataModule,
    ToRGB,
    batch_problem,
    build_datasets,
    check_dataset,
    check_dataset_available,
    check_pretraining_data,
    get_spec,
    make_augmentation,
    make_split_datasets,
    parse_options,
    register_dataset,
)
from whitening_ssl.validation import Checks


def _save_image(path: Path, colour: tuple[int, int, int], size: int = 20) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


def _synthetic_datamodule(**overrides) -> SSLDataModule:
    settings = dict(name="synthetic", batch_size=16, eval_batch_size=40, num_views=3, num_workers=0,
                    num_samples=64, num_test=40, num_classes=4)  # fmt: skip
    settings.update(overrides)
    datamodule = SSLDataModule(**settings)
    datamodule.setup("fit")
    return datamodule


# --- synthetic --------------------------------------------------------------


def test_synthetic_multiview_batch_shapes_and_views_differ():
    datamodule = _synthetic_datamodule()
    views, labels = next(iter(datamodule.train_dataloader()))
    assert isinstance(views, list) and len(views) == 3
    for view in views:
        assert view.shape == (16, 3, 32, 32) and view.dtype == torch.float32
    assert labels.shape == (16,)
    assert not torch.equal(views[0], views[1])
    assert len(datamodule.train_dataloader()) == 64 // 16


def test_synthetic_eval_loaders_are_deterministic_and_count_classes():
    datamodule = _synthetic_datamodule()
    assert datamodule.num_classes == 4 and datamodule.spec.stem == "cifar"
    train_loader, test_loader = datamodule.eval_dataloaders()
    first_images, first_labels = next(iter(test_loader))
    second_images, second_labels = next(iter(test_loader))
    assert torch.equal(first_images, second_images) and torch.equal(first_labels, second_labels)
    assert first_images.shape == (40, 3, 32, 32)
    assert len(train_loader.dataset) == 64 and len(test_loader.dataset) == 40
    assert set(first_labels.tolist()) == {0, 1, 2, 3}


def test_synthetic_data_is_reproducible_from_seed_and_test_differs_from_train():
    first = build_datasets("synthetic", num_samples=32, num_test=32, seed=3)
    again = build_datasets("synthetic", num_samples=32, num_test=32, seed=3)
    other = build_datasets("synthetic", num_samples=32, num_test=32, seed=4)
    assert torch.equal(first.train.data, again.train.data)
    assert not torch.equal(first.train.data, other.train.data)
    assert not torch.equal(first.train.data, first.test.data)
    assert first.pretrain is first.train


def test_subsets_are_deterministic_and_sized():
    sizes = dict(train_subset=10, test_subset=5, pretrain_subset=20)
    splits = build_datasets("synthetic", num_samples=100, num_test=50, **sizes)
    assert (len(splits.pretrain), len(splits.train), len(splits.test)) == (20, 10, 5)
    again = build_datasets("synthetic", num_samples=100, num_test=50, train_subset=10)
    assert torch.equal(splits.train.data, again.train.data)


PRETRAINING_DATA = {
    "batch_size": 128,
    "num_views": 3,
    "num_workers": 0,
    "eval_batch_size": 40,
    "pipeline": "cpu",
    "verify_images": "none",
    "on_bad_image": "skip",
}


def test_batch_larger_than_dataset_is_an_error():
    """One rule (batch_problem) for the check before the run and the loader used directly."""
    datamodule = _synthetic_datamodule(batch_size=128)
    with pytest.raises(ValueError, match="batch_size") as caught:
        datamodule.train_dataloader()
    checks = Checks()
    located = check_dataset(
        checks,
        {"name": "synthetic", "root": "./data", "options": {"num_samples": 64, "num_test": 40, "num_classes": 4}},
    )
    check_pretraining_data(checks, PRETRAINING_DATA, located, world_size=1)
    assert checks.problems == [str(caught.value)] == [batch_problem(128, 64, "synthetic")]
    assert "128 x 4 processes is larger than the 500 pretraining images" in batch_problem(128, 500, "synthetic", 4)
    assert batch_problem(125, 500, "synthetic", 4) is None and batch_problem(10**6, None, "imagenet") is None


# --- options: declared with each dataset, checked once ----------------------------------------


@pytest.mark.parametrize("name", list(DATASETS))
def test_each_datasets_options_have_one_default_and_one_check(name):
    """Defaults come from the declarations (the YAML shows the same values); a bad value is the same line
    from the constructor and from the check before the run."""
    entry = DATASETS[name]
    declared = entry.all_options
    parsed = parse_options(entry)
    assert {key: getattr(parsed, key) for key in declared} == {key: option.default for key, option in declared.items()}
    preset = OmegaConf.load(CONF / "dataset" / f"{name}.yaml")
    assert preset.name == name
    for key, value in preset.options.items():
        assert key in declared and value == declared[key].default, (name, key, value)
    for key, option in declared.items():
        bad = {"int": option.minimum - 1, "choice": "no_such_recipe", "path": 3}[option.kind]
        with pytest.raises(ValueError) as caught:
            parse_options(entry, {key: bad})
        checks = Checks()
        assert check_dataset(checks, {"name": name, "root": "/nonexistent", "options": {key: bad}}) is None
        assert checks.problems == [str(caught.value)] and f"dataset.options.{key}=" in str(caught.value)


MY_DATASET = """
import torch
from whitening_ssl.data import ArrayImageDataset, DatasetEntry, DatasetSpec, Option, register_dataset


def build(root, options, splits, on_bad_image):
    images = torch.full((options.count, 8, 8, 3), 7, dtype=torch.uint8)
    dataset = ArrayImageDataset(images, torch.arange(options.count) % 2, ["even", "odd"])
    return {split: dataset for split in splits}


MY_SQUARES = register_dataset(DatasetEntry(
    name="my_squares", display_name="My squares", hint="nothing to get", build=build,
    spec=DatasetSpec("my_squares", 2, 8, (0.5,) * 3, (0.25,) * 3),
    pretrain_size=lambda root, options: options.count, options={"count": Option(12, doc="images per split")}))
"""


def test_a_dataset_of_your_own_is_one_register_dataset_call(tmp_path, monkeypatch):
    """What a researcher writes in a file of their own (outside src/): one entry, its option declared with it,
    chosen by its name or as module.attribute (dataset.name=my_data.MY_SQUARES imports the file)."""
    (tmp_path / "my_data.py").write_text(MY_DATASET)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert get_spec("my_data.MY_SQUARES").name == "my_squares" and "my_squares" in DATASETS
        splits = make_split_datasets("my_squares", str(tmp_path), count=6, test_subset=4)
        assert (len(splits.pretrain), len(splits.test)) == (6, 4) and splits.pretrain[0][0][0].shape == (3, 8, 8)
        assert len(build_datasets("my_data.MY_SQUARES").train) == 12  # the declared default
        with pytest.raises(ValueError) as caught:
            build_datasets("my_squares", count=0)
        checks = Checks()
        located = check_dataset(checks, {"name": "my_squares", "root": str(tmp_path), "options": {"count": 0}})
        assert located is None and checks.problems == [str(caught.value)] == [
            "dataset.options.count=0 must be a whole number >= 1"
        ]
        checks = Checks()
        located = check_dataset(
            checks, {"name": "my_data.MY_SQUARES", "root": str(tmp_path), "options": {"count": 100}}
        )
        check_pretraining_data(checks, PRETRAINING_DATA, located, world_size=1)
        assert checks.problems == [batch_problem(128, 100, "my_squares")]
        with pytest.raises(ValueError, match=re.escape("dataset.options.count applies only to dataset=my_squares")):
            get_spec("synthetic", count=3)
        entry = DATASETS["my_squares"]
        with pytest.raises(ValueError, match="registered twice"):
            register_dataset(entry)
    finally:
        DATASETS.pop("my_squares", None)
        sys.modules.pop("my_data", None)
    with pytest.raises(ValueError, match="options of every dataset"):
        register_dataset(
            DatasetEntry(
                name="clash", display_name="", hint="", build=entry.build, spec=entry.spec, options={"seed": Option(0)}
            )
        )
    with pytest.raises(ValueError, match=re.escape("its default dataset.options.count=0 must be a whole number >= 1")):
        register_dataset(
            DatasetEntry(
                name="bad", display_name="", hint="", build=entry.build, spec=entry.spec, options={"count": Option(0)}
            )
        )
    assert "clash" not in DATASETS and "bad" not in DATASETS


# --- errors -----------------------------------------------------------------


def test_unknown_name_and_option_raise_value_error():
    with pytest.raises(ValueError, match="cifar10"):
        build_datasets("imagenet21k", "./data")
    with pytest.raises(ValueError, match="num_samples"):
        build_datasets("synthetic", colour="red")
    with pytest.raises(ValueError, match="synthetic"):
        get_spec("cifar10", num_samples=5)
    with pytest.raises(ValueError, match="image_size"):
        get_spec("cifar10", image_size=64)


def test_missing_cifar10_says_how_to_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        build_datasets("cifar10", str(tmp_path), download=False)
    message = str(caught.value)
    assert "download" in message and "CIFAR-10" in message and str(tmp_path) in message
    assert "\n" not in message
    assert isinstance(caught.value, FileNotFoundError)


def test_missing_tiny_imagenet_names_the_archive(tmp_path):
    datamodule = SSLDataModule("tiny_imagenet", root=str(tmp_path), num_workers=0)
    with pytest.raises(DatasetNotFoundError, match="tiny-imagenet-200"):
        datamodule.check_available()
    with pytest.raises(DatasetNotFoundError, match="tiny-imagenet-200"):
        datamodule.setup("fit")


def test_missing_image_folder_explains_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="train/"):
        check_dataset_available("image_folder", tmp_path)


# --- on-disk formats ----------------------------------------------------------


@pytest.mark.skipif(not SYSTEM_DATA_DIRS["fashion_mnist"].is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_reads_idx_files(tmp_path):
    pretrain, train, test = make_split_datasets("fashion_mnist", str(tmp_path), num_views=2)[:3]
    assert len(train) == 60000 and len(test) == 10000 and len(pretrain) == 60000
    base = train.base
    assert base.data.shape == (60000, 28, 28) and base.data.dtype == torch.uint8
    assert base.targets.min() == 0 and base.targets.max() == 9
    views, label = pretrain[0]
    assert [view.shape for view in views] == [(3, 28, 28)] * 2
    assert 0 <= label <= 9
    assert test[0][0].shape == (3, 28, 28)


def _fake_tiny_imagenet(root: Path) -> None:
    base = root / "tiny-imagenet-200"
    for wnid, colour in (("n02", (0, 0, 255)), ("n01", (255, 0, 0))):
        for index in range(3):
            _save_image(base / "train" / wnid / "images" / f"{wnid}_{index}.JPEG", colour, size=64)
    _save_image(base / "val" / "images" / "val_0.JPEG", (0, 0, 255), size=64)
    _save_image(base / "val" / "images" / "val_1.JPEG", (255, 0, 0), size=64)
    (base / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn02\t0\t0\t63\t63\nval_1.JPEG\tn01\t0\t0\t63\t63\n")


def test_tiny_imagenet_labels_follow_sorted_wnids(tmp_path):
    _fake_tiny_imagenet(tmp_path)
    splits = build_datasets("tiny_imagenet", str(tmp_path))
    assert splits.train.classes == ["n01", "n02"]
    assert sorted(splits.train.targets) == [0, 0, 0, 1, 1, 1]
    assert [label for _, label in splits.test] == [1, 0]
    image, label = splits.train[0]
    assert image.mode == "RGB" and label == 0 and image.getpixel((5, 5))[0] > 200
    views, _ = make_split_datasets("tiny_imagenet", str(tmp_path), num_views=2).pretrain[0]
    assert views[0].shape == (3, 64, 64)


def test_image_folder_with_and_without_val(tmp_path):
    for class_name in ("cat", "dog"):
        for index in range(5):
            _save_image(tmp_path / "train" / class_name / f"{index}.png", (index * 40, 0, 0))
    holdout = build_datasets("image_folder", str(tmp_path), image_size=16)
    assert holdout.spec.num_classes == 2 and holdout.spec.eval_center_crop == 16
    assert len(holdout.train) + len(holdout.test) == 10 and len(holdout.test) == 1

    _save_image(tmp_path / "val" / "dog" / "a.png", (0, 0, 0))
    splits = make_split_datasets("image_folder", str(tmp_path), num_views=2, image_size=16)
    assert len(splits.train) == 10 and [label for _, label in splits.test] == [1]
    assert splits.test[0][0].shape == (3, 16, 16)
    assert [view.shape for view in splits.pretrain[3][0]] == [(3, 16, 16)] * 2


# --- transforms ---------------------------------------------------------------


def test_small_augmentation_order():
    augmentation = make_augmentation("small", 32, (0.5,) * 3, (0.25,) * 3)
    types = [type(step) for step in augmentation.transforms]
    assert types == [
        ToRGB, T.RandomApply, T.RandomGrayscale, T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize,
    ]  # fmt: skip
    assert isinstance(augmentation.transforms[1].transforms[0], T.ColorJitter)
    crop = augmentation.transforms[3]
    assert crop.interpolation == T.InterpolationMode.BICUBIC and crop.scale == (0.2, 1.0)
    assert augmentation(Image.new("L", (28, 28))).shape == (3, 32, 32)


def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = magic.to_bytes(4, "big") + b"".join(dim.to_bytes(4, "big") for dim in array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_prefers_files_under_root(tmp_path):
    images = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 256
    labels = np.array([3, 1, 4, 1, 5])
    for split in ("train", "t10k"):
        _write_idx(tmp_path / "fashion_mnist" / f"{split}-images-idx3-ubyte.gz", images, 2051)
        _write_idx(tmp_path / "fashion_mnist" / f"{split}-labels-idx1-ubyte.gz", labels, 2049)
    splits = build_datasets("fashion_mnist", str(tmp_path), test_subset=2)
    assert len(splits.train) == 5 and len(splits.test) == 2
    assert splits.train.targets.tolist() == [3, 1, 4, 1, 5]
    assert np.array_equal(np.asarray(splits.train[2][0]), images[2].astype(np.uint8))


def test_missing_fashion_mnist_suggests_package(tmp_path, monkeypatch):
    monkeypatch.setitem(SYSTEM_DATA_DIRS, "fashion_mnist", tmp_path / "absent")
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        build_datasets("fashion_mnist", str(tmp_path))


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="needs Debian's dataset-fashion-mnist"
)
def test_an_empty_root_says_once_that_the_system_copy_of_fashion_mnist_is_read(tmp_path, caplog):
    # issue 23.6: the system copy was read without a word
    import logging

    from whitening_ssl.data.sources.fashion_mnist import _load_fashion_mnist

    with caplog.at_level(logging.INFO, logger="whitening_ssl"):
        for _ in range(2):
            assert len(_load_fashion_mnist(tmp_path, {}, "test", "stop")) == 10_000
    assert [r.getMessage() for r in caplog.records if "Fashion-MNIST" in r.getMessage()] == [
        f"note: {tmp_path} holds no Fashion-MNIST: reading the copy Debian's dataset-fashion-mnist package installed "
        "in /usr/share/datasets/fashion-mnist"
    ]
