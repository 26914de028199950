"""ImageNet / ImageNet-100 datasets, the shipped class list and the ImageNet augmentations.

All trees are tiny fakes in tmp_path (8x8 images), so these tests run in seconds.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from whitening_ssl.data import (
    COMMON_OPTIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    RECIPES,
    DatasetNotFoundError,
    FileListDataset,
    SSLDataModule,
    ToRGB,
    build_datasets,
    check_dataset,
    check_dataset_available,
    get_spec,
    imagenet100_classes,
    linear_eval_transform,
    linear_train_transform,
    make_augmentation,
    make_split_datasets,
    read_class_list,
)

DISTRACTORS = ("n00000001", "n01440764", "n99999999")  # n01440764 (tench) is in ImageNet-1k, not in IN-100


def _save_image(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(value).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    file_format = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    Image.fromarray(pixels).save(path, format=file_format)


@pytest.fixture(scope="module")
def imagenet100_root(tmp_path_factory) -> Path:
    """All 100 shipped ids with one train and one val image each, plus distractor classes."""
    root = tmp_path_factory.mktemp("imagenet100")
    for index, wnid in enumerate([*read_class_list(), *DISTRACTORS]):
        for split in ("train", "val"):
            _save_image(root / split / wnid / f"{wnid}_{index}.JPEG", index)
    return root


@pytest.fixture
def imagenet_root(tmp_path) -> Path:
    """Three classes (created out of order), 2-3 train and 1 val image each, plus non-image files."""
    for wnid, count in (("n03000000", 2), ("n01000000", 3), ("n02000000", 2)):
        for index in range(count):
            suffix = ".png" if index == 1 else ".JPEG"
            _save_image(tmp_path / "train" / wnid / f"{wnid}_{index}{suffix}", index)
        _save_image(tmp_path / "val" / wnid / f"ILSVRC2012_val_{wnid}.JPEG")
        (tmp_path / "train" / wnid / "notes.txt").write_text("not an image")
    return tmp_path


def imagenet_augmentation():
    return make_augmentation("imagenet", 224, IMAGENET_MEAN, IMAGENET_STD)


def wmse_imagenet100_augmentation():
    return make_augmentation("wmse_imagenet100", 224, IMAGENET_MEAN, IMAGENET_STD)


def _types(compose: T.Compose) -> list[type]:
    return [type(step) for step in compose.transforms]


def _inner(step: T.RandomApply) -> object:
    assert isinstance(step, T.RandomApply) and len(step.transforms) == 1
    return step.transforms[0]


# --- the shipped class list -------------------------------------------------------


def test_class_list_is_package_data_with_100_unique_wnids():
    resource = resources.files("whitening_ssl.data.sources").joinpath("imagenet100_classes.txt")
    assert resource.is_file()
    ids = read_class_list()
    assert len(ids) == 100 and len(set(ids)) == 100
    assert all(re.fullmatch(r"n\d{8}", wnid) for wnid in ids)
    assert ids == resource.read_text().split()
    assert imagenet100_classes() == sorted(ids)
    assert not set(DISTRACTORS) & set(ids)


def test_class_list_file_parsing_and_errors(tmp_path):
    good = tmp_path / "subset.txt"
    good.write_text("# my subset\nn02000000 some name\n\nn01000000\n")
    assert read_class_list(good) == ["n02000000", "n01000000"]
    assert imagenet100_classes(good) == ["n01000000", "n02000000"]
    duplicated = tmp_path / "dup.txt"
    duplicated.write_text("n01000000\nn01000000\n")
    with pytest.raises(ValueError, match="repeats 1 id"):
        read_class_list(duplicated)
    with pytest.raises(FileNotFoundError, match="class_list"):
        read_class_list(tmp_path / "absent.txt")


def test_a_missing_class_list_is_one_problem_among_the_checks(tmp_path):
    from whitening_ssl.validation import Checks

    for split in ("train", "val"):
        (tmp_path / split).mkdir()
    checks = Checks()
    located = check_dataset(
        checks, {"name": "imagenet100", "root": str(tmp_path), "options": {"class_list": str(tmp_path / "absent.txt")}}
    )
    assert located is None and checks.problems == [
        f"Class list {tmp_path / 'absent.txt'} not found (set by dataset.options.class_list)"
    ]


# --- imagenet ---------------------------------------------------------------------


def test_imagenet_classes_and_labels_follow_sorted_folders(imagenet_root):
    assert get_spec("imagenet", imagenet_root).num_classes == 3
    splits = build_datasets("imagenet", imagenet_root)
    train, test = splits.train, splits.test
    assert splits.pretrain is train and isinstance(train, FileListDataset)
    assert train.classes == ["n01000000", "n02000000", "n03000000"]
    assert len(train) == 7 and len(test) == 3  # notes.txt is not an image
    assert train.targets.tolist() == [0, 0, 0, 1, 1, 2, 2]
    for index in range(len(train)):
        assert Path(train.path(index)).parent.name == train.classes[int(train.targets[index])]
    image, label = test[2]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 2


def test_imagenet_spec_constants(imagenet_root):
    spec = get_spec("imagenet", imagenet_root)
    assert (spec.image_size, spec.eval_resize, spec.eval_center_crop) == (224, 256, 224)
    assert spec.mean == IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert spec.std == IMAGENET_STD == (0.229, 0.224, 0.225)
    assert spec.stem == "imagenet"


@pytest.mark.parametrize("name", ["imagenet", "imagenet100"])
def test_missing_imagenet_explains_layout_and_no_download(tmp_path, name):
    for download in (False, True):
        with pytest.raises(DatasetNotFoundError) as caught:
            check_dataset_available(name, tmp_path, download=download)
        message = str(caught.value)
        assert "\n" not in message and str(tmp_path) in message
        assert "train/" in message and "val/" in message and "valprep" in message
        assert "cannot be downloaded automatically" in message
    with pytest.raises(DatasetNotFoundError, match="cannot be downloaded"):
        SSLDataModule(name, root=str(tmp_path), num_workers=0).setup("fit")


def test_imagenet_unsorted_val_folder_is_reported(imagenet_root):
    for folder in (imagenet_root / "val").iterdir():
        for image in folder.iterdir():
            image.rename(imagenet_root / "val" / image.name)
        folder.rmdir()
    with pytest.raises(DatasetNotFoundError, match=r"3 of the 3 class folders are missing from val/.*valprep"):
        build_datasets("imagenet", imagenet_root)


# --- imagenet100 ------------------------------------------------------------------


def test_imagenet100_keeps_only_listed_classes_in_sorted_order(imagenet100_root):
    splits = build_datasets("imagenet100", imagenet100_root)
    expected = sorted(read_class_list())
    assert splits.spec.num_classes == 100
    for split in (splits.train, splits.test):
        assert split.classes == expected and len(split) == 100
        folders = [Path(split.path(index)).parent.name for index in range(len(split))]
        assert not set(DISTRACTORS) & set(folders)
        assert [expected.index(folder) for folder in folders] == split.targets.tolist()
    assert splits.test.targets.tolist() == list(range(100))


def test_imagenet100_missing_class_folder_names_count_and_example(tmp_path):
    ids = sorted(read_class_list())
    for split in ("train", "val"):
        for wnid in ids[3:]:
            (tmp_path / split / wnid).mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as caught:
        check_dataset_available("imagenet100", tmp_path)
    message = str(caught.value)
    assert "3 of the 100 class folders are missing from train/" in message and ids[0] in message
    assert "ImageNet-100" in message and "\n" not in message


def test_imagenet100_class_list_option(imagenet100_root, tmp_path):
    ids = sorted(read_class_list())
    subset = tmp_path / "subset.txt"
    subset.write_text(f"{ids[7]}\n{ids[2]}\n{DISTRACTORS[0]}\n")
    splits = build_datasets("imagenet100", imagenet100_root, class_list=str(subset))
    assert splits.spec.num_classes == 3
    assert splits.train.classes == sorted([ids[7], ids[2], DISTRACTORS[0]])
    assert len(splits.train) == 3 and splits.train.targets.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="imagenet100"):
        get_spec("imagenet", imagenet100_root, class_list=str(subset))


# --- augmentations ----------------------------------------------------------------


def test_imagenet_augmentation_recipe_and_order():
    augmentation = imagenet_augmentation()
    assert _types(augmentation) == [
        ToRGB, T.RandomResizedCrop, T.RandomApply, T.RandomGrayscale, T.RandomApply,
        T.RandomHorizontalFlip, T.ToTensor, T.Normalize,
    ]  # fmt: skip
    _, crop, jitter, grayscale, blur, flip, _, normalize = augmentation.transforms
    assert crop.size == (224, 224) and crop.scale == (0.2, 1.0)
    assert isinstance(_inner(jitter), T.ColorJitter) and jitter.p == 0.8
    assert _inner(jitter).brightness == (0.6, 1.4) and _inner(jitter).hue == (-0.1, 0.1)
    assert grayscale.p == 0.2 and flip.p == 0.5
    assert isinstance(_inner(blur), T.GaussianBlur) and blur.p == 0.5
    assert _inner(blur).kernel_size == (23, 23) and tuple(_inner(blur).sigma) == (0.1, 2.0)
    assert tuple(normalize.mean) == IMAGENET_MEAN and tuple(normalize.std) == IMAGENET_STD
    out = augmentation(Image.new("L", (8, 8)))
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32


def test_wmse_imagenet100_augmentation_recipe_and_order():
    augmentation = wmse_imagenet100_augmentation()
    assert _types(augmentation) == [
        ToRGB, T.RandomApply, T.RandomGrayscale, T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize,
    ]  # fmt: skip
    _, jitter, grayscale, crop, _, _, _ = augmentation.transforms
    assert isinstance(_inner(jitter), T.ColorJitter) and jitter.p == 0.8
    assert _inner(jitter).brightness == pytest.approx((0.2, 1.8)) and _inner(jitter).hue == pytest.approx((-0.2, 0.2))
    assert grayscale.p == 0.2
    assert crop.size == (224, 224) and crop.scale == (0.08, 1.0)
    assert crop.interpolation == T.InterpolationMode.BICUBIC
    assert not any(isinstance(step, T.GaussianBlur) for step in augmentation.transforms)
    assert augmentation(Image.new("RGB", (8, 8))).shape == (3, 224, 224)


def test_make_augmentation_scales_blur_kernel_and_rejects_unknown():
    small_blur = make_augmentation("imagenet", 32, (0.5,) * 3, (0.25,) * 3).transforms[4]
    assert _inner(small_blur).kernel_size == (3, 3)
    assert _types(make_augmentation("small", 32, (0.5,) * 3, (0.25,) * 3))[1] is T.RandomApply
    with pytest.raises(ValueError, match="valid values"):
        make_augmentation("simclr", 32, (0.5,) * 3, (0.25,) * 3)


def _pretrain_recipe(splits) -> list[type]:
    return _types(splits.pretrain.transform.transform)


def test_augmentation_option_selects_recipe(imagenet_root):
    default = make_split_datasets("imagenet", imagenet_root, num_views=2)
    assert _pretrain_recipe(default) == _types(imagenet_augmentation())
    wmse = make_split_datasets("imagenet", imagenet_root, augmentation="wmse_imagenet100")
    assert _pretrain_recipe(wmse) == _types(wmse_imagenet100_augmentation())
    small = make_split_datasets("imagenet", imagenet_root, augmentation="small")
    assert _pretrain_recipe(small) == _types(wmse_imagenet100_augmentation())  # same steps, milder settings
    assert small.pretrain.transform.transform.transforms[3].scale == (0.2, 1.0)
    synthetic = make_split_datasets("synthetic", num_samples=8, num_test=4)
    assert _pretrain_recipe(synthetic) == _types(make_augmentation("small", 32, (0.5,) * 3, (0.25,) * 3))
    blurred = make_split_datasets("synthetic", num_samples=8, num_test=4, augmentation="imagenet")
    assert _pretrain_recipe(blurred) == _types(imagenet_augmentation())
    assert blurred.pretrain[0][0][0].shape == (3, 32, 32)


def test_unknown_augmentation_is_a_one_line_value_error():
    with pytest.raises(ValueError) as caught:
        get_spec("synthetic", augmentation="simclr")
    message = str(caught.value)
    assert "\n" not in message and "simclr" in message
    augmentations = COMMON_OPTIONS["augmentation"].choices()
    assert "use one of " + ", ".join(augmentations) in message
    assert list(augmentations) == ["default", *RECIPES]  # a recipe registered later counts
    assert {"imagenet", "wmse_imagenet100", "small", "intl_cifar10", "intl_imagenet_multicrop"} <= set(augmentations)


# --- evaluation transforms ---------------------------------------------------------


def test_imagenet_eval_transform_outputs_224(imagenet_root):
    splits = make_split_datasets("imagenet", imagenet_root)
    steps = splits.test.transform.transforms
    assert [type(step) for step in steps] == [ToRGB, T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    assert steps[1].size == 256 and steps[1].interpolation == T.InterpolationMode.BILINEAR
    image, label = splits.test[0]
    assert image.shape == (3, 224, 224) and label == 0
    assert splits.train[0][0].shape == (3, 224, 224)


def test_linear_protocol_transforms():
    train = linear_train_transform(IMAGENET_MEAN, IMAGENET_STD)
    assert _types(train) == [ToRGB, T.RandomResizedCrop, T.RandomHorizontalFlip, T.ToTensor, T.Normalize]
    assert train.transforms[1].size == (224, 224)
    evaluation = linear_eval_transform(IMAGENET_MEAN, IMAGENET_STD)
    assert _types(evaluation) == [ToRGB, T.Resize, T.CenterCrop, T.ToTensor, T.Normalize]
    assert evaluation.transforms[1].size == 256 and evaluation.transforms[2].size == (224, 224)
    picture = Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    assert train(picture).shape == evaluation(picture).shape == (3, 224, 224)
    small = linear_eval_transform(IMAGENET_MEAN, IMAGENET_STD, resize=73, crop_size=64)
    assert small(picture).shape == (3, 64, 64)


# --- DataModule ---------------------------------------------------------------------


def test_datamodule_imagenet100_multiview_batches(imagenet100_root):
    datamodule = SSLDataModule(
        "imagenet100", root=str(imagenet100_root), batch_size=2, eval_batch_size=4, num_views=2, num_workers=0
    )
    assert datamodule.num_classes == 100  # before setup, from the class list
    datamodule.check_available()
    datamodule.setup("fit")
    torch.manual_seed(0)
    views, labels = next(iter(datamodule.train_dataloader()))
    assert len(views) == 2 and labels.shape == (2,)
    assert all(view.shape == (2, 3, 224, 224) for view in views)
    assert not torch.equal(views[0], views[1])
    images, labels = next(iter(datamodule.eval_dataloaders()[1]))
    assert images.shape == (4, 3, 224, 224) and labels.tolist() == [0, 1, 2, 3]
