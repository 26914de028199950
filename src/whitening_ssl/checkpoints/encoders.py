"""Encoders from checkpoints, built from what the file says and loaded strictly.

For this project's checkpoints the backbone (with its stem), the dataset and the pretraining
configuration come from the checkpoint's saved settings, read as data (registry names; see
:mod:`.settings`); for the paper's and torchvision's files the architecture comes from the command
line (``backbone=``) and the stem from the weights. Loading is strict: a missing or unexpected
backbone key, or a shape mismatch, raises :class:`CheckpointError` with one line that names the
problem. Partial weights are never loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from ..models import STEMS, build_backbone
from ..run_folder import safe_name
from .formats import backbone_state_dict, detect_format
from .integrity import weights_problem
from .reading import CheckpointError, read_checkpoint, saved_config
from .saved_settings import check_saved_backbone, check_saved_settings


def _examples(keys, limit: int = 3) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:limit]) + (", ..." if len(keys) > limit else "")


def load_backbone_weights(
    backbone: nn.Module, state_dict: Mapping[str, Tensor], source: str, backbone_name: str | None
) -> None:
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
        problems.append(
            f"{len(mismatched)} shape mismatches ({first}: checkpoint {list(state_dict[first].shape)} "
            f"vs model {list(expected[first].shape)})"
        )
    if problems:
        raise CheckpointError(
            f"{source} does not match backbone={backbone_name}: {'; '.join(problems)}; "
            "check backbone= and backbone.stem"
        )
    problem = weights_problem(state_dict, [key for key, value in expected.items() if value.is_floating_point()])
    if problem:
        raise CheckpointError(f"{source} {problem}")
    backbone.load_state_dict(state_dict, strict=True)


@dataclass
class LoadedEncoder:
    """A frozen-evaluation-ready backbone and what is known about how it was trained."""

    backbone: nn.Module
    feature_dim: int
    format: str
    backbone_cfg: dict[str, Any]
    dataset_cfg: dict[str, Any] | None = None
    method_name: str | None = None
    pretrain_epochs: int | None = None
    pretrain_config: Mapping[str, Any] | None = None
    notes: list = field(default_factory=list)


def _stem_of_saved_backbone(backbone: Mapping[str, Any], hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The backbone configuration saved in this project's checkpoint, with its stem.

    Checkpoints from before stems were named hold ``small_stem`` (backbone) and ``remove_maxpool``
    (module): mapped to ``cifar`` / ``small`` / ``imagenet``.
    """
    backbone = dict(backbone)
    if backbone.get("stem") in STEMS or backbone.get("library") == "timm":
        return backbone
    small = backbone.pop("small_stem", True)
    backbone["stem"] = ("cifar" if hparams.get("remove_maxpool") else "small") if small else "imagenet"
    return backbone


def _conv1_kernel(weights: Mapping[str, Tensor]) -> int | None:
    conv1 = weights.get("conv1.weight")
    return int(conv1.shape[-1]) if conv1 is not None and conv1.dim() == 4 else None


def _stem_of_foreign_checkpoint(
    weights: Mapping[str, Tensor], backbone_cfg: Mapping[str, Any], source: str, dataset_stem: str | None, notes: list
) -> dict[str, Any]:
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
        notes.append(
            f"backbone stem read from the checkpoint: conv1 is {kernel}x{kernel}, so stem={backbone['stem']} "
            "(give backbone.stem= to choose)"
        )
        return backbone
    expected = 7 if stated == "imagenet" else 3
    if kernel is not None and kernel != expected:
        raise CheckpointError(
            f"{source} has a {kernel}x{kernel} conv1 but backbone.stem={stated} builds a "
            f"{expected}x{expected} one: drop backbone.stem (it is read from the file) or give "
            f"backbone.stem={'imagenet' if kernel == 7 else 'small'}"
        )
    return backbone


def _saved_backbone(hparams: Any, source: str) -> dict[str, Any]:
    """The backbone settings of a pretraining checkpoint, checked against the registries."""
    if not isinstance(hparams, Mapping) or not isinstance(hparams.get("backbone"), Mapping):
        raise CheckpointError(
            f"{source} holds no backbone settings (hyper_parameters.backbone): it is not a "
            "pretraining checkpoint of this project; give ckpt= a run's checkpoints/last.ckpt"
        )
    check_saved_backbone(hparams, source)
    return _stem_of_saved_backbone(hparams["backbone"], hparams)


