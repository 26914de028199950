"""Encoders from timm: Vision Transformers and any other timm architecture, without a classifier.

``timm.create_model(name, num_classes=0)`` returns the pooled features. A ViT (any model with a
``patch_embed``) is built for the dataset's training crop (``img_size``) with a patch size that suits it
(``patch_size: auto``: :data:`PATCH_SIZES` by the dataset's stem) and ``dynamic_img_size=True``, so views
of other sizes (multi-crop, evaluation crops) go through the same model with the position embeddings
interpolated; each size must be a multiple of the patch size (:func:`size_problems`). ``pool`` picks the
evaluated feature: ``token`` (the class token after the final LayerNorm) or ``avg`` (the mean of the patch
tokens, then a LayerNorm: timm's ``fc_norm``). ``pos_embed: sincos`` fixes the position embeddings to the
2-D sine-cosine table of MoCo v3 (Chen et al. 2021, as ReSA's ViTs), not trained. The ``state_dict`` is
timm's own, so an export loads into ``timm.create_model(name, num_classes=0, <the same settings>)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .timm_settings import POOLS, POS_EMBEDS, is_vit, name_problem, size_problems


def sincos_pos_embed(grid: tuple[int, int], dim: int, prefix_tokens: int, temperature: float = 10000.0) -> torch.Tensor:
    """MoCo v3's fixed 2-D sine-cosine position embeddings ``[1, prefix + h w, dim]`` (zeros for the class token):
    ``[sin(a w), cos(a w), sin(a h), cos(a h)]`` with ``w, h = meshgrid(arange(w), arange(h))`` and frequencies
    ``a_k = temperature^(-k / (dim / 4))``."""
    if dim % 4:
        raise ValueError(f"backbone.pos_embed=sincos needs a width divisible by 4, not {dim}")
    h, w = grid
    grid_w, grid_h = torch.meshgrid(
        torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32), indexing="ij"
    )
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    out_w, out_h = grid_w.flatten()[:, None] * omega, grid_h.flatten()[:, None] * omega
    table = torch.cat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)
    return torch.cat([torch.zeros(prefix_tokens, dim), table])[None]


def build_timm_backbone(
    name: str,
    *,
    img_size: Any,
    patch_size: Any,
    pool: str,
    pos_embed: str,
    drop_path_rate: float,
    pretrained: bool,
    model_args: Mapping[str, Any],
) -> tuple[nn.Module, int]:
    """timm's ``name`` without its classifier, and its feature size.

    ``model_args``: more keyword arguments of the architecture (``{depth: 2, embed_dim: 64, num_heads: 2}``);
    ``img_size``, ``patch_size``, ``pos_embed`` and ``pool=token`` are a ViT's only (ignored by other models,
    which pool as timm does, ``auto``, or average, ``avg``).
    """
    import timm

    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    vit = is_vit(name)
    if pool not in POOLS or pos_embed not in POS_EMBEDS:
        raise ValueError(
            f"backbone.pool={pool} / backbone.pos_embed={pos_embed}: use {'|'.join(POOLS)} / {'|'.join(POS_EMBEDS)}"
        )
    problems = size_problems(name, patch_size, [("the training crop", img_size)] if vit else [], pool)
    if problems:
        raise ValueError(problems[0])
    kwargs: dict[str, Any] = dict(model_args or {}, num_classes=0, drop_path_rate=float(drop_path_rate))
    if vit:
        kwargs.update(img_size=img_size, patch_size=patch_size, dynamic_img_size=True)
    if pool != "auto":
        kwargs["global_pool"] = pool
    try:
        model = timm.create_model(name, pretrained=bool(pretrained), **kwargs)
    except (OSError, RuntimeError) as error:  # no network / no cached weights / no published weights
        if not pretrained:
            raise
        raise ValueError(
            f"backbone.pretrained=true: timm could not load the published weights of {name} "
            f"({type(error).__name__}: {str(error).splitlines()[0][:160]}): connect to the network "
            "(the weights are cached for later runs) or set backbone.pretrained=false"
        ) from None
    vision_or_cnn: Any = model  # a timm model: its num_features
    if vit and pos_embed == "sincos":
        vision: Any = model  # a timm VisionTransformer
        fixed = sincos_pos_embed(
            vision.patch_embed.grid_size,
            vision.pos_embed.shape[-1],
            vision.pos_embed.shape[1] - vision.patch_embed.num_patches,
        )
        model.pos_embed = nn.Parameter(fixed, requires_grad=False)
    return model, int(getattr(model, "head_hidden_size", None) or vision_or_cnn.num_features)


def wants_channels_last(backbone: nn.Module) -> bool:
    """Whether NHWC layout speeds ``backbone`` up on a GPU: a convolutional one, not a ViT (whose one convolution
    is the patch embedding; its tokens are [N, L, C] whatever the input's layout)."""
    return not hasattr(backbone, "patch_embed")
