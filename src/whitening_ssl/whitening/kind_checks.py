"""What a whitening kind is, and its settings' rules, without torch: the pre-run check reads these.

:class:`WhiteningKind` and the :func:`whitening_kind` decorator make a kind of one function (the built-in
ones are in :mod:`whitening_ssl.whitening.kinds`); the built-in kinds' ``check`` functions live here, so
that :func:`builtin_kinds` can give the pre-run check every built-in kind's name, own settings and rules
from the source text of ``kinds.py`` (:mod:`whitening_ssl.settings.source`) without importing torch.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

    from ..validation import Checks

#: ``check(checks, settings, path)``: a kind's rules on its own settings
KindCheck = Callable[[Any, Mapping[str, Any], str], None]
#: ``check_shape(checks, settings, samples, channels, path)``: a kind's own rules on the block size
ShapeCheck = Callable[[Any, Mapping[str, Any], int, int, str], None]
KINDS = "whitening.kinds"


@dataclass(frozen=True)
class WhiteningKind:
    """One kind of whitening (see :mod:`whitening_ssl.whitening.kinds`)."""

    name: str
    transform: Callable[..., Tensor]
    uses_covariance: bool = True
    full_rank: bool = True
    check: KindCheck | None = None
    #: the kind's own size rules: ``check_shape(checks, settings, samples, channels, path)`` with the block
    #: size (``samples`` = ``w_size``, ``channels`` = ``emb``) and every ``method.*`` setting
    check_shape: ShapeCheck | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The kind's own settings and their defaults: ``transform``'s keyword-only parameters."""
        parameters = inspect.signature(self.transform).parameters.values()
        return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}

    def __call__(self, x: Tensor, eps: float, denom_offset: int, **settings: Any) -> Tensor:
        return self.transform(x, eps, denom_offset, **settings)


def whitening_kind(
    uses_covariance: bool = True,
    full_rank: bool = True,
    check: KindCheck | None = None,
    name: str | None = None,
    check_shape: ShapeCheck | None = None,
) -> Callable[[Callable[..., Tensor]], WhiteningKind]:
    """Decorator: a function ``transform(x, eps, denom_offset, *, settings...)`` as a :class:`WhiteningKind`."""

    def make(transform: Callable[..., Tensor]) -> WhiteningKind:
        return WhiteningKind(name or transform.__name__, transform, uses_covariance, full_rank, check, check_shape)

    return make


@dataclass(frozen=True)
class KindRules:
    """A built-in kind as the pre-run check knows it, read from ``kinds.py`` (no transform: nothing imported)."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    uses_covariance: bool = True
    full_rank: bool = True
    check: KindCheck | None = None
    check_shape: ShapeCheck | None = None


# --- the built-in kinds' rules ------------------------------------------------------------------------------

#: ZCA's ways to compute ``S^-1/2``: ``eigh`` (one batched eigendecomposition, closed-form backward,
#: exact) or ``newton`` (coupled Newton-Schulz iterations, matrix products only, for when many small
#: eigendecompositions are the bottleneck; see :func:`~whitening_ssl.whitening.linalg.newton_schulz_inverse_sqrt`)
ZCA_SOLVERS = ("eigh", "newton")


def check_zca(checks: Checks, settings: Mapping[str, Any], path: str) -> None:
    checks.choice(settings, "solver", f"{path}solver", ZCA_SOLVERS)
    checks.integer(settings, "newton_iters", f"{path}newton_iters", minimum=1)


def check_iternorm(checks: Checks, settings: Mapping[str, Any], path: str) -> None:
    checks.integer(settings, "iters", f"{path}iters", minimum=1)


@functools.cache
def builtin_kinds() -> dict[str, KindRules]:
    """Every built-in kind, in ``kinds.py``'s order, from its source text: the decorator's arguments (its
    defaults where not given), the function's keyword-only settings, its rules (functions of this module)."""
    from ..settings import source

    defaults = source.parameters(__name__.partition(".")[2], "whitening_kind")
    found = {}
    for function in source.decorated(KINDS, "whitening_kind"):
        given = {**defaults, **source.decorator_keywords(KINDS, function, "whitening_kind")}
        rules = {key: getattr(sys.modules[__name__], given[key]) for key in ("check", "check_shape") if given[key]}
        name = given["name"] or function
        found[name] = KindRules(
            name,
            source.parameters(KINDS, function, keyword_only=True),
            given["uses_covariance"],
            given["full_rank"],
            **rules,
        )
    return found


def known_kinds() -> Mapping[str, Any]:
    """The registry of kinds (:data:`~whitening_ssl.whitening.kinds.WHITENINGS`) where it is imported already
    (torch is), else :func:`builtin_kinds`: the same names, settings and rules."""
    kinds = sys.modules.get(f"{__package__}.kinds")
    return kinds.WHITENINGS if kinds is not None else builtin_kinds()
