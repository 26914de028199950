"""A resume continues the run its checkpoint holds, or says what would change.

Every checkpoint of this project stores the run's resolved configuration (see
:class:`~whitening_ssl.training.RunCheckpoints`). Resuming with settings that shape the model or the
data stream (the method with its whitening and loss values, the backbone, embedding and head sizes,
the batch size, the views, the dataset and its options, the seed) other than the saved ones would
silently train a different run from the middle of this one; :func:`setting_changes` lists each such
difference as ``key: saved -> given`` and the stage's check refuses the resume with one line, unless
``allow_resume_changes=true`` (then the changes are recorded in ``results.json``). Raising ``epochs``
(to train longer) is always allowed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

#: what a pretraining resume must keep (dotted prefixes of the configuration)
PRETRAIN_SETTINGS = (
    "method",
    "backbone",
    "data.batch_size",
    "data.num_views",
    "dataset.name",
    "dataset.options",
    "seed",
)
#: what a resume of the standard linear probe must keep
PROBE_SETTINGS = ("ckpt", "linear", "seed")
#: never compared: how long to train, and values that say "use the default"
ALWAYS_ALLOWED = ("linear.epochs",)


def saved_run_config(path) -> dict[str, Any] | None:
    """The configuration saved in one of this project's checkpoints (``None`` if it holds none).

    Read without running code from the file and memory-mapped (only the small pickled part, not the
    weights); :class:`~whitening_ssl.checkpoints.CheckpointError` (one line) for an unusable file.
    """
    from . import read_checkpoint, saved_config

    config = saved_config(read_checkpoint(path, mmap=True, trustable=False))
    return dict(config) if config is not None else None


def _flatten(node: Any, prefix: str) -> dict[str, Any]:
    if isinstance(node, Mapping):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: node}


def _select(config: Mapping[str, Any], prefixes: Sequence[str]) -> dict[str, Any]:
    flat = _flatten(config, "")
    return {
        key: value
        for key, value in flat.items()
        if any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)
        and not any(fnmatchcase(key, pattern) for pattern in ALWAYS_ALLOWED)
    }


def _text(value: Any) -> str:
    return "(unset)" if value is _UNSET else json.dumps(value) if not isinstance(value, str) else value


_UNSET = object()


def setting_changes(
    saved: Mapping[str, Any], given: Mapping[str, Any], prefixes: Sequence[str]
) -> list[tuple[str, Any, Any]]:
    """``(key, saved value, given value)`` for every compared setting that differs (``auto`` matches anything)."""
    before, after = _select(saved, prefixes), _select(given, prefixes)
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, _UNSET), after.get(key, _UNSET)
        if old == new or "auto" in (old, new):
            continue
        changes.append((key, old, new))
    return changes


def describe_changes(changes: Sequence[tuple[str, Any, Any]]) -> str:
    return "; ".join(f"{key}: {_text(old)} -> {_text(new)}" for key, old, new in changes)


def as_records(changes: Sequence[tuple[str, Any, Any]]) -> list[dict[str, Any]]:
    """The changes as JSON-ready records for ``results.json``."""
    return [
        {"key": key, "saved": None if old is _UNSET else old, "given": None if new is _UNSET else new}
        for key, old, new in changes
    ]
