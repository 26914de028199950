"""How a dataset option is declared (:class:`Option`), the options of every dataset, and their parsed values.

A dataset's own options are declared in its registry entry (``DatasetEntry.options``), next to the
code that reads them; :func:`~whitening_ssl.data.registry.option_problems` checks a configuration's
``dataset.options`` against them once, for the pre-run check and the constructors alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

from whitening_ssl.data.recipes import RECIPES

OPTION_KINDS = ("int", "choice", "path")


@dataclass(frozen=True)
class Option:
    """One ``dataset.options.<key>``: its default and what a valid value is (``None`` given = the default).

    ``kind``: ``int`` (a whole number >= ``minimum``, not a bool), ``choice`` (one of ``choices()``,
    read when checking so that recipes registered later count) or ``path`` (a file name, kept as str).
    """

    default: Any
    kind: str = "int"
    minimum: int = 1
    choices: Callable[[], Sequence[str]] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in OPTION_KINDS or (self.kind == "choice") != (self.choices is not None):
            raise ValueError(
                f"Option kind {self.kind!r}: use one of {', '.join(OPTION_KINDS)} (choices only with kind='choice')"
            )

    def problem(self, key: str, value: Any) -> str | None:
        """Why ``value`` cannot be ``dataset.options.<key>`` (one line), or None."""
        if self.kind == "int" and (isinstance(value, bool) or not isinstance(value, int) or value < self.minimum):
            return f"dataset.options.{key}={value!r} must be a whole number >= {self.minimum}"
        if self.kind == "choice" and self.choices is not None and value not in self.choices():
            return f"dataset.options.{key}={value!r} is not available: use one of {', '.join(self.choices())}"
        if self.kind == "path" and not isinstance(value, (str, os.PathLike)):
            return f"dataset.options.{key}={value!r} must be a file name"
        return None


#: the options of every dataset
COMMON_OPTIONS: dict[str, Option] = {
    "seed": Option(0, minimum=0, doc="seed of the subsets (and of generated images)"),
    "pretrain_subset": Option(None, doc="keep a seeded random subset of K pretraining images"),
    "train_subset": Option(None, doc="keep a seeded random subset of K labelled training images"),
    "test_subset": Option(None, doc="keep a seeded random subset of K test images"),
    "augmentation": Option(
        "default",
        kind="choice",
        choices=lambda: ("default", *RECIPES),
        doc="the pretraining recipe (a key of RECIPES); default: the dataset's own",
    ),
}


class HasDefaultRecipe(Protocol):
    """What :meth:`DatasetOptions.augmentation_recipe` reads of a dataset's spec (its default recipe)."""

    @property
    def augmentation(self) -> str: ...


class DatasetOptions(SimpleNamespace):
    """The checked ``dataset.options`` of one dataset: every option it declares, given or default."""

    def augmentation_recipe(self, spec: HasDefaultRecipe) -> str:
        """The recipe to use: ``augmentation``, or the dataset's default."""
        return spec.augmentation if self.augmentation == "default" else self.augmentation
