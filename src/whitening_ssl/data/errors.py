"""The data errors, each one line: a missing dataset (which one, where it was looked for, what to do: the entry's
hint) and an image file that cannot be decoded. Torch-free: the pre-run check and ``run.py`` catch them."""

from __future__ import annotations

import os
from collections.abc import Sequence


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the configuration says (a :class:`FileNotFoundError`; one line)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def for_dataset(
        cls,
        name: str,
        root: str | os.PathLike,
        looked_in: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
        detail: str | None = None,
    ) -> DatasetNotFoundError:
        """The standard one-line error for dataset ``name`` (display name and hint from its registry entry).

        ``looked_in`` lists the place(s) searched (defaults to ``root``); ``detail`` is an optional
        reason (e.g. which file is missing). For a dataset that can be downloaded the line offers
        ``dataset.download=true`` (it is only raised when that setting is off).
        """
        display_name, hint, downloadable = _describe(name, root)
        if looked_in is None:
            looked_in = root
        if isinstance(looked_in, (str, os.PathLike)):
            looked_in = [looked_in]
        places = ", ".join(os.path.abspath(os.fspath(place)) for place in looked_in)
        reason = f" ({detail})" if detail else ""
        offer = "set dataset.download=true to download it, or " if downloadable and not detail else ""
        return cls(f"{display_name} not found in {places}{reason}: {offer}{hint}")

    @classmethod
    def download_failed(
        cls, name: str, root: str | os.PathLike, reason: object, left_behind: str = ""
    ) -> DatasetNotFoundError:
        """The error for a requested download that failed (typically: no network on a compute node):
        the failure itself, how to put the files in place by hand and what ``left_behind`` (if given)."""
        display_name, hint, _ = _describe(name, root)
        where = os.path.abspath(os.fspath(root))
        failure = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
        left = f"; {left_behind}" if left_behind else ""
        return cls(
            f"{display_name} could not be downloaded into {where} ({failure}): check the network "
            f"connection, or {hint}{left}"
        )


def _describe(name: str, root: str | os.PathLike) -> tuple[str, str, bool]:
    """Display name, how to get the files by hand (for ``root``), whether it can be downloaded."""
    from whitening_ssl.data.registry import DATASETS

    entry = DATASETS.get(name)
    if entry is None:
        return name, "check dataset.root", False
    return entry.display_name, entry.hint.format(root=os.path.abspath(os.fspath(root))), entry.downloadable


class BadImageError(RuntimeError):
    """An image file cannot be decoded; ``str(error)`` is one line naming the file and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class BadImageWarning(UserWarning):
    """An undecodable image file was skipped (``on_bad_image="skip"``)."""


def one_line(error: BaseException) -> str:
    """``error``'s message on one line (its type's name when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__
