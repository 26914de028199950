"""Time a training step: this project's, a faithful replica of the paper's, and the compute bound.

    python benchmarks/bench_train.py [--device cuda] [--precision 32|bf16] [--small] [--steps 20]

At the paper's CIFAR-10 sizes by default (ResNet-18 with the CIFAR stem, 4 views of 256 images,
CW-RGP 4: embedding 512, sub-batches of 64 in 4 random channel groups; W-MSE 4: embedding 64,
sub-batches of 128, Cholesky); ``--small`` for a tiny ResNet and batch 64 (a CPU check). The images
are synthetic uint8 32 x 32 pictures (the pipeline's cost does not depend on their content).

(a) views per second of the data pipeline: CPU DataLoader workers (torchvision on PIL images, the
    published pipeline) vs views made on the device (``data.pipeline=device``);
(b) this project's full step, data included: views made on the device, one backbone pass for all
    views with per-view BatchNorm, the batched whitening loss, backward, Adam;
(c) a replica of the paper's step: views from CPU PIL workers, one backbone pass per view, the
    per-sub-batch, per-view whitening loop with an SVD per block (``whitening_ssl.reference``),
    backward, Adam;
(d) the compute bound: backbone + head on views already on the device, one pass, a plain
    normalised MSE between views (no whitening), backward, Adam, at the same precision.

Prints ms per step, images (x views) per second, the ratios (c)/(b) (speed-up over the paper's
step) and (d)/(b) (fraction of the compute bound reached), and peak GPU memory. A script, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from whitening_ssl.data import (
    ArrayImageDataset,
    DeviceAugmentation,
    MultiViewTransform,
    TransformedDataset,
    make_augmentation,
)
from whitening_ssl.losses import view_pair_mse
from whitening_ssl.methods import build_method
from whitening_ssl.reference import whitening_mse_reference

CONF = Path(__file__).resolve().parents[1] / "conf"
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
METHODS = {"CW-RGP 4": "cw_rgp4", "W-MSE 4": "w_mse4"}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def method_config(preset: str, small: bool):
    overrides = [f"method={preset}"]
    if small:
        overrides += ["data.batch_size=64", "method.head_size=256"]
        overrides += ["method.w_size=16"] if preset == "cw_rgp4" else ["method.w_size=32", "method.emb=16"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    return OmegaConf.to_container(cfg.method, resolve=True), cfg.data.batch_size, cfg.data.num_views


def backbone_config(small: bool):
    return {"name": "resnet_tiny", "width": 16, "stem": "cifar"} if small else {"name": "resnet18", "stem": "cifar"}


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed(step, device, steps: int, warmup: int = 3):
    """Median seconds per call of ``step`` (synchronised), after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(loader, steps: int, warmup: int) -> float:
    """Seconds per batch of a prefetching loader over ``steps`` consecutive batches (a median of single
    calls would only measure the prefetch queue)."""
    for _ in range(warmup):
        next(loader)
    start = time.perf_counter()
    for _ in range(steps):
        next(loader)
    return (time.perf_counter() - start) / steps


def peak_memory(device: torch.device, run) -> float | None:
    if device.type != "cuda":
        run()
        return None
    torch.cuda.reset_peak_memory_stats(device)
    run()
    return torch.cuda.max_memory_allocated(device) / 2**30


def cpu_loader(images, batch, views, workers, pin_memory):
    dataset = TransformedDataset(
        ArrayImageDataset(images, torch.zeros(len(images), dtype=torch.long), ["x"]),
        MultiViewTransform(make_augmentation("small", 32, CIFAR_MEAN, CIFAR_STD), views),
    )
    return DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=pin_memory,
    )


