"""Fetching a dataset once, safely, before anything needs its files (``dataset.download=true``).

:func:`download_dataset` is the one way a dataset is downloaded: one process at a time (a lock
file ``<root>/.<name>.download.lock``: DDP ranks, a second run or a sweep's other jobs wait, then
find the files), into a staging folder ``<root>/.<name>.partial`` whose finished folders are moved
into place by one rename each (an interrupted download never leaves a half-extracted folder that
passes for the dataset); a failure is one line with the reason, how to get the files by hand and
what was left behind. The lock file exists only while a download runs; after a failure the staging
folder is removed when empty and kept when it holds files (the next try reuses a complete archive).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from whitening_ssl.data.errors import DatasetNotFoundError
from whitening_ssl.data.options import DatasetOptions
from whitening_ssl.data.registry import DatasetEntry

log = logging.getLogger("whitening_ssl")


def _same_file(handle, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _exclusive(lock_path: Path, waiting_message: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (waiting, with one message, while another process has it).

    The holder deletes the file before it lets go, so none is left behind; a waiter that then holds the
    lock of a deleted file opens the path afresh (the lock is the file that is there now).
    """
    waited = False
    while True:
        with open(lock_path, "a") as handle:  # closing releases the flock
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    log.info(waiting_message)
                    waited = True
                fcntl.flock(handle, fcntl.LOCK_EX)
            if not _same_file(handle, lock_path):
                continue  # the holder finished and deleted it: lock the file that is there now
            try:
                yield
            finally:
                lock_path.unlink(missing_ok=True)
            return


def _clean_up_after_failure(staging: Path) -> str:
    """Remove an empty staging folder, keep one with files; returns what was done, for the error line."""
    files = [path for path in staging.rglob("*") if path.is_file()] if staging.exists() else []
    if not files:
        shutil.rmtree(staging, ignore_errors=True)
        return "nothing was kept (the lock and the empty staging folder were removed)"
    size = sum(path.stat().st_size for path in files) / 2**20
    return (
        f"the {size:.0f} MB already fetched are kept in {staging.absolute()} and reused by the next try "
        "(delete that folder to start afresh)"
    )


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
        except Exception as error:
            left = _clean_up_after_failure(staging)
            raise DatasetNotFoundError.download_failed(entry.name, root, error, left) from None
        for folder in entry.fetched_folders:
            _move_into_place(staging, root, folder)
        shutil.rmtree(staging, ignore_errors=True)
    return True
