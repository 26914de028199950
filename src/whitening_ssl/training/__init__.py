"""What keeps a long pretraining run sound: divergence detection and the random state a resume restores
(the checkpoints themselves: :mod:`whitening_ssl.checkpoints`)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_namespace

if TYPE_CHECKING:
    from .nonfinite import NonFiniteLossError as NonFiniteLossError
    from .nonfinite import NonFiniteWatch as NonFiniteWatch
    from .nonfinite import TrainingDivergedError as TrainingDivergedError
    from .nonfinite import WhiteningFailedError as WhiteningFailedError
    from .progress_lines import ProgressLines as ProgressLines
    from .rng import capture_rng_state as capture_rng_state
    from .rng import preserved_rng as preserved_rng
    from .rng import restore_rng_state as restore_rng_state

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
