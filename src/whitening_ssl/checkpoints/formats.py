"""What a checkpoint holds, from its contents: an encoder in one of the accepted formats, or a linear probe.

Encoders (``ckpt=`` of ``stage=linear|knn|analyze|export``):

- ``lightning``: this project's pretraining checkpoint (``hyper_parameters`` with the backbone,
  ``backbone.*`` weights);
- ``paper``: the CW-RGP release, a dict with ``state_dict`` whose backbone keys start with ``module.model.``;
- ``torchvision``: a torchvision ResNet ``state_dict`` (``fc.*`` is ignored).

Not encoders, refused with what to pass instead: ``probe`` (the standard linear protocol's
``checkpoints/last.ckpt``: a Lightning checkpoint of the frozen backbone and its classifier) and
``classifier`` (the ``linear_classifier.pt`` every ``stage=linear`` run saves).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..validation import shown
from .reading import CheckpointError, container_problem, read_checkpoint, saved_config

CHECKPOINT_FORMATS = ("lightning", "paper", "torchvision")
PAPER_PREFIX = "module.model."
LIGHTNING_PREFIX = "backbone."


def _state_dict_like(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, Tensor) for v in obj.values())


def checkpoint_kind(obj: Any) -> str:
    """``lightning``, ``paper``, ``torchvision``, ``probe``, ``classifier`` or ``unknown`` (see the module)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        keys = [k for k in obj["state_dict"] if isinstance(k, str)]
        hparams = obj.get("hyper_parameters")
        if isinstance(hparams, Mapping):
            if "backbone" not in hparams and any(k.startswith("classifier.") for k in keys):
                return "probe"
            if any(k.startswith(LIGHTNING_PREFIX) for k in keys):
                return "lightning"
        if any(k.startswith(PAPER_PREFIX) for k in keys):
            return "paper"
        if set(keys) == {"weight", "bias"} and "num_classes" in obj:
            return "classifier"
    if _state_dict_like(obj) and "conv1.weight" in obj:
        return "torchvision"
    return "unknown"


def encoder_kind_problem(obj: Any) -> str | None:
    """Why ``obj`` (a linear probe's checkpoint) is not an encoder, and what to pass instead; the reason
    follows the file's path in a message. ``None`` for the encoder formats and for unknown contents."""
    kind = checkpoint_kind(obj)
    if kind == "probe":
        probed = (saved_config(obj) or {}).get("ckpt")
        return (
            "is a linear-probe checkpoint (what stage=linear linear.protocol=standard saves), not an encoder: give "
            "ckpt= the pretraining checkpoint it probed" + (f" ({shown(probed)})" if probed else "")
        )
    if kind == "classifier":
        sizes = f"{shown(obj.get('feature_dim'))} features -> {shown(obj.get('num_classes'))} classes"
        trained_on = obj.get("checkpoint")
        return (
            f"is a linear-probe checkpoint (the classifier stage=linear saves: {sizes}), not an encoder: give "
            "ckpt= the pretraining checkpoint it was trained on" + (f" ({shown(trained_on)})" if trained_on else "")
        )
    return None


def resume_kind_problem(obj: Any) -> str | None:
    """Why ``obj`` cannot be resumed from whatever the stage (the classifier a linear probe saves; which
    stage a run's own checkpoint resumes is the stage's check), or ``None``."""
    if checkpoint_kind(obj) == "classifier":
        return (
            "is a linear-probe checkpoint (the classifier stage=linear saves), which cannot be resumed: give "
            "ckpt_path= a run's checkpoints/last.ckpt (or ckpt_path=last hydra.run.dir=<that run>)"
        )
    return None


#: config key -> why a checkpoint's contents do not fit what that key takes
KIND_PROBLEMS = {"ckpt": encoder_kind_problem, "ckpt_path": resume_kind_problem}


def detect_format(obj: Any, source: str | None = None) -> str:
    """``lightning``, ``paper`` or ``torchvision`` from a loaded checkpoint's contents (``source``: its path,
    for the message)."""
    kind = checkpoint_kind(obj)
    if kind in CHECKPOINT_FORMATS:
        return kind
    problem = encoder_kind_problem(obj)
    if problem:
        raise CheckpointError(f"{source or 'the checkpoint'} {problem}")
    raise CheckpointError(
        "unrecognised checkpoint contents" + (f" in {source}" if source else "") + ": expected this project's "
        f"Lightning checkpoint, the paper's release (a dict with state_dict and {PAPER_PREFIX}* keys) or a "
        "torchvision ResNet state_dict"
    )


def backbone_state_dict(obj: Any, fmt: str) -> dict[str, Tensor]:
    """The backbone's weights under torchvision ResNet names (no ``fc``); of this project's checkpoints, the
    momentum encoder's where the method evaluates that one (``method.evaluate_momentum``: ReSA)."""
    if fmt == "lightning":
        method = (obj.get("hyper_parameters") or {}).get("method") or {}
        momentum = isinstance(method, Mapping) and method.get("evaluate_momentum") is True
        source, prefix = obj["state_dict"], "momentum_backbone." if momentum else LIGHTNING_PREFIX
    elif fmt == "paper":
        source, prefix = obj["state_dict"], PAPER_PREFIX
    elif fmt == "torchvision":
        return {k: v for k, v in obj.items() if not k.startswith("fc.")}
    else:
        raise CheckpointError(f"unknown checkpoint format {fmt!r}: use one of {', '.join(CHECKPOINT_FORMATS)}")
    return {
        k[len(prefix) :]: v
        for k, v in source.items()
        if k.startswith(prefix) and not k[len(prefix) :].startswith("fc.")
    }


def check_checkpoint_file(checks, path: Any, key: str, trust: bool = False) -> None:
    """``key=path`` (``ckpt`` or ``ckpt_path``) names a checkpoint file that can be read without running code
    from it: it exists, its container is whole (a truncated file fails here, before anything loads), unless
    ``trust`` its pickle holds only plain types (zip files: read memory-mapped, without the weights), and it
    is not of a kind ``key`` never takes (a linear probe's checkpoint as an encoder, its classifier to resume)."""
    if not checks.check_machine:
        return
    path = Path(str(path))
    if not path.exists():
        checks.add(f"{key}={path}: checkpoint not found (check the path)")
        return
    if not path.is_file():
        checks.add(f"{key}={path} is not a file: give the checkpoint file itself")
        return
    problem = container_problem(path)
    if problem or trust:
        if problem:
            checks.add(f"{key}={path} {problem}")
        return
    try:
        obj = read_checkpoint(path, mmap=True, trustable=key == "ckpt")
    except CheckpointError as error:
        checks.add(f"{key}={error}")
        return
    problem = KIND_PROBLEMS[key](obj) if key in KIND_PROBLEMS else None
    if problem:
        checks.add(f"{key}={path} {problem}")
