"""Multi-view augmentation made on the training device, batched over samples.

The CPU pipeline (:mod:`whitening_ssl.data.transforms`) makes each view of each
image with torchvision on a PIL image, one image at a time in DataLoader
workers. Here a whole batch of uint8 images (already on the device) becomes its
views in a few batched tensor ops, each sample with its OWN random parameters
drawn from the distributions of the same :class:`~whitening_ssl.data.recipes.AugmentationRecipe`
(the W-MSE / CW-RGP recipes of Ermolov et al., ICML 2021, and Weng et al.,
NeurIPS 2022). The code runs unchanged on CPU tensors.

Each op follows torchvision's TENSOR formula with per-sample factors, pixel
values in [0, 1]:

* brightness ``clamp(f x)``, contrast ``clamp(f x + (1 - f) mean(luma(x)))``,
  saturation ``clamp(f x + (1 - f) luma(x))`` with luma = 0.2989 R + 0.587 G + 0.114 B;
  hue: RGB -> HSV, ``h <- (h + f) mod 1``, HSV -> RGB (written as
  ``max - (max - min) clamp(min(k, 4 - k), 0, 1)``, ``k = (n + 6h) mod 6``, n = 5, 3, 1,
  the closed form of torchvision's sector table). The four run in a random
  order drawn per sample, as torchvision's ColorJitter draws one per image.
* grayscale: luma copied to the three channels.
* RandomResizedCrop + resize (+ the horizontal flip, folded in): one batched
  separable resampling ``out = R_b x C_b^T`` with per-sample matrices
  R_b [S, H], C_b [S, W] whose rows are the antialiased filter weights of
  ``torch.nn.functional.interpolate(..., antialias=True)`` (Pillow's algorithm:
  kernel support widened by the scale when downscaling, taps limited to the
  crop and renormalised; bilinear = triangle, bicubic = Keys cubic with
  a = -0.5), zero outside the crop box. Bicubic output is clamped to [0, 1], as
  the PIL pipeline's uint8 result is. Measured against torchvision's
  ``resized_crop(..., antialias=True)`` over 2000 random crops (max / mean abs
  error on [0, 1] pixels; "noise" = uniform-noise images, "smooth" = noise
  upsampled 4x; up = CIFAR 32 px image -> 32 px view, down = STL-10 96 px -> 64 px):

  - resampling matrices (chosen), bicubic: up 2.4e-7 / 2.3e-8, down 7.8e-7 / 5.5e-8 (noise);
  - ``grid_sample`` with per-sample affine grids, bicubic: up 0.44 / 1.9e-2, down 0.52 / 4.5e-2 (noise),
    up 6.8e-2 / 4.0e-3, down 4.8e-2 / 3.8e-3 (smooth): its taps reach outside the crop, it has no
    antialias and its cubic uses a = -0.75;
  - ``grid_sample`` bilinear (smooth): up 8.1e-2 / 7.5e-4, down 5.9e-2 / 3.0e-3;
  - ``roi_align`` (aligned, adaptive sampling; a box average of bilinear samples, bilinear only)
    (smooth): up 8.1e-2 / 7.5e-4, down 5.0e-2 / 2.1e-3.
* Gaussian blur: per-sample normalised kernel ``exp(-t^2 / (2 sigma^2))``,
  t = -k//2 .. k//2, reflect padding, run as two grouped 1-D convolutions
  (one group per sample and channel).
* normalisation ``(x - mean) / std``.

Everything runs in float32 with autocast disabled. The resampling products
follow the global float32 matmul precision: with TF32 allowed
(``torch.set_float32_matmul_precision("high")``) they carry up to 1.4e-3
(mean 1.3e-4) abs error on [0, 1] pixels (CPU emulation of TF32 rounding;
a third of a uint8 step).

Kornia (0.9.0, the maintained GPU augmentation library) was checked op by op
against these distributions and formulas; it is not used:

* ColorJitter / ColorJiggle order: one ``randperm(4)`` per batch call, shared by all samples; not per sample.
* ColorJitter formulas: brightness, contrast and saturation blends and hue (measured 1.8e-6 max from
  torchvision) match, except the luma weights 0.299 / 0.587 / 0.114 (torchvision 0.2989; 1e-4 apart).
* ColorJiggle formulas: additive brightness (``x + f - 1``) and saturation scaled in HSV: not torchvision's.
* RandomGrayscale: the same 0.299 luma weights.
* RandomResizedCrop sampling: 10 attempts per sample, first valid one, torchvision's fallback: the same
  distribution, but drawn from the global RNG (no ``generator`` argument).
* RandomResizedCrop resizing: no antialias; ``slice`` mode loops over samples in Python after a host
  sync, ``resample`` mode warps with bilinear/bicubic taps that reach outside the crop.
* RandomGaussianBlur / ``gaussian_blur2d``: per-sample sigma, same kernel, reflect padding: it fits
  (4e-7 from torchvision, as the grouped convolution here), but it is the only op that does.
* RandomHorizontalFlip: fits, but here it costs nothing inside the resampling matrix.

``crop_on_device=False`` is the split for folder datasets (ImageNet), whose
images differ in size: DataLoader workers decode and run the RandomResizedCrop
(:func:`cpu_crop_transform`), the device does the rest. For the crop-first
``imagenet`` recipe this is the same pipeline. For jitter-first recipes
(``small``, ``wmse_imagenet100``) the colour ops then act on the resized crop
instead of the full image: the contrast mean is the crop's mean luma, and the
per-pixel ops see resampled pixels (they do not commute exactly with the
interpolation); use ``crop_on_device=True`` where the recipe must be exact.
The data pipeline refuses that combination
(:func:`~whitening_ssl.data.device_pipeline.device_pipeline_problem`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import transforms as T

from whitening_ssl.data.recipes import AugmentationRecipe, get_recipe
from whitening_ssl.data.transforms import ToRGB

CROP_ATTEMPTS = 10  # torchvision's RandomResizedCrop.get_params tries 10 boxes before its central fallback
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")  # indices used by AugmentationParams.jitter_order


@dataclasses.dataclass
class AugmentationParams:
    """Per-sample random parameters of one batch of views (all tensors have batch size B first).

    ``crop_boxes`` [B, 4] int64 rows (top, left, height, width); ``jitter_order``
    [B, 4] int64: position -> op index into :data:`JITTER_OPS`; factors are
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


