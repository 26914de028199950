"""Input handling shared by the losses: views stacked as ``[V, N, d]``, promoted to float32."""

from __future__ import annotations

import torch
from torch import Tensor

#: embeddings of the views: a ``[V, N, d]`` tensor or a list (tuple) of ``V`` tensors ``[N, d]``
Views = Tensor | list[Tensor] | tuple[Tensor, ...]
#: where a tensor is made (``None``: the default device)
Device = torch.device | str | None


def as_views(x: Views, name: str = "embeddings") -> Tensor:
    """``[V, N, d]`` tensor (stacking a list of views), float32 or wider."""
    if isinstance(x, (list, tuple)):
        x = torch.stack(list(x))
    if x.dim() != 3:
        raise ValueError(f"{name} must be [views, batch, dim], got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 views to form pairs, got {x.shape[0]}")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return x


def as_view_pair_inputs(a: Views, b: Views, name_a: str, name_b: str) -> tuple[Tensor, Tensor]:
    a, b = as_views(a, name_a), as_views(b, name_b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")
    dtype = torch.promote_types(a.dtype, b.dtype)
    return a.to(dtype), b.to(dtype)


def eye_mask(n: int, device: Device) -> Tensor:
    return torch.eye(n, dtype=torch.bool, device=device)
