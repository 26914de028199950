"""One live run per run folder: a lock file with the owner's process id and host.

A run takes ``<run_dir>/.run.lock`` before it writes anything there (``.hydra/``, checkpoints,
results) and removes it when it ends. A second run given the same folder while the first is alive
stops at once with one line naming the owner. A lock left by a run that was killed (its process no
longer exists on this host) is stale: it is replaced, so ``ckpt_path=last`` into the folder of a
killed run just works. A lock held by a process on another host is trusted (it cannot be checked
from here): the line says which host and how to remove it by hand if that run is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, TypeGuard

from ..validation import ConfigError
from . import LOCK_FILE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_lock(run_dir: os.PathLike | str) -> dict | None:
    """The lock's owner (``pid``, ``host``, ``started``), or ``None`` when there is no readable lock."""
    try:
        return json.loads((Path(run_dir) / LOCK_FILE).read_text())
    except (OSError, ValueError):
        return None


def _is_live(owner: dict[str, Any] | None) -> TypeGuard[dict[str, Any]]:
    if not owner or not isinstance(owner.get("pid"), int):
        return False
    if owner.get("host") != socket.gethostname():
        return True
    return owner["pid"] != os.getpid() and _alive(owner["pid"])


def busy(run_dir: os.PathLike | str) -> str | None:
    """The one-line refusal when a live run holds ``run_dir`` (another process's lock), else ``None``."""
    owner = read_lock(run_dir)
    return RunLock(run_dir)._busy(owner) if _is_live(owner) else None


class RunLock:
    """The lock of one run folder, held by this process from :meth:`acquire` to :meth:`release`."""

    def __init__(self, run_dir: os.PathLike | str) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.held = False

    def acquire(self) -> RunLock:
        """Take the folder; :class:`ConfigError` (one line) when another live run holds it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(3):  # another process may take or free it between our attempts
            try:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = read_lock(self.run_dir)
                if owner and owner.get("pid") == os.getpid() and owner.get("host") == mine["host"]:
                    self.held = True  # this process took it already (the pre-run check)
                    return self
                if _is_live(owner):
                    raise ConfigError(self._busy(owner)) from None
                if owner is None and self._fresh():  # being written right now by the other process
                    time.sleep(0.2)
                    continue
                self.path.unlink(missing_ok=True)  # stale: its run was killed
                continue
            with os.fdopen(descriptor, "w") as handle:
                handle.write(json.dumps(mine))
            self.held = True
            return self
        raise ConfigError(self._busy(read_lock(self.run_dir) or {}))

    def _fresh(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime < 2.0
        except OSError:
            return False

    def _busy(self, owner: dict[str, Any]) -> str:
        who = f"process {owner.get('pid', '?')} on {owner.get('host', '?')}, started {owner.get('started', '?')}"
        return (
            f"the run folder {self.run_dir} is in use by another run ({who}): wait for it to finish, or choose "
            f"another hydra.run.dir (if that run is gone, delete {self.path})"
        )

    def release(self) -> None:
        """Give the folder back (only a lock this process holds is removed)."""
        if not self.held:
            return
        owner = read_lock(self.run_dir)
        if owner and owner.get("pid") == os.getpid():
            # OSError: a file system gone read-only: the lock stays, and is stale once this process ends
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
        self.held = False