def _bilinear_filter(x: Tensor) -> Tensor:
    return (1.0 - x.abs()).clamp(min=0.0)


def _bicubic_filter(x: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5, the one antialiased resizing uses (Pillow, PyTorch)."""
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


# interpolation name -> (filter, half-width of its support in source pixels at scale 1)
RESAMPLING_FILTERS: dict[str, tuple[Callable[[Tensor], Tensor], float]] = {
    "bilinear": (_bilinear_filter, 1.0),
    "bicubic": (_bicubic_filter, 2.0),
}


def resampling_matrix(start: Tensor, length: Tensor, output_size: int, input_size: int, interpolation: str) -> Tensor:
    """Per-sample matrices [B, output_size, input_size] that crop [start, start + length) and resize it.

    Row i holds the weights of ``interpolate(crop, output_size, antialias=True)``:
    with scale s = length / output_size, output pixel i is centred at
    c = s (i + 0.5) in crop coordinates; source pixel j (crop coordinates) gets
    ``filter((j + 0.5 - c) / max(s, 1))``, zero outside the crop, and the row is
    normalised to sum 1. For s < 1 (upscaling) this is plain interpolation with
    the crop's edge pixels repeated; for s > 1 the filter widens by s (antialias).
    """
    kernel, _ = RESAMPLING_FILTERS[interpolation]
    length = length.to(torch.float64)
    scale = length / output_size  # [B]
    inverse_scale = 1.0 / scale.clamp(min=1.0)
    centre = scale[:, None] * (torch.arange(output_size, device=start.device, dtype=torch.float64) + 0.5)
    source = torch.arange(input_size, device=start.device, dtype=torch.float64)[None, :] - start[:, None]  # [B, in]
    distance = (source[:, None, :] + 0.5 - centre[:, :, None]) * inverse_scale[:, None, None]
    inside = (source >= 0) & (source < length[:, None])
    weights = kernel(distance) * inside[:, None, :]
    return (weights / weights.sum(dim=-1, keepdim=True)).to(torch.float32)


def luma(images: Tensor) -> Tensor:
    """torchvision's grayscale of [B, 3, H, W] images: 0.2989 R + 0.587 G + 0.114 B, shape [B, 1, H, W]."""
    red, green, blue = images.unbind(dim=1)
    return (LUMA_WEIGHTS[0] * red + LUMA_WEIGHTS[1] * green + LUMA_WEIGHTS[2] * blue).unsqueeze(1)


def adjust_hue(images: Tensor, hue_factor: Tensor) -> Tensor:
    """torchvision's ``adjust_hue`` with one factor per sample: rotate the HSV hue by ``hue_factor`` turns.

    HSV hue in sixths of a turn: (G - B) / d when R is the maximum, 2 + (B - R) / d
    when G is, 4 + (R - G) / d otherwise (d = max - min; grey pixels keep
    h = 0). Back to RGB with value = max and saturation = d / max, channel n
    (n = 5, 3, 1 for R, G, B) is ``max - d clamp(min(k, 4 - k), 0, 1)``,
    k = (n + 6 h') mod 6, the closed form of the six-sector table.
    """
    maximum = images.amax(dim=1, keepdim=True)
    minimum = images.amin(dim=1, keepdim=True)
    spread = maximum - minimum
    divisor = torch.where(spread > 0, spread, torch.ones_like(spread))
    red, green, blue = images.split(1, dim=1)
    hue_sixths = torch.where(
        maximum == red,
        (green - blue) / divisor,
        torch.where(maximum == green, 2.0 + (blue - red) / divisor, 4.0 + (red - green) / divisor),
    )
    channel_offsets = images.new_tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1)
    k = (channel_offsets + hue_sixths + 6.0 * hue_factor.view(-1, 1, 1, 1)).remainder(6.0)
    return maximum - spread * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Blur each sample of [B, C, H, W] with its own Gaussian (``sigma`` [B]), reflect padding.

    The kernel is torchvision's: ``exp(-t^2 / (2 sigma^2))`` at t = -k//2 .. k//2,
    normalised to sum 1, applied separably (rows, then columns) as grouped
    convolutions with one group per (sample, channel).
    """
    batch, channels, height, width = images.shape
    half = kernel_size // 2
    taps = torch.arange(-half, half + 1, device=images.device, dtype=torch.float32)
    kernels = torch.softmax(-0.5 * (taps[None, :] / sigma[:, None].float()) ** 2, dim=1)  # normalised exp
    kernels = kernels.repeat_interleave(channels, dim=0)  # [B * C, k]
    planes = F.pad(images.reshape(1, batch * channels, height, width), (half, half, half, half), mode="reflect")
    planes = F.conv2d(planes, kernels[:, None, None, :], groups=batch * channels)
    planes = F.conv2d(planes, kernels[:, None, :, None], groups=batch * channels)
    return planes.view(batch, channels, height, width)


def cpu_crop_transform(recipe: AugmentationRecipe | str, crop_size: int) -> T.Compose:
    """The DataLoader-worker half of the ``crop_on_device=False`` split: PIL image -> uint8 [3, S, S] crop.

    :class:`ToRGB`, then the recipe's RandomResizedCrop (scale, ratio,
    interpolation), then ``PILToTensor``; :class:`DeviceAugmentation` with
    ``crop_on_device=False`` does the rest of the recipe on the device.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    crop = T.RandomResizedCrop(
        crop_size,
        scale=recipe.crop_scale,
        ratio=recipe.crop_ratio,
        interpolation=T.InterpolationMode(recipe.crop_interpolation),
    )
    return T.Compose([ToRGB(), crop, T.PILToTensor()])


