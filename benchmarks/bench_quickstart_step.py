"""CPU cost of one training step of experiment=quickstart (tiny ResNet) and experiment=quickstart_vit (tiny ViT).

    PYTHONPATH=src python benchmarks/bench_quickstart_step.py [--steps 5] [--threads 1] [--vit KEY=VALUE ...]

Builds each quickstart's module from its composed preset (Fashion-MNIST sizes: 2 views of 256 images of
28 px) and times its step on random views: encode, the CW-RGP loss, backward, the optimiser's step. Prints
CPU seconds per step (``time.process_time``: what the step costs; on a busy shared machine use ``--threads 1``,
as threads waiting for a core spin and inflate it: 2 threads under load average 6 gave 3 times the idle figure) and
wall seconds per step, and the parameter count. ``--vit``: overrides of experiment=quickstart_vit, to price a
candidate ViT before training it. A script, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import compose_config

from whitening_ssl.methods import build_method
from whitening_ssl.models import resolve_stem
from whitening_ssl.optim import build_optimizer, parameter_groups


def bench(experiment: str, steps: int, overrides: list[str]) -> None:
    cfg = compose_config([f"experiment={experiment}", *overrides])
    m = OmegaConf.to_container(cfg.method, resolve=True)
    backbone = resolve_stem(OmegaConf.to_container(cfg.backbone, resolve=True), "cifar", 28)
    if backbone.get("library") != "timm":
        backbone = resolve_stem(OmegaConf.to_container(cfg.backbone, resolve=True), "small")
    module = build_method(backbone, m, cfg.data.num_views)
    optimizer = build_optimizer(
        m["optimizer"],
        parameter_groups(module.named_parameters(), m["decay_norm_and_bias"]),
        lr=m["lr"],
        weight_decay=m["weight_decay"],
        momentum=m["momentum"],
    )
    views = [torch.randn(cfg.data.batch_size, 3, 28, 28) for _ in range(cfg.data.num_views)]
    cpu, wall = [], []
    for step in range(steps + 1):  # the first step warms up
        c0, w0 = time.process_time(), time.perf_counter()
        loss = module.compute_loss(module.encode(views), views).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    params = sum(p.numel() for p in module.backbone.parameters())
    name = " ".join([experiment, *overrides])
    print(
        f"{name:16s} backbone {params / 1e3:7.0f}k parameters  {sum(cpu) / steps:6.2f} CPU s/step  "
        f"{sum(wall) / steps:6.2f} wall s/step  (threads {torch.get_num_threads()})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vit", nargs="*", default=[], help="overrides of experiment=quickstart_vit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench("quickstart", args.steps, [])
    bench("quickstart_vit", args.steps, args.vit)
