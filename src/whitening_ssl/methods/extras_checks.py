"""The rules of what any method can add (``method.feature_whitening*``, ``method.sigreg_*``; see
:mod:`whitening_ssl.methods.extras`), without torch: :meth:`EncoderExtras.check_extras
<whitening_ssl.methods.extras.EncoderExtras.check_extras>` and the pre-run check call them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..losses.loss_rules import check_sigreg_settings
from ..whitening.kind_checks import known_kinds
from ..whitening.settings_checks import check_whitening, layer_problem

if TYPE_CHECKING:
    from ..validation import Checks


def kind_settings(method: Mapping[str, Any], kinds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The layer's kind's own settings: ``method.feature_whitening_<setting>`` of every registered kind."""
    return {
        key: method[f"feature_whitening_{key}"]
        for kind in (known_kinds() if kinds is None else kinds).values()
        for key in kind.settings
        if f"feature_whitening_{key}" in method
    }


def check_extras_settings(
    checks: Checks,
    method: Mapping[str, Any],
    data: Mapping[str, Any],
    feature_dim: int | Callable[[], int | None] | None = None,
    view_embeddings: bool = True,
) -> None:
    """The settings' rules; ``feature_dim``: the backbone's, for the singular-covariance check;
    ``view_embeddings``: the method's loss works on the views' embeddings (SIGReg needs them)."""
    kinds = known_kinds()
    kind = checks.get(method, "feature_whitening", "method.feature_whitening", default=None)
    if kind:
        try:
            problem = layer_problem(
                kind,
                checks.get(method, "feature_whitening_momentum", "method.feature_whitening_momentum"),
                checks.get(method, "feature_whitening_eval", "method.feature_whitening_eval"),
                kinds,
            )
        except Exception as error:  # an unknown kind: the lookup's line
            problem = str(error)
        if problem:
            checks.add(f"method.{problem}")
        else:
            settings = {
                "whiten": kind,
                "axis": "batch",
                "groups": 1,
                "random_groups": False,
                "denom_offset": 0,
                "eps": checks.get(method, "feature_whitening_eps", "method.feature_whitening_eps"),
                **kind_settings(method, kinds),
            }
            check_whitening(checks, settings, "method.feature_whitening_", kinds)
            batch = checks.get(data, "batch_size", "data.batch_size")
            full_rank = getattr(kinds.get(str(kind)), "full_rank", False)
            if callable(feature_dim) and full_rank:  # computed only here (it imports torch)
                feature_dim = feature_dim()
            if full_rank and isinstance(feature_dim, int) and isinstance(batch, int) and batch <= feature_dim:
                checks.add(
                    f"method.feature_whitening={kind} whitens each view's {feature_dim}-d backbone "
                    f"features over data.batch_size={batch} samples: the covariance is singular; "
                    f"use data.batch_size >= {feature_dim + 1} or method.feature_whitening=iternorm"
                )
    weight = checks.number(method, "sigreg_weight", "method.sigreg_weight", minimum=0.0, default=0.0)
    if weight:
        problem = check_sigreg_settings(
            checks.get(method, "sigreg_slices", "method.sigreg_slices"),
            checks.get(method, "sigreg_knots", "method.sigreg_knots"),
            checks.get(method, "sigreg_t_max", "method.sigreg_t_max"),
        )
        if problem:
            checks.add(f"method.{problem}")
        views = checks.get(data, "num_views", "data.num_views", default=None)
        if not view_embeddings or not isinstance(views, int) or views < 1:
            checks.add(
                f"method.sigreg_weight={weight} needs a method whose loss takes the views' embeddings "
                f"(method.family={method.get('family')}, data.num_views={views}): set "
                "method.sigreg_weight=0"
            )
