"""Multi-view augmentation made on the training device, batched over samples (``data.pipeline=device``).

A batch of uint8 images becomes its views in a few batched tensor ops (:mod:`whitening_ssl.data.device_ops`),
each sample with its OWN random parameters drawn from the distributions of the same
:class:`~whitening_ssl.data.recipes.AugmentationRecipe` as the CPU pipeline
(:mod:`whitening_ssl.data.transforms`), in float32 with autocast off; the code runs unchanged on CPU
tensors. ``crop_on_device=False`` is the split for folder datasets, whose images differ in size:
DataLoader workers decode and crop (:func:`~whitening_ssl.data.device_pipeline.cpu_crop_transform`),
the device does the rest; only a crop-first recipe gives the same views that way
(:func:`~whitening_ssl.data.device_pipeline.device_pipeline_problem`). Design and measured errors:
``docs/data.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from whitening_ssl.data.device_ops import (gaussian_blur, jitter_step, luma, random_crop_boxes, resampling_matrix,
                                           uniform, unsupported_ops)
from whitening_ssl.data.recipes import AugmentationRecipe, get_recipe


@dataclasses.dataclass
class AugmentationParams:
    """Per-sample random parameters of one batch of views (all tensors have batch size B first).

    ``crop_boxes`` [B, 4] int64 rows (top, left, height, width); ``jitter_order`` [B, 4] int64:
    position -> op index into :data:`~whitening_ssl.data.device_ops.JITTER_OPS`; factors are
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


