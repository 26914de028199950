"""Each method family's settings: their defaults (the configuration's nodes) and one-line meanings (``--help``).

The defaults are the signatures' and the registries' (:mod:`whitening_ssl.settings.source` reads them
from the source, so nothing here imports torch): the whitening transform's
(:class:`~whitening_ssl.whitening.Whitening`: ``whiten``, ``axis``, ``groups``, ``eps``, ...), every
registered kind's own settings (ZCA's ``solver``, INTL's ``iters``), the loss's, and the method class's
``OWN_SETTINGS``. The method classes' ``default_settings`` return these dicts, and
:mod:`whitening_ssl.cli.write_defaults` writes them as the committed nodes ``conf/method/_defaults/<family>.yaml``
and ``conf/method/_losses/<name>.yaml`` that the presets in ``conf/method/`` compose.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ..whitening.settings_checks import GENERIC_SETTINGS
from . import source

TRANSFORM = ("whitening.transform", "Whitening")
KINDS = "whitening.kinds"
#: the whitening papers whose methods this project reproduces, by family (the help's title)
PAPERS = {"whitening_mse": "W-MSE, CW-RGP", "intl": "INTL", "resa": "ReSA", "lejepa": "LeJEPA"}


def papers() -> str:
    """The papers of the registered method families (``W-MSE, CW-RGP, INTL``): the help's title."""
    return ", ".join(PAPERS[family] for family in source.registry("methods.registry", "METHODS") if family in PAPERS)


def whitening_defaults() -> dict[str, Any]:
    """Every setting of the whitening transform with its default: the transform's and every registered kind's."""
    module, cls = TRANSFORM
    signature = source.parameters(module, f"{cls}.__init__")
    settings = {
        "whiten": signature["kind"],
        **{name: signature[name] for name in GENERIC_SETTINGS},
    }
    for kind in source.decorated(KINDS, "whitening_kind"):
        settings.update(
            {
                key: value
                for key, value in source.parameters(KINDS, kind, keyword_only=True).items()
                if key not in settings
            }
        )
    return settings


def _own(module: str, cls: str) -> dict[str, Any]:
    return source.constant(module, f"{cls}.OWN_SETTINGS")


def _whitening_mse() -> dict[str, Any]:
    return {
        "family": "whitening_mse",
        **whitening_defaults(),
        "w_size": "???",
        **source.parameters("losses.whitening_mse", "WhiteningMSELoss.__init__"),
        **_own(*source.registry("methods.registry", "METHODS")["whitening_mse"]),
    }


def _intl() -> dict[str, Any]:
    return {
        "family": "intl",
        **whitening_defaults(),
        "whiten": "iternorm",
        "axis": "channel",
        **_own(*source.registry("methods.registry", "METHODS")["intl"]),
    }


#: family -> its settings with their defaults (families without an entry state theirs in their presets)
FAMILY_DEFAULTS: dict[str, Callable[[], dict[str, Any]]] = {"whitening_mse": _whitening_mse, "intl": _intl}


def loss_defaults() -> dict[str, dict[str, Any]]:
    """``{name: the arguments with a default}`` of every loss of :data:`whitening_ssl.losses.LOSSES`."""
    return {
        name: source.parameters(module, f"{cls}.__init__")
        for name, (module, cls) in source.registry("losses.registry", "LOSSES").items()
    }


def meanings() -> dict[str, str]:
    """``{method setting: one line}`` from the docstrings and comments the defaults come from."""
    found: dict[str, str] = {}
    module, cls = TRANSFORM
    transform = source.argument_docs(module, cls)
    found["whiten"] = (
        "the whitening kind: "
        + ", ".join(source.decorated(KINDS, "whitening_kind"))
        + ", or module.function of your own"
    )
    found.update({name: transform[name] for name in GENERIC_SETTINGS if name in transform})
    for kind in source.decorated(KINDS, "whitening_kind"):
        docs = source.argument_docs(KINDS, kind)
        for key in source.parameters(KINDS, kind, keyword_only=True):
            found.setdefault(key, f"whiten={kind}: {docs.get(key, source.summary(KINDS, kind))}")
    found.update(
        {k: v for k, v in source.argument_docs("losses.whitening_mse", "WhiteningMSELoss").items() if k != "whitening"}
    )
    for module, cls in source.registry("methods.registry", "METHODS").values():
        with contextlib.suppress(LookupError):  # LookupError: a family without settings of its own
            found.update(source.key_comments(module, f"{cls}.OWN_SETTINGS"))
    found["family"] = (
        "the method family (its training module): "
        + ", ".join(source.registry("methods.registry", "METHODS"))
        + ", or module.Class of your own"
    )
    found["name"] = "the preset's name (run folders, results.json, the report)"
    return {key: _plain(text) for key, text in found.items()}


def loss_meanings(name: str) -> dict[str, str]:
    """``{argument: one line}`` of the loss called ``name`` (its docstring's ``Args:``)."""
    entry = source.registry("losses.registry", "LOSSES").get(name)
    return {k: _plain(v) for k, v in source.argument_docs(*entry).items()} if entry else {}


def _plain(text: str) -> str:
    """Docstring markup (``code``, :class:`~x.Y`) as plain text for a terminal."""
    import re

    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"\1", text)
    return text.replace("``", "").rstrip(".")
