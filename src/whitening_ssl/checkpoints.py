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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from .models import STEMS, build_backbone

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
                              "check backbone= and backbone.stem")
    backbone.load_state_dict(state_dict, strict=True)


@dataclass
class LoadedEncoder:
    """A frozen-evaluation-ready backbone and what is known about how it was trained."""

    backbone: nn.Module
    feature_dim: int
    format: str
    backbone_cfg: Dict[str, Any]
    dataset_cfg: Optional[Dict[str, Any]] = None
    method_name: Optional[str] = None
    pretrain_epochs: Optional[int] = None
    pretrain_config: Optional[Dict[str, Any]] = None
    notes: list = field(default_factory=list)


def _stem_of_saved_backbone(backbone: Mapping[str, Any], hparams: Mapping[str, Any]) -> Dict[str, Any]:
    """The backbone configuration saved in this project's checkpoint, with its stem.

    Checkpoints from before stems were named hold ``small_stem`` (backbone) and ``remove_maxpool``
    (module): mapped to ``cifar`` / ``small`` / ``imagenet``.
    """
    backbone = dict(backbone)
    if backbone.get("stem") in STEMS:
        return backbone
    small = backbone.pop("small_stem", True)
    backbone["stem"] = ("cifar" if hparams.get("remove_maxpool") else "small") if small else "imagenet"
    return backbone


def _conv1_kernel(weights: Mapping[str, Tensor]) -> Optional[int]:
    conv1 = weights.get("conv1.weight")
    return int(conv1.shape[-1]) if conv1 is not None and conv1.dim() == 4 else None


def _stem_of_foreign_checkpoint(weights: Mapping[str, Tensor], backbone_cfg: Mapping[str, Any], source: str,
                                dataset_stem: Optional[str], notes: list) -> Dict[str, Any]:
    """The stem of a paper-format or torchvision checkpoint: read from its ``conv1`` unless stated.

    ``conv1`` 7x7 is the ImageNet stem; 3x3 is a small-image stem, with the max-pool as the dataset's
    (``dataset_stem``) or kept when that is unknown. A stated ``backbone.stem`` that contradicts the
    weights is an error.
    """
    backbone = dict(backbone_cfg)
    kernel = _conv1_kernel(weights)
    stated = backbone.get("stem", "auto")
    if stated == "auto":
        if kernel == 7:
            backbone["stem"] = "imagenet"
        elif kernel == 3:
            backbone["stem"] = dataset_stem if dataset_stem in ("cifar", "small") else "small"
        else:
            backbone["stem"] = dataset_stem or "imagenet"
        notes.append(f"backbone stem read from the checkpoint: conv1 is {kernel}x{kernel}, so stem={backbone['stem']} "
                     "(give backbone.stem= to choose)")
        return backbone
    expected = 7 if stated == "imagenet" else 3
    if kernel is not None and kernel != expected:
        raise CheckpointError(f"{source} has a {kernel}x{kernel} conv1 but backbone.stem={stated} builds a "
                              f"{expected}x{expected} one: drop backbone.stem (it is read from the file) or give "
                              f"backbone.stem={'imagenet' if kernel == 7 else 'small'}")
    return backbone


def load_encoder(path, backbone_cfg: Optional[Mapping[str, Any]] = None,
                 dataset_stem: Optional[str] = None) -> LoadedEncoder:
    """Build the backbone a checkpoint describes and load its weights strictly.

    For this project's checkpoints the backbone (with its stem), the dataset and the pretraining
    configuration are read from the checkpoint. For the other formats ``backbone_cfg`` must name
    the architecture (``backbone=resnet50``); its stem is read from the weights (see
    :func:`_stem_of_foreign_checkpoint`), ``dataset_stem`` deciding the max-pool of a 3x3 stem.
    """
    obj = read_checkpoint(path)
    fmt = detect_format(obj)
    notes: list = []
    weights = backbone_state_dict(obj, fmt)
    dataset_cfg = method_name = pretrain_epochs = pretrain_config = None
    if fmt == "lightning":
        pretrain_epochs = int(obj["epoch"]) + 1 if "epoch" in obj else None  # epochs completed when saved
        hparams = obj["hyper_parameters"]
        backbone_cfg = _stem_of_saved_backbone(hparams["backbone"], hparams)
        dataset_cfg = dict(hparams["dataset"]) if hparams.get("dataset") else None
        method_name = (hparams.get("method") or {}).get("name")
        for key, state in (obj.get("callbacks") or {}).items():
            if "RunCheckpoints" in str(key) and isinstance(state, Mapping) and state.get("config"):
                pretrain_config = state["config"]
    else:
        pretrain_epochs = obj.get("epoch") if isinstance(obj, Mapping) and isinstance(obj.get("epoch"), int) else None
        if backbone_cfg is None:
            raise CheckpointError(f"{path} is a {fmt} checkpoint: give backbone= (e.g. backbone=resnet50) and dataset=")
        backbone_cfg = _stem_of_foreign_checkpoint(weights, backbone_cfg, f"{path} ({fmt} checkpoint)", dataset_stem,
                                                   notes)
    backbone_cfg = dict(backbone_cfg)
    backbone, feature_dim = build_backbone(**backbone_cfg)
    load_backbone_weights(backbone, weights, f"{path} ({fmt} checkpoint)", backbone_cfg.get("name"))
    return LoadedEncoder(backbone, feature_dim, fmt, backbone_cfg, dataset_cfg, method_name, pretrain_epochs,
                         pretrain_config, notes)


def load_pretrain_module(path) -> Optional[nn.Module]:
    """The whole pretraining module (backbone, head, predictor, the method's loss and whitening) of one of
    this project's checkpoints, built from its saved configuration and loaded strictly; ``None`` for a
    checkpoint of an earlier layout that cannot be rebuilt (its backbone alone still loads)."""
    from .methods import build_method

    obj = read_checkpoint(path)
    if detect_format(obj) != "lightning":
        return None
    hparams = obj["hyper_parameters"]
    try:
        module = build_method(_stem_of_saved_backbone(hparams["backbone"], hparams), hparams["method"],
                              hparams["num_views"], hparams.get("dataset"))
        module.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError):
        return None
    return module


def check_checkpoint_file(checks, path: Any, key: str) -> None:
    """``key=path`` names a readable checkpoint file: it exists and, for zip-format files (what
    ``torch.save`` writes), its central directory is intact (a truncated file fails here, in
    microseconds, instead of after the data is loaded)."""
    path = Path(str(path))
    if not checks.check_machine:
        return
    if not path.exists():
        checks.add(f"{key}={path}: checkpoint not found (check the path)")
    elif not path.is_file():
        checks.add(f"{key}={path} is not a file: give the checkpoint file itself")
    else:
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head.startswith(b"PK") and not zipfile.is_zipfile(path):
            checks.add(f"{key}={path} is truncated or damaged (its zip directory is missing): use another "
                       "checkpoint, e.g. an earlier epochNNNN.ckpt of the same run")
        elif not head.startswith(b"PK") and not head[:1] == b"\x80":
            checks.add(f"{key}={path} is not a PyTorch checkpoint file")


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