def _build(backbone_cfg: Mapping[str, Any], source: str) -> tuple[nn.Module, int]:
    try:
        return build_backbone(**backbone_cfg)
    except (TypeError, ValueError) as error:  # a saved or given value that no registry knows
        raise CheckpointError(f"{source}: the backbone cannot be built: {error}") from None


def load_encoder(
    path, backbone_cfg: Mapping[str, Any] | None = None, dataset_stem: str | None = None, trust: bool = False
) -> LoadedEncoder:
    """Build the backbone a checkpoint describes and load its weights strictly.

    For this project's checkpoints the backbone (with its stem), the dataset and the pretraining
    configuration are read from the checkpoint. For the other formats ``backbone_cfg`` must name
    the architecture (``backbone=resnet50``); its stem is read from the weights (see
    :func:`_stem_of_foreign_checkpoint`), ``dataset_stem`` deciding the max-pool of a 3x3 stem.
    ``trust``: the user trusts the file (``trust_checkpoint=true``, see :func:`read_checkpoint`).
    """
    obj = read_checkpoint(path, trust=trust)
    fmt = detect_format(obj, str(path))
    source = f"{path} ({fmt} checkpoint)"
    notes: list = []
    weights = backbone_state_dict(obj, fmt)
    dataset_cfg = method_name = pretrain_epochs = pretrain_config = None
    if fmt == "lightning":
        epoch = obj.get("epoch")
        pretrain_epochs = int(epoch) + 1 if isinstance(epoch, int) else None  # epochs completed when saved
        hparams = obj["hyper_parameters"]
        backbone_cfg = _saved_backbone(hparams, source)
        dataset_cfg = dict(hparams["dataset"]) if isinstance(hparams.get("dataset"), Mapping) else None
        method = hparams.get("method")
        method_name = safe_name(method.get("name")) if isinstance(method, Mapping) and method.get("name") else None
        pretrain_config = saved_config(obj)
    else:
        pretrain_epochs = obj.get("epoch") if isinstance(obj, Mapping) and isinstance(obj.get("epoch"), int) else None
        if backbone_cfg is None:
            raise CheckpointError(f"{path} is a {fmt} checkpoint: give backbone= (e.g. backbone=resnet50) and dataset=")
        backbone_cfg = _stem_of_foreign_checkpoint(weights, backbone_cfg, source, dataset_stem, notes)
    backbone_cfg = dict(backbone_cfg)
    backbone, feature_dim = _build(backbone_cfg, source)
    load_backbone_weights(backbone, weights, source, backbone_cfg.get("name"))
    return LoadedEncoder(
        backbone, feature_dim, fmt, backbone_cfg, dataset_cfg, method_name, pretrain_epochs, pretrain_config, notes
    )


def load_pretrain_module(
    path, build_method: Callable[..., nn.Module], trusted_targets: Iterable[tuple[str, str]] = (), trust: bool = False
) -> tuple[nn.Module | None, str | None]:
    """The whole pretraining module (backbone, head, predictor, the method's loss and whitening) of one of
    this project's checkpoints, built from its saved settings and loaded strictly, and ``None``; or ``None``
    and the reason, for a checkpoint of an earlier layout that cannot be rebuilt (its backbone alone still
    loads). A saved ``_target_`` that is not a registered loss nor in ``trusted_targets`` (targets the user
    named for the same setting) raises :class:`CheckpointError`: it is never imported. ``build_method`` is
    :func:`whitening_ssl.methods.build_method` (passed in: the checkpoint layer sits below the methods)."""
    obj = read_checkpoint(path, trust=trust)
    if detect_format(obj, str(path)) != "lightning":
        return None, f"{path} holds a backbone only"
    hparams = obj["hyper_parameters"]
    source = f"{path} (lightning checkpoint)"
    check_saved_settings(hparams, source, trusted_targets)
    try:
        module = build_method(
            _saved_backbone(hparams, source), hparams["method"], hparams["num_views"], hparams.get("dataset")
        )
        module.load_state_dict(obj["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return None, f"{type(error).__name__}: {first[:200]}"
    return module, None
