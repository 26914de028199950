"""The global batch under DDP: ``method.gather`` makes a whitening method whiten every process's samples together."""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


class GatherBatch(torch.autograd.Function):
    """``[V, n, d]`` of every process -> ``[V, n x processes, d]`` in rank order; the backward sums the
    processes' gradients of the whole batch (one all-reduce) and returns this process's part.

    (``torch.distributed.nn.functional.all_gather`` gives wrong gradients on gloo when the loss couples
    the samples, as a whitening does: measured 1.3 off on a unit-scale problem; this is the exchange of
    INTL's ``FullGatherLayer``, tested against one process on the concatenated batch.)
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x)
        ctx.rank, ctx.size = dist.get_rank(), x.shape[1]
        return torch.cat(parts, dim=1)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[:, ctx.rank * ctx.size : (ctx.rank + 1) * ctx.size]


class GlobalBatch:
    """Mixed into a :class:`~whitening_ssl.methods.PretrainModule` whose settings have ``gather``."""

    # the module's, which this mixin reads
    method: dict[str, Any]
    global_step: int

    def gathering(self) -> bool:
        """``method.gather`` under DDP: the loss sees the global batch."""
        return (
            bool(self.method["gather"]) and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        )

    def gather_embeddings(self, embeddings: Tensor) -> Tensor:
        """``method.gather=true``: every process's embeddings, all-gathered with their gradients, in rank order.

        Every process then computes the same loss on the global batch (``[V, N x processes, d]``), and
        the sub-batches of ``w_size`` are drawn from the global batch. The gradient of the all-gather
        sums the processes' (equal) gradients for each part, and DDP averages over the processes, so the
        parameter gradients equal those of one process on the concatenated batch. ``false`` (the
        paper's ImageNet runs): each process whitens its own part.
        """
        if not self.gathering():
            return embeddings
        return GatherBatch.apply(embeddings)

    def shared_generator(self, device: torch.device) -> torch.Generator | None:
        """With ``gather``: a generator seeded by (run seed, step), the same on every process, so all
        processes draw the same sub-batches and channel partitions without communicating."""
        if not self.gathering():
            return None
        generator = torch.Generator(device=device)
        generator.manual_seed(torch.initial_seed() + self.global_step)
        return generator


class _AllReduceMean(torch.autograd.Function):
    """The mean of a tensor over the processes; the backward sums the processes' gradients and divides by
    their number (every process's loss is the same function of the mean: DDP's average then gives the
    one-process gradient)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x / dist.get_world_size()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad / dist.get_world_size()


def all_reduce_mean(x: Tensor) -> Tensor:
    """The mean of ``x`` over the processes, with gradients (:class:`_AllReduceMean`)."""
    return _AllReduceMean.apply(x)
