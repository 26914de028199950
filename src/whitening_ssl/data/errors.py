"""Errors raised by the data pipeline.

A missing dataset is the most common way a run fails before it starts, so the error says in one
line which dataset is missing, where it was looked for, and what to do about it (the registry
entry's hint), using the Hydra config keys (``dataset.root``, ``dataset.download``) the user controls.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the configuration says they are.

    Subclasses :class:`FileNotFoundError` so generic handlers still catch it; ``str(error)`` is
    always a single line.
    """

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
    ) -> "DatasetNotFoundError":
        """The standard one-line error for dataset ``name`` (display name and hint from its registry entry).

        ``looked_in`` lists the place(s) searched (defaults to ``root``); ``detail`` is an optional
        reason (e.g. which file is missing).
        """
        from whitening_ssl.data.registry import DATASETS

        entry = DATASETS.get(name)
        display_name = entry.display_name if entry else name
        if looked_in is None:
            looked_in = root
        if isinstance(looked_in, (str, os.PathLike)):
            looked_in = [looked_in]
        places = ", ".join(os.path.abspath(os.fspath(place)) for place in looked_in)
        hint = (entry.hint if entry else "check dataset.root").format(root=os.path.abspath(os.fspath(root)))
        reason = f" ({detail})" if detail else ""
        return cls(f"{display_name} not found in {places}{reason}: {hint}")

    @classmethod
    def download_failed(cls, name: str, root: str | os.PathLike, reason: object, folder: str = "the dataset") -> "DatasetNotFoundError":
        """The error for a requested download that failed (typically: no network on a compute node)."""
        from whitening_ssl.data.registry import DATASETS

        entry = DATASETS.get(name)
        display_name = entry.display_name if entry else name
        where = os.path.abspath(os.fspath(root))
        manual = f"download it elsewhere and set dataset.root to the folder that holds {folder}"
        return cls(f"{display_name} could not be downloaded into {where} ({reason}): check network access, or {manual}")
