"""Frozen-encoder features of a whole dataset, computed in parts by every process and gathered once.

Under DDP each process embeds its share of the dataset and the main process (rank 0) receives the
rest, so every image is embedded exactly once: no padding, no duplicate (a ``DistributedSampler``
repeats images to even the shares out, which biases an accuracy). Shares are whole batches: batch
``b`` of the single-process order goes to rank ``b % world_size``, so every forward pass sees
exactly the batch a single process would, and the features are bit-identical to one process's on
the same hardware. The encoder is the main process's on every process: DDP keeps the parameters equal but
not the buffers (without SyncBatchNorm each process's BatchNorm running statistics follow its own last
batches; DDP sends rank 0's only at its next forward), so rank 0's buffers, the checkpointed ones, are
broadcast first. With one process nothing is sent anywhere.

Memory: the main process preallocates the ``[N, D]`` feature matrix (optionally in half precision,
``dtype=torch.float16``) and copies each batch into place; nothing is concatenated or held twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized
from typing import cast

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from ..progress import track


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard_batches(num_items: int, batch_size: int, rank: int, world_size: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` index ranges of the batches that ``rank`` embeds (batch ``b`` -> rank ``b % world``)."""
    starts = range(rank * batch_size, num_items, batch_size * world_size)
    return [(start, min(start + batch_size, num_items)) for start in starts]


class ShardBatchSampler(Sampler[list[int]]):
    """Batch sampler over this process's share (see :func:`shard_batches`); no padding, no shuffling."""

    def __init__(self, num_items: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.ranges = shard_batches(num_items, batch_size, rank, world_size)

    def __iter__(self) -> Iterator[list[int]]:
        for start, end in self.ranges:
            yield list(range(start, end))

    def __len__(self) -> int:
        return len(self.ranges)


def _embed_share(
    encoder: nn.Module,
    loader: DataLoader,
    num_rows: int,
    device: torch.device,
    dtype: torch.dtype,
    progress: str | None,
) -> tuple[Tensor | None, Tensor]:
    features: Tensor | None = None
    labels = torch.empty(num_rows, dtype=torch.long, device=device)
    row = 0
    for images, targets in track(loader, len(loader), progress or "", enabled=progress is not None):
        out = encoder(images.to(device, non_blocking=True))
        if features is None:
            features = torch.empty(num_rows, out.shape[1], dtype=dtype, device=device)
        features[row : row + len(out)] = out.to(dtype)
        labels[row : row + len(out)] = torch.as_tensor(targets).to(device)
        row += len(out)
    return features, labels


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    dataset: Dataset,
    batch_size: int,
    device: torch.device,
    num_workers: int = 0,
    dtype: torch.dtype = torch.float32,
    progress: str | None = None,
) -> tuple[Tensor | None, Tensor | None]:
    """Features ``[N, D]`` and labels ``[N]`` of ``dataset`` in its order, on the main process.

    ``encoder`` runs in eval mode (restored afterwards). Under DDP every process must call this;
    rank 0 gets the gathered tensors, the other ranks ``(None, None)``. ``progress``: the description
    of a progress bar over the batches (main process; ``None``: no bar).
    """
    rank, world_size = world()
    num_items = len(cast(Sized, dataset))
    sampler = ShardBatchSampler(num_items, batch_size, rank, world_size)
    # pinned batches on a GPU: the non_blocking copies to the device overlap with the forward passes
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=torch.device(device).type == "cuda"
    )
    local_rows = sum(end - start for start, end in sampler.ranges)
    if world_size > 1:
        _use_main_buffers(encoder)
    was_training = encoder.training
    encoder.eval()
    try:
        local, local_labels = _embed_share(encoder, loader, local_rows, device, dtype, progress)
    finally:
        encoder.train(was_training)
    if world_size == 1:
        return local, local_labels
    return _gather_to_main(local, local_labels, num_items, batch_size, rank, world_size, device, dtype)


def _use_main_buffers(encoder: nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics, ...) on every process, in place."""
    for buffer in encoder.buffers():
        dist.broadcast(buffer, src=0)


def _gather_to_main(
    local: Tensor | None,
    local_labels: Tensor,
    num_items: int,
    batch_size: int,
    rank: int,
    world_size: int,
    device: torch.device,
    dtype: torch.dtype,
):
    """Point-to-point: every rank sends its share to rank 0, which places the batches in dataset order."""
    # the feature size is known wherever at least one batch was embedded; agree on it
    dims = torch.tensor([local.shape[1] if local is not None else 0], device=device)
    dist.all_reduce(dims, op=dist.ReduceOp.MAX)
    dim = int(dims)
    if local is None:
        local = torch.empty(0, dim, dtype=dtype, device=device)
    if rank != 0:
        if len(local):
            dist.send(local.contiguous(), dst=0)
            dist.send(local_labels.contiguous(), dst=0)
        return None, None
    features = torch.empty(num_items, dim, dtype=dtype, device=device)
    labels = torch.empty(num_items, dtype=torch.long, device=device)
    for source in range(world_size):
        ranges = shard_batches(num_items, batch_size, source, world_size)
        rows = sum(end - start for start, end in ranges)
        if rows == 0:
            continue
        if source == 0:
            part, part_labels = local, local_labels
        else:
            part = torch.empty(rows, dim, dtype=dtype, device=device)
            part_labels = torch.empty(rows, dtype=torch.long, device=device)
            dist.recv(part, src=source)
            dist.recv(part_labels, src=source)
        _place(features, labels, part, part_labels, ranges)
    return features, labels


def _place(features: Tensor, labels: Tensor, part: Tensor, part_labels: Tensor, ranges: Sequence[tuple[int, int]]):
    row = 0
    for start, end in ranges:
        features[start:end] = part[row : row + end - start]
        labels[start:end] = part_labels[row : row + end - start]
        row += end - start


def broadcast_from_main(value):
    """``value`` of rank 0 on every rank (any picklable object); unchanged with one process."""
    _, world_size = world()
    if world_size == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def extract_train_test_features(
    encoder: nn.Module,
    train_set: Dataset,
    test_set: Dataset,
    batch_size: int,
    device: torch.device,
    num_workers: int = 0,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> tuple[tuple[Tensor | None, Tensor | None], tuple[Tensor | None, Tensor | None]]:
    """:func:`extract_features` of an evaluation's two sets: ``((train_x, train_y), (test_x, test_y))``."""
    train, test = (
        extract_features(
            encoder,
            split,
            batch_size,
            device,
            num_workers,
            dtype=dtype,
            progress=f"features of {what}" if progress else None,
        )
        for split, what in ((train_set, "the training images"), (test_set, "the test images"))
    )
    return train, test
