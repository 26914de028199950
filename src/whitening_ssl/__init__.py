"""Whitening losses for self-supervised learning: W-MSE and CW-RGP.

Public API for use outside the training pipeline::

    from whitening_ssl import Whitening, WhiteningMSELoss, whiten
"""

from .losses import WhiteningMSELoss, view_pair_mse
from .whitening import WHITENING_AXES, WHITENINGS, Whitening, whiten

__all__ = ["WHITENING_AXES", "WHITENINGS", "Whitening", "WhiteningMSELoss", "view_pair_mse", "whiten"]
