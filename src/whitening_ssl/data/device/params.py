"""The random parameters of the device pipeline's views: per sample, drawn from a recipe as torchvision draws them.

:func:`sample_params` draws every random choice of a batch of views; views of a recipe whose views
differ (per-view crop scale, blur and solarisation probabilities) are drawn together, each sample
with its own view's numbers; :func:`size_groups` says which views are made together (one size each).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor

from whitening_ssl.data.device.ops import random_crop_boxes, uniform
from whitening_ssl.data.recipes import AugmentationRecipe, View


@dataclasses.dataclass
class AugmentationParams:
    """Per-sample random parameters of one batch of views (all tensors have batch size B first).

    ``crop_boxes`` [B, 4] int64 rows (top, left, height, width); ``jitter_order`` [B, 4] int64:
    position -> op index into :data:`~whitening_ssl.data.device.ops.JITTER_OPS`; factors are
    float32 [B]; masks are bool [B].
    """

    crop_boxes: Tensor
    flip: Tensor
    jitter_applied: Tensor
    brightness: Tensor
    contrast: Tensor
    saturation: Tensor
    hue: Tensor
    jitter_order: Tensor
    grayscale: Tensor
    blur: Tensor
    blur_sigma: Tensor
    solarize: Tensor

    @property
    def batch_size(self) -> int:
        return self.flip.shape[0]

    def select(self, index: Tensor | slice | int) -> AugmentationParams:
        """The parameters of the samples picked by ``index`` (a slice, an index tensor or a mask)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return AugmentationParams(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def to(self, device: torch.device | str) -> AugmentationParams:
        return AugmentationParams(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})


def size_groups(views: Sequence[View]) -> list[list[int]]:
    """The indices of the views of each crop size, sizes in order of first appearance (multi-crop 2 x 224,
    192, 160, 128, 96: [[0, 1], [2], [3], [4], [5]]); views of one size are made in one batch."""
    groups: dict[int, list[int]] = {}
    for index, view in enumerate(views):
        groups.setdefault(view.crop_size, []).append(index)
    return list(groups.values())


def sample_params(
    recipe: AugmentationRecipe,
    views: Sequence[View],
    batch_size: int,
    height: int,
    width: int,
    generator: torch.Generator | None,
    device,
    crop_on_device: bool = True,
) -> AugmentationParams:
    """Every random choice of ``batch_size`` views of ``height`` x ``width`` images, per sample as torchvision
    draws it: the crop box (:func:`~whitening_ssl.data.device.ops.random_crop_boxes`; the whole image when
    not ``crop_on_device``); Bernoulli(p) masks of jitter, grayscale, flip, blur and solarisation; jitter
    factors uniform on :meth:`AugmentationRecipe.jitter_ranges` in a uniform random order; blur sigma ~
    U(blur_sigma). The batch is ``len(views)`` equal blocks in view order (view-major): the samples of
    block v take view v's crop scale and blur and solarisation probabilities.
    """
    if batch_size % len(views):
        raise ValueError(f"{batch_size} samples do not split into {len(views)} views")

    def per_sample(values) -> Tensor:  # view v's number for each of its samples (fills: no host-to-device copy)
        block = batch_size // len(views)
        return torch.cat([torch.full((block,), float(value), dtype=torch.float64, device=device) for value in values])

    if crop_on_device:
        scale = (per_sample([view.crop_scale[0] for view in views]), per_sample([view.crop_scale[1] for view in views]))
        crop_boxes = random_crop_boxes(batch_size, height, width, scale, recipe.crop_ratio, generator, device)
    else:
        # the whole (already cropped) image; built on the device, so no host-to-device copy per batch
        crop_boxes = torch.zeros(batch_size, 4, dtype=torch.long, device=device)
        crop_boxes[:, 2], crop_boxes[:, 3] = height, width

    def bernoulli(p: float | Tensor) -> Tensor:
        return torch.rand(batch_size, generator=generator, device=device) < p

    flip = bernoulli(recipe.flip_p)
    jitter_applied = bernoulli(per_sample([view.jitter_p for view in views]).float())
    factors = [uniform(low, high, (batch_size,), generator, device) for low, high in recipe.jitter_ranges()]
    jitter_order = torch.rand(batch_size, 4, generator=generator, device=device).argsort(dim=1)
    grayscale = bernoulli(per_sample([view.grayscale_p for view in views]).float())
    blur = bernoulli(per_sample([view.blur_p for view in views]).float())
    blur_sigma = uniform(*recipe.blur_sigma, (batch_size,), generator, device)
    solarize = bernoulli(per_sample([view.solarize_p for view in views]).float())
    brightness, contrast, saturation, hue = factors
    return AugmentationParams(
        crop_boxes,
        flip,
        jitter_applied,
        brightness,
        contrast,
        saturation,
        hue,
        jitter_order,
        grayscale,
        blur,
        blur_sigma,
        solarize,
    )
