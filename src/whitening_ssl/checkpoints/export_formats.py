"""Exporting a backbone: a torchvision state_dict, a detectron2 pickle or a timm state_dict, never over an input.

:func:`export_problem` says (one line) why an output path must not be written: it is the checkpoint
being exported (refused even with ``export.overwrite=true``), a folder, or an existing file without
``export.overwrite=true``. Files are written under a temporary name and renamed, so a failed export
leaves nothing partial and a hard link (``epochNNNN.ckpt`` shares ``last.ckpt``'s bytes) is never
written through. :func:`rebuild_snippet` is the Python that builds the module an export loads into.
A timm backbone (a ViT, ...) exports as ``timm`` only: its ``state_dict`` as timm names it, which
``timm.create_model(name, num_classes=0, <its settings>)`` loads strictly (:func:`format_problem`).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..models import STEMS, build_backbone
from .reading import CheckpointError

EXPORT_FORMATS = ("torchvision", "detectron2", "timm")
EXPORT_SUFFIXES = {"torchvision": "pth", "detectron2": "pkl", "timm": "pth"}


def export_format(fmt: str, backbone_cfg: Mapping[str, Any] | None) -> str:
    """``export.format``, with ``auto`` the backbone's own: ``timm`` for a timm backbone, else ``torchvision``."""
    if fmt != "auto":
        return fmt
    return "timm" if (backbone_cfg or {}).get("library") == "timm" else "torchvision"


def format_problem(fmt: str, backbone_cfg: Mapping[str, Any] | None) -> str | None:
    """Why the backbone ``backbone_cfg`` cannot be exported as ``fmt`` (one line), or ``None``."""
    timm_backbone = (backbone_cfg or {}).get("library") == "timm"
    name = (backbone_cfg or {}).get("name")
    if timm_backbone and fmt != "timm":
        return (
            f"export.format={fmt} holds torchvision ResNets only, and this checkpoint's backbone is timm's {name}: "
            "use export.format=timm (or auto)"
        )
    if not timm_backbone and fmt == "timm":
        return f"export.format=timm is for timm backbones; this checkpoint's is {name}: use export.format=torchvision"
    return None


def export_path(output: Any | None, run_dir: Path | None, fmt: str) -> Path | None:
    """``export.output``, or by default ``<run_dir>/backbone_<format>.(pth|pkl)`` (``None``: not known yet)."""
    if output:
        return Path(str(output))
    return Path(run_dir) / f"backbone_{fmt}.{EXPORT_SUFFIXES.get(fmt, 'pth')}" if run_dir is not None else None


def export_problem(output: Path, ckpt: Any, overwrite: bool) -> str | None:
    """Why ``output`` must not be written by an export of ``ckpt`` (one line), or ``None``."""
    if not output.exists():
        return None
    source = Path(str(ckpt)) if ckpt else None
    if source is not None and source.exists() and os.path.samefile(output, source):
        return (
            f"export.output={output} is the checkpoint being exported (ckpt={ckpt}): choose another export.output "
            "(an export never writes over its input, even with export.overwrite=true)"
        )
    if output.is_dir():
        return f"export.output={output} is a folder: give a file name, e.g. export.output={output / 'backbone.pth'}"
    if not overwrite:
        return (
            f"export.output={output} already exists: choose another export.output, "
            "or add export.overwrite=true to replace it"
        )
    return None


def exported_state_dict(backbone: nn.Module) -> dict[str, Tensor]:
    """What a ``torchvision`` export holds: the backbone's ``state_dict`` on the CPU (no ``fc``)."""
    return {k: v.detach().cpu().clone() for k, v in backbone.state_dict().items() if not k.startswith("fc.")}


def detectron2_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Any]:
    """torchvision ResNet names to detectron2's (the renaming MoCo's detection transfer uses).

    ``layerN`` -> ``res{N+1}``, ``bnK`` -> ``convK.norm``, ``downsample.0/1`` -> ``shortcut`` /
    ``shortcut.norm``, stem parameters under ``stem.``; values as numpy arrays; ``fc`` dropped.
    """
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith("fc."):
            continue
        new_key = key if key.startswith("layer") else f"stem.{key}"
        for stage in (1, 2, 3, 4):
            new_key = new_key.replace(f"layer{stage}", f"res{stage + 1}")
        for index in (1, 2, 3):
            new_key = new_key.replace(f"bn{index}", f"conv{index}.norm")
        new_key = new_key.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")
        renamed[new_key] = value.detach().cpu().numpy()
    return renamed


def export_backbone(backbone: nn.Module, output, fmt: str = "torchvision") -> Path:
    """Write the backbone as a torchvision ``state_dict`` (``.pth``) or a detectron2 pickle (``.pkl``),
    atomically (a temporary file renamed into place)."""
    if fmt not in EXPORT_FORMATS:
        raise CheckpointError(f"export.format={fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    state_dict = exported_state_dict(backbone)  # timm: the state_dict of create_model(..., num_classes=0)
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        if fmt in ("torchvision", "timm"):
            torch.save(state_dict, tmp)
        else:
            payload = {
                "model": detectron2_state_dict(state_dict),
                "__author__": "whitening_ssl",
                "matching_heuristics": True,
            }
            with open(tmp, "wb") as handle:
                pickle.dump(payload, handle)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return output


def rebuild_snippet(backbone_cfg: Mapping[str, Any]) -> str:
    """Python that builds ``model``, the module a ``torchvision`` export of this backbone loads into with
    ``model.load_state_dict(state_dict, strict=True)``: torchvision's constructor with this stem's ``conv1``
    (its real channel count) and max-pool, or this project's ``build_backbone`` for its own backbones."""
    import torchvision

    if backbone_cfg.get("library") == "timm":
        from ..models.timm_settings import is_vit

        vit = is_vit(backbone_cfg["name"])
        settings = {key: backbone_cfg[key] for key in ("img_size", "patch_size") if vit}
        settings.update({"dynamic_img_size": True} if vit else {})
        if backbone_cfg.get("pool", "auto") != "auto":
            settings["global_pool"] = backbone_cfg["pool"]
        settings.update(backbone_cfg.get("model_args") or {})
        arguments = "".join(f", {key}={value!r}" for key, value in settings.items())
        return (
            "import timm, torch\n"
            f"model = timm.create_model({backbone_cfg['name']!r}, pretrained=False, num_classes=0{arguments})"
        )
    name, stem = backbone_cfg["name"], backbone_cfg.get("stem", "imagenet")
    model, _ = build_backbone(**backbone_cfg)
    if type(model) is not torchvision.models.ResNet or not callable(getattr(torchvision.models, name, None)):
        width = f", width={backbone_cfg['width']}" if "width" in backbone_cfg else ""
        return (
            "import torch\nfrom whitening_ssl.models import build_backbone\n"
            f"model, feature_dim = build_backbone({name!r}, stem={stem!r}{width})"
        )
    lines = ["import torch, torchvision", f"model = torchvision.models.{name}(weights=None)"]
    if STEMS[stem].small_conv1:
        lines.append(
            f"model.conv1 = torch.nn.Conv2d(3, {cast(nn.Conv2d, model.conv1).out_channels}, kernel_size=3, stride=1, "
            f"padding={1 + STEMS[stem].pad}, bias=False)"
        )
    if not STEMS[stem].maxpool:
        lines.append("model.maxpool = torch.nn.Identity()")
    lines.append("model.fc = torch.nn.Identity()  # the export has no fc: the model returns the features")
    return "\n".join(lines)
