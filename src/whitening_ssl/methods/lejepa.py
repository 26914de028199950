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
from ..losses.sigreg import CENTRES, LeJEPALoss
from ..validation import Checks
from .base import PretrainModule
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
        lam = checks.number(method, "lam", "method.lam", minimum=0.0)
        if lam is not None and lam > 1:
            checks.add(f"method.lam={lam} must be at most 1 (L = lam SIGReg + (1 - lam) invariance)")
        checks.choice(method, "centre", "method.centre", CENTRES)
        global_views = checks.integer(method, "global_views", "method.global_views", minimum=1)
        views = checks.integer(data, "num_views", "data.num_views", minimum=2)
        if global_views and views and global_views > views:
            checks.add(f"method.global_views={global_views} is more than data.num_views={views}")
        if checks.get(method, "sigreg_weight", "method.sigreg_weight", default=0.0):
            checks.add(
                "method.sigreg_weight adds a second SIGReg to LeJEPA, whose method.lam weighs its own: "
                "set method.sigreg_weight=0"
            )
        from ..losses.sigreg import check_sigreg_settings

        problem = check_sigreg_settings(
            *(checks.get(method, f"sigreg_{key}", f"method.sigreg_{key}") for key in ("slices", "knots", "t_max"))
        )
        if problem:
            checks.add(f"method.{problem}")

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        directions = self.sigreg_directions(embeddings.shape[-1], embeddings.device)
        return LossOutput(self.loss_fn(embeddings, directions, *self.sigreg_reduce()))
