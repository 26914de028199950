"""Checkpoints: written so that a run is never lost, read without running code, exported.

Writing (:mod:`.writing`): ``last.ckpt`` every epoch, atomically, with the run's settings and RNG state;
resuming compares those settings with the command line's (:mod:`.resume_settings`).

Accepted formats for reading an encoder (detected from the contents, :mod:`.formats`):

- ``lightning``: this project's pretraining checkpoints. The backbone, the dataset and its
  normalisation are read from the configuration saved in the checkpoint (``hyper_parameters``).
- ``paper``: the CW-RGP release, a dict with ``state_dict`` whose backbone keys start with
  ``module.model.`` (ResNet-50, ImageNet). ``backbone=`` and ``dataset=`` come from the command line.
- ``torchvision``: a plain torchvision ResNet ``state_dict`` (``fc.*`` is ignored).

Nothing from a file runs: files are read with ``torch.load(weights_only=True)`` after their format
is recognised (:mod:`.reading`), and a checkpoint's saved settings choose only among the project's
registries (:mod:`.saved_settings`). Loading is strict (:mod:`.encoders`); exports never overwrite an
input (:mod:`.export_formats`). Every problem is a :class:`CheckpointError` with one line that says what to do.
"""

from ..run_folder import safe_name
from .encoders import LoadedEncoder, load_backbone_weights, load_encoder, load_pretrain_module
from .export_formats import (
    EXPORT_FORMATS,
    detectron2_state_dict,
    export_backbone,
    export_format,
    export_path,
    export_problem,
    exported_state_dict,
    format_problem,
    rebuild_snippet,
)
from .formats import (
    CHECKPOINT_FORMATS,
    LIGHTNING_PREFIX,
    PAPER_PREFIX,
    backbone_state_dict,
    check_checkpoint_file,
    checkpoint_kind,
    detect_format,
)
from .reading import SAFE_GLOBALS, CheckpointError, read_checkpoint, saved_config, verify_resume_file
from .saved_settings import check_saved_dataset, check_saved_settings, foreign_targets, trusted_targets
from .writing import CheckpointWriteError, RunCheckpoints, read_meta, resolve_resume_checkpoint

__all__ = [
    "CHECKPOINT_FORMATS",
    "EXPORT_FORMATS",
    "LIGHTNING_PREFIX",
    "PAPER_PREFIX",
    "SAFE_GLOBALS",
    "CheckpointError",
    "CheckpointWriteError",
    "LoadedEncoder",
    "RunCheckpoints",
    "backbone_state_dict",
    "check_checkpoint_file",
    "check_saved_dataset",
    "check_saved_settings",
    "checkpoint_kind",
    "detect_format",
    "detectron2_state_dict",
    "export_backbone",
    "export_format",
    "export_path",
    "export_problem",
    "exported_state_dict",
    "foreign_targets",
    "format_problem",
    "load_backbone_weights",
    "load_encoder",
    "load_pretrain_module",
    "read_checkpoint",
    "read_meta",
    "rebuild_snippet",
    "resolve_resume_checkpoint",
    "safe_name",
    "saved_config",
    "trusted_targets",
    "verify_resume_file",
]
