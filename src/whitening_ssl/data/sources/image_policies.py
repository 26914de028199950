"""The modes of ``data.verify_images`` (which files the check before training reads) and of
``data.on_bad_image`` (what an undecodable file does during training), by name.

Torch- and PIL-free, so that the pre-run check reads the names without importing either;
:mod:`whitening_ssl.data.sources.verify` runs them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from whitening_ssl.data.errors import BadImageError, BadImageWarning, one_line

if TYPE_CHECKING:
    import torch

ON_BAD_IMAGE_HINT = "set data.on_bad_image=skip to skip undecodable images"


def _select_sample(num_paths: int, sample_size: int, seed: int) -> Iterable[Any]:
    import numpy as np

    if num_paths <= sample_size:
        return np.arange(num_paths)
    return np.sort(np.random.default_rng(seed).choice(num_paths, size=sample_size, replace=False))


#: ``data.verify_images``: mode -> the indices of the files it checks, ``(num_paths, sample_size, seed)``
VERIFY_MODES: dict[str, Callable[[int, int, int], Iterable[Any]]] = {
    "none": lambda num_paths, sample_size, seed: range(0),
    "sample": _select_sample,
    "all": lambda num_paths, sample_size, seed: range(num_paths),
}


def _stop(path: str, error: BaseException, index: int, flags: torch.Tensor) -> None:
    raise BadImageError(
        f"Cannot decode image {path} ({one_line(error)}): remove or replace the file, or {ON_BAD_IMAGE_HINT}"
    ) from error


def _flag_and_warn(path: str, error: BaseException, index: int, flags: torch.Tensor) -> None:
    flags[index] = True
    warnings.warn(
        f"Skipping undecodable image {path} ({one_line(error)}); using the next image instead",
        BadImageWarning,
        stacklevel=2,
    )


#: ``data.on_bad_image``: policy -> what an undecodable file does ``(path, error, index, flags)``
BAD_IMAGE_POLICIES: dict[str, Callable[[str, BaseException, int, torch.Tensor], None]] = {
    "skip": _flag_and_warn,
    "stop": _stop,
}
