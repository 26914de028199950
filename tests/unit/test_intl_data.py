"""The INTL recipes (Weng et al., ICLR 2024) on both pipelines: per-view probabilities, PIL's blur, solarisation,
their own normalisation, multi-crop views of several sizes, and the number of views they fix.

PIL's blur on the device is compared with Pillow itself: the device's kernels with Pillow's per-pass uint8
rounding added back equal Pillow exactly; the float32 device blur is within the measured rounding
(docs/data.md). Rates are within 4.5 binomial standard errors; seeds are fixed.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fakes import smooth_images, write_stand_in
from helpers import TINY, compose_config
from PIL import Image, ImageFilter, ImageOps
from torchvision import transforms as T

from whitening_ssl.data import (
    DATASETS,
    RECIPES,
    DeviceAugmentation,
    EvalDataModule,
    SSLDataModule,
    ViewGroup,
    build_datasets,
    dataset_spec,
    get_spec,
    parse_options,
    pil_box_kernels,
    pil_gaussian_blur,
    register_recipe,
    size_groups,
    solarize,
    view_transforms,
)
from whitening_ssl.data.device.support import device_pipeline_problem
from whitening_ssl.stages import check_config
from whitening_ssl.validation import ConfigError

# measured over 1200 images (noise and smooth, 7 to 96 px, sigma ~ U(0.1, 2)): max 2.95 / 255, mean 0.45 / 255,
# signed mean 3e-5 / 255 (docs/data.md); Pillow rounds each of its 6 passes to uint8, the device does not
PIL_BLUR_MAX, PIL_BLUR_MEAN = 3.5 / 255, 0.6 / 255
# the stand-in's multi-crop: INTL's crops and scale ranges, sizes scaled from 224 px to 32 px, on 64 px images
MULTICROP = dataclasses.replace(
    RECIPES["intl_imagenet_multicrop"],
    name="intl_multicrop_test",
    views=tuple(
        dataclasses.replace(group, crop_size=size)
        for group, size in zip(RECIPES["intl_imagenet_multicrop"].views, (32, 27, 23, 18, 14), strict=True)
    ),
)
MULTICROP_SIZES = [32, 32, 27, 23, 18, 14]
IN_MEMORY = [name for name, entry in DATASETS.items() if entry.in_memory]


def _assert_rate(mask: torch.Tensor, p: float) -> None:
    rate = mask.double().mean().item()
    assert abs(rate - p) <= 4.5 * math.sqrt(p * (1 - p) / mask.numel()) + 1e-12, (rate, p)


def _pil_blurred(images: np.ndarray, sigma: torch.Tensor) -> torch.Tensor:
    """Pillow's ``GaussianBlur(radius=sigma)`` of uint8 [B, H, W, 3] images, as float [B, 3, H, W] in [0, 1]."""
    blurred = [
        np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=float(s))))
        for image, s in zip(images, sigma, strict=True)
    ]
    return torch.from_numpy(np.stack(blurred)).permute(0, 3, 1, 2).double() / 255


