"""INTL (Weng et al., ICLR 2024, "Modulate Your Spectrum in Self-Supervised Learning"): iterative
normalisation of each view's embeddings over the (global) batch, and the trace loss.

Each view goes through the backbone and the projector with its own BatchNorm statistics; its
embedding ``[N, d]`` is normalised by the method's whitening (``method.whiten=iternorm``, ``iters``
Newton iterations, channel axis, one block per view over the whole batch: every process's part with
``method.gather``, INTL's default) and :class:`~whitening_ssl.losses.INTLLoss` pulls views 1.. to view
0 while the trace loss keeps the variances at 1. ``method.trade_off=auto`` is the authors' weight of the
trace loss (:func:`~whitening_ssl.losses.intl_trade_off`, from the global batch for channel
normalisation and the embedding size for batch normalisation).

``method.momentum_encoder`` (``intl_m``): view 0 goes through a momentum copy of backbone and projector
instead, without gradients, and its trace term is left out. The copy's parameters (not its BatchNorm
statistics, which it keeps from its own passes) follow ``p_k <- m p_k + (1 - m) p_q`` before each
step's forward, ``m = 1 - (1 - m_0)(1 + cos(pi step / steps)) / 2`` (``method.momentum_base`` = ``m_0``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..losses import INTLLoss, intl_trade_off
from ..schedules import byol_tau
from ..validation import Checks
from ..whitening import Whitening
from .base import PretrainModule
from .byol import momentum_update
from .family_checks import check_intl
from .gathering import GlobalBatch
from .outputs import LossOutput


class INTLMethod(GlobalBatch, PretrainModule):
    """Encoder + projector, iterative normalisation per view, the INTL loss; see the module docstring."""

    #: the method's own settings and their defaults
    OWN_SETTINGS: ClassVar[dict[str, Any]] = {
        "trade_off": "auto",  # the trace loss's weight: auto (the authors' rule) or a number
        "gather": True,  # DDP: normalise the global batch (all-gather with gradients), as the authors' code
        "momentum_encoder": False,  # intl_m: view 0 through a momentum copy of backbone + projector
        "momentum_base": 0.996,  # m_0 of the momentum's cosine schedule to 1
    }

    def __init__(
        self,
        backbone: Mapping[str, Any],
        method: Mapping[str, Any],
        num_views: int,
        dataset: Mapping[str, Any] | None = None,
        analysis: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(backbone, method, num_views, dataset, analysis)
        m = self.method
        self.whitening = Whitening.from_settings(m)
        self.loss_fn: INTLLoss | None = None  # its trade-off needs the global batch: made at the first step
        if m["momentum_encoder"]:
            self.momentum_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
            self.momentum_head = copy.deepcopy(self.head).requires_grad_(False)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        from ..settings.methods import FAMILY_DEFAULTS  # (the configuration's node: the same dict)

        return FAMILY_DEFAULTS["intl"]()

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        super().check_config(checks, method, data)
        check_intl(checks, method, data)

    # --- the momentum copy ----------------------------------------------------------------------------

    def training_views(self, views: list[Tensor]) -> list[Tensor]:
        return views[1:] if self.method["momentum_encoder"] else views

    @property
    def momentum(self) -> float:
        """``m`` now (from training progress, so it survives a resume)."""
        return byol_tau(self.training_progress, self.method["momentum_base"])

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        if self.method["momentum_encoder"]:  # before the step's forward, as the authors' code
            momentum_update(
                ((self.backbone, self.momentum_backbone), (self.head, self.momentum_head)),
                self.momentum,
                copy_buffers=False,
            )  # the copy's BatchNorm keeps its own statistics

    # --- the loss ---------------------------------------------------------------------------------------

    def trade_off(self, batch_size: int) -> float:
        """``method.trade_off``, or the authors' rule for the global batch of ``batch_size`` samples."""
        value = self.method["trade_off"]
        emb = self.method["emb"]
        return intl_trade_off(self.method["axis"], batch_size, emb) if value == "auto" else float(value)

    def whitened_blocks(self, embeddings: Tensor) -> Tensor | None:
        """Each view normalised over the whole batch, as the loss does: one block per view."""
        return self.whitening(embeddings.float())[None]

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        momentum = self.method["momentum_encoder"]
        if self.loss_fn is None:
            world = self.trainer.world_size if self._trainer is not None and not self.gathering() else 1
            self.loss_fn = INTLLoss(
                self.trade_off(embeddings.shape[1] * world), self.method["axis"], anchor_trace=not momentum
            )
        if momentum:
            with torch.no_grad():
                anchor = self.gather_embeddings(self.encode(views[:1], self.momentum_backbone, self.momentum_head))
            embeddings = torch.cat([anchor, embeddings])
        normalised = self.whitening(embeddings)  # [V, N, d]: each view one block over the whole batch
        return LossOutput(self.loss_fn(normalised), whitened=normalised.detach()[None] if measure else None)
