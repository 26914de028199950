"""What the investigation's online measurements cost next to a training step.

    python benchmarks/bench_measurements.py [--experiment quickstart] [--steps 20] [--device cpu]
    python benchmarks/bench_measurements.py --experiment none      # the defaults: CW-RGP 4, ResNet-18, 4 x 256

Builds the preset's pretraining module (its backbone, head, whitening, batch and views; synthetic images
of the dataset's size) and times, as medians over ``--steps``:

(a) a training step: views through backbone and head, the loss, backward, the optimiser's step;
(b) a measured step's extra work (``analysis.every_n_steps``): the paper's measurements of the step's
    backbone features, embeddings and whitened output (no extra forward pass), read back once;
(c) the evaluation's measurements (``analysis.at_evaluation``) on ``analysis.max_images`` test images
    and as many view pairs, next to the rest of one evaluation (features of the labelled training and
    test images, k-NN, the linear probe).

Prints ms, the ratio (b)/(a), and the cost per training step at the preset's ``every_n_steps``.
A script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import whitening_ssl.methods  # noqa: F401 (the generated method defaults)
from whitening_ssl.analysis.model import analyze_encoder, measure, representations_of_batch
from whitening_ssl.data.registry import DatasetSpec, get_entry
from whitening_ssl.eval.fast_protocol import evaluate_features
from whitening_ssl.methods import build_method
from whitening_ssl.models import resolve_stem

CONF = Path(__file__).resolve().parents[1] / "conf"


def config(experiment: str):
    overrides = [] if experiment == "none" else [f"experiment={experiment}"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=[*overrides, "logger=none"])


def median_ms(run, steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


class Images(torch.utils.data.Dataset):
    """``count`` synthetic images of ``size`` px with labels, as the evaluation datasets give them."""

    def __init__(self, count: int, size: int, channels: int = 3, classes: int = 10) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.rand(count, channels, size, size, generator=gen)
        self.labels = torch.randint(0, classes, (count,), generator=gen)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], int(self.labels[index])


class ViewPairs(Images):
    def __getitem__(self, index):
        image = self.images[index]
        return [image, image.flip(-1)], int(self.labels[index])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="quickstart", help="an experiment preset, or none: the defaults")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-size", type=int, default=None, help="default: the dataset's (28 or 32)")
    parser.add_argument("--train-images", type=int, default=None, help="default: the preset's train_subset, or 10000")
    parser.add_argument("--test-images", type=int, default=10_000)
    args = parser.parse_args()
    cfg = config(args.experiment)
    device = torch.device(args.device)
    torch.manual_seed(0)
    method = OmegaConf.to_container(cfg.method, resolve=True)
    views, batch = int(cfg.data.num_views), int(cfg.data.batch_size)
    size = args.image_size or (28 if cfg.dataset.name == "fashion_mnist" else 32)
    spec = get_entry(cfg.dataset.name).spec
    stem = spec.stem if isinstance(spec, DatasetSpec) else "cifar"
    backbone = resolve_stem(OmegaConf.to_container(cfg.backbone, resolve=True), stem)
    model = build_method(backbone, method, views).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.rand(views, batch, 3, size, size, device=device)
    captured = {}

    def step():
        features, embeddings = model.encode(list(images), return_features=True)
        output = model.compute_loss(embeddings, list(images), measure=True)  # as on a measured step
        optimizer.zero_grad(set_to_none=True)
        output.loss.backward()
        optimizer.step()
        captured.update(features=features, embeddings=embeddings, whitened=output.whitened)

    step_ms = median_ms(step, args.steps)
    whitened = captured["whitened"]

    def measured():
        measure(
            representations_of_batch(captured["features"], captured["embeddings"], whitened),
            rank_tol=cfg.analysis.rank_tol,
        )

    measure_ms = median_ms(measured, args.steps)
    every = int(cfg.analysis.every_n_steps)
    print(f"{args.experiment}: {cfg.method.name}, {views} views x {batch} images of {size} px on {device}")
    print(f"(a) training step             {step_ms:9.1f} ms")
    print(
        f"(b) a measured step's extra   {measure_ms:9.1f} ms  = {100 * measure_ms / step_ms:.1f}% of a step; "
        f"every {every} steps: {100 * measure_ms / step_ms / max(every, 1):.2f}% per step"
    )

    count = int(cfg.analysis.max_images)
    options = cfg.dataset.get("options") or {}
    train_images = args.train_images or int(options.get("train_subset") or 10_000)
    train, test, pairs = Images(train_images, size), Images(args.test_images, size), ViewPairs(count, size)
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        train_x, test_x = (
            torch.cat([model.backbone(x.to(device)) for x, _ in torch.utils.data.DataLoader(s, 1000)])
            for s in (train, test)
        )
    evaluate_features(
        train_x,
        train.labels.to(device),
        test_x,
        test.labels.to(device),
        knn_k=int(cfg.eval.knn_k),
        linear_epochs=int(cfg.eval.linear_epochs),
        seed=0,
    )
    evaluation_s = time.perf_counter() - start
    start = time.perf_counter()
    analyze_encoder(model, test, pairs, device, max_images=count, batch_size=512, test_features=test_x).metrics(
        rank_tol=cfg.analysis.rank_tol
    )
    analysis_s = time.perf_counter() - start
    print(
        f"(c) an evaluation ({train_images} + {args.test_images} images, k-NN, {cfg.eval.linear_epochs}-epoch probe) "
        f"{evaluation_s:.1f} s; its measurements on {count} images {analysis_s:.1f} s "
        f"(= {100 * analysis_s / evaluation_s:.0f}% of it)"
    )


if __name__ == "__main__":
    main()
