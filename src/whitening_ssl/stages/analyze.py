"""``stage=analyze``: the paper's measurements of a checkpoint, written as a report folder.

``python run.py stage=analyze ckpt=PATH`` loads any checkpoint the linear stage accepts and writes,
in its run directory: ``analysis.json`` (every measure of the backbone features, the embedding and
the whitened output on the test set, see :mod:`whitening_ssl.analysis.model`), ``spectra.png`` (the
covariance eigenvalues of each representation), ``cosine_<representation>.png`` (positive vs
negative cosine similarities) and ``report.md`` showing them. This project's checkpoints give all
three representations (the head and the method's whitening are rebuilt from the checkpoint); the
paper's and torchvision files hold only a backbone, so only its features are measured.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import DictConfig

from ..analysis.metrics import MEANINGS, WHITENED_NOTE
from ..analysis.model import REPRESENTATIONS, analyze_encoder
from ..checkpoints import load_pretrain_module, trusted_targets
from ..methods import build_method
from ..validation import Checks
from .common import is_main_process, job_overrides, resolved, say
from .encoder import base_results, eval_datamodule, probe_source
from .launch import training_on_gpu
from .stage_checks import check_analysis_config, check_encoder_stage

ANALYSIS_FILE = "analysis.json"
REPORT_FILE = "report.md"


def check(checks: Checks, cfg: DictConfig, run_dir: Path | None) -> None:
    check_encoder_stage(checks, cfg, run_dir)
    check_analysis_config(checks, cfg.analysis)


def _markdown(results: dict[str, Any], figures: dict[str, str], folder: Path) -> str:
    metrics = results["metrics"]
    names = sorted({key.split("/")[2] for key in metrics})
    present = [rep for rep in REPRESENTATIONS if any(key.startswith(f"analysis/{rep}/") for key in metrics)]
    lines = [
        f"# Analysis of {results['checkpoint']}",
        "",
        f"Method `{results['method']}`, dataset `{results['dataset']}` ({results['num_images']} test images"
        + (", with two augmented views each for the positives" if results["views"] else "")
        + ").",
        "",
        "| measure | " + " | ".join(present) + " | meaning |",
        "|---|" + "---|" * (len(present) + 1),
    ]
    for name in names:
        cells = [metrics.get(f"analysis/{rep}/{name}") for rep in present]
        lines.append(
            f"| {name} | "
            + " | ".join("–" if v is None else f"{v:.4g}" for v in cells)
            + f" | {MEANINGS.get(name, '')} |"
        )
    if "whitened" in present:
        lines += ["", WHITENED_NOTE[0].upper() + WHITENED_NOTE[1:] + "."]
    lines.append("")
    for key, path in figures.items():
        lines += [f"![{key}]({Path(path).relative_to(folder)})", ""]
    return "\n".join(lines)


def figure_context(cfg: DictConfig, encoder) -> str:
    """``<run folder>/<checkpoint>, <method>, epoch N``: what the figures' titles name."""
    checkpoint = Path(str(cfg.ckpt))
    where = (
        f"{checkpoint.parent.parent.name}/{checkpoint.name}"
        if checkpoint.parent.name == "checkpoints"
        else checkpoint.name
    )
    epoch = f", epoch {encoder.pretrain_epochs}" if encoder.pretrain_epochs is not None else ""
    return f"{where}, {encoder.method_name or cfg.method.name}{epoch}"


def run(cfg: DictConfig) -> dict[str, Any] | None:
    run_dir = Path(str(cfg.run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    encoder, dataset = probe_source(cfg)
    module: Any = None  # the pretraining module, else a stand-in holding the backbone alone
    if encoder.format == "lightning":  # its saved settings are data: only targets the user names are built
        module, reason = load_pretrain_module(
            cfg.ckpt,
            build_method,
            trusted_targets(resolved(cfg), job_overrides()),
            trust=bool(cfg.get("trust_checkpoint", False)),
        )
        if module is None:
            say(
                f"note: the head and whitening of {cfg.ckpt} cannot be rebuilt from its saved settings ({reason}; a "
                "checkpoint of an earlier layout): only its backbone features are measured"
            )
    if module is None:  # a backbone alone: its features are all there is to measure
        module = SimpleNamespace(
            backbone=encoder.backbone, training=False, eval=encoder.backbone.eval, train=encoder.backbone.train
        )
    device = torch.device("cuda" if training_on_gpu(cfg) else "cpu")
    for network in ("backbone", "head", "loss_fn"):
        if isinstance(getattr(module, network, None), torch.nn.Module):
            getattr(module, network).to(device)
    datamodule = eval_datamodule(cfg, dataset)
    datamodule.prepare_data()
    datamodule.setup()
    _, test_set = datamodule.eval_datasets()
    from ..analysis.plots import write_analysis_figures  # matplotlib: imported when needed

    analysis = analyze_encoder(
        module,
        test_set,
        datamodule.views_dataset(),
        device,
        max_images=cfg.analysis.max_images,
        progress=bool(cfg.trainer.get("enable_progress_bar", True)),
    )
    metrics = analysis.metrics(rank_tol=cfg.analysis.rank_tol)
    figures = write_analysis_figures(analysis, run_dir, context=figure_context(cfg, encoder))
    results = {
        "stage": "analyze",
        **base_results(cfg, encoder, dataset),
        "num_images": len(analysis.test.backbone),
        "views": analysis.views is not None,
        "metrics": metrics,
        "figures": figures,
        "config": resolved(cfg),
    }
    if is_main_process():  # strict JSON: a condition number of a rank-deficient covariance (inf) is null
        strict = {**results, "metrics": {k: (v if math.isfinite(v) else None) for k, v in metrics.items()}}
        (run_dir / ANALYSIS_FILE).write_text(json.dumps(strict, indent=2, default=str))
        (run_dir / REPORT_FILE).write_text(_markdown(results, figures, run_dir))
    say(f"analysis: {run_dir / ANALYSIS_FILE}; report: {run_dir / REPORT_FILE}")
    return results
