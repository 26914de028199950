"""Image transforms: the self-supervised augmentations and the evaluation transforms.

Self-supervised recipes (selected by name with :func:`make_augmentation`; their
numbers live in :data:`whitening_ssl.data.recipes.RECIPES`, which the on-device
pipeline of :mod:`whitening_ssl.data.device_augment` reads as well):

* ``small``: :func:`ssl_augmentation`, the W-MSE / CW-RGP recipe for CIFAR,
  STL-10 and Tiny-ImageNet,
* ``imagenet``: :func:`imagenet_augmentation`, CW-RGP's ImageNet recipe (adds
  Gaussian blur, crops first),
* ``wmse_imagenet100``: :func:`wmse_imagenet100_augmentation`, W-MSE's
  ImageNet-100 recipe (stronger jitter, crop scale from 0.08, no blur).

Evaluation: :func:`eval_transform` (the dataset's own deterministic
transform) and the standard ImageNet linear-protocol pair
:func:`linear_train_transform` / :func:`linear_eval_transform`.

All transforms take PIL images and are plain classes (no lambdas) so that they
pickle into DataLoader worker processes under any start method.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

from whitening_ssl.data.recipes import RECIPES, AugmentationRecipe, get_recipe

BICUBIC = T.InterpolationMode.BICUBIC
BILINEAR = T.InterpolationMode.BILINEAR

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Names accepted by make_augmentation ("default" is resolved per dataset by the registry).
AUGMENTATION_RECIPES = tuple(RECIPES)
AUGMENTATIONS = ("default", *AUGMENTATION_RECIPES)


class ToRGB:
    """Convert a PIL image to RGB so grayscale datasets yield 3-channel tensors."""

    def __call__(self, image: Image.Image) -> Image.Image:
        return image if image.mode == "RGB" else image.convert("RGB")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MultiViewTransform:
    """Apply one random augmentation ``num_views`` times to the same image.

    Whitening methods compare several independently augmented views of each
    image, so a dataset item becomes a list of ``num_views`` tensors.
    """

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor], num_views: int = 2) -> None:
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self.transform = transform
        self.num_views = num_views

    def __call__(self, image: Image.Image) -> list[torch.Tensor]:
        return [self.transform(image) for _ in range(self.num_views)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_views={self.num_views}, transform={self.transform!r})"


def recipe_augmentation(
    recipe: AugmentationRecipe,
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    blur_kernel: int | None = None,
) -> T.Compose:
    """The torchvision pipeline of ``recipe``, in the recipe's op order.

    :class:`ToRGB` first (grey images become 3-channel); then either
    RandomApply(ColorJitter); RandomGrayscale; RandomResizedCrop (the
    small-dataset order) or, with ``recipe.crop_first``, RandomResizedCrop
    first; then RandomApply(GaussianBlur) when the recipe blurs (kernel
    ``blur_kernel`` or ``recipe.blur_kernel_size(crop_size)``);
    RandomHorizontalFlip; ToTensor; Normalize.
    """
    crop = T.RandomResizedCrop(
        crop_size,
        scale=recipe.crop_scale,
        ratio=recipe.crop_ratio,
        interpolation=T.InterpolationMode(recipe.crop_interpolation),
    )
    colour = [
        T.RandomApply([T.ColorJitter(*recipe.jitter_strength)], p=recipe.jitter_p),
        T.RandomGrayscale(p=recipe.grayscale_p),
    ]
    steps: list[Callable] = [ToRGB(), crop, *colour] if recipe.crop_first else [ToRGB(), *colour, crop]
    if recipe.has_blur:
        kernel = blur_kernel if blur_kernel is not None else recipe.blur_kernel_size(crop_size)
        steps.append(T.RandomApply([T.GaussianBlur(kernel, sigma=recipe.blur_sigma)], p=recipe.blur_p))
    steps += [T.RandomHorizontalFlip(p=recipe.flip_p), T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


_SMALL = RECIPES["small"]
_IMAGENET = RECIPES["imagenet"]


def ssl_augmentation(
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    jitter: Sequence[float] = _SMALL.jitter_strength,
    jitter_p: float = _SMALL.jitter_p,
    grayscale_p: float = _SMALL.grayscale_p,
    crop_scale: tuple[float, float] = _SMALL.crop_scale,
    crop_ratio: tuple[float, float] = _SMALL.crop_ratio,
    flip_p: float = _SMALL.flip_p,
) -> T.Compose:
    """The small-dataset augmentation of the W-MSE / CW-RGP papers (recipe ``small``).

    Order matters and follows the reference implementation: colour jitter and
    grayscale act on the full image, then the random resized crop (bicubic),
    horizontal flip, tensor conversion and normalisation. The keyword
    arguments override the recipe's numbers.
    """
    recipe = dataclasses.replace(
        _SMALL,
        jitter_strength=tuple(jitter),
        jitter_p=jitter_p,
        grayscale_p=grayscale_p,
        crop_scale=tuple(crop_scale),
        crop_ratio=tuple(crop_ratio),
        flip_p=flip_p,
    )
    return recipe_augmentation(recipe, crop_size, mean, std)



def imagenet_augmentation(
    crop_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    crop_scale: tuple[float, float] = _IMAGENET.crop_scale,
    jitter: Sequence[float] = _IMAGENET.jitter_strength,
    jitter_p: float = _IMAGENET.jitter_p,
    grayscale_p: float = _IMAGENET.grayscale_p,
    blur_p: float = _IMAGENET.blur_p,
    blur_sigma: tuple[float, float] = _IMAGENET.blur_sigma,
    flip_p: float = _IMAGENET.flip_p,
    blur_kernel: int | None = None,
) -> T.Compose:
    """CW-RGP's ImageNet augmentation (recipe ``imagenet``).

    Order (the SimSiam / BYOL order the ImageNet code follows): RandomResizedCrop
    (``crop_scale``, bilinear, ratio 3/4-4/3) first, so the colour operations
    run on the small crop rather than the full-size photo; then
    RandomApply(ColorJitter, ``jitter_p``); RandomGrayscale(``grayscale_p``);
    RandomApply(GaussianBlur(kernel ~10% of the crop, odd: 23 for 224 px,
    ``blur_sigma``), ``blur_p``); RandomHorizontalFlip; ToTensor; Normalize.
    A :class:`ToRGB` step in front makes grey images 3-channel.
    """
    recipe = dataclasses.replace(
        _IMAGENET,
        crop_scale=tuple(crop_scale),
        jitter_strength=tuple(jitter),
        jitter_p=jitter_p,
        grayscale_p=grayscale_p,
        blur_p=blur_p,
        blur_sigma=tuple(blur_sigma),
        flip_p=flip_p,
    )
    return recipe_augmentation(recipe, crop_size, mean, std, blur_kernel=blur_kernel)


def wmse_imagenet100_augmentation(
    crop_size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> T.Compose:
    """W-MSE's ImageNet-100 augmentation (recipe ``wmse_imagenet100``).

    The small-dataset order with stronger settings and no blur:
    RandomApply(ColorJitter(0.8, 0.8, 0.8, 0.2), p=0.8); RandomGrayscale(0.2);
    RandomResizedCrop(``crop_size``, scale=(0.08, 1.0), bicubic);
    RandomHorizontalFlip; ToTensor; Normalize.
    """
    return recipe_augmentation(RECIPES["wmse_imagenet100"], crop_size, mean, std)


def make_augmentation(recipe: str, crop_size: int, mean: Sequence[float], std: Sequence[float]) -> T.Compose:
    """The self-supervised augmentation named ``recipe`` (one of :data:`AUGMENTATION_RECIPES`)."""
    return recipe_augmentation(get_recipe(recipe), crop_size, mean, std)


def eval_transform(
    mean: Sequence[float],
    std: Sequence[float],
    resize: int | None = None,
    center_crop: int | None = None,
    interpolation: str | T.InterpolationMode = BICUBIC,
) -> T.Compose:
    """Deterministic transform for evaluation (linear probe, k-NN).

    ``resize`` (shorter side, bicubic unless ``interpolation`` says otherwise,
    e.g. ``"bilinear"``) and ``center_crop`` are only used by datasets whose
    evaluation images differ in size from the training crop.
    """
    steps: list[Callable] = [ToRGB()]
    if resize is not None:
        steps.append(T.Resize(resize, interpolation=T.InterpolationMode(interpolation)))
    if center_crop is not None:
        steps.append(T.CenterCrop(center_crop))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)


def linear_train_transform(mean: Sequence[float], std: Sequence[float], crop_size: int = 224) -> T.Compose:
    """Training transform of the standard ImageNet linear protocol.

    RandomResizedCrop(``crop_size``, default scale 0.08-1, bilinear); RandomHorizontalFlip;
    ToTensor; Normalize (after :class:`ToRGB`, a no-op for RGB images).
    """
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
    """Validation transform of the standard ImageNet linear protocol.

    Resize(``resize``, shorter side, bilinear); CenterCrop(``crop_size``); ToTensor;
    Normalize (after :class:`ToRGB`).
    """
    return eval_transform(mean, std, resize=resize, center_crop=crop_size, interpolation=BILINEAR)
