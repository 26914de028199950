"""The per-pixel and blur ops of the device pipeline: blurs, solarisation, one parameter per sample.

Pixel values in [0, 1], images [B, C, H, W]. :data:`BLURS` maps each ``AugmentationRecipe.blur_filter``
to its blur; the measured differences from the CPU (PIL) pipeline are in ``docs/data.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

#: PIL's ``ImageOps.solarize`` default threshold, on [0, 1] pixels: 128 of 255
SOLARIZE_THRESHOLD = 128.0 / 255.0
PIL_BLUR_PASSES = 3  # ImageFilter.GaussianBlur: ImagingGaussianBlur(..., passes=3)
_FIXED_POINT = float(1 << 24)  # Pillow's box weights are 24-bit fixed point


def _separable(images: Tensor, kernels: Tensor, half: int, padding: str, passes: int = 1) -> Tensor:
    """Each sample's 1-D kernel (``kernels`` [B, 2 half + 1]) along the rows, ``passes`` times, then along the
    columns as often, as grouped convolutions (one group per sample and channel), each pass padded by ``half``."""
    batch, channels, height, width = images.shape
    weights = kernels.to(images.dtype).repeat_interleave(channels, dim=0)  # [B * C, k]
    planes = images.reshape(1, batch * channels, height, width)
    for _ in range(passes):
        planes = F.conv2d(
            F.pad(planes, (half, half, 0, 0), mode=padding), weights[:, None, None, :], groups=batch * channels
        )
    for _ in range(passes):
        planes = F.conv2d(
            F.pad(planes, (0, 0, half, half), mode=padding), weights[:, None, :, None], groups=batch * channels
        )
    return planes.view(batch, channels, height, width)


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """torchvision's ``GaussianBlur`` of each sample with its own ``sigma`` [B], reflect padding.

    The kernel is ``exp(-t^2 / (2 sigma^2))`` at t = -k//2 .. k//2, normalised to sum 1, applied
    separably (rows, then columns).
    """
    half = kernel_size // 2
    taps = torch.arange(-half, half + 1, device=images.device, dtype=torch.float32)
    kernels = torch.softmax(-0.5 * (taps[None, :] / sigma[:, None].float()) ** 2, dim=1)  # normalised exp
    return _separable(images, kernels, half, "reflect")


def pil_box_radius(sigma: Tensor | float, passes: int = PIL_BLUR_PASSES) -> Tensor:
    """Pillow's extended box radius for a Gaussian of standard deviation ``sigma`` made of ``passes`` boxes
    (Gwosdek et al., SSVM 2011): s2 = sigma^2 / passes, L = sqrt(12 s2 + 1), l = floor((L - 1) / 2),
    a = (2l + 1)(l(l + 1) - 3 s2) / (6 (s2 - (l + 1)^2)); the radius is l + a. In float32, with L and l
    in float64, as Pillow's ``_gaussian_blur_radius`` computes it (its weights then agree to the last bit)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32)
    sigma2 = sigma * sigma / passes
    length = torch.sqrt(12.0 * sigma2.double() + 1.0).float()
    whole = torch.floor((length.double() - 1.0) / 2.0).float()
    fraction = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2)
    return whole + fraction / (6 * (sigma2 - (whole + 1) * (whole + 1)))


def pil_box_kernels(sigma: Tensor, max_sigma: float) -> tuple[Tensor, int]:
    """Each sample's extended box (one pass of PIL's blur) for ``sigma`` [B] <= ``max_sigma``: [B, 2h + 1] and h.

    Box radius R = :func:`pil_box_radius`, r = floor(R): weight ww = floor(2^24 / (2R + 1)) / 2^24 on the
    2r + 1 central taps, fw = floor((2^24 - (2r + 1) 2^24 ww) / 2) / 2^24 on the taps at +-(r + 1) (the
    fractional part of the box), zero beyond; Pillow's ImagingHorizontalBoxBlur, its 24-bit weights
    included. h = floor(R(max_sigma)) + 1 taps each side, so one kernel width serves the whole batch.
    """
    radius = pil_box_radius(sigma)
    whole = radius.floor().double()
    central = torch.floor(_FIXED_POINT / (radius * 2 + 1)).double()  # float32 division, as Pillow's
    far = torch.floor((_FIXED_POINT - (2 * whole + 1) * central) / 2)
    half = math.floor(float(pil_box_radius(max_sigma))) + 1
    distance = torch.arange(-half, half + 1, device=sigma.device, dtype=torch.float64).abs()[None, :]
    kernels = torch.where(
        distance <= whole[:, None],
        central[:, None],
        torch.where(distance == whole[:, None] + 1, far[:, None], torch.zeros_like(distance)),
    )
    return (kernels / _FIXED_POINT).float(), half


def pil_gaussian_blur(images: Tensor, sigma: Tensor, max_sigma: float) -> Tensor:
    """PIL's ``ImageFilter.GaussianBlur(radius=sigma)`` of each sample with its own ``sigma`` [B].

    Three passes of the extended box (:func:`pil_box_kernels`) along the rows, then three along the
    columns, each pass with the edge pixels repeated (replicate padding), as Pillow's ImagingBoxBlur does.
    Pillow rounds every pass to uint8 (half up), this keeps float32: measured differences in ``docs/data.md``.
    """
    kernels, half = pil_box_kernels(sigma, max_sigma)
    return _separable(images, kernels, half, "replicate", passes=PIL_BLUR_PASSES)


def solarize(images: Tensor, applied: Tensor) -> Tensor:
    """PIL's ``ImageOps.solarize`` where ``applied`` [B] (bool): pixels x >= 128 / 255 become 1 - x.

    Exact for pixels that are k / 255 (k >= 128 iff k / 255 >= 128 / 255 in float32, and 1 - k / 255 is
    (255 - k) / 255 to 6e-8). After colour jitter the PIL pipeline holds uint8 values (each op rounded),
    the device float32 ones, so a pixel within a rounding step of the threshold can fall on the other side
    of it; solarisation jumps there by only 2 (128 / 255) - 1 = 1 / 255, so such a pixel differs by at most
    one uint8 step more than it did before.
    """
    flipped = torch.where(images >= SOLARIZE_THRESHOLD, 1.0 - images, images)
    return torch.where(applied.view(-1, 1, 1, 1), flipped, images)


#: ``AugmentationRecipe.blur_filter`` -> blur(images, sigma [B], recipe, crop_size)
BLURS: dict[str, Callable] = {
    "torchvision": lambda images, sigma, recipe, crop_size: gaussian_blur(
        images, sigma, recipe.blur_kernel_size(crop_size)
    ),
    "pil": lambda images, sigma, recipe, crop_size: pil_gaussian_blur(images, sigma, recipe.blur_sigma[1]),
}
