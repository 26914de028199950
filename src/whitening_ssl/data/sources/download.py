"""Fetching a dataset once, safely, before anything needs its files (``dataset.download=true``).

:func:`download_dataset` is the one way a dataset is downloaded: one process at a time (a lock
file ``<root>/.<name>.download.lock``: DDP ranks, a second run or a sweep's other jobs wait, then
find the files), into a staging folder ``<root>/.<name>.partial`` whose finished folders are moved
into place by one rename each (an interrupted download never leaves a half-extracted folder that
passes for the dataset); a failure is one line with the reason and how to get the files by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.options import DatasetOptions
from whitening_ssl.data.registry import DatasetEntry

log = logging.getLogger("whitening_ssl")


@contextlib.contextmanager
def _exclusive(lock_path: Path, waiting_message: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (waiting, with one message, while another process has it)."""
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info(waiting_message)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _move_into_place(staging: Path, root: Path, folder: str) -> None:
    """``staging/folder`` -> ``root/folder`` in one rename; an incomplete folder already there is set aside."""
    target = root / folder
    if target.exists():
        aside = root / f"{folder}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(target, aside)
        log.info(f"{target} was incomplete: moved to {aside}")
    os.replace(staging / folder, target)


def download_dataset(entry: DatasetEntry, root: Path, options: DatasetOptions) -> bool:
    """Download ``entry`` into ``root`` unless its files are there; returns whether it downloaded.

    Raises :class:`DatasetNotFoundError` (one line) when the download fails.
    """
    if entry.fetch is None or entry.locate(root, options) is None:
        return False
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetNotFoundError.download_failed(entry.name, root, error) from None
    waiting = f"waiting for another process that is downloading {entry.display_name} into {root.absolute()}"
    with _exclusive(root / f".{entry.name}.download.lock", waiting):
        if entry.locate(root, options) is None:  # the other process finished it
            return False
        staging = root / f".{entry.name}.partial"
        staging.mkdir(exist_ok=True)
        log.info(f"downloading {entry.display_name} into {root.absolute()} (once; later runs read it from there)")
        try:
            entry.fetch(staging)
        except Exception as error:  # noqa: BLE001 - URLError, checksum mismatch, full disk: all say the same
            raise DatasetNotFoundError.download_failed(entry.name, root, error) from None
        for folder in entry.fetched_folders:
            _move_into_place(staging, root, folder)
        shutil.rmtree(staging, ignore_errors=True)
    return True
