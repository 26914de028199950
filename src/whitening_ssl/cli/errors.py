"""The errors a run ends with in one line: their exit status, their lines, and where they are written.

Exit status 2: bad input (a setting, a missing dataset, a checkpoint that does not fit); 1: a run that failed
(diverged, an unreadable image); 143 / 130: stopped by SIGTERM / Ctrl-C after saving a checkpoint. Any other
error is a bug, and its traceback is shown.
"""

from __future__ import annotations

import logging
import sys

from omegaconf.errors import MissingMandatoryValue

from ..data.errors import DatasetNotFoundError
from ..validation import ConfigError

log = logging.getLogger("whitening_ssl")


def exit_codes() -> tuple[tuple[type[BaseException], int], ...]:
    """The errors a run ends with in one line, and their exit status (any other error is a bug: its traceback
    is shown). Imported here, when a run ends: the checks before it import none of the run's modules."""
    from ..checkpoints.reading import CheckpointError
    from ..checkpoints.writing import CheckpointWriteError
    from ..data.sources.verify import BadImageError
    from ..stages.common import RunInterrupted
    from ..training.nonfinite import TrainingDivergedError

    return (
        (ConfigError, 2),
        (DatasetNotFoundError, 2),
        (CheckpointError, 2),
        (CheckpointWriteError, 2),
        (RunInterrupted, RunInterrupted.exit_code),
        (TrainingDivergedError, 1),
        (BadImageError, 1),
        (MissingMandatoryValue, 2),
    )


def error_lines(error: BaseException) -> list[str]:
    if isinstance(error, ConfigError):
        return list(error.problems)
    if isinstance(error, MissingMandatoryValue):
        key = getattr(error, "full_key", None) or "a required value"
        return [f"{key} has no value: give it on the command line, e.g. {key}=..."]
    message = str(error)
    if "Original Traceback" in message:  # raised in a DataLoader worker: the original message is the last line
        last = [line for line in message.splitlines() if line.strip()][-1]
        message = last.split(": ", 1)[1] if ": " in last else last
    return [" ".join(message.split())]


def report_error(lines: list[str]) -> None:
    """``error: ...`` on stderr, and in ``run.log`` when the run has one."""
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    for handler in log.handlers:
        if isinstance(handler, logging.FileHandler):
            for line in lines:
                handler.emit(
                    logging.LogRecord("whitening_ssl", logging.ERROR, __file__, 0, f"error: {line}", None, None)
                )


def exit_code(error: BaseException) -> int | None:
    from ..stages.common import RunInterrupted

    if isinstance(error, RunInterrupted):  # the signal's: 143 for SIGTERM, 130 for Ctrl-C
        return error.exit_code
    return next((code for error_type, code in exit_codes() if isinstance(error, error_type)), None)
