"""Whether a checkpoint's bytes and weights can be used: the zip's checksums, and weights a trained model can have.

``torch.load`` does not compare a zip archive's CRC-32 checksums with the bytes it reads, so a file changed
after it was written would load without a word; and a file of NaN or integer weights loads and evaluates to a
figure. Both are refused in one line by every stage that reads a checkpoint.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..validation import shown


def checksum_problem(path: Path) -> str | None:
    """Why the zip archive ``path`` is damaged: a record whose CRC-32 does not match its bytes (``None`` when all
    match). Reads the whole file once."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f"is damaged and cannot be read as a zip archive ({error}): use another checkpoint"
    if bad is None:
        return None
    return (
        f"is damaged: the checksum (CRC-32) of its record {shown(bad)} does not match its bytes (the file changed "
        "after it was written): use another checkpoint, e.g. an earlier epochNNNN.ckpt of the same run"
    )


def weights_problem(state_dict: Mapping[str, Any], floating: Iterable[str] | None = None) -> str | None:
    """Why weights cannot be used: a tensor that is not finite (NaN or inf), or, for the names in ``floating``
    (the model's floating-point parameters and buffers), one that is not floating-point; ``None`` when fine."""
    tensors = {key: value for key, value in state_dict.items() if isinstance(value, torch.Tensor)}
    if floating is not None:
        integral = [key for key in floating if key in tensors and not tensors[key].is_floating_point()]
        if integral:
            return (
                f"holds {tensors[integral[0]].dtype} weights where the model has floating-point ones "
                f"({len(integral)} tensor(s), first {integral[0]}): not a trained model's weights; use another "
                "checkpoint"
            )
    broken = [
        key for key, value in tensors.items() if value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if broken:
        return (
            f"holds non-finite weights (NaN or inf) in {len(broken)} tensor(s), first {broken[0]}: the run had "
            "diverged when it was saved; use an earlier checkpoint of the run"
        )
    return None
