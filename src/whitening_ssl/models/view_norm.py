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

The statistics are accumulated in float32 (float64 for float64 inputs) whatever the activations'
precision, with two passes (mean, then squared deviations: no cancellation), and the backward is
BatchNorm's own formula (a custom autograd function that keeps only the input for backward). With
``sync`` (``trainer.sync_batchnorm``) the per-view statistics and the backward's sums are taken over
all processes, as ``nn.SyncBatchNorm`` does, without pooling the views.

:class:`ViewBatchNorm1d` / :class:`ViewBatchNorm2d` subclass ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``
(same parameters, buffers and ``state_dict`` names); :func:`per_view_batchnorm` converts a module's
BatchNorm layers in place. Tested against a per-view loop: outputs, every parameter gradient and the
running statistics (``tests/unit/test_view_norm.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

import torch
import torch.distributed as dist
from torch import Tensor, nn


def _accumulation_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _synchronise_moments(mean: Tensor, m2: Tensor, count: int):
    """Combine every process's per-(view, channel) mean and sum of squared deviations ``m2`` (Chan et al.)."""
    world = dist.get_world_size()
    local = torch.stack((mean, m2))
    gathered = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(gathered, local.contiguous())
    means, m2s = torch.stack(gathered).unbind(1)  # [W, V, C] each, equal counts per process
    global_mean = means.mean(0)
    global_m2 = m2s.sum(0) + count * (means - global_mean).square().sum(0)
    return global_mean, global_m2, count * world


class _PerViewBatchNormFunction(torch.autograd.Function):
    """Per-(view, channel) batch normalisation of ``x`` ``[V, N, C, *]`` with statistics in float32 (or
    float64), the standard BatchNorm backward; with ``sync`` the statistics and the backward's sums
    are taken over all processes, as ``nn.SyncBatchNorm`` does (parameter gradients stay local:
    DDP averages them)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float, sync: bool):
        reduce = (1, *range(3, x.dim()))
        shape = (x.shape[0], 1, x.shape[2], *([1] * (x.dim() - 3)))
        acc = _accumulation_dtype(x)
        count = x.numel() // (x.shape[0] * x.shape[2])
        mean = x.sum(dim=reduce, dtype=acc) / count  # [V, C]
        m2 = (x - mean.view(shape)).square().sum(dim=reduce, dtype=acc)  # two passes: no cancellation
        if sync:
            mean, m2, count = _synchronise_moments(mean, m2, count)
        var = m2 / count
        invstd = torch.rsqrt(var + eps)
        scale = invstd if weight is None else invstd * weight.to(acc)
        shift = -mean * scale if bias is None else bias.to(acc) - mean * scale
        # computed in the statistics' precision, rounded once to the input's (as cuDNN's BatchNorm does)
        out = torch.addcmul(shift.view(shape), x, scale.view(shape)).to(x.dtype)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.count, ctx.sync, ctx.has_bias = count, sync, bias is not None
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx, grad_out: Tensor, _grad_mean, _grad_var):
        x, weight, mean, invstd = ctx.saved_tensors
        reduce = (1, *range(3, x.dim()))
        shape = (x.shape[0], 1, x.shape[2], *([1] * (x.dim() - 3)))
        acc = _accumulation_dtype(x)
        centred = x.to(acc) - mean.view(shape)  # in float32 for half-precision inputs (transient)
        sum_dy = grad_out.sum(dim=reduce, dtype=acc)  # [V, C]
        sum_dy_centred = (grad_out * centred).sum(dim=reduce, dtype=acc)
        grad_weight = (sum_dy_centred * invstd).sum(0) if weight is not None and ctx.needs_input_grad[1] else None
        grad_bias = sum_dy.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        if ctx.sync:
            both = torch.stack((sum_dy, sum_dy_centred))
            dist.all_reduce(both)
            sum_dy, sum_dy_centred = both.unbind(0)
        gain = invstd if weight is None else invstd * weight.to(acc)
        mean_dy = (sum_dy / ctx.count).view(shape)
        projection = (sum_dy_centred * invstd.square() / ctx.count).view(shape)
        grad_x = (grad_out.to(acc) - mean_dy - centred * projection) * gain.view(shape)
        if grad_weight is not None:
            grad_weight = grad_weight.to(weight.dtype)
        if grad_bias is not None:
            grad_bias = grad_bias.to(weight.dtype if weight is not None else grad_bias.dtype)
        return grad_x.to(x.dtype), grad_weight, grad_bias, None, None


class _ViewBatchNorm:
    """Shared forward of the per-view BatchNorm layers (mixed into ``nn.BatchNorm1d``/``nn.BatchNorm2d``)."""

    num_views: int = 1
    #: take the statistics over all processes (SyncBatchNorm per view)
    sync: bool = False
    # the BatchNorm layer's, which this mixin reads
    training: bool
    eps: float
    momentum: float | None
    affine: bool
    track_running_stats: bool

    def forward(self, x: Tensor, num_views: int | None = None) -> Tensor:
        views = num_views or self.num_views
        syncing = self._syncing()
        if not self.training or (views == 1 and not syncing):
            return super().forward(x)  # type: ignore[misc]
        self._check_input_dim(x)  # type: ignore[attr-defined]
        if x.shape[0] % views:
            raise ValueError(f"per-view BatchNorm got a batch of {x.shape[0]} that is not {views} views of equal size")
        xv = x.reshape(views, x.shape[0] // views, *x.shape[1:])  # a view of the same memory, any layout
        out, mean, var = _PerViewBatchNormFunction.apply(
            xv,
            self.weight if self.affine else None,  # type: ignore[attr-defined]
            self.bias if self.affine else None,  # type: ignore[attr-defined]
            self.eps,
            syncing,
        )
        if self.track_running_stats:
            count = xv.numel() // (views * xv.shape[2]) * (dist.get_world_size() if syncing else 1)
            self._update_running_stats(mean, var, count)
        return out.reshape(x.shape)

    def _syncing(self) -> bool:
        return self.sync and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, count: int) -> None:
        views = mean.shape[0]
        unbiased = var * (count / max(count - 1, 1))
        self.num_batches_tracked.add_(views)  # type: ignore[attr-defined]
        if self.momentum is None:  # cumulative moving average over all calls so far (reads the count: a sync)
            total = int(self.num_batches_tracked)  # type: ignore[attr-defined]
            before = total - views
            self.running_mean.mul_(before / total).add_(mean.sum(0) / total)  # type: ignore[attr-defined]
            self.running_var.mul_(before / total).add_(unbiased.sum(0) / total)  # type: ignore[attr-defined]
            return
        m = self.momentum
        weights = m * (1 - m) ** torch.arange(views - 1, -1, -1, dtype=mean.dtype, device=mean.device)  # [V]
        keep = (1 - m) ** views
        self.running_mean.mul_(keep).add_((weights[:, None] * mean).sum(0).to(self.running_mean.dtype))  # type: ignore[attr-defined]
        self.running_var.mul_(keep).add_((weights[:, None] * unbiased).sum(0).to(self.running_var.dtype))  # type: ignore[attr-defined]


class ViewBatchNorm1d(_ViewBatchNorm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose training-mode statistics are per view (see the module docstring)."""


class ViewBatchNorm2d(_ViewBatchNorm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics are per view (see the module docstring)."""


_CONVERSIONS = {
    nn.BatchNorm1d: ViewBatchNorm1d,
    nn.BatchNorm2d: ViewBatchNorm2d,
    ViewBatchNorm1d: ViewBatchNorm1d,
    ViewBatchNorm2d: ViewBatchNorm2d,
}


def per_view_batchnorm(module: nn.Module, num_views: int, sync: bool = False) -> nn.Module:
    """Make every ``BatchNorm1d``/``BatchNorm2d`` of ``module`` per-view (in place; returns ``module``).

    ``module`` itself may be a BatchNorm layer (then a converted copy is returned). Parameters and
    buffers are kept (the same tensors), so an optimiser built before still holds them.
    """
    if type(module) in _CONVERSIONS:
        converted = cast(_ViewBatchNorm, _convert(module))
        converted.num_views, converted.sync = num_views, sync
        return cast(nn.Module, converted)
    for name, child in module.named_children():
        setattr(module, name, per_view_batchnorm(child, num_views, sync))
    return module


@contextlib.contextmanager
def views_per_pass(module: nn.Module, num_views: int, usual: int) -> Iterator[None]:
    """The per-view BatchNorm layers of ``module`` normalise ``num_views`` views in the passes inside the block
    (a pass over a subset of the views: one resolution of multi-crop views, a momentum copy's first view);
    nothing to do when it is the ``usual`` count the layers were made for."""
    if num_views == usual:
        yield
        return
    layers = [layer for layer in module.modules() if isinstance(layer, _ViewBatchNorm)]
    before = [layer.num_views for layer in layers]
    for layer in layers:
        layer.num_views = num_views
    try:
        yield
    finally:
        for layer, count in zip(layers, before):
            layer.num_views = count


def synchronize_batchnorm(module: nn.Module) -> nn.Module:
    """SyncBatchNorm that keeps the per-view statistics: every BatchNorm layer of ``module`` takes its
    statistics over all processes (per view where it is per view), in place.

    Lightning's ``sync_batchnorm`` would replace these layers by ``nn.SyncBatchNorm``, which pools the
    views; the pretraining stage calls this instead (and turns Lightning's off). The statistics are
    summed with a differentiable all-reduce, so the gradients are those of the global batch.
    """
    for name, child in module.named_children():
        if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d):
            setattr(module, name, per_view_batchnorm(child, 1, sync=True))
        elif isinstance(child, _ViewBatchNorm):
            child.sync = True
        else:
            synchronize_batchnorm(child)
    return module


def _convert(layer: nn.Module) -> nn.Module:
    layer.__class__ = _CONVERSIONS[type(layer)]  # type: ignore[index]  # (a BatchNorm: the caller checked) a subclass without state of its own: the same tensors
    return layer
