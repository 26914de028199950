"""Reading encoders from checkpoints, strictly, and exporting them.

Accepted formats (detected from the contents):

- ``lightning``: this project's pretraining checkpoints. The backbone, the dataset and its
  normalisation are read from the configuration saved in the checkpoint (``hyper_parameters``).
- ``paper``: the CW-RGP release, a dict with ``state_dict`` whose backbone keys start with
  ``module.model.`` (ResNet-50, ImageNet). ``backbone=`` and ``dataset=`` come from the command line.
- ``torchvision``: a plain torchvision ResNet ``state_dict`` (``fc.*`` is ignored).

Loading is strict: a missing or unexpected backbone key, or a shape mismatch, raises
:class:`CheckpointError` with one line that names the problem. Partial weights are never loaded.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from .models import build_backbone

CHECKPOINT_FORMATS = ("lightning", "paper", "torchvision")
EXPORT_FORMATS = ("torchvision", "detectron2")
PAPER_PREFIX = "module.model."
LIGHTNING_PREFIX = "backbone."


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


def read_checkpoint(path) -> Any:
    """``torch.load`` of ``path`` on the CPU, with one clear error for a missing or unreadable file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (check the ckpt= path)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any failure means the file is not a usable checkpoint
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated or not a checkpoint file): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None


def _state_dict_like(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


def detect_format(obj: Any) -> str:
    """``lightning``, ``paper`` or ``torchvision`` from a loaded checkpoint's contents."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        keys = obj["state_dict"].keys()
        if "hyper_parameters" in obj and any(k.startswith(LIGHTNING_PREFIX) for k in keys):
            return "lightning"
        if any(k.startswith(PAPER_PREFIX) for k in keys):
            return "paper"
    if _state_dict_like(obj) and "conv1.weight" in obj:
        return "torchvision"
    raise CheckpointError(
        "unrecognised checkpoint contents: expected this project's Lightning checkpoint, the paper's release "
        f"(a dict with state_dict and {PAPER_PREFIX}* keys) or a torchvision ResNet state_dict")


def backbone_state_dict(obj: Any, fmt: str) -> Dict[str, Tensor]:
    """The backbone's weights under torchvision ResNet names (no ``fc``)."""
    if fmt == "lightning":
        source, prefix = obj["state_dict"], LIGHTNING_PREFIX
    elif fmt == "paper":
        source, prefix = obj["state_dict"], PAPER_PREFIX
    elif fmt == "torchvision":
        return {k: v for k, v in obj.items() if not k.startswith("fc.")}
    else:
        raise CheckpointError(f"unknown checkpoint format {fmt!r}: use one of {', '.join(CHECKPOINT_FORMATS)}")
    return {k[len(prefix):]: v for k, v in source.items() if k.startswith(prefix) and not k[len(prefix):].startswith("fc.")}


def _examples(keys, limit: int = 3) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (", ..." if len(keys) > limit else "")


def load_backbone_weights(backbone: nn.Module, state_dict: Mapping[str, Tensor], source: str, backbone_name: str) -> None:
    """Strict load; every mismatch is reported in one line before anything is copied."""
    expected = backbone.state_dict()
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    mismatched = sorted(k for k in set(expected) & set(state_dict) if expected[k].shape != state_dict[k].shape)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys ({_examples(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_examples(unexpected)})")
    if mismatched:
        first = mismatched[0]
        problems.append(f"{len(mismatched)} shape mismatches ({first}: checkpoint {list(state_dict[first].shape)} "
                        f"vs model {list(expected[first].shape)})")
    if problems:
        raise CheckpointError(f"{source} does not match backbone={backbone_name}: {'; '.join(problems)}; "
                              "check backbone= and backbone.small_stem")
    backbone.load_state_dict(state_dict, strict=True)


@dataclass
class LoadedEncoder:
    """A frozen-evaluation-ready backbone and what is known about how it was trained."""

    backbone: nn.Module
    feature_dim: int
    format: str
    backbone_cfg: Dict[str, Any]
    remove_maxpool: bool
    dataset_cfg: Optional[Dict[str, Any]] = None
    method_name: Optional[str] = None
    pretrain_epochs: Optional[int] = None


def load_encoder(path, backbone_cfg: Optional[Mapping[str, Any]] = None, remove_maxpool: bool = False) -> LoadedEncoder:
    """Build the backbone a checkpoint describes and load its weights strictly.

    For this project's checkpoints ``backbone_cfg``/``remove_maxpool`` are read from the checkpoint;
    for the other formats they must be given (``backbone=``, ``dataset=`` on the command line).
    """
    obj = read_checkpoint(path)
    fmt = detect_format(obj)
    dataset_cfg = method_name = pretrain_epochs = None
    if fmt == "lightning":
        pretrain_epochs = int(obj["epoch"]) + 1 if "epoch" in obj else None  # epochs completed when saved
        hparams = obj["hyper_parameters"]
        backbone_cfg = dict(hparams["backbone"])
        remove_maxpool = bool(hparams.get("remove_maxpool", False))
        dataset_cfg = dict(hparams["dataset"]) if hparams.get("dataset") else None
        method_name = (hparams.get("method") or {}).get("name")
    else:
        pretrain_epochs = obj.get("epoch") if isinstance(obj, Mapping) and isinstance(obj.get("epoch"), int) else None
    if fmt != "lightning" and backbone_cfg is None:
        raise CheckpointError(f"{path} is a {fmt} checkpoint: give backbone= (e.g. backbone=resnet50) and dataset=")
    backbone_cfg = dict(backbone_cfg)
    backbone, feature_dim = build_backbone(**backbone_cfg, remove_maxpool=remove_maxpool)
    load_backbone_weights(backbone, backbone_state_dict(obj, fmt), f"{path} ({fmt} checkpoint)", backbone_cfg.get("name"))
    return LoadedEncoder(backbone, feature_dim, fmt, backbone_cfg, remove_maxpool, dataset_cfg, method_name, pretrain_epochs)


def detectron2_state_dict(state_dict: Mapping[str, Tensor]) -> Dict[str, Any]:
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
    """Write the backbone as a torchvision ``state_dict`` (``.pth``) or a detectron2 pickle (``.pkl``)."""
    if fmt not in EXPORT_FORMATS:
        raise CheckpointError(f"export.format={fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    state_dict = {k: v.detach().cpu().clone() for k, v in backbone.state_dict().items()}
    if fmt == "torchvision":
        torch.save(state_dict, output)
    else:
        payload = {"model": detectron2_state_dict(state_dict), "__author__": "whitening_ssl", "matching_heuristics": True}
        with open(output, "wb") as handle:
            pickle.dump(payload, handle)
    return output
