"""Whitening as the encoder's last layer (Kalapos & Gyires-Toth, 2024, "Whitening Consistently Improves
Self-Supervised Learning"; code kaland313/SSL-Whitening): the pooled backbone features whitened by any
registered kind, with running statistics for evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..numerics import float32_math
from .linalg import covariance, iternorm_matrix, newton_schulz_inverse_sqrt, pca_matrix, zca_matrix
from .settings_checks import EVALUATE, layer_problem
from .transform import Whitening


def _shrunk(cov: Tensor, eps: float) -> Tensor:
    return (1 - eps) * cov + eps * torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)


def _zca(cov: Tensor, eps: float, *, solver: str = "eigh", newton_iters: int = 20) -> Tensor:
    cov = _shrunk(cov, eps)
    return newton_schulz_inverse_sqrt(cov, newton_iters) if solver == "newton" else zca_matrix(cov)


def _bn(cov: Tensor, eps: float) -> Tensor:  # the variance plus eps, as the kind
    return torch.diag_embed((cov.diagonal(dim1=-2, dim2=-1) + eps).rsqrt())


#: kind name -> ``matrix(covariance [..., d, d], eps, **the kind's settings) -> W`` (output ``(x - mean) W``),
#: the form a kind's running statistics take, ``eps`` applied as the kind applies it; a kind without one
#: cannot be a layer
RUNNING_MATRICES: dict[str, Callable[..., Tensor]] = {
    "zca": _zca,
    "pca": lambda cov, eps: pca_matrix(_shrunk(cov, eps)),
    "cholesky": lambda cov, eps: torch.linalg.inv(torch.linalg.cholesky(_shrunk(cov, eps))).transpose(-1, -2),
    "iternorm": lambda cov, eps, *, iters: iternorm_matrix(_shrunk(cov, eps), iters),
    "bn": _bn,
    "none": lambda cov, eps: torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device).expand_as(cov),
}
#: (``EVALUATE`` and :func:`layer_problem`, the layer's rules, are in :mod:`.settings_checks`, without torch)
__all__ = ["EVALUATE", "RUNNING_MATRICES", "FeatureWhitening", "layer_problem"]


class FeatureWhitening(nn.Module):
    """Whitens features ``[..., N, d]`` (each leading block, e.g. each view, over its own ``N`` samples).

    Training: ``X_c = X - mean``, the kind's output ``X_c W(S)`` with ``S = (1 - eps) X_c^T X_c / (N -
    denom_offset) + eps I`` (the source's IterNorm adds ``eps I`` without the ``1 - eps``: the same to 1e-5),
    and, with ``track``, the running statistics ``mean_r <- m mean + (1 - m) mean_r``, ``W_r <- m W + (1 -
    m) W_r`` (``m = momentum``, 0.1 as the source; the blocks' means and matrices averaged: one update per
    step where the source, one forward pass per view, updates once per view). Evaluation: ``(x - mean_r)
    W_r``. The source's layer is ZCA by IterNorm with 5 iterations and ``eps = 1e-5``; ``bn`` keeps a
    diagonal ``W``. Runs in float32 (or wider) under AMP. No learnable parameters (the source: affine off).
    """

    running_mean: Tensor
    running_matrix: Tensor

    def __init__(
        self,
        dim: int,
        kind: Any = "iternorm",
        momentum: float = 0.1,
        eps: float = 1e-5,
        denom_offset: int = 0,
        **kind_settings: Any,
    ) -> None:
        super().__init__()
        self.whitening = Whitening(kind, axis="batch", eps=eps, denom_offset=denom_offset, **kind_settings)
        problem = layer_problem(self.whitening.spec, momentum, "whitened")
        if problem:
            raise ValueError(problem)
        self.momentum = float(momentum)
        self.matrix = RUNNING_MATRICES[self.whitening.kind]
        self.register_buffer("running_mean", torch.zeros(dim))
        self.register_buffer("running_matrix", torch.eye(dim))

    def forward(self, x: Tensor, track: bool = True) -> Tensor:
        if not self.training:
            with float32_math(x.device.type):
                return (x.to(self.running_mean.dtype) - self.running_mean) @ self.running_matrix
        white = self.whitening(x)
        if track:
            self.update_running(x.detach())
        return white

    @torch.no_grad()
    def update_running(self, x: Tensor) -> None:
        with float32_math(x.device.type):
            blocks = x.to(self.running_mean.dtype).reshape(-1, *x.shape[-2:])
            mean = blocks.mean(dim=1, keepdim=True)
            w = self.whitening
            matrix = self.matrix(covariance(blocks - mean, 0.0, w.denom_offset), w.eps, **w.kind_settings)
            self.running_mean.lerp_(mean.mean(dim=(0, 1)), self.momentum)
            self.running_matrix.lerp_(matrix.mean(dim=0), self.momentum)
