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
from ..plugins import lookup
from ..validation import Checks
from .kinds import WHITENINGS, WhiteningKind
from .settings_checks import GENERIC_SETTINGS, WHITENING_AXES, check_whitening, check_whitening_shape

__all__ = ["GENERIC_SETTINGS", "WHITENING_AXES", "Whitening", "draw_channel_permutations", "kind_of", "whiten"]


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
        their prefix, e.g. ``method.``) in ``checks``; returns the kind when it exists (the rules:
        :func:`~whitening_ssl.whitening.settings_checks.check_whitening`, which the pre-run check calls too)."""
        return check_whitening(checks, settings, path, WHITENINGS)

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
        """The block shape ``[samples, channels]`` the settings can whiten
        (:func:`~whitening_ssl.whitening.settings_checks.check_whitening_shape`)."""
        check_whitening_shape(checks, settings, samples, channels, path, samples_key, channels_key, WHITENINGS)

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
