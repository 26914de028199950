"""Whitening losses for self-supervised learning: W-MSE, CW-RGP and INTL.

Public API for use outside the training pipeline::

    from whitening_ssl import Whitening, WhiteningMSELoss, whiten

The names are imported when first used (:mod:`whitening_ssl.lazy`), so ``python run.py --help`` and the
pre-run check start without importing torch.
"""

from typing import TYPE_CHECKING

from .lazy import lazy_namespace

if TYPE_CHECKING:
    from .losses import WhiteningMSELoss as WhiteningMSELoss
    from .losses import view_pair_mse as view_pair_mse
    from .whitening import WHITENING_AXES as WHITENING_AXES
    from .whitening import WHITENINGS as WHITENINGS
    from .whitening import Whitening as Whitening
    from .whitening import whiten as whiten

__getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)
