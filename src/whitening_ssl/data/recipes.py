"""The self-supervised augmentation recipes: every number in one place.

A recipe is the parameter set of the multi-view augmentation. Both pipelines
read it: the torchvision (CPU, PIL) pipeline of :mod:`whitening_ssl.data.transforms`
and the batched on-device pipeline of :mod:`whitening_ssl.data.device_augment`.

* ``small``: the recipe of W-MSE (Ermolov et al., "Whitening for Self-Supervised
  Representation Learning", ICML 2021) and CW-RGP (Weng et al., "An Investigation
  into Whitening Loss for Self-supervised Learning", NeurIPS 2022) for CIFAR,
  STL-10 and Tiny-ImageNet: ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8,
  grayscale p = 0.1, then RandomResizedCrop(scale 0.2-1, bicubic), flip p = 0.5.
* ``imagenet``: CW-RGP's ImageNet recipe (the SimSiam / BYOL order): the crop
  comes first (scale 0.2-1, bilinear), then the same jitter, grayscale p = 0.2,
  Gaussian blur (kernel ~10% of the crop, sigma ~ U(0.1, 2)) with p = 0.5, flip.
* ``wmse_imagenet100``: W-MSE's ImageNet-100 recipe: the ``small`` order with
  ColorJitter(0.8, 0.8, 0.8, 0.2), grayscale p = 0.2 and crop scale 0.08-1.
"""

from __future__ import annotations

from dataclasses import dataclass

INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class AugmentationRecipe:
    """Parameters of one multi-view augmentation recipe.

    Op order: when ``crop_first`` is False (the small-dataset order) it is
    RandomApply(ColorJitter, ``jitter_p``); RandomGrayscale(``grayscale_p``);
    RandomResizedCrop; RandomApply(GaussianBlur, ``blur_p``) (absent when
    ``blur_p`` is 0); RandomHorizontalFlip(``flip_p``). When True the crop
    moves to the front. Normalisation always ends the recipe.

    ``jitter_strength`` holds torchvision's ColorJitter arguments (brightness,
    contrast, saturation, hue): factors are drawn from U[max(0, 1 - s), 1 + s]
    for the first three and from U[-h, h] for hue, in a random order per image.
    ``crop_scale`` bounds the crop's area fraction and ``crop_ratio`` its aspect
    ratio (width / height, drawn log-uniformly). The blur kernel is the odd size
    nearest above ``blur_kernel_fraction`` of the crop, at least 3 (23 for 224 px).
    """

    name: str
    crop_first: bool
    jitter_strength: tuple[float, float, float, float]
    jitter_p: float
    grayscale_p: float
    crop_scale: tuple[float, float]
    crop_interpolation: str
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_fraction: float = 0.1
    flip_p: float = 0.5

    def __post_init__(self) -> None:
        for field in ("jitter_p", "grayscale_p", "blur_p", "flip_p"):
            value = getattr(self, field)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Recipe '{self.name}': {field} must be a probability in [0, 1], got {value}")
        if len(self.jitter_strength) != 4 or min(self.jitter_strength) < 0:
            raise ValueError(
                f"Recipe '{self.name}': jitter_strength must be 4 non-negative numbers "
                f"(brightness, contrast, saturation, hue), got {self.jitter_strength}"
            )
        if self.jitter_strength[3] > 0.5:
            raise ValueError(f"Recipe '{self.name}': hue strength must be <= 0.5, got {self.jitter_strength[3]}")
        for field in ("crop_scale", "crop_ratio", "blur_sigma"):
            low, high = getattr(self, field)
            if not 0 < low <= high:
                raise ValueError(
                    f"Recipe '{self.name}': {field} must be (low, high) with 0 < low <= high, got {(low, high)}"
                )
        if self.crop_interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"Recipe '{self.name}': crop_interpolation '{self.crop_interpolation}' is not one of "
                f"{', '.join(INTERPOLATIONS)}"
            )

    @property
    def has_blur(self) -> bool:
        return self.blur_p > 0

    def jitter_ranges(self) -> tuple[tuple[float, float], ...]:
        """Sampling ranges of the brightness, contrast, saturation and hue factors (torchvision's ColorJitter)."""
        brightness, contrast, saturation, hue = self.jitter_strength
        return (
            (max(0.0, 1.0 - brightness), 1.0 + brightness),
            (max(0.0, 1.0 - contrast), 1.0 + contrast),
            (max(0.0, 1.0 - saturation), 1.0 + saturation),
            (-hue, hue),
        )

    def blur_kernel_size(self, crop_size: int) -> int:
        """Odd Gaussian-blur kernel of about ``blur_kernel_fraction`` of the crop, at least 3."""
        size = max(3, int(self.blur_kernel_fraction * crop_size))
        return size if size % 2 == 1 else size + 1


RECIPES: dict[str, AugmentationRecipe] = {
    "small": AugmentationRecipe(
        name="small",
        crop_first=False,
        jitter_strength=(0.4, 0.4, 0.4, 0.1),
        jitter_p=0.8,
        grayscale_p=0.1,
        crop_scale=(0.2, 1.0),
        crop_interpolation="bicubic",
    ),
    "imagenet": AugmentationRecipe(
        name="imagenet",
        crop_first=True,
        jitter_strength=(0.4, 0.4, 0.4, 0.1),
        jitter_p=0.8,
        grayscale_p=0.2,
        crop_scale=(0.2, 1.0),
        crop_interpolation="bilinear",
        blur_p=0.5,
        blur_sigma=(0.1, 2.0),
        blur_kernel_fraction=0.1,
    ),
    "wmse_imagenet100": AugmentationRecipe(
        name="wmse_imagenet100",
        crop_first=False,
        jitter_strength=(0.8, 0.8, 0.8, 0.2),
        jitter_p=0.8,
        grayscale_p=0.2,
        crop_scale=(0.08, 1.0),
        crop_interpolation="bicubic",
    ),
}


def get_recipe(name: str) -> AugmentationRecipe:
    """The recipe registered under ``name`` (one of :data:`RECIPES`)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown augmentation recipe '{name}'; valid values: {', '.join(RECIPES)}") from None
