"""What keeps a long pretraining run sound: divergence detection and the random state a resume restores
(the checkpoints themselves: :mod:`whitening_ssl.checkpoints`)."""

from .nonfinite import NonFiniteLossError, NonFiniteWatch, TrainingDivergedError, WhiteningFailedError
from .progress_lines import ProgressLines
from .rng import capture_rng_state, preserved_rng, restore_rng_state

__all__ = [
    "NonFiniteLossError",
    "NonFiniteWatch",
    "ProgressLines",
    "TrainingDivergedError",
    "WhiteningFailedError",
    "capture_rng_state",
    "preserved_rng",
    "restore_rng_state",
]
