"""``stage=export``: the backbone of a checkpoint as a torchvision state_dict or a detectron2 pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from omegaconf import DictConfig

from ..checkpoints import EXPORT_FORMATS, check_checkpoint_file, export_backbone
from ..validation import Checks
from .common import say
from .evaluate import probe_source


def check(checks: Checks, cfg: DictConfig, run_dir: Optional[Path]) -> None:
    ckpt = checks.get(cfg, "ckpt", "ckpt", default=None)
    if not ckpt:
        checks.add("stage=export needs ckpt=PATH (a pretraining checkpoint)")
    else:
        check_checkpoint_file(checks, ckpt, "ckpt")
    checks.choice(cfg.export, "format", "export.format", EXPORT_FORMATS)


def run(cfg: DictConfig) -> Dict[str, Any]:
    fmt = cfg.export.format
    encoder, _ = probe_source(cfg)
    suffix = "pth" if fmt == "torchvision" else "pkl"
    output = cfg.export.output or str(Path(str(cfg.run_dir)) / f"backbone_{fmt}.{suffix}")
    path = export_backbone(encoder.backbone, output, fmt)
    say(f"exported {encoder.backbone_cfg.get('name')} backbone ({encoder.format} checkpoint) as {fmt}: {path}")
    stem = encoder.backbone_cfg.get("stem")
    if stem in ("cifar", "small") and fmt == "torchvision":
        say("note: this backbone has the small-image stem (3x3 conv1): build the torchvision model with "
            "model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False) before load_state_dict"
            + (" and model.maxpool = nn.Identity()" if stem == "cifar" else ""))
    return {"stage": "export", "format": fmt, "output": str(path), "checkpoint": str(cfg.ckpt)}
