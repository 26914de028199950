"""Image transforms (torchvision, on PIL images): the self-supervised augmentations and the evaluation ones.

:func:`make_augmentation` builds one view of a recipe of :data:`~whitening_ssl.data.recipes.RECIPES` (by
name, or a recipe object, e.g. ``dataclasses.replace`` of one), :func:`view_transforms` all the views of
an image (one transform per view where the recipe's views differ); the on-device pipeline
(:mod:`whitening_ssl.data.device.augment`) reads the same recipes. Evaluation: :func:`eval_transform`
(the dataset's deterministic transform) and the ImageNet linear-protocol pair
:func:`linear_train_transform` / :func:`linear_eval_transform`. All are plain classes (no lambdas),
so they pickle into DataLoader workers under any start method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image, ImageFilter
from torchvision import transforms as T

from whitening_ssl.data.recipes import IMAGENET_MEAN, IMAGENET_STD, AugmentationRecipe, View, get_recipe  # noqa: F401

BICUBIC = T.InterpolationMode.BICUBIC
BILINEAR = T.InterpolationMode.BILINEAR


class ToRGB:
    """Convert a PIL image to RGB so grayscale datasets yield 3-channel tensors (16-bit ones scaled to 8 bits)."""

    def __call__(self, image: Image.Image) -> Image.Image:
        from .sources.verify import to_rgb

        return to_rgb(image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PILGaussianBlur:
    """PIL's ``ImageFilter.GaussianBlur(radius=sigma)``, sigma ~ U(``sigma``) per image (torch's RNG): the
    INTL authors' blur (``blur_filter="pil"``), three extended box passes per axis."""

    def __init__(self, sigma: tuple[float, float]) -> None:
        self.sigma = tuple(sigma)

    def __call__(self, image: Image.Image) -> Image.Image:
        radius = float(torch.empty(1).uniform_(self.sigma[0], self.sigma[1]))
        return image.filter(ImageFilter.GaussianBlur(radius=radius))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma={self.sigma})"


class MultiViewTransform:
    """An image becomes a list of views: ``transform`` applied ``num_views`` times (every view alike), or a
    sequence of transforms, one per view, in view order (``transform`` is then the first view's)."""

    def __init__(
        self,
        transform: Callable[[Image.Image], torch.Tensor] | list[Callable] | tuple[Callable, ...],
        num_views: int = 2,
    ) -> None:
        transforms = list(transform) if isinstance(transform, (list, tuple)) else [transform] * max(num_views, 0)
        if len(transforms) < 1:
            raise ValueError(f"num_views must be >= 1, got {len(transforms) or num_views}")
        self.transforms = transforms
        self.transform = transforms[0]
        self.num_views = len(transforms)

    def __call__(self, image: Image.Image) -> list[torch.Tensor]:
        return [transform(image) for transform in self.transforms]

    def __repr__(self) -> str:
        shared = all(t is self.transform for t in self.transforms)
        shown = f"transform={self.transform!r}" if shared else f"transforms={self.transforms!r}"
        return f"{type(self).__name__}(num_views={self.num_views}, {shown})"


def random_resized_crop(
    recipe: AugmentationRecipe, crop_size: int, scale: tuple[float, float] | None = None
) -> T.RandomResizedCrop:
    """The recipe's RandomResizedCrop (``scale``, default the recipe's; ratio, interpolation) to ``crop_size``."""
    return T.RandomResizedCrop(
        crop_size,
        scale=scale or recipe.crop_scale,
        ratio=recipe.crop_ratio,
        interpolation=T.InterpolationMode(recipe.crop_interpolation),
    )


def make_augmentation(
    recipe: str | AugmentationRecipe,
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    view: View | None = None,
) -> T.Compose:
    """The torchvision pipeline of one view of ``recipe`` (a name of :data:`RECIPES` or a recipe), in its op order.

    :class:`ToRGB` first (grey images become 3-channel); then RandomApply(ColorJitter);
    RandomGrayscale; RandomResizedCrop (the small-dataset order: colour on the full image), or
    with ``recipe.crop_first`` the crop first (the SimSiam / BYOL order of the ImageNet recipe);
    RandomApply(blur) when the view blurs (``T.GaussianBlur`` with kernel ``recipe.blur_kernel_size``,
    or :class:`PILGaussianBlur`); RandomSolarize(128) when it solarises; RandomHorizontalFlip;
    ToTensor; Normalize. ``view`` (of :meth:`AugmentationRecipe.view_list`) gives the crop size, crop
    scale, blur and solarisation probabilities of a view; None: ``crop_size`` and the recipe's own.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    view = view or recipe.default_view(crop_size)
    crop = random_resized_crop(recipe, view.crop_size, view.crop_scale)
    colour = [
        T.RandomApply([T.ColorJitter(*recipe.jitter_strength)], p=view.jitter_p),
        T.RandomGrayscale(p=view.grayscale_p),
    ]
    steps: list[Callable] = [ToRGB(), crop, *colour] if recipe.crop_first else [ToRGB(), *colour, crop]
    if view.blur_p > 0:
        blur = (
            PILGaussianBlur(recipe.blur_sigma)
            if recipe.blur_filter == "pil"
            else T.GaussianBlur(recipe.blur_kernel_size(view.crop_size), sigma=recipe.blur_sigma)
        )
        steps.append(T.RandomApply([blur], p=view.blur_p))
    if view.solarize_p > 0:  # PIL's ImageOps.solarize: pixels >= 128 become 255 - p
        steps.append(T.RandomSolarize(128, p=view.solarize_p))
    steps += [T.RandomHorizontalFlip(p=recipe.flip_p), T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def view_transforms(
    recipe: str | AugmentationRecipe, crop_size: int, mean: Sequence[float], std: Sequence[float], num_views: int
) -> MultiViewTransform:
    """The first ``num_views`` views of ``recipe`` (:meth:`AugmentationRecipe.view_list`): one pipeline shared
    by all views when they are alike, else one per view, in view order."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    views = recipe.view_list(crop_size, num_views)
    if len(set(views)) == 1:
        return MultiViewTransform(make_augmentation(recipe, crop_size, mean, std, views[0]), num_views)
    return MultiViewTransform([make_augmentation(recipe, crop_size, mean, std, view) for view in views])


def eval_transform(
    mean: Sequence[float],
    std: Sequence[float],
    resize: int | None = None,
    center_crop: int | None = None,
    interpolation: str | T.InterpolationMode = BICUBIC,
) -> T.Compose:
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
    return T.Compose(
        [
            ToRGB(),
            T.RandomResizedCrop(crop_size, interpolation=BILINEAR),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def linear_eval_transform(
    mean: Sequence[float], std: Sequence[float], resize: int = 256, crop_size: int = 224
) -> T.Compose:
    """Validation transform of the standard ImageNet linear protocol: Resize(``resize``, shorter side,
    bilinear); CenterCrop(``crop_size``); ToTensor; Normalize (after :class:`ToRGB`)."""
    return eval_transform(mean, std, resize=resize, center_crop=crop_size, interpolation=BILINEAR)
