"""Multi-view augmentation made on the training device, batched over samples (``data.pipeline=device``).

A batch of uint8 images becomes its views in a few batched tensor ops (:mod:`whitening_ssl.data.device.ops`,
:mod:`whitening_ssl.data.device.filters`), each sample with its OWN random parameters
(:mod:`whitening_ssl.data.device.params`) drawn from the distributions of the same
:class:`~whitening_ssl.data.recipes.AugmentationRecipe` as the CPU pipeline
(:mod:`whitening_ssl.data.transforms`), in float32 with autocast off; the code runs unchanged on CPU
tensors. The views of one crop size are made together, whatever their own probabilities; a recipe
with views of several sizes (multi-crop) takes one batch per size. ``crop_on_device=False`` is the
split for folder datasets, whose images differ in size: DataLoader workers decode and crop
(:func:`~whitening_ssl.data.device.pipeline.cpu_crop_transform`), the device does the rest; only a
crop-first recipe gives the same views that way
(:func:`~whitening_ssl.data.device.pipeline.device_pipeline_problem`). Design and measured errors:
``docs/data.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from whitening_ssl.data.device.filters import BLURS, solarize
from whitening_ssl.data.device.ops import jitter_step, luma, random_crop_boxes, resampling_matrix
from whitening_ssl.data.device.params import AugmentationParams, sample_params, size_groups
from whitening_ssl.data.device.support import unsupported_ops
from whitening_ssl.data.recipes import AugmentationRecipe, View, get_recipe

__all__ = ["AugmentationParams", "DeviceAugmentation"]


class DeviceAugmentation(nn.Module):
    """A recipe's random multi-view augmentation, batched on the tensors' device.

    :meth:`make_views` turns uint8 images [B, C, H, W] (C = 1 or 3, any memory layout:
    :func:`~whitening_ssl.data.device.pipeline.image_tensor` gives every dataset this shape, so no
    channel axis is guessed) into a list of normalised float32 views [B, 3, S_v, S_v] in the recipe's
    view order (:meth:`AugmentationRecipe.view_list`; S_v = ``crop_size`` unless the view has its own),
    each with its own parameters (:meth:`sample_params`); ``forward`` stacks them, [V, B, 3, S, S], when
    they have one size; :meth:`apply` is deterministic given the parameters. With ``crop_on_device=False``
    the inputs are the workers' crops, one per view (:meth:`views_of_crops`).
    """

    mean: Tensor  # [1, 3, 1, 1] buffers of the normalisation
    std: Tensor

    def __init__(
        self,
        recipe: AugmentationRecipe | str,
        crop_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        crop_on_device: bool = True,
    ) -> None:
        super().__init__()
        self.recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
        self.crop_size = int(crop_size)
        self.crop_on_device = crop_on_device
        problems = unsupported_ops(self.recipe, self.crop_size)
        if problems:
            raise ValueError("; ".join(problems))
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need 3 values (R, G, B), got {len(mean)} and {len(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def extra_repr(self) -> str:
        return f"recipe={self.recipe.name}, crop_size={self.crop_size}, crop_on_device={self.crop_on_device}"

    def view_list(self, num_views: int) -> tuple[View, ...]:
        """The recipe's first ``num_views`` views at this dataset's crop size."""
        return self.recipe.view_list(self.crop_size, num_views)

    # --- random parameters ----------------------------------------------------------------

    def sample_params(
        self,
        batch_size: int,
        height: int,
        width: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        views: Sequence[View] | None = None,
    ) -> AugmentationParams:
        """:func:`~whitening_ssl.data.device.params.sample_params` of ``batch_size`` views of ``height`` x
        ``width`` images: ``views`` (view-major blocks, each with its view's scale and probabilities), or
        None: all with the recipe's own numbers."""
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        recipe = self.recipe
        views = views or [recipe.default_view(self.crop_size)]
        return sample_params(recipe, views, batch_size, height, width, generator, device, self.crop_on_device)

    def sample_crop_boxes(
        self, batch_size: int, height: int, width: int, generator: torch.Generator | None, device
    ) -> Tensor:
        """The recipe's :func:`~whitening_ssl.data.device.ops.random_crop_boxes`: [B, 4] (top, left, height, width)."""
        return random_crop_boxes(
            batch_size, height, width, self.recipe.crop_scale, self.recipe.crop_ratio, generator, device
        )

    # --- deterministic application --------------------------------------------------------

    def apply(  # type: ignore[override]  # (shadows nn.Module.apply(fn): never called on a parent of this module)
        self, images: Tensor, params: AugmentationParams, crop_size: int | None = None
    ) -> Tensor:
        """Views of ``images`` (uint8, or float in [0, 1], [B, C, H, W]; grey copied to three channels, as ToRGB)
        under ``params``: normalised float32 [B, 3, S, S] (S = ``crop_size``, default the dataset's); jitter,
        grayscale, crop + resize + flip (or the crop first), blur, solarise, normalise."""
        size = crop_size or self.crop_size
        with torch.autocast(device_type=images.device.type, enabled=False):
            views = self._to_float_rgb(images, size)
            if params.batch_size != views.shape[0]:
                raise ValueError(f"params are for {params.batch_size} samples but images hold {views.shape[0]}")
            if self.recipe.crop_first:
                views = self._colour(self._crop_resize_flip(views, params, size), params)
            else:
                views = self._crop_resize_flip(self._colour(views, params), params, size)
            if self.recipe.has_blur:
                blurred = BLURS[self.recipe.blur_filter](views, params.blur_sigma, self.recipe, size)
                views = torch.where(params.blur.view(-1, 1, 1, 1), blurred, views)
            if self.recipe.has_solarize:
                views = solarize(views, params.solarize)
            return (views - self.mean) / self.std

    def make_views(self, images: Tensor, num_views: int, generator: torch.Generator | None = None) -> list[Tensor]:
        """``num_views`` independent random views of each image, in view order: [B, 3, S_v, S_v] float32 each;
        the views of one size are made in one batch."""
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self._check_layout(images)
        batch, (height, width) = images.shape[0], images.shape[-2:]
        views, made = self.view_list(num_views), cast(list[Tensor], [None] * num_views)
        for group in size_groups(views):
            size, count = views[group[0]].crop_size, len(group)
            params = self.sample_params(
                count * batch, height, width, generator, images.device, [views[i] for i in group]
            )
            repeated = images.unsqueeze(0).expand(count, *images.shape).reshape(count * batch, *images.shape[1:])
            for index, view in zip(group, self.apply(repeated, params, size).view(count, batch, 3, size, size)):
                made[index] = view
        return made

    def views_of_crops(self, crops: Sequence[Tensor], generator: torch.Generator | None = None) -> list[Tensor]:
        """``crop_on_device=False``: the workers' uint8 crops, one [B, 3, S_v, S_v] per view in view order, become
        the views (the views of one size in one batch)."""
        views, made = self.view_list(len(crops)), cast(list[Tensor], [None] * len(crops))
        for group in size_groups(views):
            size, count = views[group[0]].crop_size, len(group)
            batch = torch.cat([crops[i] for i in group])
            params = self.sample_params(len(batch), size, size, generator, batch.device, [views[i] for i in group])
            for index, view in zip(group, self.apply(batch, params, size).view(count, -1, 3, size, size)):
                made[index] = view
        return made

    def forward(self, images: Tensor, num_views: int, generator: torch.Generator | None = None) -> Tensor:
        """:meth:`make_views` stacked: [V, B, 3, S, S] float32 (views of one size only)."""
        views = self.make_views(images, num_views, generator)
        if len({view.shape for view in views}) > 1:
            raise ValueError(f"recipe {self.recipe.name} makes views of several sizes: use make_views (a list)")
        return torch.stack(views)

    # --- ops ------------------------------------------------------------------------------

    @staticmethod
    def _check_layout(images: Tensor) -> None:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"images must be a batch [B, C, H, W] with C = 1 (grey) or 3 (RGB), got shape "
                f"{tuple(images.shape)} (device.pipeline.image_tensor gives every dataset that layout)"
            )

    def _to_float_rgb(self, images: Tensor, size: int) -> Tensor:
        self._check_layout(images)
        if images.dtype == torch.uint8:
            images = images.float().div(255.0)
        elif images.is_floating_point():
            images = images.float()
        else:
            raise TypeError(f"images must be uint8 (or float in [0, 1]), got {images.dtype}")
        if not self.crop_on_device and images.shape[-2:] != (size, size):
            raise ValueError(
                f"crop_on_device=False expects {size}x{size} crops (cpu_crop_transform), got {tuple(images.shape[-2:])}"
            )
        return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images

    def _crop_resize_flip(self, images: Tensor, params: AugmentationParams, size: int) -> Tensor:
        flip = params.flip.view(-1, 1, 1, 1)
        if not self.crop_on_device:
            return torch.where(flip, images.flip(-1), images)
        top, left, height, width = params.crop_boxes.unbind(dim=1)
        interpolation = self.recipe.crop_interpolation
        rows = resampling_matrix(top, height, size, images.shape[-2], interpolation)
        columns = resampling_matrix(left, width, size, images.shape[-1], interpolation)
        columns = torch.where(params.flip.view(-1, 1, 1), columns.flip(1), columns)  # mirrored output columns
        views = rows.unsqueeze(1) @ images @ columns.unsqueeze(1).transpose(-1, -2)
        return views.clamp(0.0, 1.0) if interpolation == "bicubic" else views

    def _colour(self, images: Tensor, params: AugmentationParams) -> Tensor:
        """RandomApply(ColorJitter) then RandomGrayscale, per sample."""
        if any(p > 0 for p in self.recipe.per_group("jitter_p")):
            jittered = images
            factors = torch.stack([params.brightness, params.contrast, params.saturation, params.hue], dim=1)
            with_hue = self.recipe.jitter_strength[3] > 0
            for position in range(4):
                jittered = jitter_step(jittered, params.jitter_order[:, position], factors, with_hue)
            images = torch.where(params.jitter_applied.view(-1, 1, 1, 1), jittered, images)
        if any(p > 0 for p in self.recipe.per_group("grayscale_p")):
            images = torch.where(params.grayscale.view(-1, 1, 1, 1), luma(images).expand_as(images), images)
        return images
