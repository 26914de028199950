"""A dataset found by name without loading it: its entry and checked options, whether its files are there,
its spec (paths only; torch-free, for the pre-run check and ``run.py``'s summary)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.options import DatasetOptions
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, dataset_spec, get_entry, parse_options


def parse(name: str, options: dict[str, Any] | None = None) -> tuple[DatasetEntry, DatasetOptions]:
    """The registry entry of ``name`` and its checked options (``ValueError``, one line, otherwise)."""
    entry = get_entry(name)
    return entry, parse_options(entry, options)


def missing_error(entry: DatasetEntry, root: Path, options: DatasetOptions) -> DatasetNotFoundError | None:
    """The one-line error for ``entry``'s files missing under ``root`` (``None``: they are there; paths only)."""
    missing = entry.locate(root, options)
    if missing is None:
        return None
    return DatasetNotFoundError.for_dataset(entry.name, root, looked_in=list(missing.looked_in), detail=missing.detail)


def check_dataset_available(
    name: str, root: str | os.PathLike = "./data", download: bool = False, **options: Any
) -> None:
    """Raise :class:`DatasetNotFoundError` if ``name`` cannot be loaded from ``root`` (cheap: paths only).

    A dataset that can be downloaded counts as available when ``download`` is true.
    """
    entry, parsed = parse(name, options)
    error = None if download and entry.downloadable else missing_error(entry, Path(root), parsed)
    if error is not None:
        raise error


def get_spec(name: str, root: str | os.PathLike = "./data", **options: Any) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name`` without loading any image (folder datasets list class folders)."""
    entry, parsed = parse(name, options)
    return dataset_spec(entry, Path(root), parsed)
