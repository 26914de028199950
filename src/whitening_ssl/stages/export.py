"""``stage=export``: the backbone of a checkpoint as a torchvision state_dict or a detectron2 pickle.

The output never overwrites an input: an existing file is refused unless ``export.overwrite=true``, and
the checkpoint being exported is refused always (checked before anything runs, and again before writing).
A ``torchvision`` export prints the Python that builds the module it loads into, for this backbone and stem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from omegaconf import DictConfig

from ..checkpoints import EXPORT_FORMATS, export_backbone, export_path, export_problem, rebuild_snippet
from ..validation import Checks, ConfigError
from .stage_checks import check_ckpt
from .common import say
from .encoder import probe_source


def check(checks: Checks, cfg: DictConfig, run_dir: Optional[Path]) -> None:
    check_ckpt(checks, cfg)
    fmt = checks.choice(cfg.export, "format", "export.format", EXPORT_FORMATS)
    checks.get(cfg.export, "output", "export.output", default=None)
    overwrite = checks.boolean(cfg.export, "overwrite", "export.overwrite", default=False)
    if fmt is None or overwrite is None or not checks.check_machine:
        return
    output = export_path(cfg.export.get("output"), run_dir, fmt)
    problem = export_problem(output, cfg.get("ckpt"), overwrite) if output is not None else None
    if problem:
        checks.add(problem)


def run(cfg: DictConfig) -> Dict[str, Any]:
    fmt = cfg.export.format
    output = export_path(cfg.export.get("output"), Path(str(cfg.run_dir)), fmt)
    problem = export_problem(output, cfg.ckpt, bool(cfg.export.get("overwrite", False)))
    if problem:  # the check ran before, but the file may have appeared since
        raise ConfigError(problem)
    encoder, _ = probe_source(cfg)
    path = export_backbone(encoder.backbone, output, fmt)
    say(f"exported {encoder.backbone_cfg.get('name')} backbone ({encoder.format} checkpoint) as {fmt}: {path}")
    if fmt == "torchvision":
        code = rebuild_snippet(encoder.backbone_cfg) + f"\nmodel.load_state_dict(torch.load({str(path)!r}, weights_only=True))"
        say(f"note: to use it, build the module for this backbone (stem={encoder.backbone_cfg.get('stem')}) and load it:\n"
            + "\n".join(f"    {line}" for line in code.splitlines()))
    return {"stage": "export", "format": fmt, "output": str(path), "checkpoint": str(cfg.ckpt)}
