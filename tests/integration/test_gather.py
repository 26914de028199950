"""Two processes (gloo on the CPU): whitening the global batch, and per-view SyncBatchNorm.

- ``method.gather=true``: the loss and the (DDP-averaged) gradients equal one process's on the
  concatenated batch with the same sub-batch draw; ``false``: each process's loss is the one-process
  loss on its own part.
- INTL (``iternorm`` over the gathered batch, the INTL loss): the same equality.
- ``synchronize_batchnorm``: per-view BatchNorm over all processes equals one process's per-view
  BatchNorm on the concatenated batch (outputs, gradients, running statistics).
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from whitening_ssl.losses import INTLLoss, WhiteningMSELoss
from whitening_ssl.methods.whitening_mse import WhiteningMSEMethod
from whitening_ssl.models import per_view_batchnorm, synchronize_batchnorm
from whitening_ssl.whitening import Whitening

WORLD = 2
OWN_SUBBATCHES = torch.arange(16).view(1, 2, 8).repeat(2, 1, 1)  # gather=false: a process's own 16 images


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _all_workers(rank, port, out):
    """Every test's worker in one process group (two processes started once for the whole file), each writing
    ``<out>/<worker>/<rank>.pt``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    for worker in (_gather_worker, _sync_bn_worker, _intl_gather_worker, _vit_gather_worker):
        folder = os.path.join(out, worker.__name__)
        os.makedirs(folder, exist_ok=True)
        worker(rank, folder)
        dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    """The folder of each worker's results: ``spawned / "_gather_worker" / "0.pt"``."""
    out = tmp_path_factory.mktemp("gather")
    mp.spawn(_all_workers, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return out


def _problem(seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(4, 2 * 16, 10, generator=gen, dtype=torch.float64)  # [V, global N, in]
    weight = torch.randn(10, 24, generator=gen, dtype=torch.float64)  # a linear "network"
    loss_fn = WhiteningMSELoss(Whitening("zca", "channel", groups=2), w_size=8, w_iter=2)
    subbatches = torch.randperm(32, generator=gen).view(1, 4, 8).repeat(2, 1, 1)  # global draw, fixed
    return inputs, weight, loss_fn, subbatches


class _Gatherer:
    """The gather of WhiteningMSEMethod without building a whole method."""

    method = {"gather": True}
    gathering = WhiteningMSEMethod.gathering
    gather_embeddings = WhiteningMSEMethod.gather_embeddings


def _gather_worker(rank, out):
    inputs, weight, loss_fn, subbatches = _problem()
    weight = weight.clone().requires_grad_()
    local = inputs[:, rank * 16 : (rank + 1) * 16] @ weight
    gathered = _Gatherer().gather_embeddings(local)
    loss = loss_fn(gathered, subbatches=subbatches)
    loss.backward()
    grad = weight.grad.clone()
    dist.all_reduce(grad)
    grad /= WORLD  # what DDP does with the parameter gradients
    # gather=false: each process on its own part, its own sub-batches
    own = loss_fn(inputs[:, rank * 16 : (rank + 1) * 16] @ weight.detach(), subbatches=OWN_SUBBATCHES)
    torch.save({"loss": loss.detach(), "grad": grad, "own": own}, f"{out}/{rank}.pt")


def test_gather_equals_one_process_on_the_concatenated_batch(spawned):
    results = spawned / "_gather_worker"
    inputs, weight, loss_fn, subbatches = _problem()
    weight = weight.clone().requires_grad_()
    expected = loss_fn(inputs @ weight, subbatches=subbatches)
    expected.backward()
    for rank in range(WORLD):
        got = torch.load(results / f"{rank}.pt")
        assert torch.allclose(got["loss"], expected, atol=1e-12)
        assert torch.allclose(got["grad"], weight.grad, atol=1e-12)
        own = loss_fn(inputs[:, rank * 16 : (rank + 1) * 16] @ weight.detach(), subbatches=OWN_SUBBATCHES)
        assert torch.allclose(got["own"], own, atol=1e-12)


def _sync_bn_worker(rank, out):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.BatchNorm1d(5)
    ).double()
    per_view_batchnorm(net[1], 3)  # the backbone's BatchNorm per view; the head's over all views
    synchronize_batchnorm(net)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2 * 4, 3, 8, 8, generator=gen, dtype=torch.float64)  # [V, global N, ...]
    local = x[:, rank * 4 : (rank + 1) * 4].reshape(12, 3, 8, 8)
    out_local = net(local)
    (out_local * torch.arange(out_local.numel(), dtype=torch.float64).view_as(out_local).sin()).sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    for g in grads:
        dist.all_reduce(g)
        g /= WORLD
    torch.save(
        {"out": out_local.detach(), "grads": grads, "buffers": [b.clone() for b in net.buffers()]}, f"{out}/{rank}.pt"
    )