class DeviceAugmentation(nn.Module):
    """A recipe's random multi-view augmentation, batched on the tensors' device.

    ``forward(images, num_views)`` turns uint8 images [B, C, H, W] (C = 1 or 3, any memory layout:
    :func:`~whitening_ssl.data.device_pipeline.image_tensor` gives every dataset this shape, so no
    channel axis is guessed) into normalised float32 views [V, B, 3, S, S], each with its own
    parameters (:meth:`sample_params`); :meth:`apply` is deterministic given them. With
    ``crop_on_device=False`` the inputs are S x S crops
    (:func:`~whitening_ssl.data.device_pipeline.cpu_crop_transform`).
    """

    def __init__(self, recipe: AugmentationRecipe | str, crop_size: int, mean: Sequence[float], std: Sequence[float],
                 crop_on_device: bool = True) -> None:
        super().__init__()
        self.recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
        self.crop_size = int(crop_size)
        self.crop_on_device = crop_on_device
        self.blur_kernel = self.recipe.blur_kernel_size(self.crop_size)
        problems = unsupported_ops(self.recipe, self.crop_size)
        if problems:
            raise ValueError("; ".join(problems))
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values (R, G, B), got {len(mean)} and {len(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def extra_repr(self) -> str:
        return f"recipe={self.recipe.name}, crop_size={self.crop_size}, crop_on_device={self.crop_on_device}"

    # --- random parameters ----------------------------------------------------------------

    def sample_params(self, batch_size: int, height: int, width: int, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None) -> AugmentationParams:
        """Every random choice of ``batch_size`` views of ``height`` x ``width`` images, per sample as torchvision
        draws it: the crop box (:meth:`sample_crop_boxes`; the whole image when not ``crop_on_device``);
        Bernoulli(p) masks of jitter, grayscale, flip and blur; jitter factors uniform on
        :meth:`AugmentationRecipe.jitter_ranges` in a uniform random order; blur sigma ~ U(blur_sigma)."""
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        recipe = self.recipe
        if self.crop_on_device:
            crop_boxes = self.sample_crop_boxes(batch_size, height, width, generator, device)
        else:
            # the whole (already cropped) image; built on the device, so no host-to-device copy per batch
            crop_boxes = torch.zeros(batch_size, 4, dtype=torch.long, device=device)
            crop_boxes[:, 2], crop_boxes[:, 3] = height, width

        def bernoulli(p: float) -> Tensor:
            return torch.rand(batch_size, generator=generator, device=device) < p

        flip = bernoulli(recipe.flip_p)
        jitter_applied = bernoulli(recipe.jitter_p)
        factors = [uniform(low, high, (batch_size,), generator, device) for low, high in recipe.jitter_ranges()]
        jitter_order = torch.rand(batch_size, 4, generator=generator, device=device).argsort(dim=1)
        grayscale = bernoulli(recipe.grayscale_p)
        blur = bernoulli(recipe.blur_p)
        blur_sigma = uniform(*recipe.blur_sigma, (batch_size,), generator, device)
        return AugmentationParams(crop_boxes, flip, jitter_applied, *factors, jitter_order, grayscale, blur, blur_sigma)

    def sample_crop_boxes(self, batch_size: int, height: int, width: int, generator: torch.Generator | None,
                          device) -> Tensor:
        """The recipe's :func:`~whitening_ssl.data.device_ops.random_crop_boxes`: [B, 4] (top, left, height, width)."""
        return random_crop_boxes(batch_size, height, width, self.recipe.crop_scale, self.recipe.crop_ratio, generator,
                                 device)

    # --- deterministic application --------------------------------------------------------

    def apply(self, images: Tensor, params: AugmentationParams) -> Tensor:
        """Views of ``images`` (uint8, or float in [0, 1], [B, C, H, W]; grey copied to three channels, as ToRGB)
        under ``params``: normalised float32 [B, 3, S, S]; jitter, grayscale, crop + resize + flip (or the crop
        first), blur, normalise."""
        with torch.autocast(device_type=images.device.type, enabled=False):
            views = self._to_float_rgb(images)
            if params.batch_size != views.shape[0]:
                raise ValueError(f"params are for {params.batch_size} samples but images hold {views.shape[0]}")
            if self.recipe.crop_first:
                views = self._colour(self._crop_resize_flip(views, params), params)
            else:
                views = self._crop_resize_flip(self._colour(views, params), params)
            if self.recipe.has_blur:
                blurred = gaussian_blur(views, params.blur_sigma, self.blur_kernel)
                views = torch.where(params.blur.view(-1, 1, 1, 1), blurred, views)
            return (views - self.mean) / self.std

    def forward(self, images: Tensor, num_views: int, generator: torch.Generator | None = None) -> Tensor:
        """``num_views`` independent random views of each image: [V, B, 3, S, S] float32."""
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        batch = images.shape[0]
        self._check_layout(images)
        height, width = images.shape[-2:]
        params = self.sample_params(num_views * batch, height, width, generator, images.device)
        repeated = images.unsqueeze(0).expand(num_views, *images.shape).reshape(num_views * batch, *images.shape[1:])
        return self.apply(repeated, params).view(num_views, batch, 3, self.crop_size, self.crop_size)

    # --- ops ------------------------------------------------------------------------------

    @staticmethod
    def _check_layout(images: Tensor) -> None:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be a batch [B, C, H, W] with C = 1 (grey) or 3 (RGB), got shape "
                             f"{tuple(images.shape)} (device_pipeline.image_tensor gives every dataset that layout)")

    def _to_float_rgb(self, images: Tensor) -> Tensor:
        self._check_layout(images)
        if images.dtype == torch.uint8:
            images = images.float().div(255.0)
        elif images.is_floating_point():
            images = images.float()
        else:
            raise TypeError(f"images must be uint8 (or float in [0, 1]), got {images.dtype}")
        if not self.crop_on_device and images.shape[-2:] != (self.crop_size, self.crop_size):
            raise ValueError(f"crop_on_device=False expects {self.crop_size}x{self.crop_size} crops "
                             f"(cpu_crop_transform), got {tuple(images.shape[-2:])}")
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images

    def _crop_resize_flip(self, images: Tensor, params: AugmentationParams) -> Tensor:
        flip = params.flip.view(-1, 1, 1, 1)
        if not self.crop_on_device:
            return torch.where(flip, images.flip(-1), images)
        top, left, height, width = params.crop_boxes.unbind(dim=1)
        interpolation = self.recipe.crop_interpolation
        rows = resampling_matrix(top, height, self.crop_size, images.shape[-2], interpolation)
        columns = resampling_matrix(left, width, self.crop_size, images.shape[-1], interpolation)
        columns = torch.where(params.flip.view(-1, 1, 1), columns.flip(1), columns)  # mirrored output columns
        views = rows.unsqueeze(1) @ images @ columns.unsqueeze(1).transpose(-1, -2)
        return views.clamp(0.0, 1.0) if interpolation == "bicubic" else views

    def _colour(self, images: Tensor, params: AugmentationParams) -> Tensor:
        """RandomApply(ColorJitter) then RandomGrayscale, per sample."""
        if self.recipe.jitter_p > 0:
            jittered = images
            factors = torch.stack([params.brightness, params.contrast, params.saturation, params.hue], dim=1)
            with_hue = self.recipe.jitter_strength[3] > 0
            for position in range(4):
                jittered = jitter_step(jittered, params.jitter_order[:, position], factors, with_hue)
            images = torch.where(params.jitter_applied.view(-1, 1, 1, 1), jittered, images)
        if self.recipe.grayscale_p > 0:
            images = torch.where(params.grayscale.view(-1, 1, 1, 1), luma(images).expand_as(images), images)
        return images
