"""Detecting a diverged run on the step it happens, without a host-device sync per step.

Each training step records ``torch.isfinite(loss)`` into a device-side "first bad step" tensor
(pure device ops: no sync). How soon the host learns of it:

- on the CPU the value is there at once, so the run stops on the very step;
- on a GPU the tensor is copied to pinned host memory with ``non_blocking=True`` after every step
  and a CUDA event marks the copy; the next step, before it overwrites that copy, reads it if the
  event has completed (``event.query()`` does not wait), so the run stops as soon as the device
  has finished the bad step (typically one or two steps later), still naming the step where it
  happened;
- before every checkpoint and at logging steps the check is blocking (those points sync anyway),
  so a checkpoint is never written from a diverged model.
"""

from __future__ import annotations

import torch
from torch import Tensor

DIVERGENCE_HINT = (
    "lower method.lr, raise method.eps (covariance shrinkage) or the sub-batch size method.w_size "
    "(batch whitening), or lower method.groups (channel whitening)"
)


class TrainingDivergedError(RuntimeError):
    """Training cannot go on (non-finite loss, failed whitening); ``str`` is one line with the step and a fix."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(" ".join(message.split()))
        self.step = step


class NonFiniteLossError(TrainingDivergedError):
    """The loss became NaN or infinite."""

    def __init__(self, step: int, epoch: int | None = None) -> None:
        where = f"step {step}" + (f" (epoch {epoch})" if epoch is not None else "")
        super().__init__(
            f"the loss became non-finite (nan or inf) at {where}: training diverged; {DIVERGENCE_HINT}", step
        )


class WhiteningFailedError(TrainingDivergedError):
    """A covariance could not be factorised (not positive definite) or an eigendecomposition failed."""

    def __init__(self, step: int, reason: str, epoch: int | None = None) -> None:
        where = f"step {step}" + (f" (epoch {epoch})" if epoch is not None else "")
        reason = " ".join(str(reason).split()).rstrip(".")
        super().__init__(
            f"whitening failed at {where} ({reason}): a sub-batch covariance is singular or not "
            f"positive definite, or the embeddings are not finite; {DIVERGENCE_HINT}",
            step,
        )


class NonFiniteWatch:
    """Remembers the first step whose loss was not finite; see the module docstring for when it is read."""

    def __init__(self) -> None:
        self._first: Tensor | None = None  # device tensor: first bad step, -1 while all are finite
        self._host: Tensor | None = None  # pinned host copy (CUDA)
        self._event: torch.cuda.Event | None = None  # marks the latest copy into _host
        self._known: int | None = None  # a bad step already read from _host

    def record(self, loss: Tensor, step: int) -> None:
        """Fold ``isfinite(loss)`` of step ``step`` into the device-side flag (no sync)."""
        loss = loss.detach()
        if self._first is None or self._first.device != loss.device:
            self._first = torch.full((), -1, dtype=torch.long, device=loss.device)
        bad_here = torch.where(torch.isfinite(loss), -1, step)
        self._first = torch.where(self._first < 0, bad_here, self._first)
        if loss.is_cuda:
            if self._known is None and self._event is not None and self._event.query():  # read before overwriting
                self._known = self._host_value()
            if self._host is None:
                self._host = torch.full((), -1, dtype=torch.long).pin_memory()
            self._host.copy_(self._first, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()

    def first_bad_step(self, blocking: bool = False) -> int | None:
        """The first non-finite step known now (``blocking=False``: without waiting for the device)."""
        if self._first is None:
            return None
        if self._first.is_cuda and not blocking:
            if self._known is None and self._event is not None and self._event.query():
                self._known = self._host_value()
            return self._known
        value = int(self._first)
        return value if value >= 0 else None

    def _host_value(self) -> int | None:
        assert self._host is not None  # read only after a copy into it
        value = int(self._host)
        return value if value >= 0 else None

    def reset(self) -> None:
        self._first = self._host = self._event = self._known = None