def test_synchronised_per_view_batchnorm_equals_one_process_on_the_global_batch(spawned):
    results = spawned / "_sync_bn_worker"
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 5), nn.BatchNorm1d(5)
    ).double()
    per_view_batchnorm(net[1], 3)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2 * 4, 3, 8, 8, generator=gen, dtype=torch.float64)
    # one process holding both parts: each view's 8 images normalised together; rank r's rows are
    # view v's images r*4..r*4+3
    out = net(x.reshape(24, 3, 8, 8))
    weights = []
    for rank in range(WORLD):
        rows = torch.arange(12).view(3, 4) + torch.arange(3).view(3, 1) * 4 + rank * 4
        n = 12 * 5
        weights.append((rows.flatten(), torch.arange(n, dtype=torch.float64).view(12, 5).sin()))
    loss = sum((out[rows] * w).sum() for rows, w in weights) / WORLD
    loss.backward()
    for rank, (rows, _) in enumerate(weights):
        got = torch.load(results / f"{rank}.pt")
        assert torch.allclose(got["out"], out[rows].detach(), atol=1e-10)
        for a, p in zip(got["grads"], net.parameters()):
            assert torch.allclose(a, p.grad, atol=1e-10)
        for a, b in zip(got["buffers"], net.buffers()):
            assert torch.allclose(a.double(), b.double(), atol=1e-10)


# --- INTL: iterative normalisation of the gathered batch -----------------------------------------------------


def _intl_problem():
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(2, 2 * 16, 10, generator=gen, dtype=torch.float64)  # [V, global N, in]
    weight = torch.randn(10, 40, generator=gen, dtype=torch.float64)
    return inputs, weight, Whitening("iternorm", axis="channel"), INTLLoss(0.05, "channel")


def _intl_gather_worker(rank, out):
    inputs, weight, whitening, loss_fn = _intl_problem()
    weight = weight.clone().requires_grad_()
    local = inputs[:, rank * 16 : (rank + 1) * 16] @ weight
    loss = loss_fn(whitening(_Gatherer().gather_embeddings(local)))
    loss.backward()
    grad = weight.grad.clone()
    dist.all_reduce(grad)
    grad /= WORLD
    torch.save({"loss": loss.detach(), "grad": grad}, f"{out}/{rank}.pt")


def test_intl_gather_equals_one_process_on_the_concatenated_batch(spawned):
    results = spawned / "_intl_gather_worker"
    inputs, weight, whitening, loss_fn = _intl_problem()
    weight = weight.clone().requires_grad_()
    expected = loss_fn(whitening(inputs @ weight))
    expected.backward()
    for rank in range(WORLD):
        got = torch.load(results / f"{rank}.pt")
        assert torch.allclose(got["loss"], expected, atol=1e-12)
        assert torch.allclose(got["grad"], weight.grad, atol=1e-12)


def _vit_problem():
    """A tiny timm ViT (float64) with a linear head, 2 views of 2 x 8 images (the global batch), a W-MSE loss."""
    from whitening_ssl.models import build_backbone

    torch.manual_seed(0)
    backbone, dim = build_backbone(
        "vit_tiny_patch16_224",
        library="timm",
        img_size=8,
        patch_size=4,
        pool="token",
        pos_embed="learn",
        drop_path_rate=0.0,
        pretrained=False,
        model_args={"depth": 1, "embed_dim": 16, "num_heads": 2},
    )
    net = nn.Sequential(backbone, nn.Linear(dim, 12)).double()
    images = torch.randn(2, 2 * 8, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss_fn = WhiteningMSELoss(Whitening("zca", "channel", groups=1), w_size=8, w_iter=1)
    subbatches = torch.randperm(16, generator=torch.Generator().manual_seed(2)).view(1, 2, 8)
    return net, images, loss_fn, subbatches


def _vit_gather_worker(rank, out):
    net, images, loss_fn, subbatches = _vit_problem()
    local = images[:, rank * 8 : (rank + 1) * 8]
    embeddings = net(local.reshape(-1, 3, 8, 8)).view(2, 8, -1)
    loss = loss_fn(_Gatherer().gather_embeddings(embeddings), subbatches=subbatches)
    loss.backward()
    grads = [p.grad.clone() for p in net.parameters()]
    for g in grads:
        dist.all_reduce(g)
        g /= WORLD  # what DDP does with the parameter gradients
    torch.save({"loss": loss.detach(), "grads": grads}, f"{out}/{rank}.pt")


def test_gather_with_a_vit_equals_one_process_on_the_concatenated_batch(spawned):
    results = spawned / "_vit_gather_worker"
    net, images, loss_fn, subbatches = _vit_problem()
    expected = loss_fn(net(images.reshape(-1, 3, 8, 8)).view(2, 16, -1), subbatches=subbatches)
    expected.backward()
    for rank in range(WORLD):
        got = torch.load(results / f"{rank}.pt")
        assert torch.allclose(got["loss"], expected, atol=1e-12)
        assert all(torch.allclose(g, p.grad, atol=1e-12) for g, p in zip(got["grads"], net.parameters()))
