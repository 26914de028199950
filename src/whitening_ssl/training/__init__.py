"""What keeps a long pretraining run safe: checkpoints, divergence detection, reproducible resume."""

from .checkpointing import CHECKPOINT_DIR, LAST_CHECKPOINT, RunCheckpoints, read_meta, resolve_resume_checkpoint
from .progress_lines import ProgressLines
from .nonfinite import NonFiniteLossError, NonFiniteWatch, TrainingDivergedError, WhiteningFailedError
from .rng import capture_rng_state, preserved_rng, restore_rng_state

__all__ = [
    "CHECKPOINT_DIR",
    "LAST_CHECKPOINT",
    "NonFiniteLossError",
    "NonFiniteWatch",
    "ProgressLines",
    "RunCheckpoints",
    "TrainingDivergedError",
    "WhiteningFailedError",
    "capture_rng_state",
    "preserved_rng",
    "read_meta",
    "resolve_resume_checkpoint",
    "restore_rng_state",
]
