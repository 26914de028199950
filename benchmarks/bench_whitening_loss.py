"""Forward+backward time of the whitening MSE loss: batched implementation vs the plain loop.

The loop is the published code's structure (per iteration, per sub-batch, per view, one
SVD/Cholesky per block and group; see ``whitening_ssl.reference``). Sizes are the paper's.

    python benchmarks/bench_whitening_loss.py [--device cuda] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from whitening_ssl import Whitening, WhiteningMSELoss
from whitening_ssl.reference import whitening_mse_reference

# name, views, batch, emb, w_size, groups, axis, kind, random_groups
CONFIGS = [
    ("CW-RGP 4", 4, 256, 512, 64, 4, "channel", "zca", True),
    ("CW-RGP 2", 2, 512, 512, 64, 4, "channel", "zca", True),
    ("W-MSE 4", 4, 256, 64, 128, 1, "batch", "cholesky", False),
    ("W-MSE 2", 2, 512, 64, 128, 1, "batch", "cholesky", False),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pair(first, second, device, repeats: int, warmup: int = 3):
    """Median wall times (ms) of two calls, measured alternately so both see the same machine load."""
    for _ in range(warmup):
        first()
        second()
    _sync(device)
    times = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            _sync(device)
            bucket.append(time.perf_counter() - start)
    return tuple(1000 * statistics.median(t) for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"{torch.get_num_threads()} CPU threads"
    print(f"device: {device} ({hardware}), torch {torch.__version__}")
    print(f"{'config':<10}{'batched ms':>12}{'loop ms':>12}{'speed-up':>10}")
    for name, views, batch, emb, w_size, groups, axis, kind, random_groups in CONFIGS:
        h = torch.randn(views, batch, emb, device=device).requires_grad_()
        loss_fn = WhiteningMSELoss(Whitening(kind, axis, groups, random_groups), w_size=w_size)

        def batched():
            loss_fn(h).backward()

        def loop():
            subbatches = loss_fn.draw_subbatches(batch, device=device)
            perms = None
            if random_groups:  # one randperm per block, drawn in the loop as the published code does
                perms = torch.stack(
                    [torch.randperm(emb, device=device) for _ in range(subbatches.numel() // w_size * views)]
                )
                perms = perms.view(1, batch // w_size, views, emb)
            whitening_mse_reference(list(h), subbatches, kind, axis, groups, permutations=perms).backward()

        fast, slow = time_pair(batched, loop, device, args.repeats)
        print(f"{name:<10}{fast:>12.2f}{slow:>12.2f}{slow / fast:>9.1f}x")


if __name__ == "__main__":
    main()
