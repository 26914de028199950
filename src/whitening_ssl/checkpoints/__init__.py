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

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from ..run_folder import safe_name as safe_name
    from .encoders import LoadedEncoder as LoadedEncoder
    from .encoders import load_backbone_weights as load_backbone_weights
    from .encoders import load_encoder as load_encoder
    from .encoders import load_pretrain_module as load_pretrain_module
    from .export_formats import EXPORT_FORMATS as EXPORT_FORMATS
    from .export_formats import detectron2_state_dict as detectron2_state_dict
    from .export_formats import export_backbone as export_backbone
    from .export_formats import export_format as export_format
    from .export_formats import export_path as export_path
    from .export_formats import export_problem as export_problem
    from .export_formats import exported_state_dict as exported_state_dict
    from .export_formats import format_problem as format_problem
    from .export_formats import rebuild_snippet as rebuild_snippet
    from .formats import CHECKPOINT_FORMATS as CHECKPOINT_FORMATS
    from .formats import LIGHTNING_PREFIX as LIGHTNING_PREFIX
    from .formats import PAPER_PREFIX as PAPER_PREFIX
    from .formats import backbone_state_dict as backbone_state_dict
    from .formats import check_checkpoint_file as check_checkpoint_file
    from .formats import checkpoint_kind as checkpoint_kind
    from .formats import detect_format as detect_format
    from .reading import SAFE_GLOBALS as SAFE_GLOBALS
    from .reading import CheckpointError as CheckpointError
    from .reading import read_checkpoint as read_checkpoint
    from .reading import saved_config as saved_config
    from .reading import verify_resume_file as verify_resume_file
    from .saved_settings import check_saved_dataset as check_saved_dataset
    from .saved_settings import check_saved_settings as check_saved_settings
    from .saved_settings import foreign_targets as foreign_targets
    from .saved_settings import trusted_targets as trusted_targets
    from .writing import CheckpointWriteError as CheckpointWriteError
    from .writing import RunCheckpoints as RunCheckpoints
    from .writing import read_meta as read_meta
    from .writing import resolve_resume_checkpoint as resolve_resume_checkpoint

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
