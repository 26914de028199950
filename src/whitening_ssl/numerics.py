"""Float32 math under mixed precision: the whitening, the losses and the statistics run outside autocast."""

from __future__ import annotations

import contextlib

import torch

AUTOCAST_DEVICES = ("cuda", "cpu", "xpu", "mps")


def float32_math(device_type: str):
    """A context in which autocast is off on ``device_type``: tensors keep their dtype (float32 or wider)."""
    if device_type in AUTOCAST_DEVICES:
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()
