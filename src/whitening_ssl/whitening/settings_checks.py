"""The whitening transform's and the whitening layer's settings rules, without torch.

Each rule is written once here: :class:`~whitening_ssl.whitening.Whitening` (its constructor, ``check`` and
``check_shape``), :class:`~whitening_ssl.whitening.layer.FeatureWhitening` and the pre-run check
(:mod:`whitening_ssl.methods.method_checks`) all call these functions. ``kinds`` is the registry the kind
is looked up in: :data:`~whitening_ssl.whitening.kinds.WHITENINGS`, or, where torch is not imported, the
same kinds read from the source (:func:`~whitening_ssl.whitening.kind_checks.known_kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..plugins import LookupFailed, is_import_path, lookup
from .kind_checks import KindRules, WhiteningKind, known_kinds

if TYPE_CHECKING:
    from ..validation import Checks

WHITENING_AXES = ("batch", "channel")
#: the transform's own settings besides the kind (configuration keys ``method.<setting>``)
GENERIC_SETTINGS = ("axis", "groups", "random_groups", "eps", "denom_offset")
#: which features the evaluation reads with a layer: its output (running statistics) or the backbone's
EVALUATE = ("whitened", "raw")

Kind = WhiteningKind | KindRules


def find_kind(name: Any, key: str = "whiten", kinds: Mapping[str, Any] | None = None) -> Any:
    """The kind called ``name`` in ``kinds`` (default :func:`known_kinds`), or ``module.function`` of your own
    (imported: a :class:`WhiteningKind`); raises :class:`~whitening_ssl.plugins.LookupFailed` (one line)."""
    if isinstance(name, (WhiteningKind, KindRules)):
        return name
    return lookup(known_kinds() if kinds is None else kinds, name, key, expected=WhiteningKind)


def check_whitening(
    checks: Checks, settings: Mapping[str, Any], path: str = "", kinds: Mapping[str, Any] | None = None
) -> Any:
    """Record every problem of ``settings`` (configuration keys: ``whiten``, ``axis``, ...; ``path`` is their
    prefix, e.g. ``method.``) in ``checks``; returns the kind when it exists."""
    kinds = known_kinds() if kinds is None else kinds
    name = checks.get(settings, "whiten", f"{path}whiten")
    kind = None
    if name is not None:
        try:
            kind = find_kind(name, f"{path}whiten", kinds)
        except LookupFailed as error:
            checks.add(str(error))
    checks.choice(settings, "axis", f"{path}axis", WHITENING_AXES)
    checks.integer(settings, "groups", f"{path}groups", minimum=1)
    checks.boolean(settings, "random_groups", f"{path}random_groups")
    checks.number(settings, "eps", f"{path}eps", minimum=0.0, below=1.0)
    checks.integer(settings, "denom_offset", f"{path}denom_offset", minimum=0)
    if kind is None:
        return None
    for other in kinds.values():  # another kind's setting changed: it would do nothing
        for key, default in other.settings.items():
            if other is not kind and key not in kind.settings and key in settings and settings[key] != default:
                checks.add(
                    f"{path}{key}={settings[key]} applies to {path}whiten={other.name} only "
                    f"({path}whiten={kind.name}): remove it or use {path}{key}={default}"
                )
    if kind.check is not None:
        kind.check(checks, {**kind.settings, **{k: settings[k] for k in kind.settings if k in settings}}, path)
    return kind


def check_whitening_shape(
    checks: Checks,
    settings: Mapping[str, Any],
    samples: int,
    channels: int,
    path: str = "",
    samples_key: str = "w_size",
    channels_key: str = "emb",
    kinds: Mapping[str, Any] | None = None,
) -> None:
    """The block shape ``[samples, channels]`` the settings can whiten: groups that divide the channels, for
    kinds that factorise the covariance one that is not singular, and the kind's own size rules; a kind of the
    user's own is called once on a block of that shape (:mod:`whitening_ssl.own_code`, which imports torch)."""
    kind, axis, groups = settings.get("whiten"), settings.get("axis"), settings.get("groups")
    m, d = f"{path}{samples_key}", f"{path}{channels_key}"
    if not isinstance(groups, int) or groups < 1:
        return
    if channels % groups:
        checks.add(
            f"{d}={channels} is not divisible by {path}groups={groups}: choose groups that divide the embedding size"
        )
        return
    try:
        spec = find_kind(kind, "whiten", kinds)
    except LookupFailed:
        return
    if spec.check_shape is not None:  # the kind's own size rules
        spec.check_shape(checks, settings, samples, channels, path)
    if is_import_path(kind):  # the user's own code: called once on a block of this run's size
        from ..own_code import probe_kind

        probe_kind(checks, spec, settings, samples, channels, path)
    per_group = channels // groups
    if spec.full_rank and axis == "channel" and per_group <= samples:
        checks.add(
            f"channel whitening needs {d} / {path}groups > {m} (the {samples}x{samples} covariance over "
            f"{per_group} channels per group is singular): raise {d}, lower {path}groups or lower {m} "
            f"({channels_key}={channels}, groups={groups}, {samples_key}={samples})"
        )
    if spec.full_rank and axis == "batch" and samples <= per_group:
        checks.add(
            f"batch whitening needs {m} > {d} / {path}groups (the {per_group}x{per_group} covariance "
            f"from {samples} samples is singular): raise {m} or {path}groups, or lower {d} "
            f"({channels_key}={channels}, groups={groups}, {samples_key}={samples})"
        )


def running_kinds() -> tuple[str, ...]:
    """The kinds that have a running form, so can be a layer: the keys of ``layer.RUNNING_MATRICES``."""
    from ..settings import source

    return source.keys(f"{__name__.partition('.')[2].rpartition('.')[0]}.layer", "RUNNING_MATRICES")


def layer_problem(kind: Any, momentum: Any, evaluate: Any, kinds: Mapping[str, Any] | None = None) -> str | None:
    """Why a layer of these settings cannot be made (one line), or ``None``; an unknown kind raises
    :class:`~whitening_ssl.plugins.LookupFailed`."""
    name = getattr(find_kind(kind, "feature_whitening", kinds), "name", kind)
    running = running_kinds()
    if name not in running:
        return f"feature_whitening={kind} has no running form for evaluation: use one of {', '.join(running)}"
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 < momentum <= 1:
        return f"feature_whitening_momentum={momentum!r} must be a number in (0, 1] (the source: 0.1)"
    if evaluate not in EVALUATE:
        return f"feature_whitening_eval={evaluate!r} is not available: use one of {', '.join(EVALUATE)}"
    return None
