"""What any method can add to its encoder and loss: a whitening layer after the pooled backbone
(``method.feature_whitening``) and the SIGReg term (``method.sigreg_weight``), in one place.

Settings (:meth:`EncoderExtras.extras_settings`, the configuration node ``method/_shared/extras`` that
``conf/method/_shared/head.yaml`` composes): ``feature_whitening`` (a whitening kind, or null: off),
``feature_whitening_momentum``, ``feature_whitening_eps``, ``feature_whitening_<setting>`` (the kinds' own,
e.g. ``feature_whitening_iters=5``), ``feature_whitening_eval`` (``whitened``: the evaluation reads the layer's
output with its running statistics, as the source; ``raw``: the backbone's); ``sigreg_weight`` (``L +
w SIGReg(embeddings)``, 0: off), ``sigreg_slices``, ``sigreg_knots``, ``sigreg_t_max``, ``sigreg_gather``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..losses.sigreg import SIGReg, sigreg_directions
from ..validation import Checks
from ..whitening.kinds import WHITENINGS
from ..whitening.layer import EVALUATE, FeatureWhitening
from .extras_checks import check_extras_settings, kind_settings
from .gathering import all_reduce_mean
from .outputs import LossOutput


def layer_from_settings(dim: int, method: Mapping[str, Any]) -> FeatureWhitening | None:
    """The layer ``method.feature_whitening`` asks for (``None``: off), with the chosen kind's settings only."""
    kind = method.get("feature_whitening")
    if not kind:
        return None
    own = WHITENINGS[kind].settings if kind in WHITENINGS else {}
    return FeatureWhitening(
        dim,
        kind,
        method["feature_whitening_momentum"],
        method["feature_whitening_eps"],
        0,
        **{key: value for key, value in kind_settings(method).items() if key in own},
    )


class EncoderExtras:
    """Mixed into :class:`~whitening_ssl.methods.PretrainModule` (see the module docstring)."""

    # the module's, which this mixin reads
    method: dict[str, Any]
    feature_dim: int
    backbone: nn.Module
    global_step: int

    #: the method's loss works on views' embeddings ``[V, N, d]`` (SIGReg averages over them)
    VIEW_EMBEDDINGS = True

    @staticmethod
    def extras_settings() -> dict[str, Any]:
        """Every setting with its default: the layer's and SIGReg's signatures', each kind's own settings."""
        layer = inspect.signature(FeatureWhitening.__init__).parameters
        sigreg = inspect.signature(SIGReg.__init__).parameters
        kinds = {
            f"feature_whitening_{key}": value for kind in WHITENINGS.values() for key, value in kind.settings.items()
        }
        return {
            "feature_whitening": None,
            "feature_whitening_momentum": layer["momentum"].default,
            "feature_whitening_eps": layer["eps"].default,
            **kinds,
            "feature_whitening_eval": EVALUATE[0],
            "sigreg_weight": 0.0,
            "sigreg_slices": 1024,
            "sigreg_knots": sigreg["knots"].default,
            "sigreg_t_max": sigreg["t_max"].default,
            "sigreg_gather": True,
        }

    def setup_extras(self) -> None:
        m = self.method
        self.feature_whitening = layer_from_settings(self.feature_dim, m)
        self.sigreg = SIGReg(m.get("sigreg_knots", 17), m.get("sigreg_t_max", 3.0)) if m.get("sigreg_weight") else None

    @classmethod
    def check_extras(
        cls, checks: Checks, method: Mapping[str, Any], data: Mapping[str, Any], feature_dim: int | None = None
    ) -> None:
        """The settings' rules (:func:`~whitening_ssl.methods.extras_checks.check_extras_settings`, which the
        pre-run check calls too); ``feature_dim``: the backbone's, for the singular-covariance check."""
        check_extras_settings(checks, method, data, feature_dim, cls.VIEW_EMBEDDINGS)

    # --- the layer -------------------------------------------------------------------------------------

    def whiten_features(self, features: Tensor, num_views: int, backbone: nn.Module) -> Tensor:
        """``features [V N, f]`` through the layer, each view over its own samples; the running statistics
        follow the online backbone's passes (a momentum copy's own layer, where a method has one, its own)."""
        layer = getattr(self, "feature_whitening", None)  # (None also for a module built without __init__)
        if layer is None:
            return features
        track = backbone is self.backbone
        own = getattr(self, "momentum_feature_whitening", None)
        if not track and own is not None:
            layer, track = own, True
        shaped = features.view(num_views, -1, features.shape[-1])
        return layer(shaped, track=track).reshape(features.shape).to(features.dtype)

    def evaluated_encoder(self) -> nn.Module:
        """What the evaluation embeds images with: the backbone, then the layer when it reads whitened features."""
        return self.with_layer(self.backbone, self.feature_whitening)

    def with_layer(self, backbone: nn.Module, layer: FeatureWhitening | None) -> nn.Module:
        """``backbone`` followed by ``layer`` (evaluation mode: running statistics), unless the evaluation
        reads the raw features (``method.feature_whitening_eval=raw``) or there is no layer."""
        if layer is None or self.method.get("feature_whitening_eval") == "raw":
            return backbone
        return nn.Sequential(backbone, _Flat(layer))

    # --- SIGReg -----------------------------------------------------------------------------------------

    def sigreg_directions(self, dim: int, device: torch.device) -> Tensor:
        """This step's directions: seeded by the run's seed and the global step (the same after a resume and
        on every process)."""
        return sigreg_directions(dim, self.method["sigreg_slices"], torch.initial_seed(), self.global_step, device)

    def sigreg_reduce(self) -> tuple[Callable[[Tensor], Tensor] | None, int]:
        """``(all_reduce_mean, world_size)`` of ``method.sigreg_gather`` under DDP, else ``(None, 1)``."""
        if (
            self.method.get("sigreg_gather")
            and dist.is_available()
            and dist.is_initialized()
            and dist.get_world_size() > 1
        ):
            return all_reduce_mean, dist.get_world_size()
        return None, 1

    def add_sigreg(self, output: LossOutput, embeddings: Tensor) -> LossOutput:
        """``output`` with ``loss + method.sigreg_weight x SIGReg(embeddings)`` and the term logged as
        ``train/sigreg`` (``output`` itself when the weight is 0)."""
        if self.sigreg is None:
            return output
        value = self.sigreg(
            embeddings, self.sigreg_directions(embeddings.shape[-1], embeddings.device), *self.sigreg_reduce()
        )
        return replace(
            output,
            loss=output.loss + self.method["sigreg_weight"] * value,
            terms={**output.terms, "train/sigreg": value.detach()},
        )


class _Flat(nn.Module):
    """The layer on ``[N, f]`` features (one block)."""

    def __init__(self, layer: FeatureWhitening) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x, track=False)