def endless(loader):
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("32", "bf16"), default="32")
    parser.add_argument("--small", action="store_true", help="tiny ResNet, batch 64 (a quick CPU check)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8, help="CPU DataLoader workers for (a) and (c)")
    parser.add_argument("--images", type=int, default=None, help="size of the synthetic image pool")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    pool = args.images or (2048 if args.small else 50_000)
    images = torch.randint(0, 256, (pool, 32, 32, 3), dtype=torch.uint8)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device: {name}; precision: {args.precision}; {'small' if args.small else 'paper'} sizes; "
        f"median of {args.steps} steps"
    )

    rows = []
    for label, preset in METHODS.items():
        method, batch, views = method_config(preset, args.small)
        augmentation = DeviceAugmentation("small", 32, CIFAR_MEAN, CIFAR_STD).to(device)
        images_on_device = images.permute(0, 3, 1, 2).to(device)  # [N, C, H, W], as image_tensor gives

        # (a) the data pipeline alone
        loader = endless(cpu_loader(images, batch, views, args.workers, device.type == "cuda"))
        cpu_views = throughput(loader, args.steps, warmup=2 * args.workers + 1)
        device_views = timed(
            lambda: augmentation(images_on_device[torch.randint(0, pool, (batch,), device=device)], views),
            device,
            args.steps,
        )

        # (b) this project's step
        model = build_method(backbone_config(args.small), method, views).to(device).train()
        model.speed_up(channels_last=device.type == "cuda")
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def ours():
            index = torch.randint(0, pool, (batch,), device=device)
            made = list(augmentation(images_on_device[index], views))
            with autocast(device, args.precision):
                embeddings = model.encode(made)
            loss = model.compute_loss(embeddings.float(), made).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        ours_time = timed(ours, device, args.steps)
        ours_memory = peak_memory(device, ours)

        # (c) the paper's step: PIL views from workers, a backbone pass per view, the whitening loop
        paper_model = build_method(backbone_config(args.small), {**method, "bn_per_view": False}, views).to(device)
        paper_optimizer = torch.optim.Adam(paper_model.parameters(), lr=1e-4)
        paper_loader = endless(cpu_loader(images, batch, views, args.workers, device.type == "cuda"))

        def papers():
            view_list, _ = next(paper_loader)
            with autocast(device, args.precision):  # the backbone once per view, the head on all views at once
                features = [paper_model.backbone(v.to(device, non_blocking=True)) for v in view_list]
                embeddings = paper_model.head(torch.cat(features)).float().split(batch)
            subbatches = paper_model.loss_fn.draw_subbatches(batch, device=device)
            permutations = None
            if method["random_groups"]:
                k = batch // method["w_size"]
                permutations = torch.rand(method["w_iter"], k, views, method["emb"], device=device).argsort(-1)
            loss = whitening_mse_reference(
                embeddings,
                subbatches,
                method["whiten"],
                method["axis"],
                method["groups"],
                norm=method["norm"],
                permutations=permutations,
            )
            paper_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            paper_optimizer.step()

        paper_time = timed(papers, device, args.steps)
        paper_memory = peak_memory(device, papers)

        # (d) the compute bound: one pass, no whitening, views already on the device
        bound_inputs = [torch.randn(batch, 3, 32, 32, device=device) for _ in range(views)]

        def bound():
            with autocast(device, args.precision):
                embeddings = model.encode(bound_inputs)
            loss = view_pair_mse(F.normalize(embeddings.float(), dim=-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        bound_time = timed(bound, device, args.steps)
        bound_memory = peak_memory(device, bound)
        rows.append(
            (
                label,
                batch,
                views,
                cpu_views,
                device_views,
                ours_time,
                paper_time,
                bound_time,
                ours_memory,
                paper_memory,
                bound_memory,
            )
        )

    print()
    print(
        "| method | (a) views/s CPU workers | (a) views/s device | (b) ours ms/step | (c) paper ms/step | "
        "(d) bound ms/step | (c)/(b) speed-up | (d)/(b) of bound | peak GiB (b / c / d) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for (
        label,
        batch,
        views,
        cpu_views,
        device_views,
        ours_time,
        paper_time,
        bound_time,
        m_ours,
        m_paper,
        m_bound,
    ) in rows:
        per_batch = batch * views
        memory = " / ".join("-" if m is None else f"{m:.2f}" for m in (m_ours, m_paper, m_bound))
        print(
            f"| {label} | {per_batch / cpu_views:,.0f} | {per_batch / device_views:,.0f} | {1e3 * ours_time:.1f} | "
            f"{1e3 * paper_time:.1f} | {1e3 * bound_time:.1f} | {paper_time / ours_time:.1f}x | "
            f"{100 * bound_time / ours_time:.0f}% | {memory} |"
        )


if __name__ == "__main__":
    main()
