"""INTL's loss (Weng et al., ICLR 2024, "Modulate Your Spectrum in Self-Supervised Learning").

Every view ``t_v`` (``[N, d]``) is the embedding after iterative normalisation
(:func:`whitening_ssl.whitening.kinds.iternorm`), taken over the whole batch. View 0 is the anchor:

    loss = 1 / (V - 1) sum_{i >= 1} [ nmse(t_i, t_0) + trade_off (TL(t_i) + TL(t_0)) ]
    nmse(a, b) = 2 - 2 mean_n cos(a_n, b_n)

With a momentum encoder (``intl_m``) the anchor comes from it, without gradients, and its trace term
is left out: ``1 / (V - 1) sum_{i >= 1} [nmse(t_i, t_0) + trade_off TL(t_i)]``.

The trace loss ``TL(t)`` pushes the variances along the normalised axis to 1: for batch
normalisation, the variance of each of the ``d`` channels over the ``N`` samples; for channel
normalisation (the default), the variance of each sample over its ``d`` channels,
``TL(t) = sum_j (v_j - 1)^2`` with ``v_j = sum_rows (x - mean)^2 / (rows - 1)`` (``x`` is ``t``, or
``t^T`` for the channel axis). Its weight follows the authors' rule (:func:`intl_trade_off`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..numerics import float32_math
from ..whitening.settings_checks import WHITENING_AXES
from ._views import Views, as_views
from .loss_rules import trade_off_problem
from .pairs import view_pairs


def trace_loss(t: Tensor, axis: str) -> Tensor:
    """``TL`` of every leading index of ``t`` (``[..., N, d]``) along ``axis``: ``[...]``."""
    x = t.transpose(-1, -2) if axis == "channel" else t  # rows: observations
    x = x - x.mean(dim=-2, keepdim=True)
    variances = x.square().sum(dim=-2) / (x.shape[-2] - 1)
    return (variances - 1).square().sum(dim=-1)


def intl_trade_off(axis: str, batch_size: int, emb: int) -> float:
    """The authors' weight of the trace loss: ``(log2(global batch) - 3) / 100`` for channel normalisation,
    ``(log2(embedding size) - 3) / 100`` for batch normalisation (0.05 for a batch of 256)."""
    size = batch_size if axis == "channel" else emb
    return (math.log2(size) - 3) * 0.01


class INTLLoss(nn.Module):
    """The INTL loss of normalised views ``[V, N, d]`` (``V >= 2``; view 0 the anchor) -> scalar; see the module.

    Args:
        trade_off: the trace loss's weight (:func:`intl_trade_off` gives the authors' value).
        axis: ``channel`` or ``batch``: the axis the views were normalised along.
        anchor_trace: add the anchor's trace loss (``False``: the momentum variant, whose anchor has no gradient).
    """

    def __init__(self, trade_off: float, axis: str = "channel", anchor_trace: bool = True) -> None:
        super().__init__()
        if axis not in WHITENING_AXES:
            raise ValueError(f"axis={axis!r} is not available: use one of {', '.join(WHITENING_AXES)}")
        problem = trade_off_problem(trade_off)
        if problem:
            raise ValueError(problem)
        self.trade_off, self.axis, self.anchor_trace = float(trade_off), axis, anchor_trace

    def forward(self, t: Views) -> Tensor:
        t = as_views(t)
        with float32_math(t.device.type):
            t = t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
            others, anchor = view_pairs(F.normalize(t, dim=-1), to_first=True)  # [V - 1, N, d] each
            similarity = 2 - 2 * (others * anchor).sum(-1).mean(-1)  # [V - 1]
            traces = trace_loss(t, self.axis)  # [V]: once per view
            per_view = similarity + self.trade_off * traces[1:]
            if self.anchor_trace:
                per_view = per_view + self.trade_off * traces[0]
            return per_view.mean()

    def extra_repr(self) -> str:
        return f"trade_off={self.trade_off}, axis={self.axis}, anchor_trace={self.anchor_trace}"
