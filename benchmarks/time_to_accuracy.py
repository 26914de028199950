"""Time to accuracy: how long a preset takes to reach a k-NN (or online probe) threshold, and where a step's time goes.

    python benchmarks/time_to_accuracy.py --small            # Fashion-MNIST proxy on the CPU: quickstart to k-NN 75%
    python benchmarks/time_to_accuracy.py --experiment speed/cifar10_cw_rgp4 --threshold knn_top1=85
    python benchmarks/time_to_accuracy.py --small --steps-only  # only the step's breakdown
    python benchmarks/time_to_accuracy.py --small online_probe.enabled=false   # extra settings go to run.py

(1) The step, as medians over ``--steps`` steps of the preset's model on its data pipeline: data (the next
batch, on the device, its views made), forward (backbone and head), loss (the method's loss, whitening
included), backward, optimiser (step and zeroing), and the online probe's step (its share of a step).
(2) The time to the threshold: ``run.py`` with the preset, evaluating every ``--eval-every`` epochs (k-NN
and the online probe only) and stopping at the first evaluation at or above the threshold
(``eval.stop_at``); prints its wall time, training time (without the evaluations), device-hours and epoch.
A script that prints numbers, not a test; on a shared machine the figures vary with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import whitening_ssl.methods  # noqa: F401 (the generated method defaults)
from whitening_ssl.data import SSLDataModule
from whitening_ssl.eval.online_probe import OnlineProbe, global_view_count
from whitening_ssl.methods import build_method
from whitening_ssl.models import resolve_stem
from whitening_ssl.optim import build_optimizer
from whitening_ssl.report.time_to import first_reaching, parse_threshold

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("data", "forward", "loss", "backward", "optimiser", "online probe")


def config(experiment: str, overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=[f"experiment={experiment}", "logger=none", *overrides])


def step_breakdown(cfg, steps: int, device: torch.device) -> dict:
    """Median milliseconds of each phase of a training step (see the module's docstring)."""
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
    pipeline = "device" if cfg.data.pipeline in ("device", "auto") else "cpu"
    data = SSLDataModule(
        dataset["name"],
        root=dataset["root"],
        batch_size=int(cfg.data.batch_size),
        num_views=int(cfg.data.num_views),
        num_workers=int(cfg.data.num_workers),
        pipeline=pipeline,
        **(dataset.get("options") or {}),
    )
    data.setup("fit")
    backbone = resolve_stem(OmegaConf.to_container(cfg.backbone, resolve=True), data.spec.stem)
    method = OmegaConf.to_container(cfg.method, resolve=True)
    model = build_method(backbone, method, int(cfg.data.num_views), dataset=dataset).to(device).train()
    model.speed_up(channels_last=cfg.channels_last is True, compile=bool(cfg.compile))
    optimizer = build_optimizer(
        method["optimizer"],
        model.parameters(),
        lr=method["lr"],
        weight_decay=method["weight_decay"],
        momentum=method["momentum"],
    )
    probe = OnlineProbe(**{k: v for k, v in OmegaConf.to_container(cfg.online_probe).items() if k != "enabled"})
    probe.build(model.feature_dim, data.num_classes, device)
    bf16 = "bf16" in str(cfg.trainer.precision)
    batches = iter(data.train_dataloader())
    times = {phase: [] for phase in PHASES}

    def clock():
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    for index in range(steps + 2):  # two warm-up steps
        marks = [clock()]
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(data.train_dataloader())
            batch = next(batches)
        batch = (
            [[v.to(device) for v in batch[0]], batch[1].to(device)]
            if pipeline == "cpu"
            else data.make_views((batch[0].to(device), batch[1].to(device)))
        )
        views, labels = list(batch[0]), batch[1]
        marks.append(clock())
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            model.on_train_batch_start(batch, index)
            features, embeddings = model.encode(model.training_views(views), return_features=True)
            marks.append(clock())
            loss = model.compute_loss(model.gather_embeddings(embeddings), views).loss
            marks.append(clock())
        loss.backward()
        marks.append(clock())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        marks.append(clock())
        probe.learn(features[: global_view_count(model.training_views(views)) * labels.shape[0]], labels)
        marks.append(clock())
        if index >= 2:
            for phase, start, end in zip(PHASES, marks, marks[1:]):
                times[phase].append(1000 * (end - start))
    return {phase: statistics.median(values) for phase, values in times.items()}


def time_to(experiment: str, metric: str, threshold: float, eval_every: int, overrides) -> dict:
    """``run.py`` until ``metric >= threshold``; returns the first such record (or the best, flagged)."""
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        command = [
            sys.executable,
            str(ROOT / "run.py"),
            f"experiment={experiment}",
            "logger=none",
            f"eval.every_n_epochs={eval_every}",
            f"eval.every_n_epochs_after_drop={eval_every}",
            "eval.linear_epochs=0",
            "eval.evaluate_untrained=false",
            "analysis.at_evaluation=false",
            f"+eval.stop_at.{metric}={threshold}",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
            *overrides,
        ]
        start = time.perf_counter()
        done = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "disabled"}
        )
        total = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"error: run.py failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
        history = json.loads((run_dir / "results.json").read_text())["history"]
    record = first_reaching(history, metric, threshold)
    return {
        "record": record or max(history, key=lambda h: h.get(metric, 0.0)),
        "reached": record is not None,
        "process_seconds": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="speed/cifar10_cw_rgp4", help="an experiment preset")
    parser.add_argument("--small", action="store_true", help="the CPU proxy: experiment=quickstart to knn_top1=75")
    parser.add_argument(
        "--threshold",
        type=parse_threshold,
        default=None,
        help="METRIC=VALUE (default knn_top1=75 with --small, else knn_top1=85); METRIC: knn_top1 or online_probe_top1",
    )
    parser.add_argument("--eval-every", type=int, default=1, help="evaluate every N epochs (default 1)")
    parser.add_argument("--steps", type=int, default=10, help="steps timed for the breakdown")
    parser.add_argument("--steps-only", action="store_true", help="only the step's breakdown")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("overrides", nargs="*", help="settings for the preset, e.g. epochs=10")
    args = parser.parse_args()
    experiment = "quickstart" if args.small else args.experiment
    metric, threshold = args.threshold or ("knn_top1", 75.0 if args.small else 85.0)
    cfg = config(experiment, args.overrides)
    device = torch.device(args.device)
    print(
        f"{experiment}: {cfg.method.name} on {cfg.dataset.name}, {cfg.data.num_views} views x {cfg.data.batch_size} "
        f"images, {cfg.trainer.precision} on {device} ({torch.get_num_threads()} threads)"
    )
    phases = step_breakdown(cfg, args.steps, device)
    step = sum(value for phase, value in phases.items() if phase != "online probe")
    print(
        f"step {step:8.1f} ms: "
        + ", ".join(f"{phase} {value:.1f} ms ({100 * value / step:.1f}%)" for phase, value in phases.items())
    )
    print(
        f"online probe: {phases['online probe']:.2f} ms per step = {100 * phases['online probe'] / step:.2f}% of a step"
    )
    if args.steps_only:
        return
    found = time_to(experiment, metric, threshold, args.eval_every, args.overrides)
    record = found["record"]
    said = "reached" if found["reached"] else f"NOT reached (best {record.get(metric, float('nan')):.2f})"
    print(
        f"time to {metric} >= {threshold:g}: {said} at epoch {record['epoch']}: {record['seconds']:.0f} s since "
        f"training started, {record['train_seconds']:.0f} s training (without evaluations), "
        f"{record['device_hours']:.4f} device-hours; {metric} {record.get(metric, float('nan')):.2f}; "
        f"the whole process {found['process_seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
