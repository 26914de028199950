"""LeJEPA (Balestriero & LeCun, 2025; code rbalestr-lab/lejepa): SIGReg on the projector outputs plus the
prediction term that pulls every view towards the mean of the global views (:class:`~whitening_ssl.losses.
LeJEPALoss`); no predictor, no momentum encoder, no stop-gradient. The SIGReg directions and the slices'
settings are the shared ``method.sigreg_*`` ones (:mod:`whitening_ssl.methods.extras`): ``sigreg_weight``
stays 0, ``method.lam`` weighs LeJEPA's own SIGReg. Views: the first ``method.global_views`` are global
(multi-crop recipes put the large crops first).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ..losses import loss_defaults
from ..losses.sigreg import LeJEPALoss
from ..validation import Checks
from .base import PretrainModule
from .family_checks import check_lejepa
from .outputs import LossOutput


class LeJEPAMethod(PretrainModule):
    """See the module docstring."""

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
        self.loss_fn = LeJEPALoss(m["lam"], m["global_views"], m["centre"], m["sigreg_knots"], m["sigreg_t_max"])

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        own = loss_defaults(LeJEPALoss)
        return {"family": "lejepa", **{key: own[key] for key in ("lam", "global_views", "centre")}}

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        super().check_config(checks, method, data)
        check_lejepa(checks, method, data)

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        directions = self.sigreg_directions(embeddings.shape[-1], embeddings.device)
        return LossOutput(self.loss_fn(embeddings, directions, *self.sigreg_reduce()))
