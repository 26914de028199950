"""SimSiam (Chen & He, CVPR 2021) as the paper's baseline: projector, predictor, stop-gradient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..losses import SimSiamLoss
from ..models import Predictor, SimSiamProjector
from ..validation import Checks
from .base import PretrainModule
from .family_checks import check_simsiam
from .outputs import LossOutput


class SimSiamMethod(PretrainModule):
    """Projector ``3 x [Linear(no bias), BN]`` with ReLU between (last BN without affine), hidden
    ``head_size``; predictor ``Linear(emb, pred_hidden, no bias)-BN-ReLU-Linear(emb)``; negative
    cosine against the detached other branch. BatchNorm per view follows ``method.head_per_view``."""

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
        self.predictor = self.per_view_head(Predictor(m["emb"], m["pred_hidden"], bias=False))
        self.loss_fn = SimSiamLoss()

    def build_head(self) -> nn.Module:
        return SimSiamProjector(self.feature_dim, self.method["emb"], self.method["head_size"])

    @classmethod
    def check_config(cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        super().check_config(checks, method, data)
        check_simsiam(checks, method, data)

    def compute_loss(self, embeddings: Tensor, views: list[Tensor], measure: bool = False) -> LossOutput:
        num_views, batch, emb = embeddings.shape
        predictions = self.predictor(embeddings.reshape(-1, emb)).view(num_views, batch, -1)
        return LossOutput(self.loss_fn(predictions, embeddings))
