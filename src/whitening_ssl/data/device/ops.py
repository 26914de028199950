"""The batched ops of the device pipeline: torchvision's tensor formulas and samplers, one parameter per sample.

Pixel values in [0, 1], images [B, C, H, W]; the blurs and solarisation are in
:mod:`whitening_ssl.data.device.filters`; :func:`~whitening_ssl.data.device.support.unsupported_ops` says
what of a recipe they do not cover. The formulas, the choice of resampling matrices over ``grid_sample`` /
``roi_align`` / kornia and the measured errors are in ``docs/data.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

CROP_ATTEMPTS = 10  # torchvision's RandomResizedCrop.get_params tries 10 boxes before its central fallback
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")  # the op indices of jitter_step


def _bilinear_filter(x: Tensor) -> Tensor:
    return (1.0 - x.abs()).clamp(min=0.0)


def _bicubic_filter(x: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5, the one antialiased resizing uses (Pillow, PyTorch)."""
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


#: interpolation name -> its filter (of the distance in source pixels, scaled when downscaling)
RESAMPLING_FILTERS: dict[str, Callable[[Tensor], Tensor]] = {"bilinear": _bilinear_filter, "bicubic": _bicubic_filter}


def resampling_matrix(start: Tensor, length: Tensor, output_size: int, input_size: int, interpolation: str) -> Tensor:
    """Per-sample matrices [B, output_size, input_size] that crop [start, start + length) and resize it.

    Row i holds the weights of ``interpolate(crop, output_size, antialias=True)``:
    with scale s = length / output_size, output pixel i is centred at
    c = s (i + 0.5) in crop coordinates; source pixel j (crop coordinates) gets
    ``filter((j + 0.5 - c) / max(s, 1))``, zero outside the crop, and the row is
    normalised to sum 1. For s < 1 (upscaling) this is plain interpolation with
    the crop's edge pixels repeated; for s > 1 the filter widens by s (antialias).
    """
    kernel = RESAMPLING_FILTERS[interpolation]
    length = length.to(torch.float64)
    scale = length / output_size  # [B]
    inverse_scale = 1.0 / scale.clamp(min=1.0)
    centre = scale[:, None] * (torch.arange(output_size, device=start.device, dtype=torch.float64) + 0.5)
    source = torch.arange(input_size, device=start.device, dtype=torch.float64)[None, :] - start[:, None]  # [B, in]
    distance = (source[:, None, :] + 0.5 - centre[:, :, None]) * inverse_scale[:, None, None]
    inside = (source >= 0) & (source < length[:, None])
    weights = kernel(distance) * inside[:, None, :]
    return (weights / weights.sum(dim=-1, keepdim=True)).to(torch.float32)


def uniform(
    low: float | Tensor, high: float | Tensor, shape: Sequence[int], generator, device, dtype=torch.float32
) -> Tensor:
    """Samples of U(low, high) of ``shape`` (bounds: numbers, or tensors that broadcast to ``shape``;
    ``generator`` may be None: the global RNG)."""
    return low + (high - low) * torch.rand(*shape, generator=generator, device=device, dtype=dtype)


def random_crop_boxes(
    batch_size: int,
    height: int,
    width: int,
    scale: tuple,
    ratio: tuple[float, float],
    generator: torch.Generator | None,
    device,
) -> Tensor:
    """torchvision's ``RandomResizedCrop.get_params`` for a whole batch: [B, 4] (top, left, height, width).

    ``scale`` is (low, high): numbers, or tensors [B] of each sample's bounds (views of one size whose
    scale ranges differ). Each of 10 attempts (drawn at once) has area a ~ U(scale) H W and ratio r,
    log r ~ U(log ratio); w = round(sqrt(a r)), h = round(sqrt(a / r)); the first with 0 < w <= W,
    0 < h <= H wins, its corner uniform over the valid positions; none valid: the central crop clipped
    to the ratio range.
    """
    shape = (batch_size, CROP_ATTEMPTS)
    low, high = (torch.as_tensor(bound, dtype=torch.float64, device=device).reshape(-1, 1) for bound in scale)
    area = height * width * uniform(low, high, shape, generator, device, torch.float64)
    aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1]), shape, generator, device, torch.float64))
    widths = torch.sqrt(area * aspect).round()
    heights = torch.sqrt(area / aspect).round()
    valid = (widths > 0) & (widths <= width) & (heights > 0) & (heights <= height)
    first_valid = valid.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first True (0 if none)
    found = valid.any(dim=1)

    fallback_height, fallback_width = height, width
    if width / height < min(ratio):
        fallback_height = round(width / min(ratio))
    elif width / height > max(ratio):
        fallback_width = round(height * max(ratio))
    crop_height = torch.where(found, heights.gather(1, first_valid).squeeze(1), float(fallback_height))
    crop_width = torch.where(found, widths.gather(1, first_valid).squeeze(1), float(fallback_width))

    corner = torch.rand(batch_size, 2, generator=generator, device=device, dtype=torch.float64)
    top = torch.minimum((corner[:, 0] * (height - crop_height + 1)).floor(), height - crop_height)
    left = torch.minimum((corner[:, 1] * (width - crop_width + 1)).floor(), width - crop_width)
    top = torch.where(found, top, float((height - fallback_height) // 2))
    left = torch.where(found, left, float((width - fallback_width) // 2))
    return torch.stack([top, left, crop_height, crop_width], dim=1).long()


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


def jitter_step(images: Tensor, op: Tensor, factors: Tensor, with_hue: bool = True) -> Tensor:
    """Apply op ``op[b]`` (index into :data:`JITTER_OPS`) with factor ``factors[b, op[b]]`` to each sample b.

    Brightness, contrast and saturation are one blend ``clamp(f x + (1 - f) y)`` with y = 0, the
    mean luma or the luma image; a hue sample blends with f = 1 (exactly x) and then takes
    :func:`adjust_hue` (skipped when not ``with_hue``: a recipe without hue jitter).
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
    if not with_hue:
        return blended
    return torch.where(is_hue, adjust_hue(blended, factor.view(-1)), blended)
