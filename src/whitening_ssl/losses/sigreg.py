"""SIGReg and LeJEPA (Balestriero & LeCun, 2025, "LeJEPA: Provable and Scalable Self-Supervised Learning
Without the Heuristics"; code rbalestr-lab/lejepa): an Epps-Pulley normality test of random 1-D
projections of the embeddings, which pulls their distribution towards an isotropic Gaussian."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..numerics import float32_math
from ._views import Device
from .loss_rules import check_sigreg_settings, lejepa_problem

#: ``mean over processes`` of a tensor, with gradients (``None``: one process)
AllReduceMean = Callable[[Tensor], Tensor] | None


def knots_and_weights(
    knots: int, t_max: float, dtype: torch.dtype = torch.float32, device: Device = None
) -> tuple[Tensor, Tensor]:
    """``t_k = k t_max / (K - 1)``, ``k = 0..K-1``, and the trapezoid weights of ``int_{-t_max}^{t_max}`` by
    symmetry: ``2 Delta`` inside, ``Delta`` at both ends."""
    t = torch.linspace(0.0, t_max, knots, dtype=dtype, device=device)
    weights = torch.full_like(t, 2.0 * t_max / (knots - 1))
    weights[0] = weights[-1] = t_max / (knots - 1)
    return t, weights


def epps_pulley(
    x: Tensor, knots: int = 17, t_max: float = 3.0, all_reduce_mean: AllReduceMean = None, world_size: int = 1
) -> Tensor:
    """Epps-Pulley statistic of each column of ``x [..., N, M]`` (``N`` samples of ``M`` 1-D projections): ``[..., M]``.

    ``EP = N int |phi_N(t) - e^{-t^2/2}|^2 e^{-t^2/2} dt`` over ``[-t_max, t_max]``, with the empirical
    characteristic function ``phi_N(t) = mean_n e^{i t x_n}``; by symmetry
    ``EP ~ N sum_k w_k e^{-t_k^2/2} [(mean cos(t_k x) - e^{-t_k^2/2})^2 + (mean sin(t_k x))^2]``
    (:func:`knots_and_weights`). Every slice and knot in one broadcast. Under DDP (``all_reduce_mean``)
    the cos / sin means are averaged over the processes and ``N`` is the global batch, as the authors'
    library does. Near 0 for a standard normal sample; it grows with ``N`` for any other distribution.
    """
    t, weights = knots_and_weights(knots, t_max, x.dtype, x.device)
    phase = x.unsqueeze(-1) * t  # [..., N, M, K]
    cos_mean, sin_mean = phase.cos().mean(dim=-3), phase.sin().mean(dim=-3)  # [..., M, K]
    if all_reduce_mean is not None:
        cos_mean, sin_mean = all_reduce_mean(cos_mean), all_reduce_mean(sin_mean)
    gaussian = torch.exp(-0.5 * t * t)
    error = (cos_mean - gaussian) ** 2 + sin_mean**2
    return (error * gaussian * weights).sum(-1) * (x.shape[-2] * world_size)


def sigreg_directions(dim: int, slices: int, seed: int, step: int, device: Device = None) -> Tensor:
    """``slices`` random unit directions of ``R^dim`` (columns, ``[dim, slices]``) from a generator seeded with
    ``(seed, step)``: a resume, and every process, draw the same ones at the same step."""
    generator = torch.Generator(device=device)
    generator.manual_seed((int(seed) * 1_000_003 + int(step)) % (2**63))
    directions = torch.randn(dim, slices, generator=generator, device=device)
    return directions / directions.norm(dim=0, keepdim=True)


class SIGReg(nn.Module):
    """Sketched isotropic Gaussian regulariser: the mean over views and slices of :func:`epps_pulley` of the
    embeddings ``z [..., N, D]`` projected on ``directions [D, M]`` (each view on its own, then averaged, as
    the authors' minimal recipe and lightly; stable-pretraining pools the views instead). Computed in
    float32 (or wider)."""

    def __init__(self, knots: int = 17, t_max: float = 3.0) -> None:
        super().__init__()
        problem = check_sigreg_settings(1, knots, t_max)
        if problem:
            raise ValueError(problem)
        self.knots, self.t_max = knots, float(t_max)

    def forward(
        self, z: Tensor, directions: Tensor, all_reduce_mean: AllReduceMean = None, world_size: int = 1
    ) -> Tensor:
        with float32_math(z.device.type):
            dtype = torch.promote_types(z.dtype, torch.float32)
            projected = z.to(dtype) @ directions.to(dtype)
            return epps_pulley(projected, self.knots, self.t_max, all_reduce_mean, world_size).mean()


class LeJEPALoss(nn.Module):
    """LeJEPA's loss: ``L = lam SIGReg + (1 - lam) / (V N K) sum_v ||Z_v - mu||_F^2``.

    ``z [V, N, K]``: the projector outputs of the ``V`` views, the first ``global_views`` of them global;
    ``mu`` is the mean of the global views (``centre=global``, lightly and stable-pretraining) or of all
    views (``all``, the authors' minimal recipe). No stop-gradient, no predictor. ``lam``: 0.02 as the
    authors' minimal recipe (lightly and the ImageNet ablations: 0.05; the paper explores 0.01-0.1);
    stable-pretraining's additive ``I + lam S`` is not offered.
    """

    def __init__(
        self, lam: float = 0.02, global_views: int = 2, centre: str = "global", knots: int = 17, t_max: float = 3.0
    ) -> None:
        super().__init__()
        problem = lejepa_problem(lam, centre)
        if problem:
            raise ValueError(problem)
        self.lam, self.global_views, self.centre = float(lam), int(global_views), centre
        self.sigreg = SIGReg(knots, t_max)

    def forward(
        self, z: Tensor, directions: Tensor, all_reduce_mean: AllReduceMean = None, world_size: int = 1
    ) -> Tensor:
        with float32_math(z.device.type):
            z = z.float() if z.dtype in (torch.float16, torch.bfloat16) else z
            centre = (z[: self.global_views] if self.centre == "global" else z).mean(dim=0, keepdim=True)
            invariance = (z - centre).pow(2).sum() / math.prod(z.shape)
            regulariser = self.sigreg(z, directions, all_reduce_mean, world_size)
            return self.lam * regulariser + (1 - self.lam) * invariance
