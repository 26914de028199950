"""Progress bars for the long phases outside Lightning's training loop.

Feature extraction, the k-NN search, the linear probe's epochs and the analysis each show a bar like
Lightning's (tqdm, on standard output, the stream Lightning's own bar uses), on the main process
only, refreshed at most every :data:`REFRESH_SECONDS` and removed when the phase ends, so a long
evaluation is never silent and the log keeps only the results. ``enabled=False`` (the trainer's
``enable_progress_bar=false``) shows nothing.

When standard output is not a terminal (a SLURM job's log, ``> run.log``) a bar's carriage-return
frames would pile up into one endless line: there a phase prints a plain line when it starts and one
every :data:`LINE_SECONDS`, on standard output (training: :class:`whitening_ssl.training.ProgressLines`,
which also writes them to ``run.log``).
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from .ranks import is_main_process

T = TypeVar("T")
REFRESH_SECONDS = 1.0
#: where output is not a terminal: seconds between two plain progress lines
LINE_SECONDS = 30.0
log = logging.getLogger("whitening_ssl")


def interactive() -> bool:
    """Whether standard output is a terminal (bars redraw in place) rather than a file or a pipe."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def duration(seconds: float) -> str:
    """``H:MM:SS``."""
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Lines(_Silent):
    """A bar for output that is not a terminal: a line when the phase starts, then one every LINE_SECONDS."""

    def __init__(self, total: int | None, description: str, unit: str) -> None:
        self.total, self.description, self.unit = total, description, unit
        self.done, self.postfix = 0, ""
        self.start = self.last = time.monotonic()
        self._say(f"{description}: {total if total is not None else '?'} {unit}(s)")

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= LINE_SECONDS:
            self.last = now
            of = f"/{self.total}" if self.total is not None else ""
            postfix = f" {self.postfix}" if self.postfix else ""
            elapsed = duration(now - self.start)
            self._say(f"{self.description}: {self.done}{of} {self.unit}(s){postfix}, elapsed {elapsed}")

    @staticmethod
    def _say(line: str) -> None:
        print(line, file=sys.stdout, flush=True)  # where the bar would be: standard output

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text


def bar(total: int | None, description: str, enabled: bool = True, unit: str = "batch"):
    """A bar of ``total`` steps (``update()``, ``set_postfix_str()``, ``close()``), or one that shows nothing."""
    if not enabled or not is_main_process():
        return _Silent()
    if not interactive():
        return _Lines(total, description, unit)
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stdout,
        leave=False,
        dynamic_ncols=True,
        mininterval=REFRESH_SECONDS,
    )


def track(
    items: Iterable[T], total: int | None, description: str, enabled: bool = True, unit: str = "batch"
) -> Iterator[T]:
    """``items``, advancing a :func:`bar` by one per item."""
    progress = bar(total, description, enabled, unit)
    try:
        for item in items:
            yield item
            progress.update()
    finally:
        progress.close()
