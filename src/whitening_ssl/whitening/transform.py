"""The batched whitening transform: blocks, channel groups, random group partitions, one call per kind.

:class:`Whitening` holds the settings of the transform (each default once, in its signature; each rule
once, in :meth:`Whitening.check`, which the constructor and the pre-run check of the configuration
both call) and whitens a stack of independent blocks ``[..., m, d]`` in one batched call of its kind.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..numerics import float32_math
from ..plugins import LookupFailed, is_import_path, lookup
from ..validation import Checks
from .kinds import WHITENINGS, WhiteningKind

WHITENING_AXES = ("batch", "channel")
#: the transform's own settings besides the kind (configuration keys ``method.<setting>``)
GENERIC_SETTINGS = ("axis", "groups", "random_groups", "eps", "denom_offset")


def draw_channel_permutations(
    num_blocks: int,
    num_channels: int,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One independent random permutation of ``range(num_channels)`` per block: ``[num_blocks, d]``.

    Drawn with a single ``torch.rand`` + ``argsort`` (no host sync, no Python loop), from ``generator``
    (default: the global generator of ``device``).
    """
    return torch.rand(num_blocks, num_channels, device=device, generator=generator).argsort(dim=1)


def kind_of(name: Any, key: str = "whiten") -> WhiteningKind:
    """The :class:`WhiteningKind` called ``name`` (registered, or ``module.function`` of your own)."""
    return name if isinstance(name, WhiteningKind) else lookup(WHITENINGS, name, key, expected=WhiteningKind)


