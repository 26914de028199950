"""``stage=export``: the backbone of a checkpoint as a torchvision or timm state_dict, or a detectron2 pickle.

The output never overwrites an input: an existing file is refused unless ``export.overwrite=true``, and
the checkpoint being exported is refused always (checked before anything runs, and again before writing).
A ``torchvision`` or ``timm`` export prints the Python that builds the module it loads into. ``export.format=auto``:
``timm`` for a timm backbone, else ``torchvision``; a format that cannot hold the backbone is refused before
anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..checkpoints import (
    EXPORT_FORMATS,
    CheckpointError,
    export_backbone,
    export_format,
    export_path,
    export_problem,
    format_problem,
    rebuild_snippet,
)
from ..validation import Checks, ConfigError
from .common import say
from .encoder import probe_source
from .stage_checks import check_ckpt


def check(checks: Checks, cfg: DictConfig, run_dir: Path | None) -> None:
    before = len(checks.problems)
    check_ckpt(checks, cfg)
    fmt = checks.choice(cfg.export, "format", "export.format", ("auto", *EXPORT_FORMATS))
    checks.get(cfg.export, "output", "export.output", default=None)
    overwrite = checks.boolean(cfg.export, "overwrite", "export.overwrite", default=False)
    if fmt is None or overwrite is None or not checks.check_machine:
        return
    backbone = _saved_backbone(cfg.ckpt) if len(checks.problems) == before else None
    fmt = export_format(fmt, backbone)
    problem = format_problem(fmt, backbone)
    if problem:
        checks.add(problem)
        return
    output = export_path(cfg.export.get("output"), run_dir, fmt)
    problem = export_problem(output, cfg.get("ckpt"), overwrite) if output is not None else None
    if problem:
        checks.add(problem)


def _saved_backbone(ckpt) -> dict[str, Any] | None:
    """The backbone settings saved in this project's checkpoint ``ckpt`` (``None``: another format)."""
    from ..checkpoints.resume_settings import saved_run_config

    try:
        saved = saved_run_config(ckpt)
    except CheckpointError:
        return None
    backbone = (saved or {}).get("backbone")
    return dict(backbone) if isinstance(backbone, dict) else None


def run(cfg: DictConfig) -> dict[str, Any]:
    fmt = export_format(cfg.export.format, _saved_backbone(cfg.ckpt))
    output = export_path(cfg.export.get("output"), Path(str(cfg.run_dir)), fmt)
    assert output is not None  # known: the run folder is given
    problem = export_problem(output, cfg.ckpt, bool(cfg.export.get("overwrite", False)))
    if problem:  # the check ran before, but the file may have appeared since
        raise ConfigError(problem)
    encoder, _ = probe_source(cfg)
    problem = format_problem(fmt, encoder.backbone_cfg)
    if problem:
        raise ConfigError(problem)
    path = export_backbone(encoder.backbone, output, fmt)
    say(f"exported {encoder.backbone_cfg.get('name')} backbone ({encoder.format} checkpoint) as {fmt}: {path}")
    if fmt in ("torchvision", "timm"):
        code = (
            rebuild_snippet(encoder.backbone_cfg)
            + f"\nmodel.load_state_dict(torch.load({str(path)!r}, weights_only=True))"
        )
        built = f"stem={encoder.backbone_cfg.get('stem')}" if fmt == "torchvision" else "timm's, with its settings"
        say(
            f"note: to use it, build the module for this backbone ({built}) and load it:\n"
            + "\n".join(f"    {line}" for line in code.splitlines())
        )
    return {"stage": "export", "format": fmt, "output": str(path), "checkpoint": str(cfg.ckpt)}
