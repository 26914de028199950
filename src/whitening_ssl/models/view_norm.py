"""BatchNorm with per-view statistics in one pass: all views in one batch, each normalised on its own.

The papers' code runs the network once per view, so every BatchNorm layer normalises each view with
that view's batch statistics and updates its running statistics once per view. Running all views
concatenated through a plain BatchNorm would mix the views' statistics (a different method). This
module keeps the per-view semantics with ONE forward pass: the input ``[V * N, C, ...]`` (views
stacked along the batch, view-major) is viewed as ``[V, N, C, ...]``; mean and biased variance are
taken per (view, channel) over the batch and spatial dims, and each view is normalised with its own:

    y[v] = (x[v] - mean_v) / sqrt(var_v + eps) * weight + bias

The running statistics are updated exactly as ``V`` successive calls would update them: with
momentum ``m`` (PyTorch convention), ``r <- (1 - m)^V r + sum_v m (1 - m)^(V - 1 - v) s_v`` (``s_v``:
view ``v``'s mean, or its unbiased variance), and with ``momentum=None`` the cumulative average over
all calls; ``num_batches_tracked`` grows by ``V``. In eval mode (running statistics) every sample is
normalised alike, so nothing changes.

:class:`ViewBatchNorm1d` / :class:`ViewBatchNorm2d` subclass ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``
(same parameters, buffers and ``state_dict`` names); :func:`per_view_batchnorm` converts a module's
BatchNorm layers in place. Tested against a per-view loop: outputs, every parameter gradient and the
running statistics (``tests/test_view_norm.py``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn


class _ViewBatchNorm:
    """Shared forward of the per-view BatchNorm layers (mixed into ``nn.BatchNorm1d``/``nn.BatchNorm2d``)."""

    num_views: int = 1
    #: all-reduce the per-view sums over the default process group (SyncBatchNorm per view)
    sync: bool = False

    def forward(self, x: Tensor, num_views: Optional[int] = None) -> Tensor:  # type: ignore[override]
        views = num_views or self.num_views
        if not self.training or views == 1 and not self._syncing():
            return super().forward(x)  # type: ignore[misc]
        self._check_input_dim(x)  # type: ignore[attr-defined]
        if x.shape[0] % views:
            raise ValueError(f"per-view BatchNorm got a batch of {x.shape[0]} that is not {views} views of equal size")
        xv = x.reshape(views, x.shape[0] // views, *x.shape[1:])  # a view of the same memory, any layout
        reduce = (1, *range(3, xv.dim()))
        shape = (views, 1, -1, *([1] * (xv.dim() - 3)))
        if self._syncing():
            mean, var, count = self._synced_moments(xv, reduce)
        else:
            var, mean = torch.var_mean(xv, dim=reduce, correction=0)
            count = xv.numel() // (views * xv.shape[2])
        scale = torch.rsqrt(var + self.eps)  # type: ignore[attr-defined]
        if self.affine:  # type: ignore[attr-defined]
            scale = scale * self.weight  # type: ignore[attr-defined]
            shift = self.bias - mean * scale  # type: ignore[attr-defined]
        else:
            shift = -mean * scale
        if self.track_running_stats:  # type: ignore[attr-defined]
            self._update_running_stats(mean.detach(), var.detach(), count)
        return torch.addcmul(shift.view(shape), xv, scale.view(shape)).reshape(x.shape)

    def _syncing(self) -> bool:
        return self.sync and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1

    def _synced_moments(self, xv: Tensor, reduce):
        """Per-view mean and biased variance over the samples of every process (differentiable all-reduce)."""
        from torch.distributed.nn.functional import all_reduce

        local_count = xv.numel() // (xv.shape[0] * xv.shape[2])
        sums = torch.stack((xv.sum(dim=reduce), xv.square().sum(dim=reduce)))  # [2, V, C]
        sums = all_reduce(sums)
        count = local_count * dist.get_world_size()
        mean = sums[0] / count
        var = (sums[1] / count - mean.square()).clamp_min(0)
        return mean, var, count

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, count: int) -> None:
        views = mean.shape[0]
        unbiased = var * (count / max(count - 1, 1))
        tracked_before = int(self.num_batches_tracked)  # type: ignore[attr-defined]
        self.num_batches_tracked.add_(views)  # type: ignore[attr-defined]
        if self.momentum is None:  # cumulative moving average over all calls so far
            total = tracked_before + views
            self.running_mean.mul_(tracked_before / total).add_(mean.sum(0) / total)  # type: ignore[attr-defined]
            self.running_var.mul_(tracked_before / total).add_(unbiased.sum(0) / total)  # type: ignore[attr-defined]
            return
        m = self.momentum
        weights = m * (1 - m) ** torch.arange(views - 1, -1, -1, dtype=mean.dtype, device=mean.device)  # [V]
        keep = (1 - m) ** views
        self.running_mean.mul_(keep).add_((weights[:, None] * mean).sum(0).to(self.running_mean.dtype))  # type: ignore
        self.running_var.mul_(keep).add_((weights[:, None] * unbiased).sum(0).to(self.running_var.dtype))  # type: ignore


class ViewBatchNorm1d(_ViewBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose training-mode statistics are per view (see the module docstring)."""


class ViewBatchNorm2d(_ViewBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics are per view (see the module docstring)."""


_CONVERSIONS = {nn.BatchNorm1d: ViewBatchNorm1d, nn.BatchNorm2d: ViewBatchNorm2d,
                ViewBatchNorm1d: ViewBatchNorm1d, ViewBatchNorm2d: ViewBatchNorm2d}


def per_view_batchnorm(module: nn.Module, num_views: int, sync: bool = False) -> nn.Module:
    """Make every ``BatchNorm1d``/``BatchNorm2d`` of ``module`` per-view (in place; returns ``module``).

    ``module`` itself may be a BatchNorm layer (then a converted copy is returned). Parameters and
    buffers are kept (the same tensors), so an optimiser built before still holds them.
    """
    if type(module) in _CONVERSIONS:
        converted = _convert(module)
        converted.num_views, converted.sync = num_views, sync
        return converted
    for name, child in module.named_children():
        setattr(module, name, per_view_batchnorm(child, num_views, sync))
    return module


def _convert(layer: nn.Module) -> nn.Module:
    layer.__class__ = _CONVERSIONS[type(layer)]  # a subclass without state of its own: the same tensors
    return layer
