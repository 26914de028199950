"""Random-number-generator state: saved with every checkpoint, untouched by evaluation.

A resumed run restores the generators' state of the moment its checkpoint was written, so the
data order, the augmentations drawn in the main process, the sub-batch draws and the random group
partitions continue exactly as in an uninterrupted run. Evaluation during training runs inside
:func:`preserved_rng`, so evaluating (or not, or being killed while evaluating) never changes the
random draws of training.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import torch


def capture_rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's, torch's CPU and (when initialised) CUDA generators.

    Only tensors and plain Python values, so checkpoints holding it load with ``weights_only=True``.
    """
    legacy_state = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())  # legacy=True: the tuple
    name, keys, position, has_gauss, cached_gaussian = legacy_state
    numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached_gaussian)]
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # this process's device only: under DDP rank 0's state is saved and every rank (all seeded alike, drawing
        # alike) restores it into its own device, not rank 0's view of the other devices (never advanced)
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured (CUDA: into the current device)."""
    if not state:
        return
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if isinstance(cuda, (list, tuple)):  # written by an earlier version: one state per device
        device = torch.cuda.current_device() if torch.cuda.is_available() else len(cuda)
        cuda = cuda[device] if device < len(cuda) else None
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without changing any generator's state as seen after it."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)
