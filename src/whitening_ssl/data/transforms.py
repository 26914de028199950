"""Image transforms (torchvision, on PIL images): the self-supervised augmentations and the evaluation ones.

:func:`make_augmentation` builds a recipe of :data:`~whitening_ssl.data.recipes.RECIPES` (by name,
or a recipe object, e.g. ``dataclasses.replace`` of one); the on-device pipeline
(:mod:`whitening_ssl.data.device_augment`) reads the same recipes. Evaluation: :func:`eval_transform`
(the dataset's deterministic transform) and the ImageNet linear-protocol pair
:func:`linear_train_transform` / :func:`linear_eval_transform`. All are plain classes (no lambdas),
so they pickle into DataLoader workers under any start method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

from whitening_ssl.data.recipes import AugmentationRecipe, get_recipe

BICUBIC = T.InterpolationMode.BICUBIC
BILINEAR = T.InterpolationMode.BILINEAR

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

class ToRGB:
    """Convert a PIL image to RGB so grayscale datasets yield 3-channel tensors."""

    def __call__(self, image: Image.Image) -> Image.Image:
        return image if image.mode == "RGB" else image.convert("RGB")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MultiViewTransform:
    """Apply one random augmentation ``num_views`` times to the same image: an item becomes a list of views."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor], num_views: int = 2) -> None:
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self.transform = transform
        self.num_views = num_views

    def __call__(self, image: Image.Image) -> list[torch.Tensor]:
        return [self.transform(image) for _ in range(self.num_views)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_views={self.num_views}, transform={self.transform!r})"


def random_resized_crop(recipe: AugmentationRecipe, crop_size: int) -> T.RandomResizedCrop:
    """The recipe's RandomResizedCrop (scale, ratio, interpolation) to ``crop_size``."""
    return T.RandomResizedCrop(crop_size, scale=recipe.crop_scale, ratio=recipe.crop_ratio,
                               interpolation=T.InterpolationMode(recipe.crop_interpolation))


def make_augmentation(recipe: str | AugmentationRecipe, crop_size: int, mean: Sequence[float],
                      std: Sequence[float]) -> T.Compose:
    """The torchvision pipeline of ``recipe`` (a name of :data:`RECIPES` or a recipe), in the recipe's op order.

    :class:`ToRGB` first (grey images become 3-channel); then RandomApply(ColorJitter);
    RandomGrayscale; RandomResizedCrop (the small-dataset order: colour on the full image), or
    with ``recipe.crop_first`` the crop first (the SimSiam / BYOL order of the ImageNet recipe);
    RandomApply(GaussianBlur) when the recipe blurs (kernel ``recipe.blur_kernel_size(crop_size)``);
    RandomHorizontalFlip; ToTensor; Normalize.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    crop = random_resized_crop(recipe, crop_size)
    colour = [T.RandomApply([T.ColorJitter(*recipe.jitter_strength)], p=recipe.jitter_p),
              T.RandomGrayscale(p=recipe.grayscale_p)]
    steps: list[Callable] = [ToRGB(), crop, *colour] if recipe.crop_first else [ToRGB(), *colour, crop]
    if recipe.has_blur:
        blur = T.GaussianBlur(recipe.blur_kernel_size(crop_size), sigma=recipe.blur_sigma)
        steps.append(T.RandomApply([blur], p=recipe.blur_p))
    steps += [T.RandomHorizontalFlip(p=recipe.flip_p), T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def eval_transform(mean: Sequence[float], std: Sequence[float], resize: int | None = None,
                   center_crop: int | None = None, interpolation: str | T.InterpolationMode = BICUBIC) -> T.Compose:
    """Deterministic transform for evaluation (linear probe, k-NN): ToRGB; Resize(``resize``, shorter side;
    bicubic unless ``interpolation`` says otherwise) and CenterCrop(``center_crop``) when given; ToTensor;
    Normalize."""
    steps: list[Callable] = [ToRGB()]
    if resize is not None:
        steps.append(T.Resize(resize, interpolation=T.InterpolationMode(interpolation)))
    if center_crop is not None:
        steps.append(T.CenterCrop(center_crop))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def linear_train_transform(mean: Sequence[float], std: Sequence[float], crop_size: int = 224) -> T.Compose:
    """Training transform of the standard ImageNet linear protocol: ToRGB; RandomResizedCrop(``crop_size``,
    scale 0.08-1, bilinear); RandomHorizontalFlip; ToTensor; Normalize."""
    return T.Compose([ToRGB(), T.RandomResizedCrop(crop_size, interpolation=BILINEAR), T.RandomHorizontalFlip(),
                      T.ToTensor(), T.Normalize(mean, std)])


def linear_eval_transform(mean: Sequence[float], std: Sequence[float], resize: int = 256,
                          crop_size: int = 224) -> T.Compose:
    """Validation transform of the standard ImageNet linear protocol: Resize(``resize``, shorter side,
    bilinear); CenterCrop(``crop_size``); ToTensor; Normalize (after :class:`ToRGB`)."""
    return eval_transform(mean, std, resize=resize, center_crop=crop_size, interpolation=BILINEAR)