class Whitening(nn.Module):
    """Batched whitening transform (W-MSE batch whitening, CW-RGP channel whitening).

    ``Whitening(kind="zca", axis="channel", groups=4, random_groups=True)`` is CW-RGP's transform;
    ``Whitening(kind="cholesky", axis="batch")`` is W-MSE's. Input ``[..., m, d]``: every leading
    index is an independent block (sub-batch x view), all whitened in one call, in float32 (or the
    input's dtype when wider) with autocast off. Training-time transform: no running statistics.

    Args:
        kind: a name of :data:`~whitening_ssl.whitening.WHITENINGS` (``method.whiten``) or a
            :class:`~whitening_ssl.whitening.WhiteningKind` (``module.function`` of your own).
        axis: ``batch`` centres each channel over the ``m`` samples and whitens the ``c x c`` channel
            covariance (W-MSE); ``channel`` centres each sample over all ``d`` channels and whitens the
            ``m x m`` covariance between samples over each group's channels (CW-RGP).
        groups: contiguous channel groups of ``d / groups``, whitened separately.
        random_groups: a fresh random channel permutation per block before grouping, undone after
            (CW-RGP's random group partition).
        eps: shrinkage toward the identity, ``S <- (1 - eps) S + eps I`` (for ``bn``: added to the variance).
        denom_offset: covariance denominator ``n - denom_offset``.
        **kind_settings: the kind's own settings (e.g. ZCA's ``solver``, ``newton_iters``).
    """

    def __init__(
        self,
        kind: Any = "zca",
        axis: str = "batch",
        groups: int = 1,
        random_groups: bool = False,
        eps: float = 0.0,
        denom_offset: int = 1,
        **kind_settings: Any,
    ) -> None:
        super().__init__()
        checks = Checks(check_machine=False)
        chosen = self.check(
            checks,
            {
                "whiten": kind,
                "axis": axis,
                "groups": groups,
                "random_groups": random_groups,
                "eps": eps,
                "denom_offset": denom_offset,
                **kind_settings,
            },
        )
        if chosen is not None:  # (another kind's settings are reported by check)
            others = {key for other in WHITENINGS.values() for key in other.settings}
            for key in sorted(set(kind_settings) - set(chosen.settings) - others):
                checks.add(
                    f"{key}={kind_settings[key]!r} is not a setting of whitening kind {chosen.name} (its "
                    f"settings: {', '.join(chosen.settings) or 'none'})"
                )
        checks.raise_if_any()
        assert chosen is not None  # a kind that was not found is a problem raised above
        self.spec = chosen
        self.kind, self.axis, self.groups, self.random_groups = chosen.name, axis, groups, random_groups
        self.eps, self.denom_offset = float(eps), int(denom_offset)
        self.kind_settings = {**chosen.settings, **kind_settings}

    # --- the settings: defaults and rules ----------------------------------------------------------------

    @classmethod
    def check(cls, checks: Checks, settings: Mapping[str, Any], path: str = "") -> WhiteningKind | None:
        """Record every problem of ``settings`` (configuration keys: ``whiten``, ``axis``, ...; ``path`` is
        their prefix, e.g. ``method.``) in ``checks``; returns the kind when it exists."""
        name = checks.get(settings, "whiten", f"{path}whiten")
        kind = None
        if name is not None:
            try:
                kind = kind_of(name, f"{path}whiten")
            except LookupFailed as error:
                checks.add(str(error))
        checks.choice(settings, "axis", f"{path}axis", WHITENING_AXES)
        checks.integer(settings, "groups", f"{path}groups", minimum=1)
        checks.boolean(settings, "random_groups", f"{path}random_groups")
        checks.number(settings, "eps", f"{path}eps", minimum=0.0, below=1.0)
        checks.integer(settings, "denom_offset", f"{path}denom_offset", minimum=0)
        if kind is None:
            return None
        for other in WHITENINGS.values():  # another kind's setting changed: it would do nothing
            for key, default in other.settings.items():
                if other is not kind and key not in kind.settings and key in settings and settings[key] != default:
                    checks.add(
                        f"{path}{key}={settings[key]} applies to {path}whiten={other.name} only "
                        f"({path}whiten={kind.name}): remove it or use {path}{key}={default}"
                    )
        if kind.check is not None:
            kind.check(checks, {**kind.settings, **{k: settings[k] for k in kind.settings if k in settings}}, path)
        return kind

    @classmethod
    def check_shape(
        cls,
        checks: Checks,
        settings: Mapping[str, Any],
        samples: int,
        channels: int,
        path: str = "",
        samples_key: str = "w_size",
        channels_key: str = "emb",
    ) -> None:
        """The block shape ``[samples, channels]`` the settings can whiten: groups that divide the channels,
        for kinds that factorise the covariance one that is not singular, and the kind's own size rules; a kind
        of the user's own is called once on a block of that shape (:mod:`whitening_ssl.own_code`)."""
        kind, axis, groups = settings.get("whiten"), settings.get("axis"), settings.get("groups")
        m, d = f"{path}{samples_key}", f"{path}{channels_key}"
        if not isinstance(groups, int) or groups < 1:
            return
        if channels % groups:
            checks.add(
                f"{d}={channels} is not divisible by {path}groups={groups}: choose groups that divide the "
                "embedding size"
            )
            return
        try:
            spec = kind_of(kind)
        except LookupFailed:
            return
        full_rank = spec.full_rank
        if spec.check_shape is not None:  # the kind's own size rules
            spec.check_shape(checks, settings, samples, channels, path)
        if is_import_path(kind):  # the user's own code: called once on a block of this run's size
            from ..own_code import probe_kind

            probe_kind(checks, spec, settings, samples, channels, path)
        per_group = channels // groups
        if full_rank and axis == "channel" and per_group <= samples:
            checks.add(
                f"channel whitening needs {d} / {path}groups > {m} (the {samples}x{samples} covariance over "
                f"{per_group} channels per group is singular): raise {d}, lower {path}groups or lower {m} "
                f"({channels_key}={channels}, groups={groups}, {samples_key}={samples})"
            )
        if full_rank and axis == "batch" and samples <= per_group:
            checks.add(
                f"batch whitening needs {m} > {d} / {path}groups (the {per_group}x{per_group} covariance "
                f"from {samples} samples is singular): raise {m} or {path}groups, or lower {d} "
                f"({channels_key}={channels}, groups={groups}, {samples_key}={samples})"
            )

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        """Every setting with its default, as configuration keys: the transform's and every registered kind's."""
        parameters = inspect.signature(cls.__init__).parameters
        settings = {
            "whiten": parameters["kind"].default,
            **{name: parameters[name].default for name in GENERIC_SETTINGS},
        }
        for kind in WHITENINGS.values():
            settings.update({key: value for key, value in kind.settings.items() if key not in settings})
        return settings

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Whitening:
        """The transform a configuration node describes (``method.whiten``, ``method.axis``, ...)."""
        kind = kind_of(settings["whiten"])
        generic = {name: settings[name] for name in GENERIC_SETTINGS if name in settings}
        return cls(kind, **generic, **{key: settings[key] for key in kind.settings if key in settings})

    # --- the transform -----------------------------------------------------------------------------------

    def forward(self, x: Tensor, permutation: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Whiten every block of ``x`` (``[..., m, d]``) independently; returns the same shape.

        ``permutation``: explicit channel permutations ``[blocks, d]`` (implies random groups), for tests
        and for reproducing a given partition; ``generator``: where random partitions are drawn from.
        """
        *lead, m, d = x.shape
        if d % self.groups:
            raise ValueError(f"embedding size {d} is not divisible by whitening groups {self.groups}")
        with float32_math(x.device.type):
            if x.dtype in (torch.float16, torch.bfloat16):
                x = x.float()
            blocks = x.reshape(-1, m, d)
            if not self.spec.uses_covariance:  # per channel: grouping and permutation are irrelevant
                return self.spec(blocks, self.eps, self.denom_offset, **self.kind_settings).reshape(*lead, m, d)
            return self._grouped(blocks, permutation, generator).reshape(*lead, m, d)

    def _grouped(self, blocks: Tensor, permutation: Tensor | None, generator: torch.Generator | None) -> Tensor:
        num_blocks, m, d = blocks.shape
        if permutation is None and self.random_groups:
            permutation = draw_channel_permutations(num_blocks, d, device=blocks.device, generator=generator)
        if permutation is not None and permutation.shape != (num_blocks, d):
            raise ValueError(f"permutation must have shape {(num_blocks, d)}, got {tuple(permutation.shape)}")
        # Centring does not depend on the channel order: per channel over the m samples (batch) or per sample
        # over all d channels, before grouping (channel). Channels-first, [B, d, m], so that permuting channels
        # and cutting groups is one gather and a free view.
        centre_dim = 1 if self.axis == "batch" else 2
        channels_first = (blocks - blocks.mean(dim=centre_dim, keepdim=True)).transpose(1, 2)
        if permutation is not None:
            index = permutation.unsqueeze(-1).expand(num_blocks, d, m)
            channels_first = channels_first.gather(1, index)
        grouped = channels_first.reshape(num_blocks, self.groups, d // self.groups, m)  # [B, g, c, m]
        if self.axis == "batch":
            grouped = grouped.transpose(-1, -2)  # observations m, variables c
        white = self.spec(grouped, self.eps, self.denom_offset, **self.kind_settings)
        if self.axis == "batch":
            white = white.transpose(-1, -2)
        white = white.reshape(num_blocks, d, m)
        if permutation is not None:  # put every channel back where it came from
            white = torch.zeros_like(white).scatter(1, index, white)
        return white.transpose(1, 2)

    def extra_repr(self) -> str:
        own = "".join(f", {key}={value}" for key, value in self.kind_settings.items())
        return (
            f"kind={self.kind}, axis={self.axis}, groups={self.groups}, random_groups={self.random_groups}, "
            f"eps={self.eps}, denom_offset={self.denom_offset}{own}"
        )


def whiten(
    x: Tensor,
    kind: Any,
    *args: Any,
    permutation: Tensor | None = None,
    generator: torch.Generator | None = None,
    **settings: Any,
) -> Tensor:
    """Whiten every block of ``x`` (``[..., m, d]``) with ``Whitening(kind, *args, **settings)``; see
    :class:`Whitening`."""
    return Whitening(kind, *args, **settings)(x, permutation=permutation, generator=generator)
