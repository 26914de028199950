"""The self-supervised augmentation recipes: every number in one place (:data:`RECIPES`).

Both pipelines read them: the torchvision (CPU, PIL) pipeline of :mod:`whitening_ssl.data.transforms`
and the batched on-device pipeline of :mod:`whitening_ssl.data.device_augment`. ``small`` is the
W-MSE / CW-RGP recipe for CIFAR, STL-10 and Tiny-ImageNet, ``imagenet`` CW-RGP's ImageNet recipe,
``wmse_imagenet100`` W-MSE's ImageNet-100 recipe (sources and a table: ``docs/data.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True)
class AugmentationRecipe:
    """Parameters of one multi-view augmentation recipe.

    Op order (``crop_first`` False, the small-dataset order): RandomApply(ColorJitter, ``jitter_p``);
    RandomGrayscale(``grayscale_p``); RandomResizedCrop; RandomApply(GaussianBlur, ``blur_p``; absent
    when 0); RandomHorizontalFlip(``flip_p``); with ``crop_first`` the crop moves to the front.
    Normalisation ends it. ``jitter_strength`` (brightness, contrast, saturation, hue) = s: factors
    ~ U[max(0, 1 - s), 1 + s], hue ~ U[-h, h], in a random order per image. ``crop_scale`` bounds the
    crop's area fraction, ``crop_ratio`` its width / height (drawn log-uniformly). The blur kernel is
    the odd size nearest above ``blur_kernel_fraction`` of the crop, at least 3 (23 for 224 px).
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
        probabilities = {field: getattr(self, field) for field in ("jitter_p", "grayscale_p", "blur_p", "flip_p")}
        ranges = {field: getattr(self, field) for field in ("crop_scale", "crop_ratio", "blur_sigma")}
        problems = [f"{field} must be a probability in [0, 1], got {value}" for field, value in probabilities.items()
                    if not 0.0 <= value <= 1.0]
        if len(self.jitter_strength) != 4 or min(self.jitter_strength) < 0:
            problems.append("jitter_strength must be 4 non-negative numbers (brightness, contrast, saturation, hue), "
                            f"got {self.jitter_strength}")
        elif self.jitter_strength[3] > 0.5:
            problems.append(f"hue strength must be <= 0.5, got {self.jitter_strength[3]}")
        problems += [f"{field} must be (low, high) with 0 < low <= high, got {tuple(value)}"
                     for field, value in ranges.items() if not 0 < value[0] <= value[1]]
        if self.crop_interpolation not in INTERPOLATIONS:
            problems.append(f"crop_interpolation '{self.crop_interpolation}' is not one of {', '.join(INTERPOLATIONS)}")
        if problems:
            raise ValueError(f"Recipe '{self.name}': " + "; ".join(problems))

    @property
    def has_blur(self) -> bool:
        return self.blur_p > 0

    def jitter_ranges(self) -> tuple[tuple[float, float], ...]:
        """Sampling ranges of the brightness, contrast, saturation and hue factors (torchvision's ColorJitter)."""
        brightness, contrast, saturation, hue = self.jitter_strength
        return (*((max(0.0, 1.0 - s), 1.0 + s) for s in (brightness, contrast, saturation)), (-hue, hue))

    def blur_kernel_size(self, crop_size: int) -> int:
        """Odd Gaussian-blur kernel of about ``blur_kernel_fraction`` of the crop, at least 3."""
        size = max(3, int(self.blur_kernel_fraction * crop_size))
        return size if size % 2 == 1 else size + 1


RECIPES: dict[str, AugmentationRecipe] = {
    "small": AugmentationRecipe("small", crop_first=False, jitter_strength=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8,
                                grayscale_p=0.1, crop_scale=(0.2, 1.0), crop_interpolation="bicubic"),
    "imagenet": AugmentationRecipe("imagenet", crop_first=True, jitter_strength=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8,
                                   grayscale_p=0.2, crop_scale=(0.2, 1.0), crop_interpolation="bilinear", blur_p=0.5),
    "wmse_imagenet100": AugmentationRecipe("wmse_imagenet100", crop_first=False, jitter_strength=(0.8, 0.8, 0.8, 0.2),
                                           jitter_p=0.8, grayscale_p=0.2, crop_scale=(0.08, 1.0),
                                           crop_interpolation="bicubic"),
}


def get_recipe(name: str) -> AugmentationRecipe:
    """The recipe registered under ``name`` (one of :data:`RECIPES`)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown augmentation recipe '{name}'; valid values: {', '.join(RECIPES)}") from None
