"""Name-keyed choices: a registry's name, or ``module.attribute`` for code of your own.

Every configurable component (a whitening kind, a loss, a method family, a dataset, an augmentation
recipe) is chosen by a name that :func:`lookup` finds in its registry. A value with a dot that is
not a registered name is imported: ``method.whiten=my_whitening.soft_zca`` takes ``soft_zca`` from
the module ``my_whitening`` (found on ``PYTHONPATH`` or in the folder ``run.py`` is started from),
so a researcher's own component is used without editing the package, and gets the same checks,
logging, checkpoints, evaluation and report as the built-in ones (``docs/extending.md``).

Only the command line may name code this way: a checkpoint's saved settings that name a module are
refused unless the same name is given on the command line
(:func:`whitening_ssl.checkpoints.check_saved_settings`).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any


class LookupFailed(LookupError):
    """A name that is neither registered nor importable; ``str`` is one line saying what to use."""


def is_import_path(name: Any) -> bool:
    """Whether ``name`` names code of the user's own (``module.attribute``), not a registry entry."""
    return isinstance(name, str) and "." in name.strip(".") and not name.startswith(".")


def import_object(path: str) -> Any:
    """``module.attribute`` (the last dot separates them), importing ``module`` from ``sys.path`` and the
    current folder."""
    module_name, _, attribute = path.rpartition(".")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise LookupFailed(f"module {module_name} has no {attribute}") from None


def lookup(
    registry: Mapping[str, Any],
    name: Any,
    key: str,
    expected: type | tuple[type, ...] | None = None,
    subclass_of: type | None = None,
) -> Any:
    """``registry[name]``, or the object ``name`` imports (``module.attribute``), checked to be an instance
    of ``expected`` (or a class derived from ``subclass_of``).

    ``key`` is the configuration key (``method.whiten``) the message names. Raises :class:`LookupFailed`
    with one line listing the registered names.
    """
    if isinstance(name, str) and name in registry:
        return registry[name]
    choices = f"use one of {', '.join(map(str, registry))}, or module.name of your own"
    if not is_import_path(name):
        raise LookupFailed(f"{key}={name!r} is not available: {choices}")
    try:
        found = import_object(name)
    except ImportError as error:
        raise LookupFailed(
            f"{key}={name}: cannot import {name.rpartition('.')[0]} ({error}): put your module on "
            "PYTHONPATH or in the folder you run from, or " + choices
        ) from None
    except LookupFailed as error:
        raise LookupFailed(f"{key}={name}: {error}: {choices}") from None
    except Exception as error:
        message = " ".join(str(error).split())[:300]
        raise LookupFailed(
            f"{key}={name}: importing {name.rpartition('.')[0]} raised {type(error).__name__} "
            f"({message}): fix that module (python -c 'import {name.rpartition('.')[0]}' shows where)"
        ) from None
    if expected is not None and not isinstance(found, expected):
        kinds = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise LookupFailed(f"{key}={name} is a {type(found).__name__}, not a {kinds} (see docs/extending.md)")
    if subclass_of is not None and not (isinstance(found, type) and issubclass(found, subclass_of)):
        raise LookupFailed(f"{key}={name} is not a subclass of {subclass_of.__name__} (see docs/extending.md)")
    return found
