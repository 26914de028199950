"""Package namespaces whose names are imported when first used (PEP 562).

A package's ``__init__`` lists what it offers as ordinary imports under ``if TYPE_CHECKING:`` (so type
checkers and readers see them) and ends with::

    __getattr__, __dir__, __all__ = lazy_namespace(__name__, __file__)

Importing the package, or one of its torch-free modules (``whitening_ssl.data.dataset_checks``), then
imports nothing more; ``whitening_ssl.data.SSLDataModule`` imports its module at first use. This is what
keeps ``python run.py --help`` and the pre-run check (``check=true``) free of torch, torchvision, Lightning
and timm, which take seconds to import. The ``TYPE_CHECKING`` block is the only list of the names: it is
read here from the package's source.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _exports(init_file: str) -> dict[str, str]:
    """``{name: relative module}`` from the ``from .module import name`` lines under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(init_file).read_text(encoding="utf-8"))
    exports: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.level:
                    module = "." * statement.level + (statement.module or "")
                    exports.update({alias.asname or alias.name: module for alias in statement.names})
    return exports


def lazy_namespace(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``(__getattr__, __dir__, __all__)`` for the package ``package`` whose ``__init__`` is ``init_file``."""
    exports = _exports(init_file)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # looked up once
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)
