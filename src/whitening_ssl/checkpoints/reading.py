"""Reading checkpoint files without running code from them.

Every user file is read by :func:`read_checkpoint`: first its container is recognised from its first
bytes (a zip archive, what ``torch.save`` writes, or torch's legacy format, whose first pickle is
torch's magic number), so a plain pickle is refused before anything is unpickled; then it is loaded
with ``torch.load(weights_only=True)``, whose unpickler builds only tensors, storages, numbers,
strings, lists, tuples, dicts and ``OrderedDict``. That is everything this project's Lightning
checkpoints (weights, hyper-parameters, optimiser and scheduler states, loops, the callbacks' state
with the random generators' state as tensors), the paper's release (``epoch``, ``arch``,
``state_dict``, ``optimizer``) and torchvision's state_dicts (also the legacy-format downloads)
hold, so :data:`SAFE_GLOBALS` adds nothing. A file that needs any other type is refused in one line
naming it; ``trust_checkpoint=true`` loads a ``ckpt=`` file the user made and trusts with full
pickle instead.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..validation import shown

#: types that ``weights_only`` loading accepts beyond torch's own list: none is needed (checked on this
#: project's pretraining and linear-probe checkpoints, CPU and GPU, the paper's release and torchvision files)
SAFE_GLOBALS: tuple = ()
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C.to_bytes(10, "little")  # torch.serialization.MAGIC_NUMBER
_TRUST_HINT = "if you made it yourself and trust it, add trust_checkpoint=true"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


def _is_legacy(head: bytes) -> bool:
    """Whether ``head`` starts with the magic-number pickle of torch's legacy (non-zip) format."""
    if len(head) < 2 or head[0] != 0x80:  # PROTO
        return False
    rest = head[2:]
    if rest[:1] == b"\x95":  # FRAME (protocol 4+) and its 8-byte length
        rest = rest[9:]
    return rest[:2] == b"\x8a\x0a" and rest[2:12] == _TORCH_MAGIC  # LONG1 of 10 bytes: the magic number


def container_problem(path: Path) -> str | None:
    """Why ``path`` (an existing file) is not a PyTorch checkpoint container, read from its first bytes only;
    ``None`` for a zip archive or torch's legacy format. The reason follows the path in a message."""
    with open(path, "rb") as handle:
        head = handle.read(32)
    if head.startswith(b"PK"):
        if zipfile.is_zipfile(path):
            return None
        return (
            "is truncated or damaged (its zip directory is missing), not a readable PyTorch checkpoint: use "
            "another checkpoint, e.g. an earlier epochNNNN.ckpt of the same run"
        )
    if _is_legacy(head):
        return None
    if head[:1] == b"\x80":
        return (
            "is a plain pickle (or other bytes), not a file written by torch.save: it was refused unread, "
            "because unpickling it could run code"
        )
    return f"is not a readable PyTorch checkpoint ({'empty' if not head else 'not a file written by torch.save'})"


_UNSAFE_PATTERNS = (
    r"GLOBAL (\S+) was not an allowed global",
    r"unsupported GLOBAL (\S+) whose module",
    r"unrecognized function (\S+)",
    r"allowlisted via `add_safe_globals` but got (.+?)\s*$",
)


def unsafe_problem(error: BaseException, trustable: bool = True) -> str | None:
    """The reason for a ``weights_only`` refusal (naming the type the file needs), or ``None`` for another error."""
    if not isinstance(error, pickle.UnpicklingError):
        return None
    message = str(error)
    for pattern in _UNSAFE_PATTERNS:
        found = re.search(pattern, message, re.MULTILINE)
        if found:
            needs = f"needs {shown(found.group(1).strip('<>'))}"
            break
    else:
        needs = "uses pickle instructions"
    return (
        f"{needs} to load, which is none of the plain types a checkpoint holds (tensors, numbers, strings, "
        "lists, dicts): the file may run code, so it was not loaded"
        + (f"; {_TRUST_HINT}" if trustable else "; resume only from this project's own checkpoints")
    )


def _load(path: Path, trust: bool, mmap: bool) -> Any:
    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def read_checkpoint(path, trust: bool = False, mmap: bool = False, trustable: bool = True) -> Any:
    """The contents of the checkpoint file ``path`` (on the CPU), read without running code from it.

    ``trust``: the user made the file and trusts it (``trust_checkpoint=true``): full pickle. ``mmap``:
    map a zip archive's tensors instead of reading them (for a look at the contents). ``trustable``: the
    refusal may suggest ``trust_checkpoint=true`` (not for ``ckpt_path=``, which Lightning loads).
    Raises :class:`CheckpointError` with one line for anything that is not a usable checkpoint file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (check the ckpt= path)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    problem = container_problem(path)
    if problem:
        raise CheckpointError(f"{path} {problem}")
    zipped = zipfile.is_zipfile(path)
    if zipped and not mmap:  # torch.load does not compare the zip's checksums: a changed byte would load silently
        from .integrity import checksum_problem

        problem = checksum_problem(path)
        if problem:
            raise CheckpointError(f"{path} {problem}")
    try:
        return _load(path, trust, mmap=mmap and zipped)
    except Exception as error:
        problem = unsafe_problem(error, trustable)
        if problem:
            raise CheckpointError(f"{path} {problem}") from None
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint (truncated or not a checkpoint file): "
            f"{type(error).__name__}: {shown(first)}"
        ) from None


def verify_resume_file(path) -> None:
    """Refuse (one line) a ``ckpt_path=`` file that Lightning's ``weights_only=True`` loading would fail on:
    missing, not a torch.save file (a plain pickle is refused unread), or needing a type beyond plain data."""
    if not Path(str(path)).is_file():
        raise CheckpointError(f"ckpt_path={path}: checkpoint not found (check the path)")
    try:
        obj = read_checkpoint(path, mmap=True, trustable=False)
    except CheckpointError as error:
        raise CheckpointError(f"ckpt_path={error}") from None
    from .integrity import checksum_problem, weights_problem

    problem = checksum_problem(Path(str(path))) if zipfile.is_zipfile(str(path)) else None
    state = obj.get("state_dict") if isinstance(obj, Mapping) else None
    problem = problem or (weights_problem(state) if isinstance(state, Mapping) else None)
    if problem:
        raise CheckpointError(f"ckpt_path={path} {problem}")


def saved_config(obj: Any) -> Mapping[str, Any] | None:
    """The run configuration this project stores in its Lightning checkpoints (``None`` if there is none)."""
    callbacks = obj.get("callbacks") if isinstance(obj, Mapping) else None
    for key, state in (callbacks or {}).items():
        if "RunCheckpoints" in str(key) and isinstance(state, Mapping) and isinstance(state.get("config"), Mapping):
            return state["config"]
    return None
