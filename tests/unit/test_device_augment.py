"""Tests of the recipes and the batched on-device augmentation (CPU tensors, fixed seeds).

References are torchvision's own tensor ops (``torchvision.transforms.v2.functional``)
applied one image at a time, and torchvision's ``RandomResizedCrop.get_params``.
Tolerances: views in normalised units (std 0.25, so 1e-4 is 2.5e-5 on [0, 1]
pixels, 1/150 of a uint8 step); distribution tests use two-sample / one-sample
Kolmogorov-Smirnov statistics below 1.95 sqrt(1/n + 1/m) (alpha ~ 0.001),
binomial rates within 4.5 standard errors and a chi-square bound for the 24
jitter orders (23 dof, alpha = 0.001: 49.7). Seeds are fixed, so every run
draws the same numbers.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms.v2 import functional as TF

from whitening_ssl.data import (
    RECIPES,
    AugmentationParams,
    AugmentationRecipe,
    DeviceAugmentation,
    PILGaussianBlur,
    ToRGB,
    cpu_crop_transform,
    get_recipe,
    resampling_matrix,
    view_transforms,
)

MEAN = (0.45, 0.5, 0.55)
STD = (0.25, 0.25, 0.25)
VIEW_ATOL = 1e-4  # normalised units
SAMPLES = 20_000


def _images(batch: int, height: int, width: int, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """uint8 [B, C, H, W]: noise plus gradients, a grey square (hue undefined) and saturated corners."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(batch, channels, height, width, generator=generator)
    ramp = torch.linspace(0, 1, width).view(1, 1, 1, width) * torch.rand(batch, channels, 1, 1, generator=generator)
    images = (0.6 * noise + 0.4 * ramp).mul(255).round().to(torch.uint8)
    images[:, :, : height // 4, : width // 4] = 128  # r = g = b
    images[:, 0, -3:, -3:] = 255
    return images


def _reference_view(
    image: torch.Tensor, recipe: AugmentationRecipe, crop_size: int, params: AugmentationParams, crop: bool = True
) -> torch.Tensor:
    """One view made with torchvision's tensor ops, in the recipe's literal op order (flip last)."""
    x = TF.to_dtype(image, torch.float32, scale=True)
    if x.shape[0] == 1:
        x = x.repeat(3, 1, 1)
    jitter_ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    factors = [float(params.brightness), float(params.contrast), float(params.saturation), float(params.hue)]

    def colour(x: torch.Tensor) -> torch.Tensor:
        if bool(params.jitter_applied):
            for op in params.jitter_order.view(-1).tolist():
                x = jitter_ops[op](x, factors[op])
        if bool(params.grayscale):
            x = TF.rgb_to_grayscale(x, num_output_channels=3)
        return x

    def crop_resize(x: torch.Tensor) -> torch.Tensor:
        if not crop:
            return x
        top, left, height, width = params.crop_boxes.view(-1).tolist()
        mode = T.InterpolationMode(recipe.crop_interpolation)
        x = TF.resized_crop(x, top, left, height, width, [crop_size, crop_size], mode, antialias=True)
        return x.clamp(0, 1) if recipe.crop_interpolation == "bicubic" else x  # PIL's uint8 clipping

    x = colour(crop_resize(x)) if recipe.crop_first else crop_resize(colour(x))
    if recipe.has_blur and bool(params.blur):
        kernel = recipe.blur_kernel_size(crop_size)
        x = TF.gaussian_blur(x, [kernel, kernel], [float(params.blur_sigma)] * 2)
    if recipe.has_solarize and bool(params.solarize):
        x = TF.solarize(x, 128 / 255)
    if bool(params.flip):
        x = TF.hflip(x)
    return TF.normalize(x, list(MEAN), list(STD))


def _cover_branches(params: AugmentationParams) -> AugmentationParams:
    """Force every mask value and many jitter orders to appear in a small batch."""
    index = torch.arange(params.batch_size)
    permutations = torch.tensor(list(itertools.permutations(range(4))))
    return dataclasses.replace(
        params,
        jitter_applied=index % 4 != 3,
        grayscale=index % 3 == 1,
        flip=index % 2 == 0,
        blur=index % 4 < 2,
        solarize=index % 5 < 2,
        jitter_order=permutations[(index * 7) % 24],
    )


# --- recipes ------------------------------------------------------------------------


def test_get_recipe_rejects_unknown_names_in_one_line():
    assert get_recipe("imagenet") is RECIPES["imagenet"]
    with pytest.raises(ValueError) as caught:
        get_recipe("simclr")
    message = str(caught.value)
    assert "\n" not in message and "simclr" in message
    assert all(name in message for name in ("small", "imagenet", "wmse_imagenet100"))


def test_recipe_validates_its_numbers():
    with pytest.raises(ValueError, match="flip_p"):
        dataclasses.replace(RECIPES["small"], flip_p=1.5)
    with pytest.raises(ValueError, match="hue"):
        dataclasses.replace(RECIPES["small"], jitter_strength=(0.4, 0.4, 0.4, 0.6))
    with pytest.raises(ValueError, match="crop_interpolation"):
        dataclasses.replace(RECIPES["small"], crop_interpolation="lanczos")


@pytest.mark.parametrize("name", list(RECIPES))
def test_torchvision_pipeline_reads_the_recipe(name):
    """Every view of every recipe: its crop (size, scale), colour ops, blur and solarisation, in the recipe's order."""
    recipe = RECIPES[name]
    transforms = view_transforms(recipe, 224, MEAN, STD, recipe.fixed_views or 2).transforms
    for view, transform in zip(recipe.view_list(224, len(transforms)), transforms, strict=True):
        steps = transform.transforms
        crop = next(step for step in steps if isinstance(step, T.RandomResizedCrop))
        jitter_apply = next(step for step in steps if isinstance(step, T.RandomApply))
        jitter = jitter_apply.transforms[0]
        grayscale = next(step for step in steps if isinstance(step, T.RandomGrayscale))
        assert (steps.index(crop) < steps.index(jitter_apply)) == recipe.crop_first
        assert crop.size == (view.crop_size, view.crop_size) and crop.scale == view.crop_scale
        assert crop.ratio == recipe.crop_ratio and crop.interpolation.value == recipe.crop_interpolation
        assert (
            jitter_apply.p == view.jitter_p and grayscale.p == view.grayscale_p
        )  # the recipe's unless the view sets its own
        expected = recipe.jitter_ranges()
        assert jitter.brightness == pytest.approx(expected[0]) and jitter.hue == pytest.approx(expected[3])
        assert jitter.contrast == pytest.approx(expected[1]) and jitter.saturation == pytest.approx(expected[2])
        random_apply = [step for step in steps if isinstance(step, T.RandomApply)]
        blur_kind = PILGaussianBlur if recipe.blur_filter == "pil" else T.GaussianBlur
        blurs = [step for step in random_apply if isinstance(step.transforms[0], (T.GaussianBlur, PILGaussianBlur))]
        assert [type(step.transforms[0]) for step in blurs] == [blur_kind] * int(view.blur_p > 0)
        if blurs:
            assert blurs[0].p == view.blur_p and tuple(blurs[0].transforms[0].sigma) == recipe.blur_sigma
            if blur_kind is T.GaussianBlur:
                assert blurs[0].transforms[0].kernel_size == (recipe.blur_kernel_size(view.crop_size),) * 2
        solarize = [step for step in steps if isinstance(step, T.RandomSolarize)]
        assert [(step.p, step.threshold) for step in solarize] == [(view.solarize_p, 128)] * int(view.solarize_p > 0)
        tail = [type(step) for step in steps[-3:]]
        assert tail == [T.RandomHorizontalFlip, T.ToTensor, T.Normalize] and steps[-3].p == recipe.flip_p
        assert all(steps.index(step) < len(steps) - 3 for step in blurs + solarize)
        assert steps.index(blurs[0]) < steps.index(solarize[0]) if blurs and solarize else True


# --- fixed parameters: equal to torchvision's ops --------------------------------------


@pytest.mark.parametrize(
    ("name", "height", "width", "crop_size"),
    [
        ("small", 32, 32, 32),  # CIFAR: crops upscaled
        ("small", 96, 96, 64),  # STL-10: mostly downscaled
        ("wmse_imagenet100", 40, 36, 24),
        ("imagenet", 72, 64, 56),  # 5-tap blur
        ("intl_cifar10", 32, 32, 32),  # solarisation; PIL's blur is compared with PIL in test_intl_data.py
        ("intl_imagenet", 72, 64, 56),
    ],
)
def test_fixed_parameters_match_torchvision_per_image(name, height, width, crop_size):
    recipe = RECIPES[name]
    if recipe.blur_filter == "pil":
        recipe = dataclasses.replace(recipe, blur_filter="torchvision")
    augmentation = DeviceAugmentation(recipe, crop_size, MEAN, STD)
    images = _images(24, height, width)
    params = augmentation.sample_params(24, height, width, torch.Generator().manual_seed(3))
    params = _cover_branches(params)
    views = augmentation.apply(images, params)
    assert views.shape == (24, 3, crop_size, crop_size) and views.dtype == torch.float32
    expected = torch.stack(
        [_reference_view(images[b], augmentation.recipe, crop_size, params.select(b)) for b in range(24)]
    )
    torch.testing.assert_close(views, expected, atol=VIEW_ATOL, rtol=0)


def test_extreme_jitter_factors_match_torchvision():
    """Factors at their range ends (0 blacks/greys out, hue +-0.5 wraps round) still match."""
    augmentation = DeviceAugmentation("small", 16, MEAN, STD)
    images = _images(8, 16, 16, seed=5)
    params = _cover_branches(augmentation.sample_params(8, 16, 16, torch.Generator().manual_seed(4)))
    ends = torch.tensor([0.0, 2.0, 0.0, 2.0, 1.0, 0.0, 2.0, 0.5])
    params = dataclasses.replace(
        params,
        jitter_applied=torch.ones(8, dtype=torch.bool),
        brightness=ends,
        contrast=ends.flip(0),
        saturation=ends.roll(3),
        hue=torch.tensor([-0.5, 0.5, 0.25, -0.25, 0.0, 0.49, -0.49, 0.1]),
    )
    views = augmentation.apply(images, params)
    expected = torch.stack([_reference_view(images[b], augmentation.recipe, 16, params.select(b)) for b in range(8)])
    torch.testing.assert_close(views, expected, atol=VIEW_ATOL, rtol=0)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize(("input_size", "output_size"), [(20, 32), (96, 64), (64, 64)])
def test_resampling_matrix_equals_antialiased_interpolate(interpolation, input_size, output_size):
    """Crop + resize as a matrix equals torchvision's resized_crop(antialias=True) (1e-5 on [0, 1] pixels)."""
    generator = torch.Generator().manual_seed(0)
    signal = torch.rand(6, 1, 1, input_size + 7, generator=generator)
    starts = torch.tensor([0, 7, 3, 5, 1, 2])
    lengths = torch.tensor([input_size, input_size, input_size - 5, input_size - 9, 1, 2])
    matrix = resampling_matrix(starts, lengths, output_size, input_size + 7, interpolation)
    assert torch.allclose(matrix.sum(-1), torch.ones(6, output_size), atol=1e-6)
    resampled = signal @ matrix.unsqueeze(1).transpose(-1, -2)
    mode = T.InterpolationMode(interpolation)
    for b in range(6):
        crop = signal[b, :, :, starts[b] : starts[b] + lengths[b]]
        expected = TF.resize(crop, [1, output_size], mode, antialias=True)
        torch.testing.assert_close(resampled[b], expected, atol=1e-5, rtol=0)


# --- batching: no cross-sample mixing ---------------------------------------------------


@pytest.mark.parametrize("name", ["small", "imagenet"])
def test_each_view_depends_only_on_its_own_image_and_params(name):
    augmentation = DeviceAugmentation(name, 24, MEAN, STD)
    images = _images(10, 28, 30, seed=2)
    params = _cover_branches(augmentation.sample_params(10, 28, 30, torch.Generator().manual_seed(6)))
    views = augmentation.apply(images, params)
    alone = torch.cat([augmentation.apply(images[b : b + 1], params.select(b)) for b in range(10)])
    torch.testing.assert_close(views, alone, atol=1e-6, rtol=0)

    changed = images.clone()
    changed[4] = 255 - changed[4]
    changed_views = augmentation.apply(changed, params)
    others = torch.arange(10) != 4
    assert torch.equal(changed_views[others], views[others])
    assert not torch.allclose(changed_views[4], views[4])


# --- random parameters: torchvision's distributions ------------------------------------


def _ks_two_sample(first: torch.Tensor, second: torch.Tensor) -> float:
    first, second = first.double().sort().values, second.double().sort().values
    grid = torch.cat([first, second]).unique()
    cdf_first = torch.searchsorted(first, grid, right=True) / len(first)
    cdf_second = torch.searchsorted(second, grid, right=True) / len(second)
    return float((cdf_first - cdf_second).abs().max())


def _ks_uniform(values: torch.Tensor, low: float, high: float) -> float:
    ordered = ((values.double().sort().values - low) / (high - low)).clamp(0, 1)
    n = len(ordered)
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n - ordered
    lower = ordered - torch.arange(n, dtype=torch.float64) / n
    return float(torch.maximum(upper, lower).max())


def _ks_bound(n: int, m: int | None = None) -> float:
    return 1.95 * math.sqrt(1 / n + (1 / m if m else 0.0))


def _assert_rate(mask: torch.Tensor, p: float) -> None:
    rate = mask.double().mean().item()
    assert abs(rate - p) <= 4.5 * math.sqrt(p * (1 - p) / mask.numel()) + 1e-12, (rate, p)


@pytest.mark.parametrize(
    ("height", "width", "crop_scale"),
    [(32, 32, (0.2, 1.0)), (96, 96, (0.08, 1.0)), (24, 80, (0.5, 1.0))],  # the last falls back ~1/3 of the time
)
def test_crop_boxes_follow_torchvision_get_params(height, width, crop_scale):
    recipe = dataclasses.replace(RECIPES["small"], crop_scale=crop_scale)
    augmentation = DeviceAugmentation(recipe, 16, MEAN, STD)
    boxes = augmentation.sample_crop_boxes(SAMPLES, height, width, torch.Generator().manual_seed(7), "cpu")
    torch.manual_seed(8)
    image = torch.empty(1, height, width)
    reference = torch.tensor(
        [T.RandomResizedCrop.get_params(image, list(crop_scale), list(recipe.crop_ratio)) for _ in range(SAMPLES)]
    )
    top, left, crop_height, crop_width = boxes.unbind(1)
    assert (crop_height >= 1).all() and (crop_width >= 1).all()
    assert (top >= 0).all() and (top + crop_height <= height).all()
    assert (left >= 0).all() and (left + crop_width <= width).all()
    bound = _ks_bound(SAMPLES, SAMPLES)
    ours_area = (crop_height * crop_width).double() / (height * width)
    ref_area = (reference[:, 2] * reference[:, 3]).double() / (height * width)
    assert _ks_two_sample(ours_area, ref_area) < bound
    assert _ks_two_sample(torch.log(crop_width / crop_height), torch.log(reference[:, 3] / reference[:, 2])) < bound
    for column in range(4):
        assert _ks_two_sample(boxes[:, column], reference[:, column]) < bound
    # Torchvision's central fallback (the image clipped to the ratio range) with the same frequency.
    fallback_height, fallback_width = height, width
    if width / height > max(recipe.crop_ratio):
        fallback_width = round(height * max(recipe.crop_ratio))
    elif width / height < min(recipe.crop_ratio):
        fallback_height = round(width / min(recipe.crop_ratio))
    fallback = torch.tensor(
        [(height - fallback_height) // 2, (width - fallback_width) // 2, fallback_height, fallback_width]
    )
    ours_fallback = (boxes == fallback).all(1).double().mean().item()
    ref_fallback = (reference == fallback).all(1).double().mean().item()
    assert abs(ours_fallback - ref_fallback) <= 4.5 * math.sqrt(2 * max(ref_fallback, 1e-4) / SAMPLES)
    if width / height > 4 / 3:
        assert ref_fallback > 0.2  # the fallback really is exercised


@pytest.mark.parametrize("name", list(RECIPES))
def test_masks_factors_and_orders_follow_the_recipe(name):
    recipe = RECIPES[name]
    params = DeviceAugmentation(recipe, 32, MEAN, STD).sample_params(SAMPLES, 32, 32, torch.Generator().manual_seed(9))
    _assert_rate(params.flip, recipe.flip_p)
    _assert_rate(params.jitter_applied, recipe.jitter_p)
    _assert_rate(params.grayscale, recipe.grayscale_p)
    _assert_rate(params.blur, recipe.blur_p)
    _assert_rate(params.solarize, recipe.solarize_p)
    factors = (params.brightness, params.contrast, params.saturation, params.hue)
    for values, (low, high) in zip(factors, recipe.jitter_ranges(), strict=True):
        assert values.min() >= low and values.max() <= high
        assert _ks_uniform(values, low, high) < _ks_bound(SAMPLES)
    assert _ks_uniform(params.blur_sigma, *recipe.blur_sigma) < _ks_bound(SAMPLES)

    assert (params.jitter_order.sort(dim=1).values == torch.arange(4)).all()  # each row is a permutation
    codes = (params.jitter_order * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = torch.bincount(codes, minlength=256).double()
    counts = counts[counts > 0]
    assert len(counts) == 24
    expected = SAMPLES / 24
    assert float(((counts - expected) ** 2 / expected).sum()) < 49.7


def test_sampling_is_reproducible_with_a_generator():
    augmentation = DeviceAugmentation("imagenet", 24, MEAN, STD)
    images = _images(4, 30, 30)
    first = augmentation(images, 2, generator=torch.Generator().manual_seed(11))
    second = augmentation(images, 2, generator=torch.Generator().manual_seed(11))
    assert torch.equal(first, second)


# --- shapes, layouts and the CPU-crop split --------------------------------------------


def test_forward_returns_independent_views():
    augmentation = DeviceAugmentation("small", 32, MEAN, STD)
    images = _images(5, 32, 32)
    views = augmentation(images, 3, generator=torch.Generator().manual_seed(0))
    assert views.shape == (3, 5, 3, 32, 32) and views.dtype == torch.float32
    assert not torch.allclose(views[0], views[1]) and not torch.allclose(views[1], views[2])


def test_memory_layout_and_grey_inputs_give_the_same_views():
    augmentation = DeviceAugmentation("small", 20, MEAN, STD)
    rgb = _images(6, 24, 26)
    params = augmentation.sample_params(6, 24, 26, torch.Generator().manual_seed(1))
    channels_first = augmentation.apply(rgb, params)
    # [B, C, H, W] stored pixel by pixel (a permuted [B, H, W, C] array, as CIFAR's): the same views
    nhwc_memory = rgb.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    torch.testing.assert_close(augmentation.apply(nhwc_memory, params), channels_first, atol=1e-6, rtol=0)

    grey = _images(6, 24, 26, channels=1)
    grey_views = augmentation.apply(grey, params)
    assert grey_views.shape == (6, 3, 20, 20)
    torch.testing.assert_close(grey_views, augmentation.apply(grey.expand(-1, 3, -1, -1), params), atol=1e-6, rtol=0)
    expected = torch.stack([_reference_view(grey[b], augmentation.recipe, 20, params.select(b)) for b in range(6)])
    torch.testing.assert_close(grey_views, expected, atol=VIEW_ATOL, rtol=0)


def test_bad_inputs_are_one_line_errors():
    augmentation = DeviceAugmentation("small", 16, MEAN, STD)
    params = augmentation.sample_params(2, 16, 16)
    for images, error in [
        (torch.zeros(2, 16, 16, dtype=torch.uint8), ValueError),  # no channel axis
        (torch.zeros(2, 16, 16, 3, dtype=torch.uint8), ValueError),  # channels last: image_tensor's job, never guessed
        (torch.zeros(2, 4, 16, 16, dtype=torch.uint8), ValueError),  # RGBA
        (torch.zeros(2, 3, 16, 16, dtype=torch.int32), TypeError),
        (torch.zeros(3, 3, 16, 16, dtype=torch.uint8), ValueError),  # params for 2 samples
    ]:
        with pytest.raises(error) as caught:
            augmentation.apply(images, params)
        assert "\n" not in str(caught.value)


def test_autocast_is_disabled_inside():
    augmentation = DeviceAugmentation("imagenet", 24, MEAN, STD)
    images = _images(4, 30, 30)
    params = augmentation.sample_params(4, 30, 30, torch.Generator().manual_seed(2))
    plain = augmentation.apply(images, params)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = augmentation.apply(images, params)
    assert inside.dtype == torch.float32 and torch.equal(inside, plain)


def test_cpu_crop_split_matches_the_recipe():
    recipe = RECIPES["imagenet"]
    crop = cpu_crop_transform("imagenet", 40)
    steps = crop.transforms
    assert isinstance(steps[0], ToRGB) and isinstance(steps[-1], T.PILToTensor)
    assert steps[1].scale == recipe.crop_scale and steps[1].ratio == recipe.crop_ratio
    assert steps[1].interpolation == T.InterpolationMode.BILINEAR and steps[1].size == (40, 40)
    pixels = np.random.default_rng(0).integers(0, 256, (60, 50), dtype=np.uint8)
    crops = torch.stack([crop(Image.fromarray(pixels, mode="L")) for _ in range(6)])  # grey photo -> RGB crop
    assert crops.shape == (6, 3, 40, 40) and crops.dtype == torch.uint8

    augmentation = DeviceAugmentation(recipe, 40, MEAN, STD, crop_on_device=False)
    params = _cover_branches(augmentation.sample_params(6, 40, 40, torch.Generator().manual_seed(3)))
    assert (params.crop_boxes == torch.tensor([0, 0, 40, 40])).all()
    views = augmentation.apply(crops, params)
    expected = torch.stack([_reference_view(crops[b], recipe, 40, params.select(b), crop=False) for b in range(6)])
    torch.testing.assert_close(views, expected, atol=VIEW_ATOL, rtol=0)
    with pytest.raises(ValueError, match="cpu_crop_transform"):
        augmentation.apply(_images(6, 48, 48), params)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_views_equal_cpu_views():
    """Same params on CUDA and CPU give the same views (TF32 off: 1e-4; on: 2e-2 normalised)."""
    pil_blur = dataclasses.replace(RECIPES["intl_imagenet_multicrop"], views=())  # PIL's blur p 0.5, solarise 0.1
    for name, size, crop_size in [("small", 32, 32), ("imagenet", 64, 56), (pil_blur, 64, 56)]:
        augmentation = DeviceAugmentation(name, crop_size, MEAN, STD)
        images = _images(64, size, size)
        params = augmentation.sample_params(64, size, size, torch.Generator().manual_seed(4))
        cpu_views = augmentation.apply(images, params)
        on_device = augmentation.to("cuda")
        previous = torch.backends.cuda.matmul.allow_tf32
        try:
            torch.backends.cuda.matmul.allow_tf32 = False
            strict = on_device.apply(images.cuda(), params.to("cuda")).cpu()
            torch.backends.cuda.matmul.allow_tf32 = True
            loose = on_device.apply(images.cuda(), params.to("cuda")).cpu()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
        augmentation.to("cpu")
        torch.testing.assert_close(strict, cpu_views, atol=VIEW_ATOL, rtol=0)
        torch.testing.assert_close(loose, cpu_views, atol=2e-2, rtol=0)
        sampled = on_device(images.cuda(), 2, generator=torch.Generator("cuda").manual_seed(0))
        assert sampled.shape == (2, 64, 3, crop_size, crop_size) and sampled.device.type == "cuda"
