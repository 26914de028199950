"""A timm backbone's settings as the pre-run check reads them: names, pools, patch sizes (torch-free to import).

Checking a timm architecture's name, and whether it is a ViT, asks timm itself (which imports torch): only
for ``backbone.library=timm``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

#: ``patch_size: auto``: 4 px patches for 32-px images (an 8x8 grid: 64 tokens, as the CIFAR ViTs of
#: the literature; 16 px would leave 4 tokens), 8 px for 64/96-px images (8x8 / 12x12 grids), 16 px for
#: ImageNet crops (ViT-S/16: 14x14). Keyed by the dataset's ResNet stem, the one place a dataset says its size class.
PATCH_SIZES = {"cifar": 4, "small": 8, "imagenet": 16}
POOLS = ("token", "avg", "auto")
POS_EMBEDS = ("learn", "sincos")


@lru_cache(maxsize=1)
def timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


def name_problem(name: Any) -> str | None:
    """Why ``name`` is not a timm architecture (one line with the closest names timm knows), or ``None``."""
    if isinstance(name, str) and name in timm_names():
        return None
    close = difflib.get_close_matches(str(name), timm_names(), n=4, cutoff=0.5)
    hint = (
        f"the closest timm names: {', '.join(close)}"
        if close
        else "python -c 'import timm; print(timm.list_models())' lists them"
    )
    return f"backbone.name={name!r} is not a timm architecture: {hint}"


@lru_cache(maxsize=64)
def is_vit(name: str) -> bool:
    """Whether timm's ``name`` has a patch embedding (built on the meta device: no memory, no weights)."""
    import timm
    import torch

    with torch.device("meta"):
        return hasattr(timm.create_model(name, num_classes=0), "patch_embed")


def size_problems(name: str, patch_size: Any, sizes: Iterable[tuple[str, int]], pool: str = "auto") -> list[str]:
    """The image sizes (``(what, pixels)`` pairs) a ViT of ``patch_size`` cannot take, and a pool a CNN has not."""
    if not is_vit(name):
        return (
            [f"backbone.pool={pool} is for ViTs (a class token): {name} has none; use backbone.pool=auto or avg"]
            if pool == "token"
            else []
        )
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        return [f"backbone.patch_size={patch_size!r} must be a whole number of pixels >= 1, or auto"]
    return [
        f"{what} is {size} px, which backbone.patch_size={patch_size} does not divide: use a patch size that "
        f"divides {size} (e.g. {max(d for d in range(1, min(size, patch_size) + 1) if size % d == 0)})"
        for what, size in sizes
        if size % patch_size
    ]


def resolve_timm(backbone: dict[str, Any], dataset_stem: str | None, image_size: int | None) -> dict[str, Any]:
    """``img_size: auto`` -> the dataset's training crop, ``patch_size: auto`` -> :data:`PATCH_SIZES` of its stem."""
    if backbone.get("img_size") == "auto":
        if image_size is None:
            raise ValueError(
                "backbone.img_size=auto needs a dataset to take the image size from: give backbone.img_size="
            )
        backbone["img_size"] = int(image_size)
    if backbone.get("patch_size") == "auto":
        if dataset_stem not in PATCH_SIZES:
            raise ValueError(
                "backbone.patch_size=auto needs a dataset to take the size from: give backbone.patch_size="
            )
        backbone["patch_size"] = PATCH_SIZES[dataset_stem]
    return backbone
