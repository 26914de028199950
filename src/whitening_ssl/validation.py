"""Configuration checks that run before any data is loaded or any directory is made.

Every concern checks its own part of the configuration next to the code it protects (the method
registry checks ``method.*``, the data registry ``dataset.*`` and ``data.*``, the stages the run's
top-level keys and ``trainer.*``, ...). Each check writes its findings into one :class:`Checks`
collector, so a run with several mistakes lists all of them at once, one line each, and exits with
status 2 (``run.py``) instead of failing on the first one minutes later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

_MISSING = object()


def shown(value: Any, limit: int = 160) -> str:
    """A value read from a file, fit for one line of a message (no control characters, bounded)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= limit else text[:limit] + "..."


class ConfigError(ValueError):
    """One or more configuration values that cannot work; each line says what to change."""

    def __init__(self, problems: Sequence[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class Checks:
    """Collects configuration problems; typed getters record a problem and return ``None`` on a bad value.

    ``path`` arguments are the dotted names users type on the command line (``method.lr``), so a
    message can say exactly what to change.
    """

    def __init__(self, check_machine: bool = True) -> None:
        self.problems: list[str] = []
        #: also check this machine: datasets, checkpoints, the run directory, GPUs (off: check a preset's values alone)
        self.check_machine = check_machine

    def add(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def extend(self, messages: Iterable[str]) -> None:
        for message in messages:
            self.add(message)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

    # --- reading values ----------------------------------------------------------------------

    def get(self, node: Any, key: str, path: str, default: Any = _MISSING, missing: str | None = None) -> Any:
        """``node[key]``, resolving interpolations; records a problem (and returns ``None``) if that fails
        (``missing``: the problem to record when the value is ``???``, instead of the generic one)."""
        missing = missing or f"{path} has no value: give it on the command line, e.g. {path}=..."
        try:
            if isinstance(node, DictConfig):
                if key in node.keys() and OmegaConf.is_missing(node, key):  # noqa: SIM118 (a ??? value is not "in" it)
                    self.add(missing)
                    return None
                if key not in node:
                    if default is _MISSING:
                        self.add(f"{path} is not set: add {path}=... to the command line or the preset")
                        return None
                    return default
                value = node[key]
                return (
                    OmegaConf.to_container(value, resolve=True)
                    if isinstance(value, (DictConfig, ListConfig))
                    else value
                )
            if key not in node:
                if default is _MISSING:
                    self.add(f"{path} is not set: add {path}=... to the command line or the preset")
                    return None
                return default
            return node[key]
        except MissingMandatoryValue:
            self.add(missing)
        except OmegaConfBaseException as error:
            self.add(f"{path} cannot be read: {str(error).splitlines()[0]}")
        return None

    def integer(
        self, node: Any, key: str, path: str, minimum: int | None = None, default: Any = _MISSING
    ) -> int | None:
        """An integer (not a bool, not a float such as 1.5, not a string such as "abc") >= ``minimum``."""
        value = self.get(node, key, path, default=default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(f"{path}={value!r} must be a whole number" + (f" >= {minimum}" if minimum is not None else ""))
            return None
        if minimum is not None and value < minimum:
            self.add(f"{path}={value} must be at least {minimum}")
            return None
        return value

    def number(
        self,
        node: Any,
        key: str,
        path: str,
        minimum: float | None = None,
        positive: bool = False,
        below: float | None = None,
        default: Any = _MISSING,
    ) -> float | None:
        """A finite real number; ``positive``: > 0; ``minimum``: >= minimum; ``below``: < below."""
        value = self.get(node, key, path, default=default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.add(f"{path}={value!r} must be a number")
            return None
        if positive and value <= 0:
            self.add(f"{path}={value} must be positive")
            return None
        if minimum is not None and value < minimum:
            self.add(f"{path}={value} must be at least {minimum}")
            return None
        if below is not None and value >= below:
            self.add(f"{path}={value} must be below {below}")
            return None
        return float(value)

    def choice(self, node: Any, key: str, path: str, choices: Iterable[str], default: Any = _MISSING) -> str | None:
        """One of ``choices`` (registry keys)."""
        choices = list(choices)
        value = self.get(node, key, path, default=default)
        if value is None:
            return None
        if value not in choices:
            self.add(f"{path}={value!r} is not available: use one of {', '.join(map(str, choices))}")
            return None
        return value

    def boolean(self, node: Any, key: str, path: str, default: Any = _MISSING) -> bool | None:
        value = self.get(node, key, path, default=default)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.add(f"{path}={value!r} must be true or false")
            return None
        return value

    def section(self, node: Any, key: str, path: str) -> Any | None:
        """A sub-section (``method``, ``dataset``, ...) that must exist."""
        try:
            if key in node and node[key] is not None:
                return node[key]
        except OmegaConfBaseException as error:
            self.add(f"{path} cannot be read: {str(error).splitlines()[0]}")
            return None
        self.add(f"{path} is missing from the configuration: choose one, e.g. {path}=...")
        return None