def _test_images(count: int, size: tuple[int, int], generator: torch.Generator) -> np.ndarray:
    noise = torch.randint(0, 256, (count // 2, *size, 3), generator=generator, dtype=torch.uint8).numpy()
    smooth = smooth_images(count - count // 2, 3, max(size), generator)[:, : size[0], : size[1]]
    return np.concatenate([noise, smooth])


# --- PIL's blur and solarisation on the device --------------------------------------------------------------


@pytest.mark.parametrize("size", [(20, 23), (7, 7), (3, 5)])  # narrower than the kernel too
def test_the_device_blur_kernels_are_pillows_extended_boxes(size):
    """With Pillow's rounding of each pass (24-bit weights, half up, edges repeated) the device's kernels give
    Pillow's pixels exactly: the same radius, weights and edges."""
    generator = torch.Generator().manual_seed(0)
    images = _test_images(64, size, generator)
    sigma = torch.cat([torch.tensor([0.1, 2.0]), 0.1 + 1.9 * torch.rand(62, generator=generator)])
    kernels, half = pil_box_kernels(sigma, 2.0)
    weights = (kernels.double() * 2**24).round().repeat_interleave(3, dim=0)
    assert torch.equal(weights, (kernels.double() * 2**24).floor().repeat_interleave(3, dim=0))  # whole numbers
    planes = torch.from_numpy(images).permute(0, 3, 1, 2).double().reshape(1, -1, *size)
    rows, columns = ((half, half, 0, 0), weights[:, None, None, :]), ((0, 0, half, half), weights[:, None, :, None])
    for padding, taps in (rows, columns):
        for _ in range(3):
            planes = F.conv2d(F.pad(planes, padding, mode="replicate"), taps, groups=planes.shape[1])
            planes = torch.floor((planes + 2**23) / 2**24)  # Pillow: (bulk + (1 << 23)) >> 24
    assert torch.equal(planes.view(64, 3, *size) / 255, _pil_blurred(images, sigma))


def test_the_device_blur_is_pils_within_its_rounding():
    generator = torch.Generator().manual_seed(1)
    images = _test_images(200, (32, 32), generator)
    sigma = 0.1 + 1.9 * torch.rand(200, generator=generator)
    device = pil_gaussian_blur(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, sigma, 2.0)
    difference = device.double() - _pil_blurred(images, sigma)
    assert device.dtype == torch.float32
    assert difference.abs().max() <= PIL_BLUR_MAX and difference.abs().mean() <= PIL_BLUR_MEAN
    assert abs(difference.mean()) < 0.05 / 255  # no bias: only Pillow's rounding


def test_solarisation_is_pils_on_every_pixel_value():
    values = torch.arange(256, dtype=torch.uint8)
    image = Image.fromarray(values.numpy().reshape(16, 16)).convert("RGB")
    expected = torch.from_numpy(np.array(ImageOps.solarize(image)))
    images = values.view(1, 1, 16, 16).expand(2, 3, 16, 16).float() / 255
    made = solarize(images, torch.tensor([True, False]))
    torch.testing.assert_close(made[0], expected.permute(2, 0, 1).float() / 255, rtol=0, atol=1e-6)
    assert torch.equal(made[1], images[1])


# --- per-view probabilities --------------------------------------------------------------------------------


def _only_solarisation(recipe):
    """``recipe`` with every other random op off: a view is the image, solarised or not."""
    views = tuple(dataclasses.replace(group, crop_scale=None, blur_p=0.0) for group in recipe.views)
    return dataclasses.replace(
        recipe,
        jitter_p=0.0,
        grayscale_p=0.0,
        flip_p=0.0,
        blur_p=0.0,
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        views=views,
    )


@pytest.mark.parametrize("name", ["intl_cifar10", "intl_imagenet"])
def test_each_view_is_solarised_at_its_own_rate_on_both_pipelines(name):
    """[0.0, 0.2]: view 0 never, view 1 a fifth of the time; a solarised grey 200 is 55."""
    recipe, count = _only_solarisation(RECIPES[name]), 2000
    rates = [view.solarize_p for view in recipe.view_list(16, 2)]
    assert rates == [0.0, 0.2]
    torch.manual_seed(0)
    transforms = view_transforms(recipe, 16, (0.0,) * 3, (1.0,) * 3, 2).transforms
    image = Image.new("RGB", (16, 16), (200, 200, 200))
    for view, rate in zip(transforms, rates, strict=True):
        pixels = torch.stack([view(image)[:, 0, 0] for _ in range(count)]) * 255
        assert set(pixels.round().flatten().tolist()) <= {55.0, 200.0}
        _assert_rate(pixels[:, 0] < 128, rate)
    images = torch.full((count, 3, 16, 16), 200, dtype=torch.uint8)
    device = DeviceAugmentation(recipe, 16, (0.0,) * 3, (1.0,) * 3)
    for view, rate in zip(device.make_views(images, 2, torch.Generator().manual_seed(1)), rates, strict=True):
        torch.testing.assert_close(view.amax(dim=(2, 3)), view.amin(dim=(2, 3)), rtol=0, atol=1e-6)
        pixels = view[:, 0, 0, 0] * 255
        assert ((pixels - 200).abs() < 1e-3).logical_or((pixels - 55).abs() < 1e-3).all()
        _assert_rate(view[:, 0, 0, 0] < 0.5, rate)


@pytest.mark.parametrize("name", [name for name, recipe in RECIPES.items() if recipe.views])
def test_the_device_draws_each_views_own_probabilities(name):
    recipe, count = RECIPES[name], 20_000
    device = DeviceAugmentation(recipe, 32, (0.5,) * 3, (0.25,) * 3)
    views = device.view_list(recipe.fixed_views)
    params = device.sample_params(count * len(views), 32, 32, torch.Generator().manual_seed(2), views=views)
    for k, view in enumerate(views):
        block = params.select(slice(k * count, (k + 1) * count))
        _assert_rate(block.blur, view.blur_p)
        _assert_rate(block.solarize, view.solarize_p)
        _assert_rate(block.flip, recipe.flip_p)


# --- whole views: CPU and device on CIFAR-10's stand-in ---------------------------------------------------


@pytest.mark.parametrize("name", ["intl_cifar10", "intl_imagenet"])  # solarisation; and PIL's blur [1.0, 0.1]
def test_cpu_and_device_views_of_an_intl_recipe_agree(name, tmp_path, monkeypatch):
    """Per view: shapes, dtype, the recipe's normalised range, and paired per-image channel means and spreads
    within 4.5 standard errors plus the PIL pipeline's uint8 rounding (2 steps)."""
    stand_in, images, rounds = write_stand_in("cifar10", tmp_path, num_images=64), 64, 8
    stand_in.accept(monkeypatch)
    cpu, device = (
        SSLDataModule(
            "cifar10",
            root=str(tmp_path),
            batch_size=16,
            num_views=2,
            num_workers=0,
            pipeline=pipeline,
            augmentation=name,
        )
        for pipeline in ("cpu", "device")
    )
    cpu.setup(), device.setup()
    recipe = RECIPES[name]
    mean, std = torch.tensor(recipe.mean).view(3, 1, 1), torch.tensor(recipe.std).view(3, 1, 1)
    torch.manual_seed(0)
    cpu_views = torch.stack(
        [torch.stack([torch.stack(cpu.pretrain_dataset[i][0]) for i in range(images)], dim=1) for _ in range(rounds)]
    )  # [R, V, N, 3, S, S]
    batch = (torch.arange(images), torch.zeros(images, dtype=torch.long))
    device_views = torch.stack([torch.stack(device.make_views(batch)[0]) for _ in range(rounds)])
    assert device_views.shape == cpu_views.shape == (rounds, 2, images, 3, 32, 32)
    assert device_views.dtype == cpu_views.dtype == torch.float32
    for views in (cpu_views, device_views):
        assert (views >= (0 - mean) / std - 1e-5).all() and (views <= (1 - mean) / std + 1e-5).all()
    for view in range(2):
        for statistic in (lambda v: v.mean(dim=(-2, -1)), lambda v: v.std(dim=(-2, -1))):
            difference = statistic(cpu_views[:, view]).mean(0) - statistic(device_views[:, view]).mean(0)  # [N, 3]
            bound = 4.5 * difference.std(0) / math.sqrt(images) + 2.0 / 255 / std.view(3)
            assert (difference.mean(0).abs() < bound).all(), (view, difference.mean(0), bound)


# --- multi-crop: views of several sizes --------------------------------------------------------------------


@pytest.fixture
def multicrop():
    """:data:`MULTICROP` registered (``register_recipe``) for the duration of a test."""
    yield register_recipe(MULTICROP)
    RECIPES.pop(MULTICROP.name)


def test_multicrop_batches_hold_views_of_each_size_in_view_order(multicrop, tmp_path):
    settings = {"batch_size": 16, "num_views": 6, "num_workers": 0, "augmentation": multicrop.name}
    synthetic = {"num_samples": 64, "num_test": 16, "image_size": 64}
    cpu = SSLDataModule("synthetic", pipeline="cpu", **settings, **synthetic)
    device = SSLDataModule("synthetic", pipeline="device", **settings, **synthetic)
    cpu.setup(), device.setup()
    expected = [(16, 3, size, size) for size in MULTICROP_SIZES]
    views, labels = next(iter(cpu.train_dataloader()))
    assert [tuple(v.shape) for v in views] == expected and labels.shape == (16,)
    views, _ = device.make_views(next(iter(device.train_dataloader())))
    assert [tuple(v.shape) for v in views] == expected and all(v.dtype == torch.float32 for v in views)
    assert size_groups(device.device_augmentation.view_list(6)) == [[0, 1], [2], [3], [4], [5]]
    with pytest.raises(ValueError, match="several sizes: use make_views"):
        device.device_augmentation(device.images[:4], 6)
    pickle.loads(pickle.dumps(cpu.pretrain_dataset.transform))  # DataLoader workers under spawn

    for k in range(2):  # image files: workers crop each view to its size, the device makes the rest
        folder = tmp_path / "train" / f"class_{k}"
        folder.mkdir(parents=True)
        for j in range(8):
            pixels = smooth_images(1, 3, 48, torch.Generator().manual_seed(8 * k + j))[0]
            Image.fromarray(pixels).save(folder / f"{j}.png")
    files = SSLDataModule(
        "image_folder", root=str(tmp_path), pipeline="device", image_size=32, **{**settings, "batch_size": 4}
    )
    files.setup()
    crops, labels = next(iter(files.train_dataloader()))
    assert [tuple(c.shape) for c in crops] == [(4, 3, s, s) for s in MULTICROP_SIZES] and crops[0].dtype == torch.uint8
    views, _ = files.make_views((crops, labels))
    assert [tuple(v.shape) for v in views] == [(4, 3, s, s) for s in MULTICROP_SIZES]


def test_multicrop_views_take_their_own_crop_scales_on_both_pipelines():
    """The crop area fractions of each view lie in its scale range, with the same distribution on both
    pipelines (two-sample Kolmogorov-Smirnov), and a mean inside the range."""
    count, side = 4000, 64
    views = MULTICROP.view_list(64, 6)
    device = DeviceAugmentation(MULTICROP, side, (0.5,) * 3, (0.25,) * 3)
    boxes = device.sample_params(count * 6, side, side, torch.Generator().manual_seed(3), views=views).crop_boxes
    device_area = (boxes[:, 2] * boxes[:, 3]).double().view(6, count) / side**2
    crops = [
        next(step for step in t.transforms if isinstance(step, T.RandomResizedCrop))
        for t in view_transforms(MULTICROP, side, (0.5,) * 3, (0.25,) * 3, 6).transforms
    ]
    torch.manual_seed(4)
    image = torch.empty(3, side, side)
    for k, (view, crop) in enumerate(zip(views, crops, strict=True)):
        assert crop.scale == view.crop_scale and crop.size == (view.crop_size, view.crop_size)
        cpu_area = (
            torch.tensor(
                [h * w for _, _, h, w in (crop.get_params(image, crop.scale, crop.ratio) for _ in range(count))]
            ).double()
            / side**2
        )
        low, high = view.crop_scale
        rounding = 2.5 / side  # w and h are rounded to whole pixels
        for area in (cpu_area, device_area[k]):
            assert (area >= low - rounding).all() and (area <= high + rounding).all(), (k, area.min(), area.max())
            assert low < area.mean() < high
            if high * max(crop.ratio) <= 1:  # every attempt fits in the image: the area is uniform on the range
                assert abs(area.mean() - (low + high) / 2) < 0.02
        grid = torch.cat([cpu_area, device_area[k]]).unique()
        cdfs = [torch.searchsorted(a.sort().values, grid, right=True) / count for a in (cpu_area, device_area[k])]
        assert (cdfs[0] - cdfs[1]).abs().max() < 1.95 * math.sqrt(2 / count)


# --- normalisation, number of views, what the device can make -----------------------------------------------


@pytest.mark.parametrize(("dataset", "name"), [("cifar10", "intl_cifar10"), ("cifar100", "intl_cifar100")])
def test_an_intl_cifar_recipe_normalises_views_and_evaluation_as_the_authors(dataset, name, tmp_path, monkeypatch):
    write_stand_in(dataset, tmp_path, num_images=16).accept(monkeypatch)
    recipe, root = RECIPES[name], str(tmp_path)
    own = get_spec(dataset, root)
    assert (own.mean, own.std) != (recipe.mean, recipe.std) and own.std == (0.2023, 0.1994, 0.2010)
    assert (get_spec(dataset, root, augmentation=name).mean, get_spec(dataset, root, augmentation=name).std) == (
        recipe.mean,
        recipe.std,
    )
    evaluated = (recipe.eval_mean, recipe.eval_std)  # the authors' cifar/eval/dataloader.py: CIFAR-10's for both
    assert evaluated == ((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
    assert build_datasets(dataset, root, splits=("test",), augmentation=name).spec.eval_normalisation == evaluated
    cpu = SSLDataModule(dataset, root=root, batch_size=4, num_views=2, num_workers=0, augmentation=name)
    evaluation = EvalDataModule(dataset, root=root, num_workers=0, augmentation=name)
    device = SSLDataModule(
        dataset, root=root, batch_size=4, num_views=2, num_workers=0, pipeline="device", augmentation=name
    )
    for module in (cpu, evaluation, device):
        module.setup()
    transforms = [
        *cpu.pretrain_dataset.transform.transforms,
        *(split.transform for split in cpu.eval_datasets()),
        *(split.transform for split in evaluation.eval_datasets()),
    ]
    normalisations = [
        (tuple(step.mean), tuple(step.std))
        for transform in transforms
        for step in transform.transforms
        if isinstance(step, T.Normalize)
    ]
    assert normalisations == [(recipe.mean, recipe.std)] * 2 + [evaluated] * 4  # 2 views, then 4 evaluation splits
    torch.testing.assert_close(device.device_augmentation.mean.flatten(), torch.tensor(recipe.mean))
    torch.testing.assert_close(device.device_augmentation.std.flatten(), torch.tensor(recipe.std))


def test_a_recipe_with_its_own_views_fixes_data_num_views(tmp_path):
    dataset = ["++dataset.options.augmentation=intl_imagenet_multicrop"]
    line = (
        "data.num_views=2, but recipe intl_imagenet_multicrop makes 6 views (224, 224, 192, 160, 128, 96 px): set "
        "data.num_views=6"
    )
    with pytest.raises(ConfigError) as caught:
        check_config(compose_config([*TINY, *dataset, "data.num_views=2"], run_dir=tmp_path / "run"))
    assert caught.value.problems == [line]
    check_config(compose_config([*TINY, *dataset, "data.num_views=6"], run_dir=tmp_path / "run"))
    with pytest.raises(ConfigError) as caught:  # the DataModule, used directly, refuses it too
        SSLDataModule("synthetic", num_views=2, num_workers=0, augmentation="intl_imagenet_multicrop").setup()
    assert caught.value.problems == [line]
    only = "^data.num_views=3, but recipe intl_cifar10 makes 2 views: set data.num_views=2$"
    with pytest.raises(ConfigError, match=only):
        check_config(
            compose_config(
                [*TINY, "++dataset.options.augmentation=intl_cifar10", "data.num_views=3"], run_dir=tmp_path / "run"
            )
        )


@pytest.mark.parametrize("name", IN_MEMORY)
def test_the_device_makes_every_recipe_on_every_in_memory_dataset(name):
    entry = DATASETS[name]
    spec = dataset_spec(entry, Path("unused"), parse_options(entry))
    for recipe in RECIPES.values():
        assert device_pipeline_problem(entry, recipe, spec.image_size) is None, recipe.name


def test_the_device_still_refuses_what_it_cannot_make():
    """A torchvision blur wider than a multi-crop view of 1 px (PIL's blur repeats the edge: any size)."""
    tiny = dataclasses.replace(MULTICROP, blur_filter="torchvision", views=(*MULTICROP.views, ViewGroup(1, 1)))
    problem = device_pipeline_problem(DATASETS["cifar10"], tiny, 32)
    assert problem == (
        "cannot make the CPU pipeline's views of dataset=cifar10 with recipe intl_multicrop_test: "
        "crop_size 1 is too small for a 3-tap blur; use at least 3 px"
    )
    assert device_pipeline_problem(DATASETS["cifar10"], dataclasses.replace(tiny, blur_filter="pil"), 32) is None
    with pytest.raises(ValueError, match="blur_filter 'box' is not one of torchvision, pil"):
        dataclasses.replace(MULTICROP, blur_filter="box")
    with pytest.raises(ValueError, match=r"views\[1\].solarize_p must be a probability"):
        dataclasses.replace(MULTICROP, views=(ViewGroup(), ViewGroup(solarize_p=2.0)))
    with pytest.raises(ValueError, match="registered twice"):
        register_recipe(RECIPES["intl_cifar10"])
