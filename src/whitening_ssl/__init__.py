"""Whitening losses for self-supervised learning: W-MSE, CW-RGP and INTL.

Public API for use outside the training pipeline::

    from whitening_ssl import Whitening, WhiteningMSELoss, whiten

The names are imported when first used (PEP 562), so ``python run.py --help`` and the configuration's
modules start without importing torch.
"""

import importlib
from typing import Any

_PUBLIC = {
    "WhiteningMSELoss": ".losses",
    "view_pair_mse": ".losses",
    "WHITENING_AXES": ".whitening",
    "WHITENINGS": ".whitening",
    "Whitening": ".whitening",
    "whiten": ".whitening",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
