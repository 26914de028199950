"""ReSA under DDP (gloo, 2 processes): the assignment over the gathered momentum batch and the loss's
gradients equal one process's on the whole batch, as the authors' code gathers."""

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from whitening_ssl.losses import ReSALoss, sinkhorn_assignment
from whitening_ssl.methods.resa import _gather


def _data():
    g = torch.Generator().manual_seed(0)
    online = torch.randn(3, 8, 5, generator=g, dtype=torch.float64)  # [V, N, d]
    targets = torch.randn(2, 8, 5, generator=g, dtype=torch.float64)
    features = F.normalize(torch.randn(2, 8, 4, generator=g, dtype=torch.float64), dim=-1)  # online, momentum
    return online, targets, features


def _one_process():
    online, targets, features = _data()
    online.requires_grad_()
    assignment = sinkhorn_assignment(features[0], features[1])
    loss = ReSALoss()(online, targets, assignment)
    loss.backward()
    return assignment, online.grad


def _worker(rank, init, out):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    online, targets, features = _data()
    part = slice(4 * rank, 4 * rank + 4)
    local = online[:, part].clone().requires_grad_()
    target_features = _gather(features[1, part])  # as the method: every process's momentum features
    assignment = sinkhorn_assignment(features[0, part], target_features, all_reduce=dist.all_reduce, world_size=2)
    loss = ReSALoss()(local, _gather(targets[:, part]), assignment)
    loss.backward()
    torch.save({"assignment": assignment, "grad": local.grad / 2}, out.format(rank))  # DDP averages: / 2
    dist.destroy_process_group()


def test_resa_under_ddp_equals_one_process(tmp_path):
    out = str(tmp_path / "rank{}.pt")
    mp.spawn(_worker, args=(f"file://{tmp_path / 'init'}", out), nprocs=2, join=True)
    parts = [torch.load(out.format(rank)) for rank in range(2)]
    assignment, grad = _one_process()
    torch.testing.assert_close(torch.cat([p["assignment"] for p in parts]), assignment)
    torch.testing.assert_close(torch.cat([p["grad"] for p in parts], dim=1), grad)
