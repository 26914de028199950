"""Image transforms: the self-supervised augmentation and the evaluation transform.

All transforms take PIL images and are plain classes (no lambdas) so that they
pickle into DataLoader worker processes under any start method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from PIL import Image
from torchvision import transforms as T

BICUBIC = T.InterpolationMode.BICUBIC


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


def ssl_augmentation(
    crop_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    jitter: Sequence[float] = (0.4, 0.4, 0.4, 0.1),
    jitter_p: float = 0.8,
    grayscale_p: float = 0.1,
    crop_scale: tuple[float, float] = (0.2, 1.0),
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip_p: float = 0.5,
) -> T.Compose:
    """The small-dataset augmentation of the W-MSE / CW-RGP papers.

    Order matters and follows the reference implementation: colour jitter and
    grayscale act on the full image, then the random resized crop (bicubic),
    horizontal flip, tensor conversion and normalisation.
    """
    return T.Compose(
        [
            ToRGB(),
            T.RandomApply([T.ColorJitter(*jitter)], p=jitter_p),
            T.RandomGrayscale(p=grayscale_p),
            T.RandomResizedCrop(crop_size, scale=crop_scale, ratio=crop_ratio, interpolation=BICUBIC),
            T.RandomHorizontalFlip(p=flip_p),
            T.ToTensor(),
            T.Normalize(mean, std),
        ]
    )


def eval_transform(
    mean: Sequence[float],
    std: Sequence[float],
    resize: int | None = None,
    center_crop: int | None = None,
) -> T.Compose:
    """Deterministic transform for evaluation (linear probe, k-NN).

    ``resize`` (bicubic, shorter side) and ``center_crop`` are only used by
    datasets whose evaluation images differ in size from the training crop.
    """
    steps: list[Callable] = [ToRGB()]
    if resize is not None:
        steps.append(T.Resize(resize, interpolation=BICUBIC))
    if center_crop is not None:
        steps.append(T.CenterCrop(center_crop))
    steps += [T.ToTensor(), T.Normalize(mean, std)]
    return T.Compose(steps)