#: the recipe fields (ops and their parameters) that :class:`DeviceAugmentation` implements
DEVICE_RECIPE_FIELDS = frozenset({
    "name", "crop_first", "jitter_strength", "jitter_p", "grayscale_p", "crop_scale", "crop_interpolation",
    "crop_ratio", "blur_p", "blur_sigma", "blur_kernel_fraction", "flip_p",
})


def unsupported_ops(recipe: AugmentationRecipe, crop_size: int) -> list[str]:
    """What of ``recipe`` this module cannot make at ``crop_size`` (empty: everything).

    A recipe field outside :data:`DEVICE_RECIPE_FIELDS` that is switched on (a
    non-zero value: a new op's probability), a resampling filter without an entry in
    :data:`RESAMPLING_FILTERS`, a blur whose reflect padding (k // 2) reaches across the crop.
    """
    problems = [f"recipe {recipe.name} sets {field.name}={getattr(recipe, field.name)!r}, an op the device "
                "pipeline does not have" for field in dataclasses.fields(recipe)
                if field.name not in DEVICE_RECIPE_FIELDS and getattr(recipe, field.name)]
    if recipe.crop_interpolation not in RESAMPLING_FILTERS:
        problems.append(f"recipe {recipe.name} resizes with {recipe.crop_interpolation!r}; the device pipeline has "
                        f"{', '.join(RESAMPLING_FILTERS)}")
    if recipe.has_blur and recipe.blur_kernel_size(crop_size) // 2 >= crop_size:
        problems.append(f"crop_size {crop_size} is too small for a {recipe.blur_kernel_size(crop_size)}-tap blur; "
                        "use at least 3 px")
    return problems


