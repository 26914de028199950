"""The pre-run check of ``method.*`` (and the ``data.*`` it depends on), without torch for a built-in family.

:func:`check_method_settings` records what the family's class would record (``check_config`` and
``check_extras``): for a built-in family (a key of :data:`~whitening_ssl.methods.METHODS`, read from its
source) it calls the same torch-free rules the classes call (:mod:`.family_checks`, :mod:`.extras_checks`),
so ``python run.py check=true`` needs neither torch nor Lightning; a family of the user's own
(``method.family=module.Class``) is imported (with torch) and checked by its class, a failure of its own
code in one line (:func:`whitening_ssl.own_code.check_method`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..plugins import LookupFailed, is_import_path, lookup
from ..settings import source
from .extras_checks import check_extras_settings
from .family_checks import FAMILY_RULES, check_common

if TYPE_CHECKING:
    from ..validation import Checks

REGISTRY = (f"{__package__.partition('.')[2]}.registry", "METHODS")


def view_embeddings(module: str, cls: str) -> bool:
    """A built-in family's ``VIEW_EMBEDDINGS`` (its class's, else the mixin's), read from the source."""
    try:
        return bool(source.constant(module, f"{cls}.VIEW_EMBEDDINGS"))
    except LookupError:
        return bool(source.constant(f"{REGISTRY[0].rpartition('.')[0]}.extras", "EncoderExtras.VIEW_EMBEDDINGS"))


def check_method_settings(
    checks: Checks,
    method: Mapping[str, Any],
    data: Mapping[str, Any],
    feature_dim: int | Callable[[], int | None] | None,
) -> None:
    """Record every problem of ``method.*`` in ``checks``; ``feature_dim``: the backbone's feature size (for
    the layer's singular-covariance rule), or a function that computes it where that rule needs it (it
    imports torch), ``None`` when unknown."""
    family = checks.get(method, "family", "method.family")
    if family is None:
        return
    families = source.registry(*REGISTRY)
    if isinstance(family, str) and family in families:
        check_common(checks, method, data)
        rules = FAMILY_RULES.get(family)
        if rules is not None:
            rules(checks, method, data)
        check_extras_settings(checks, method, data, feature_dim, view_embeddings(*families[family]))
        return
    try:
        if not is_import_path(family):
            lookup(families, family, "method.family")  # raises: the unknown name's one line
        from ..own_code import check_method
        from .registry import get_method

        method_class = get_method(family)  # the user's own: imported, with torch
    except LookupFailed as error:
        checks.add(str(error))
        return
    check_method(checks, method_class, family, method, data)
    method_class.check_extras(checks, method, data, feature_dim() if callable(feature_dim) else feature_dim)
