"""The backbone settings the pre-run check reads (torch-free): a ResNet's stems, the libraries, ``stem: auto``.

The builders are :mod:`.backbones` (torchvision ResNets) and :mod:`.timm_backbones`; what they take is
decided here, once, so ``check=true`` refuses what a build would refuse without importing torch.
"""

from __future__ import annotations

from typing import NamedTuple

from .timm_settings import resolve_timm


class Stem(NamedTuple):
    """A ResNet stem: a 3x3 stride-1 ``conv1`` (else torchvision's 7x7 stride 2), the max-pool kept, and
    ``pad`` pixels of zeros added around the image before the 3x3 ``conv1`` (0: none). That ``conv1`` pads by
    1 itself, so ``pad=1`` is one 3x3 ``conv1`` padded by 2: a 32 px image gives 34x34 features, not 32x32.
    The weights have the same shapes either way, so a checkpoint loads into both."""

    small_conv1: bool
    maxpool: bool
    pad: int = 0


#: ``cifar``: 3x3 ``conv1``, no max-pool (32 px images); ``cifar_padded``: the INTL authors' CIFAR stem, their
#: ResNet padding every image with one pixel of zeros before a 3x3 ``conv1`` without max-pool (34x34 after
#: ``conv1`` on 32 px; their ImageNet stem pads 1 + 2 = torchvision's 3, the ``imagenet`` stem exactly);
#: ``small``: 3x3 ``conv1`` with the max-pool (STL-10 and Tiny-ImageNet at 64 px, as the paper's
#: ``get_model``); ``imagenet``: 7x7 stride-2 ``conv1`` and max-pool (ImageNet, ImageNet-100). A dataset names
#: its stem (``DatasetSpec.stem``) for ``backbone.stem=auto``.
STEMS = {
    "cifar": Stem(small_conv1=True, maxpool=False),
    "cifar_padded": Stem(small_conv1=True, maxpool=False, pad=1),
    "small": Stem(small_conv1=True, maxpool=True),
    "imagenet": Stem(small_conv1=False, maxpool=True),
}


#: ``backbone.library``: who builds the backbone; ``timm``: :func:`~.timm_backbones.build_timm_backbone`
LIBRARIES = ("torchvision", "timm")


def resolve_stem(backbone: dict, dataset_stem: str | None, image_size: int | None = None) -> dict:
    """``backbone`` with ``stem: auto`` replaced by the dataset's stem (other values kept); for a timm backbone
    ``img_size`` / ``patch_size: auto`` by the dataset's training crop and its stem's patch size."""
    backbone = dict(backbone)
    if backbone.get("library") == "timm":
        return resolve_timm(backbone, dataset_stem, image_size)
    if backbone.get("stem", "auto") == "auto":
        if dataset_stem is None:
            raise ValueError(
                f"backbone.stem=auto needs a dataset to take the stem from: give backbone.stem={'|'.join(STEMS)}"
            )
        backbone["stem"] = dataset_stem
    return backbone
