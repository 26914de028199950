"""The losses' settings rules, without torch: each loss's constructor and the pre-run check call these.

A rule returns why its settings cannot work (one line) or ``None`` (a list of lines where there may be
several). :data:`LOSS_RULES` gives the constructor rule of each loss of ``method.loss`` by its name in
:data:`~whitening_ssl.losses.LOSSES`; :func:`loss_node_problem` checks a ``method.loss`` node of a
registered loss as building it would, from the source text of its constructor's signature
(:mod:`whitening_ssl.settings.source`), nothing imported.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..validation import Checks

BARLOW_SCALES = ("embedding", "batch")
BARLOW_NORMALIZATIONS = ("learnable", "fixed")
VICREG_CONVENTIONS = {
    # name: (factor on the sum of the two views' variance terms, factor on the covariance terms)
    "paper": (1.0, 1.0),  # CW-RGP's base/methods/vicreg.py: both summed over the two views
    "official": (0.5, 1.0),  # facebookresearch/vicreg main_vicreg.py: variance averaged, cov summed
    "mean": (0.5, 0.5),  # both averaged over the two views
}
#: where the invariance term's centre comes from (LeJEPA's prediction term)
CENTRES = ("global", "all")
_PACKAGE = __name__.rpartition(".")[0]  # whitening_ssl.losses


def ntxent_problem(temperature: Any) -> str | None:
    if temperature <= 0:
        return f"temperature must be positive, got {temperature}"
    return None


def barlow_twins_problem(scale: Any, normalization: Any, num_features: Any) -> str | None:
    if scale not in BARLOW_SCALES:
        return f"unknown Barlow Twins scale {scale!r}: use one of {', '.join(BARLOW_SCALES)}"
    if normalization not in BARLOW_NORMALIZATIONS:
        return f"unknown Barlow Twins normalization {normalization!r}: use one of {', '.join(BARLOW_NORMALIZATIONS)}"
    if normalization == "learnable" and not num_features:
        return "the learnable Barlow Twins BatchNorm needs num_features (the embedding size)"
    return None


def vicreg_problem(convention: Any) -> str | None:
    if convention not in VICREG_CONVENTIONS:
        return f"unknown VICReg convention {convention!r}: use one of {', '.join(VICREG_CONVENTIONS)}"
    return None


def zero_cl_problem(shrinkage: Any) -> str | None:
    if not 0.0 <= shrinkage < 1.0:
        return f"Zero-ICL shrinkage must be in [0, 1), got {shrinkage}"
    return None


#: ``method.loss.name`` -> the rule of its constructor (its arguments by name); a loss without one has none
LOSS_RULES: dict[str, Callable[..., str | None]] = {
    "ntxent": ntxent_problem,
    "barlow_twins": barlow_twins_problem,
    "vicreg": vicreg_problem,
    "zero_cl": zero_cl_problem,
}


def loss_names() -> tuple[str, ...]:
    """The names of :data:`~whitening_ssl.losses.LOSSES`, in order, read from its source."""
    from ..settings import source

    return source.keys(f"{_PACKAGE.partition('.')[2]}.registry", "LOSSES")


def registered_target(target: Any) -> str | None:
    """The name in :data:`~whitening_ssl.losses.LOSSES` of the loss class that the dotted path ``target`` names
    (its public or defining module), or ``None``."""
    from ..settings import source

    for name, (module, cls) in source.registry(f"{_PACKAGE.partition('.')[2]}.registry", "LOSSES").items():
        if target in (f"{_PACKAGE}.{cls}", f"{_PACKAGE.partition('.')[0]}.{module}.{cls}"):
            return name
    return None


def loss_node_problem(name: str, arguments: Mapping[str, Any]) -> str | None:
    """Why the registered loss ``name`` cannot be built with ``arguments`` (its constructor's message), or
    ``None``: the arguments its signature does not take, then its rule."""
    from ..settings import source

    module, cls = source.registry(f"{_PACKAGE.partition('.')[2]}.registry", "LOSSES")[name]
    try:
        bound = source.signature(module, f"{cls}.__init__").bind(**arguments)
    except TypeError as error:
        return f"{cls}.__init__() {error}"
    bound.apply_defaults()
    rule = LOSS_RULES.get(name)
    if rule is None:
        return None
    return rule(**{key: bound.arguments[key] for key in inspect.signature(rule).parameters})


# --- the losses that a method family builds -----------------------------------------------------------------


def trade_off_problem(value: object) -> str | None:
    """Why ``value`` cannot be INTL's trace loss weight (a number >= 0), or ``None``."""
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        return f"trade_off={value!r} must be a number >= 0"
    return None


def check_resa_settings(temperature: object, sinkhorn_eps: object, sinkhorn_iters: object) -> list[str]:
    """Why these ReSA settings cannot work (one line each; empty: they can)."""
    problems = [
        f"{name}={value!r} must be a positive number (ReSA: temperature 0.4, sinkhorn_eps 0.05)"
        for name, value in (("temperature", temperature), ("sinkhorn_eps", sinkhorn_eps))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ]
    if isinstance(sinkhorn_iters, bool) or not isinstance(sinkhorn_iters, int) or sinkhorn_iters < 1:
        problems.append(f"sinkhorn_iters={sinkhorn_iters!r} must be a whole number >= 1 (ReSA: 3)")
    return problems


def check_sigreg_settings(slices: object, knots: object, t_max: object) -> str | None:
    """Why these SIGReg settings cannot work (one line), or ``None``."""
    if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
        return f"sigreg_slices={slices!r} must be a whole number >= 1 (LeJEPA: 1024)"
    if isinstance(knots, bool) or not isinstance(knots, int) or knots < 3 or knots % 2 == 0:
        return f"sigreg_knots={knots!r} must be an odd whole number >= 3 (LeJEPA: 17)"
    if isinstance(t_max, bool) or not isinstance(t_max, (int, float)) or not t_max > 0:
        return f"sigreg_t_max={t_max!r} must be a positive number (LeJEPA: 3)"
    return None


def lejepa_problem(lam: Any, centre: Any) -> str | None:
    """LeJEPA's loss: ``lam`` in [0, 1], a centre of :data:`CENTRES`."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam <= 1:
        return f"lam={lam!r} must be a number in [0, 1]"
    if centre not in CENTRES:
        return f"centre={centre!r} is not one of {', '.join(CENTRES)}"
    return None


def subbatch_problem(batch_size: int, w_size: int, path: str = "", batch_key: str = "data.batch_size") -> str | None:
    """Why a batch of ``batch_size`` samples cannot be cut into sub-batches of ``w_size``, or ``None``."""
    if batch_size % w_size:
        return (
            f"{batch_key}={batch_size} is not divisible by {path}w_size={w_size}: change one so that the batch "
            "is a multiple of w_size"
        )
    return None


def check_whitening_mse_loss(
    checks: Checks,
    settings: Mapping[str, Any],
    path: str = "",
    batch_size: int | None = None,
    batch_key: str = "data.batch_size",
) -> None:
    """The whitening MSE loss's settings (``w_size``, ``w_iter``, ``norm``; ``path`` their prefix) and, given
    the ``batch_size`` the loss will see, whether ``w_size`` divides it."""
    w_size = checks.integer(settings, "w_size", f"{path}w_size", minimum=2)
    checks.integer(settings, "w_iter", f"{path}w_iter", minimum=1)
    checks.boolean(settings, "norm", f"{path}norm")
    problem = None
    if batch_size is not None and w_size is not None:
        problem = subbatch_problem(batch_size, w_size, path, batch_key)
    if problem:
        checks.add(problem)