def _uniform(low: float, high: float, shape: Sequence[int], generator, device, dtype=torch.float32) -> Tensor:
    return low + (high - low) * torch.rand(*shape, generator=generator, device=device, dtype=dtype)


class DeviceAugmentation(nn.Module):
    """A recipe's random multi-view augmentation, batched on the tensors' device.

    ``forward(images, num_views)`` turns uint8 images [B, C, H, W] (C = 1 or 3,
    any memory layout; :func:`~whitening_ssl.data.device_pipeline.image_tensor`
    gives every dataset this shape, so no channel axis is ever guessed from a
    shape) into normalised float32 views [V, B, 3, S, S], every view of every
    image with its own parameters (see :meth:`sample_params`).
    :meth:`apply` is deterministic given the parameters. With
    ``crop_on_device=False`` the inputs are crops already (S x S, from
    :func:`cpu_crop_transform`) and the device does everything after the crop.
    """

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

    def sample_params(
        self,
        batch_size: int,
        height: int,
        width: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> AugmentationParams:
        """Draw every random choice of ``batch_size`` views of ``height`` x ``width`` images.

        Distributions follow torchvision's transforms per sample: the crop box as
        ``RandomResizedCrop.get_params`` (see :meth:`sample_crop_boxes`; the
        whole image when ``crop_on_device`` is False); RandomApply / RandomGrayscale /
        flip / blur masks are Bernoulli(p); jitter factors are uniform on
        :meth:`AugmentationRecipe.jitter_ranges`; the jitter order is a uniform
        random permutation of the four ops for each sample; blur sigma ~ U(blur_sigma).
        """
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
        factors = [_uniform(low, high, (batch_size,), generator, device) for low, high in recipe.jitter_ranges()]
        jitter_order = torch.rand(batch_size, 4, generator=generator, device=device).argsort(dim=1)
        grayscale = bernoulli(recipe.grayscale_p)
        blur = bernoulli(recipe.blur_p)
        blur_sigma = _uniform(*recipe.blur_sigma, (batch_size,), generator, device)
        return AugmentationParams(
            crop_boxes, flip, jitter_applied, *factors, jitter_order, grayscale, blur, blur_sigma
        )

    def sample_crop_boxes(
        self, batch_size: int, height: int, width: int, generator: torch.Generator | None, device
    ) -> Tensor:
        """torchvision's ``RandomResizedCrop.get_params`` for a whole batch: [B, 4] (top, left, height, width).

        Each of 10 attempts draws an area a ~ U(scale) x H W and an aspect ratio
        r with log r ~ U(log ratio); w = round(sqrt(a r)), h = round(sqrt(a / r));
        the first attempt with 0 < w <= W and 0 < h <= H wins and its corner is
        uniform over the valid positions. All attempts are drawn at once and the
        first valid one is picked per sample. Samples with no valid attempt get
        torchvision's fallback: the central crop of the image clipped to the
        ratio range.
        """
        scale, ratio = self.recipe.crop_scale, self.recipe.crop_ratio
        shape = (batch_size, CROP_ATTEMPTS)
        area = height * width * _uniform(*scale, shape, generator, device, torch.float64)
        aspect = torch.exp(_uniform(math.log(ratio[0]), math.log(ratio[1]), shape, generator, device, torch.float64))
        widths = torch.sqrt(area * aspect).round()
        heights = torch.sqrt(area / aspect).round()
        valid = (widths > 0) & (widths <= width) & (heights > 0) & (heights <= height)
        first_valid = valid.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first True (0 if none)
        found = valid.any(dim=1)

        fallback_height, fallback_width = height, width
        if width / height < min(ratio):
            fallback_height = int(round(width / min(ratio)))
        elif width / height > max(ratio):
            fallback_width = int(round(height * max(ratio)))
        crop_height = torch.where(found, heights.gather(1, first_valid).squeeze(1), float(fallback_height))
        crop_width = torch.where(found, widths.gather(1, first_valid).squeeze(1), float(fallback_width))

        corner = torch.rand(batch_size, 2, generator=generator, device=device, dtype=torch.float64)
        top = torch.minimum((corner[:, 0] * (height - crop_height + 1)).floor(), height - crop_height)
        left = torch.minimum((corner[:, 1] * (width - crop_width + 1)).floor(), width - crop_width)
        top = torch.where(found, top, float((height - fallback_height) // 2))
        left = torch.where(found, left, float((width - fallback_width) // 2))
        return torch.stack([top, left, crop_height, crop_width], dim=1).long()

    # --- deterministic application --------------------------------------------------------

    def apply(self, images: Tensor, params: AugmentationParams) -> Tensor:
        """Views of ``images`` under ``params``: normalised float32 [B, 3, S, S].

        ``images``: uint8 (or float in [0, 1]) [B, C, H, W], C = 1 or 3 (grey is
        copied to the three channels, as the CPU pipeline's ToRGB). Ops in the recipe's order:
        jitter, grayscale, crop + resize + flip (or crop first), blur, normalise.
        """
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
            raise ValueError(
                f"crop_on_device=False expects {self.crop_size}x{self.crop_size} crops (cpu_crop_transform), "
                f"got {tuple(images.shape[-2:])}"
            )
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
            for position in range(4):
                jittered = self._jitter_step(jittered, params.jitter_order[:, position], factors)
            images = torch.where(params.jitter_applied.view(-1, 1, 1, 1), jittered, images)
        if self.recipe.grayscale_p > 0:
            images = torch.where(params.grayscale.view(-1, 1, 1, 1), luma(images).expand_as(images), images)
        return images

    def _jitter_step(self, images: Tensor, op: Tensor, factors: Tensor) -> Tensor:
        """Apply op ``op[b]`` (index into :data:`JITTER_OPS`) to each sample b.

        Brightness, contrast and saturation are one blend ``clamp(f x + (1 - f) y)``
        with y = 0, the mean luma or the luma image; a hue sample blends with
        f = 1 (exactly x) and then takes :func:`adjust_hue`.
        """
        is_hue = (op == 3).view(-1, 1, 1, 1)
        factor = factors.gather(1, op[:, None]).view(-1, 1, 1, 1)
        ratio = torch.where(is_hue, torch.ones_like(factor), factor)
        gray = luma(images)
        reference = torch.where(
            (op == 1).view(-1, 1, 1, 1),
            gray.mean(dim=(1, 2, 3), keepdim=True),
            torch.where((op == 2).view(-1, 1, 1, 1), gray, torch.zeros_like(gray)),
        )
        blended = (images * ratio + reference * (1.0 - ratio)).clamp(0.0, 1.0)
        if self.recipe.jitter_strength[3] == 0:
            return blended
        return torch.where(is_hue, adjust_hue(blended, factor.view(-1)), blended)
